"""Decoded frames as every layer sees them: boxes, display grey, and the frame stream of the numeric core.

This module sits below everything that handles pixels: :mod:`ceuskit.io` builds clips whose frames it
decodes, :mod:`ceuskit.preprocess` reads displays through their maps, and the numeric core
(:mod:`ceuskit.tic`, :mod:`ceuskit.maps`) reads a :class:`FrameStream` — frames with their times, regions and
display maps, streamed once — without knowing files.  It imports nothing of ceuskit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numba import njit

__all__ = ["LUMA_WEIGHTS", "Box", "FramePass", "FrameSource", "FrameStream", "GreyReader", "RawClip",
           "reads_concurrently", "to_grey"]

Box = tuple[int, int, int, int]
"""Pixel box ``(x0, y0, x1, y1)`` of the stored full frame, x1/y1 exclusive."""

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights for R, G, B (DESIGN: grey = 0.299R + 0.587G + 0.114B)."""
_WEIGHTS = np.asarray(LUMA_WEIGHTS, dtype=np.float32)


@njit(cache=True, nogil=True)
def _rgb_grey(pixels: np.ndarray, weights: np.ndarray, scale: float, tolerance: float, off_map: float
              ) -> np.ndarray:  # pragma: no cover - compiled
    """Return the luma of each RGB pixel in single precision, times ``scale``.

    ``off_map`` where the channels spread by more than ``tolerance`` (no check when it is negative). One pass over
    the pixels, any layout.
    """
    rows, columns = pixels.shape[0], pixels.shape[1]
    out = np.empty((rows, columns), dtype=np.float32)
    w0, w1, w2 = weights[0], weights[1], weights[2]
    factor = np.float32(scale)
    marker = np.float32(off_map)
    for y in range(rows):
        for x in range(columns):
            r, g, b = pixels[y, x, 0], pixels[y, x, 1], pixels[y, x, 2]
            if tolerance >= 0 and float(max(r, g, b)) - float(min(r, g, b)) > tolerance:
                out[y, x] = marker
                continue
            value = np.float32(r) * w0 + np.float32(g) * w1 + np.float32(b) * w2
            out[y, x] = value * factor if scale != 1.0 else value
    return out


def to_grey(pixels: np.ndarray, *, max_value: int = 255, chroma_tolerance: float | None = None,
            off_map: float = np.nan) -> np.ndarray:
    """Display grey of one frame, float32 in 0–255.

    Parameters
    ----------
    pixels : (rows, columns) monochrome or (rows, columns, 3) RGB array of any integer or float dtype.
    max_value : the value that means full white in ``pixels`` (255 for 8-bit, 65535 for 16-bit palette
        colour); grey is rescaled so that it maps to 255.
    chroma_tolerance : when given, an RGB pixel whose channels differ by more than this (in the units of
        ``pixels``) is coloured, not grey, and reads ``off_map``.
    off_map : value of coloured pixels (with ``chroma_tolerance``).

    Returns
    -------
    (rows, columns) float32.

    Raises
    ------
    ValueError
        Not a 2-D frame nor an RGB one.
    """
    if pixels.ndim == 3:
        if pixels.shape[-1] != 3:
            raise ValueError(f"pixels: expected 3 colour samples, got {pixels.shape[-1]}")
        if pixels.dtype.kind not in "uif":
            pixels = pixels.astype(np.float32)
        tolerance = -1.0 if chroma_tolerance is None else float(chroma_tolerance)
        return _rgb_grey(pixels, _WEIGHTS, 255.0 / max_value, tolerance, off_map)
    if pixels.ndim != 2:
        raise ValueError(f"pixels: expected a 2-D or RGB frame, got shape {pixels.shape}")
    grey = pixels.astype(np.float32)
    if max_value != 255:
        grey *= np.float32(255.0 / max_value)
    return grey


