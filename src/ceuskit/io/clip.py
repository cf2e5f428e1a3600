"""The :class:`Clip`: a cine loop's frames, true frame times, pixel spacing and display layout.

Frames are decoded on demand by a :class:`FrameSource`, so a long clip is never held in memory whole.
Readers for each file kind (``dicom.py``, ``video.py``, ``frames.py``) build a ``Clip``; the rest of
ceuskit only ever sees this class.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit.errors import ClipError
from ceuskit.pixels import Box, FrameSource, to_grey

__all__ = ["Box", "Clip", "ClipHeader", "FrameSource", "Region", "file_sha256", "one_line", "source_sha256"]

@dataclass(frozen=True)
class Region:
    """A rectangular display region of the frame, from the DICOM ultrasound regions or detected.

    Attributes
    ----------
    box : (x0, y0, x1, y1) in pixels of the full frame, x1/y1 exclusive.
    spacing_mm : (dx, dy) physical size of one pixel in mm, or None when unknown.
    kind : "tissue", "color_flow", "other" (DICOM Region Data Type) or "detected".
    role : "ceus", "bmode" or "" (set by the layout detection).
    """

    box: Box
    spacing_mm: tuple[float, float] | None = None
    kind: str = "tissue"
    role: str = ""

    @property
    def width(self) -> int:
        """Width of the box in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        """Height of the box in pixels."""
        return self.box[3] - self.box[1]

    def to_json(self) -> dict[str, object]:
        """Return the region as JSON: box, spacing in mm (or None), kind and role."""
        return {"box": list(self.box), "spacing_mm": None if self.spacing_mm is None else list(self.spacing_mm),
                "kind": self.kind, "role": self.role}


@dataclass(frozen=True)
class ClipHeader:
    """What a clip's file says about when it was taken and whose it is, as stored (DICOM text values).

    :mod:`ceuskit.io.examination` reads these to place the clips of one examination on one time axis and
    to check that they belong together.  The identifiers are kept only to be compared: they are left out of
    ``repr`` (so out of tracebacks and logs) and never shown.  Empty strings mean the element is absent.
    Video, frame folders and arrays carry no header: every field is empty.

    Attributes
    ----------
    acquisition_datetime : Acquisition DateTime (0008,002A), DT, possibly with a ``&ZZXX`` offset.
    acquisition_date, acquisition_time : Acquisition Date (0008,0022) DA and Time (0008,0032) TM.
    content_date, content_time : Content Date (0008,0023) DA and Time (0008,0033) TM.
    timezone_offset : Timezone Offset From UTC (0008,0201), ``&ZZXX``.
    contrast_start_time : Contrast/Bolus Start Time (0018,1042), TM (a time of day).
    contrast_agent : Contrast/Bolus Agent (0018,0010).
    patient_id : Patient ID (0010,0020) — compared, never shown.
    study_uid : Study Instance UID (0020,000D) — compared, never shown.
    """

    acquisition_datetime: str = ""
    acquisition_date: str = ""
    acquisition_time: str = ""
    content_date: str = ""
    content_time: str = ""
    timezone_offset: str = ""
    contrast_start_time: str = ""
    contrast_agent: str = ""
    patient_id: str = field(default="", repr=False)
    study_uid: str = field(default="", repr=False)


def one_line(exc: BaseException) -> str:
    """Return an exception's text as one line of at most 200 characters, for a ``ClipError`` message."""
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "…"


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def source_sha256(path: str | Path) -> str:
    """SHA-256 of a clip's source: the file, or for a folder of frames its sorted files' names and digests."""
    path = Path(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.iterdir() if p.is_file()):
            digest.update(child.name.encode())
            digest.update(bytes.fromhex(file_sha256(child)))
        return digest.hexdigest()
    return file_sha256(path)


