"""A clip fed to the numeric core: its display maps, fitted once, and its frames as a :class:`FrameStream`.

The layers meet here: :mod:`ceuskit.io` reads a clip (it knows no display maps), :mod:`ceuskit.preprocess`
fits how its display shows the grey index, and the numeric core (:func:`ceuskit.tic.extract_tics`,
:func:`ceuskit.maps.parametric_maps`) reads frames without knowing files.  The pipeline, the command line and
the workstation call these functions; ``ceuskit info`` asks for the display map through :func:`clip_summary`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit.errors import TimingError
from ceuskit.io import open_clip
from ceuskit.io.clip import Clip
from ceuskit.io.readahead import read_ahead_split
from ceuskit.pixels import Box, FrameStream, reads_concurrently
from ceuskit.preprocess.display import DisplayMap, display_map_of

__all__ = ["DECODE_THREADS", "READ_AHEAD_BYTES", "ClipDisplays", "clip_frames", "clip_summary", "display_maps"]

READ_AHEAD_BYTES = 48 << 20
"""Decoded frames waiting for the reader, at most (about a second of decoding for the part of each frame a TIC
extraction reads)."""

DECODE_THREADS = max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                            (os.cpu_count() or 1), 4))
"""Threads decoding a clip whose frames can be decoded independently (one per CPU, up to 4): decoding is most
of the cost of reading a clip, and the reader's own work per frame is less than a third of it."""

DECODE_RUN = 8
"""Consecutive frames one decoding thread reads at a time."""


@dataclass(frozen=True)
class ClipDisplays:
    """The display maps of a clip's regions.

    Attributes
    ----------
    ceus : DisplayMap
        The CEUS (measured) region's.
    bmode : DisplayMap or None
        The B-mode half's on a dual display, when asked for; else None.
    """

    ceus: DisplayMap
    bmode: DisplayMap | None = None


def display_maps(clip: Clip, *, bmode: bool = True) -> ClipDisplays:
    """Fit the display maps of a clip's CEUS region and (``bmode`` and a dual display) its B-mode half.

    Parameters
    ----------
    clip : Clip
        The open clip.
    bmode : bool
        Also fit the B-mode half's map (motion tracking and overlay detection read it).

    Returns
    -------
    ClipDisplays
        Each map fitted from frames spread over the clip (:func:`ceuskit.preprocess.display.display_map_of`).

    Raises
    ------
    ClipError
        A frame cannot be decoded.
    """
    ceus = display_map_of(clip, box=clip.ceus_region.box)
    half = clip.bmode_region if bmode else None
    return ClipDisplays(ceus, None if half is None else display_map_of(clip, box=half.box))


def clip_frames(clip: Clip, displays: ClipDisplays | None = None) -> FrameStream:
    """Give the clip's frames to the numeric core, decoded ahead in background threads on every pass.

    Frames that can be decoded independently (:func:`ceuskit.pixels.reads_concurrently`) are decoded by
    :data:`DECODE_THREADS` threads at once, runs of :data:`DECODE_RUN` frames each; the reader gets them in order.

    Parameters
    ----------
    clip : Clip
        The open clip (it must stay open while the stream is read).
    displays : ClipDisplays, optional
        Its display maps, fitted once by the caller; default :func:`display_maps` of the clip.  Without a
        B-mode map the stream has no B-mode region (motion is then tracked on the CEUS region).

    Returns
    -------
    FrameStream
        Times, regions, display maps and passes over the frames.

    Raises
    ------
    ClipError
        A frame cannot be decoded while the display maps are fitted.
    """
    displays = display_maps(clip) if displays is None else displays
    half = clip.bmode_region if displays.bmode is not None else None
    n = clip.n_frames
    workers = DECODE_THREADS if reads_concurrently(clip.frames) else 1
    return FrameStream(source=str(clip.source), times_s=clip.times, rows=clip.rows, columns=clip.columns,
                       ceus_box=clip.ceus_region.box, display=displays.ceus,
                       open=lambda box=None: read_ahead_split(lambda a, b: clip.frames.iterate(a, b, box), 0, n,
                                                              depth=_read_ahead_depth(clip, box), workers=workers,
                                                              run=DECODE_RUN),
                       bmode_box=None if half is None else half.box,
                       bmode_display=None if half is None else displays.bmode,
                       pixel_spacing_mm=clip.pixel_spacing_mm)


def _read_ahead_depth(clip: Clip, box: Box | None) -> int:
    """Frames decoded ahead of the reader: :data:`READ_AHEAD_BYTES` worth of RGB frames (or boxes of them).

    A reader that waits a moment before it starts (for overlays still being found) then finds them decoded.
    """
    x0, y0, x1, y1 = (0, 0, clip.columns, clip.rows) if box is None else box
    frame_bytes = max((x1 - x0) * (y1 - y0), 1) * 3 * (1 if clip.max_value <= 255 else 2)
    return int(np.clip(READ_AHEAD_BYTES // frame_bytes, 4, 1024))


def clip_summary(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> dict[str, Any]:
    """Describe a clip as ``ceuskit info`` reports it, also a file without timing.

    :meth:`Clip.summary <ceuskit.io.clip.Clip.summary>` with the display map of its CEUS region.

    Parameters
    ----------
    path : str or Path
        The clip.
    fps : float, optional
        Frame rate for files without timing.
    layout : str
        As :func:`ceuskit.io.open_clip` takes it.

    Returns
    -------
    dict
        A readable file that states no frame timing (and no ``fps`` given) is still described: its
        ``frame_times_s``, ``duration_s`` and ``frame_rate_hz`` are None and ``warnings`` says how to give it.

    Raises
    ------
    ClipError
        The file is not a clip ceuskit can read.
    """
    try:
        with open_clip(path, fps=fps, layout=layout) as clip:
            return clip.summary(display_maps(clip, bmode=False).ceus.to_json())
    except TimingError as exc:
        with open_clip(path, fps=1.0, layout=layout) as clip:  # a placeholder rate, only to read the rest
            summary = clip.summary(display_maps(clip, bmode=False).ceus.to_json())
        summary.update(frame_times_s=None, duration_s=None, frame_rate_hz=None, timing_source=None,
                       warnings=[*summary.get("warnings", []), f"frame timing unknown: {exc}"])
        return summary