class FrameSource(Protocol):
    """Decodes frames of one clip.  Frames are ``(rows, columns)`` or ``(rows, columns, 3)`` RGB arrays."""

    def read(self, index: int) -> np.ndarray:
        """Decode frame ``index`` (random access)."""
        ...

    def iterate(self, start: int, stop: int, box: Box | None = None) -> Iterator[np.ndarray]:
        """Decode frames ``start … stop-1`` in order (the fast path for video).

        Each is cut to ``box`` when given (a source that can hand out part of a frame for less than the whole saves
        that work).
        """
        ...

    def close(self) -> None:
        """Release files and decoders."""
        ...


def reads_concurrently(source: FrameSource) -> bool:
    """Whether several threads may read frames of ``source`` at once (each its own frames).

    A source says so by a true ``concurrent`` attribute (DICOM frames stored one by one, image files,
    arrays); one without it (a video's running decoder) is read by one thread at a time.
    """
    return bool(getattr(source, "concurrent", False))


class _Boxed(Protocol):
    @property
    def box(self) -> Box: ...


class RawClip(Protocol):
    """What fitting a display map and finding overlays read of a clip.

    Its size, white level, CEUS region and frames as decoded; :class:`ceuskit.io.Clip` is one.
    """

    @property
    def source(self) -> str:
        """Where the clip was read from (for messages)."""
        ...

    @property
    def rows(self) -> int:
        """Frame height, px."""
        ...

    @property
    def columns(self) -> int:
        """Frame width, px."""
        ...

    @property
    def max_value(self) -> int:
        """The pixel value that means white."""
        ...

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        ...

    @property
    def frames(self) -> FrameSource:
        """The decoder."""
        ...

    @property
    def ceus_region(self) -> _Boxed:
        """The region whose intensities are measured."""
        ...

    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded."""
        ...


class GreyReader(Protocol):
    """Reads pixels of a display back to the grey index 0–255 (:class:`ceuskit.preprocess.display.DisplayMap`)."""

    def to_grey(self, pixels: np.ndarray) -> np.ndarray:
        """Grey index of ``pixels`` (a crop of a decoded frame), float32, NaN off the display's map."""
        ...


class FramePass(Protocol):
    """Opens one pass over a clip's frames, decoded in order: ``with stream.open() as frames: for pixels in frames``."""

    def __call__(self, box: Box | None = None) -> AbstractContextManager[Iterator[np.ndarray]]:
        """Open the pass; with ``box``, each frame comes cut to it (frame coordinates, x1/y1 exclusive)."""
        ...


@dataclass(frozen=True)
class FrameStream:
    """A clip's frames as the numeric core reads them.

    Pixels as decoded, streamed in order, with their times, display regions and display maps.
    The caller (the pipeline, the command line) opens the clip and fits its display maps once; TIC extraction
    and parametric maps only read passes of frames.

    Attributes
    ----------
    source : str
        Where the frames come from (for messages).
    times_s : np.ndarray
        (n_frames,) seconds from the first frame, strictly increasing.
    rows, columns : int
        Full-frame size, px.
    ceus_box : Box
        The region whose intensities are measured.
    display : GreyReader
        The CEUS region's display map.
    open : FramePass
        Opens a pass over every frame in order, as decoded (optionally cut to a box).
    bmode_box : Box or None
        The B-mode half of a dual display (motion is tracked there), else None.
    bmode_display : GreyReader or None
        Its display map (given with ``bmode_box``).
    pixel_spacing_mm : (float, float) or None
        mm per pixel of the CEUS region, None when unknown.
    """

    source: str
    times_s: np.ndarray
    rows: int
    columns: int
    ceus_box: Box
    display: GreyReader
    open: FramePass
    bmode_box: Box | None = None
    bmode_display: GreyReader | None = None
    pixel_spacing_mm: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        """Check that the B-mode region and its display map come together."""
        if (self.bmode_box is None) != (self.bmode_display is None):
            raise ValueError("bmode_box and bmode_display go together")

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.times_s.size)

    @property
    def duration_s(self) -> float:
        """Time of the last frame after the first, s."""
        return float(self.times_s[-1] - self.times_s[0])