@dataclass(frozen=True)
class Clip:
    """A cine loop with true frame times.

    Attributes
    ----------
    source : path of the file or folder it was read from.
    times : (n_frames,) float64, seconds from the first frame (strictly increasing, ``times[0] == 0``).
    rows, columns : stored full-frame size in pixels.
    pixel_spacing_mm : (dx, dy) mm per pixel of the tissue (CEUS) region, or None when the file does not say.
    regions : display regions; with ``layout == "dual"`` one has role "ceus" and one role "bmode".
    layout : "single" or "dual" (B-mode and CEUS side by side).
    info : non-identifying header facts (modality, manufacturer, transfer syntax, photometric, …).
    header : acquisition and contrast times and the identity to compare (:class:`ClipHeader`; empty for
        files without a DICOM header).

    How the display shows the grey index (a colour map or grey) is not the clip's to know: the caller fits it
    (:func:`ceuskit.feed.display_maps`) and hands it to what reads the intensities.
    """

    source: str
    times: np.ndarray
    rows: int
    columns: int
    frames: FrameSource = field(repr=False, compare=False)
    pixel_spacing_mm: tuple[float, float] | None = None
    regions: tuple[Region, ...] = ()
    layout: str = "single"
    max_value: int = 255
    info: dict[str, object] = field(default_factory=dict, compare=False)
    header: ClipHeader = field(default_factory=ClipHeader, repr=False, compare=False)

    def __post_init__(self) -> None:
        times = np.asarray(self.times, dtype=np.float64)
        if times.ndim != 1 or times.size == 0:
            raise ClipError(f"{self.source}: the clip has no frames")
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise ClipError(f"{self.source}: frame times are not strictly increasing; give the frame rate with --fps")
        object.__setattr__(self, "times", times - times[0])

    # --- facts -------------------------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.times.size)

    @property
    def duration_s(self) -> float:
        """Time of the last frame after the first, in seconds."""
        return float(self.times[-1])

    @property
    def frame_rate_hz(self) -> float:
        """Mean frame rate, (n − 1) / duration; 0 for a single frame."""
        return (self.n_frames - 1) / self.duration_s if self.n_frames > 1 else 0.0

    @property
    def ceus_region(self) -> Region:
        """The region whose intensities are measured (the whole frame when no region is known)."""
        for region in self.regions:
            if region.role == "ceus":
                return region
        tissue = [r for r in self.regions if r.kind in ("tissue", "detected")]
        if len(tissue) == 1:
            return tissue[0]
        return Region((0, 0, self.columns, self.rows), self.pixel_spacing_mm, "detected", "ceus")

    @property
    def bmode_region(self) -> Region | None:
        """The B-mode half of a dual display (used for motion tracking), else None."""
        for region in self.regions:
            if region.role == "bmode":
                return region
        return None

    # --- pixels ------------------------------------------------------------------------------------------
    def _check_index(self, index: int) -> int:
        if not -self.n_frames <= index < self.n_frames:
            raise ClipError(f"{self.source}: frame {index} does not exist (the clip has {self.n_frames} frames)")
        return index % self.n_frames

    def raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as decoded: (rows, columns) or (rows, columns, 3) RGB."""
        return self.frames.read(self._check_index(index))

    def frame(self, index: int, box: Box | None = None) -> np.ndarray:
        """Frame ``index`` as display luminance 0–255, float32 (rows, columns), optionally cropped.

        Luminance is the grey index of grey displays only; intensities go through the display map.
        """
        return to_grey(crop_box(self.raw(index), box), max_value=self.max_value)

    def iter_frames(self, start: int = 0, stop: int | None = None, box: Box | None = None
                    ) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, grey)`` for frames ``start … stop-1`` in order, one frame in memory at a time."""
        stop = self.n_frames if stop is None else min(stop, self.n_frames)
        for offset, pixels in enumerate(self.frames.iterate(start, stop)):
            yield start + offset, to_grey(crop_box(pixels, box), max_value=self.max_value)

    def with_regions(self, regions: Sequence[Region], layout: str) -> Clip:
        """Return a copy with other regions/layout (e.g. a user override of the detected layout)."""
        spacing = next((r.spacing_mm for r in regions if r.role == "ceus" and r.spacing_mm), self.pixel_spacing_mm)
        return replace(self, regions=tuple(regions), layout=layout, pixel_spacing_mm=spacing)

    def sha256(self) -> str:
        """SHA-256 of the source file (of the sorted frame files for a folder)."""
        return source_sha256(self.source)

    def close(self) -> None:
        """Close the frame source (the file or decoder behind the frames)."""
        self.frames.close()

    def __enter__(self) -> Clip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def summary(self, display: dict[str, Any] | None = None) -> dict[str, Any]:
        """Return the facts ``ceuskit info --json`` prints (DESIGN: CLI).

        Parameters
        ----------
        display : dict, optional
            The CEUS region's display map as JSON (:meth:`ceuskit.preprocess.display.DisplayMap.to_json`),
            listed after the layout; the clip does not fit it itself.

        Returns
        -------
        dict
            Frames, times, size, spacing, regions, layout, display (when given) and the file's facts.
        """
        return {
            "source": self.source,
            "n_frames": self.n_frames,
            "frame_times_s": [round(float(t), 6) for t in self.times],
            "duration_s": self.duration_s,
            "frame_rate_hz": self.frame_rate_hz,
            "rows": self.rows,
            "columns": self.columns,
            "pixel_spacing_mm": None if self.pixel_spacing_mm is None else list(self.pixel_spacing_mm),
            "regions": [r.to_json() for r in self.regions],
            "layout": self.layout,
            **({} if display is None else {"display": display}),
            **{k: v for k, v in self.info.items() if k not in ("source",)},
        }


def crop_box(pixels: np.ndarray, box: Box | None) -> np.ndarray:
    """``pixels`` (a frame) cut to ``box``; the frame itself when ``box`` is None."""
    if box is None:
        return pixels
    x0, y0, x1, y1 = box
    return pixels[y0:y1, x0:x1]
