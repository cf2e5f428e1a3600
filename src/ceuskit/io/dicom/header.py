"""The DICOM header of an ultrasound file: read bounded, and what it states.

Reading stops before the pixel data, and every read is bounded by the bytes the file still holds
(:class:`BoundedReader`), so a damaged element length fails as a short read instead of a huge allocation.
From the header come the frame times (:func:`frame_times`), the pixel spacing (:func:`pixel_spacing`),
the Sequence of Ultrasound Regions (:func:`ultrasound_regions`), and the acquisition and contrast facts
an examination places its clips by (:func:`clip_header`).  Its identity-free technical facts are
:mod:`~ceuskit.io.dicom.summary`'s.

Frame times, seconds from the first frame, are taken from the first of: Frame Time Vector (0018,1065),
Frame Time (0018,1063), Cine Rate (0018,0040).  An explicit ``fps`` is used only when the file states
none of them (or states an unusable value); Recommended Display Frame Rate (0008,2144) is a display
preference, not acquisition timing, and is never used.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from ceuskit.errors import ClipError, TimingError
from ceuskit.io.clip import ClipHeader, Region, one_line

__all__ = ["BoundedReader", "clip_header", "frame_times", "pixel_spacing", "read_dataset", "read_header",
           "ultrasound_regions"]

_HEADER_KEYWORDS = {
    "acquisition_datetime": "AcquisitionDateTime", "acquisition_date": "AcquisitionDate",
    "acquisition_time": "AcquisitionTime", "content_date": "ContentDate", "content_time": "ContentTime",
    "timezone_offset": "TimezoneOffsetFromUTC", "contrast_start_time": "ContrastBolusStartTime",
    "contrast_agent": "ContrastBolusAgent", "patient_id": "PatientID", "study_uid": "StudyInstanceUID",
}


# --- reading ----------------------------------------------------------------------------------------------
class BoundedReader:
    """A file whose ``read(n)`` never asks for more than the file still holds.

    A damaged element length (say 0xFFFFFFF0) would otherwise make pydicom request gigabytes, which Python
    allocates before finding the file short; bounded, the read comes back short and pydicom reports it.

    Parameters
    ----------
    fh : BinaryIO
        An open binary file with a file descriptor; every other attribute is the file's own.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._size = os.fstat(fh.fileno()).st_size

    def read(self, n: int | None = -1) -> bytes:
        """Read at most ``n`` bytes (all that is left for None or a negative ``n``), never past the end.

        Parameters
        ----------
        n : int or None
            Bytes asked for.

        Returns
        -------
        bytes
            At most ``min(n, bytes left)`` bytes.
        """
        left = max(0, self._size - self._fh.tell())
        return self._fh.read(left if n is None or n < 0 else min(n, left))

    def __getattr__(self, name: str) -> Any:
        """Give the file's own attribute (``seek``, ``tell``, ``fileno`` …)."""
        return getattr(self._fh, name)


def read_dataset(fh: BinaryIO, *, pixels: bool = False, force: bool = False) -> Dataset:
    """Read a DICOM dataset with bounded reads and every value converted now (pydicom converts lazily).

    A damaged file therefore fails here, once, with whatever pydicom raises; the caller turns that into
    its own error.

    Parameters
    ----------
    fh : BinaryIO
        The file, at its start.
    pixels : bool
        Read the pixel data too (else stop before it).
    force : bool
        Read a file without the DICOM preamble and File Meta Information (pydicom's ``force``).

    Returns
    -------
    Dataset
        The dataset, its file meta included where the file has one.
    """
    ds = pydicom.dcmread(BoundedReader(fh), stop_before_pixels=not pixels, force=force)
    for _ in ds.iterall():
        pass
    for _ in getattr(ds, "file_meta", Dataset()).iterall():
        pass
    return ds


def read_header(fh: BinaryIO, source: str) -> tuple[Dataset, list[str]]:
    """Read the dataset up to (not including) the pixel data, returning pydicom's warnings instead of raising.

    Parameters
    ----------
    fh : BinaryIO
        The file, at its start; left at the pixel data element.
    source : str
        File name for messages.

    Returns
    -------
    ds : Dataset
        The header.
    notes : list of str
        pydicom's warnings, one line each.

    Raises
    ------
    ClipError
        The file is not readable DICOM.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = read_dataset(fh, force=True)
        except Exception as exc:  # pydicom raises many kinds for malformed input
            raise ClipError(f"{source}: not a readable DICOM file ({one_line(exc)})") from exc
    return ds, [one_line(w.message) if isinstance(w.message, BaseException) else str(w.message) for w in caught]


# --- timing, spacing and regions --------------------------------------------------------------------------
def _values(element_value: Any) -> list[Any]:
    if element_value is None or element_value == "":
        return []
    if isinstance(element_value, (list, tuple)) or type(element_value).__name__ == "MultiValue":
        return list(element_value)
    return [element_value]


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def frame_times(ds: Dataset, n_frames: int, fps: float | None, source: str) -> tuple[np.ndarray, str]:
    """Give the frame times in seconds from the first frame, and where they came from.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.
    n_frames : int
        Number of frames.
    fps : float or None
        Frames/s, used only when the file states no usable timing.
    source : str
        File name for messages.

    Returns
    -------
    times : numpy.ndarray
        (n_frames,) float64 seconds, ``times[0] == 0``.
    origin : str
        "single_frame", "frame_time_vector", "frame_time", "cine_rate" or "fps".

    Raises
    ------
    TimingError
        The file states no usable timing and ``fps`` is None.
    """
    if n_frames == 1:
        return np.zeros(1), "single_frame"
    problem = None
    vector = _values(ds.get("FrameTimeVector"))
    if vector:
        if len(vector) != n_frames:
            problem = f"Frame Time Vector (0018,1065) has {len(vector)} entries for {n_frames} frames"
        else:
            increments_ms = [_positive(v) for v in vector[1:]]
            if all(v is not None for v in increments_ms):
                return np.concatenate([[0.0], np.cumsum(np.asarray(increments_ms, dtype=np.float64))]) / 1000.0, \
                    "frame_time_vector"
            problem = "Frame Time Vector (0018,1065) holds zero, negative or non-numeric frame intervals"
    elif ds.get("FrameTime") not in (None, ""):
        frame_time_ms = _positive(ds.FrameTime)
        if frame_time_ms is not None:
            return np.arange(n_frames) * (frame_time_ms / 1000.0), "frame_time"
        problem = f"Frame Time (0018,1063) is {ds.FrameTime!s} ms, not a usable frame interval"
    elif ds.get("CineRate") not in (None, ""):
        rate = _positive(ds.CineRate)
        if rate is not None:
            return np.arange(n_frames) / rate, "cine_rate"
        problem = f"Cine Rate (0018,0040) is {ds.CineRate!s} frames/s, not a usable frame rate"
    if fps is not None:
        return np.arange(n_frames) / fps, "fps"
    if problem is not None:
        raise TimingError(f"{source}: {problem}; give the frame rate with --fps")
    hint = ""
    if _positive(ds.get("RecommendedDisplayFrameRate")) is not None:
        hint = (f" (it only recommends displaying at {ds.RecommendedDisplayFrameRate!s} frames/s, which is not "
                "acquisition timing)")
    raise TimingError(f"{source}: no frame timing in the file{hint}; give the frame rate with --fps")


def ultrasound_regions(ds: Dataset, rows: int, columns: int) -> list[Region]:
    """List the 2-D regions of the Sequence of Ultrasound Regions (0018,6011), with spacing in mm.

    Only regions with Region Spatial Format 1 (2-D) are returned; the box is clipped to the frame
    (Region Location Max X1/Y1 are inclusive, the box's x1/y1 exclusive); spacing is Physical Delta
    X/Y × 10 when both Physical Units are 3 (cm), else None; kind is "tissue" for Region Data Type 1,
    "color_flow" for 2, else "other".  Items that cannot be read are skipped.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.
    rows, columns : int
        Frame size in pixels.

    Returns
    -------
    list of Region
        The regions in the order the header lists them.
    """
    regions = []
    for item in ds.get("SequenceOfUltrasoundRegions", None) or []:
        try:
            if int(item.get("RegionSpatialFormat", -1)) != 1:
                continue
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1) + 1, int(item.RegionLocationMaxY1) + 1
            data_type = int(item.get("RegionDataType", 0))
        except (AttributeError, TypeError, ValueError):
            continue
        box = (max(0, x0), max(0, y0), min(columns, x1), min(rows, y1))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        spacing = None
        if item.get("PhysicalUnitsXDirection") == 3 and item.get("PhysicalUnitsYDirection") == 3:
            dx, dy = _positive(abs(float(item.get("PhysicalDeltaX", 0) or 0))), \
                _positive(abs(float(item.get("PhysicalDeltaY", 0) or 0)))
            if dx is not None and dy is not None:
                spacing = (dx * 10.0, dy * 10.0)
        regions.append(Region(box, spacing, {1: "tissue", 2: "color_flow"}.get(data_type, "other")))
    return regions


def pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """Give the pixel spacing (dx, dy) in mm from Pixel Spacing (0028,0030), which lists dy first.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.

    Returns
    -------
    tuple of float, or None
        (dx, dy) in mm; None when the element is absent or not two positive numbers.
    """
    values = _values(ds.get("PixelSpacing"))
    if len(values) != 2:
        return None
    dy, dx = _positive(values[0]), _positive(values[1])
    return (dx, dy) if dx is not None and dy is not None else None


# --- acquisition facts ------------------------------------------------------------------------------------
def clip_header(ds: Dataset) -> ClipHeader:
    """Give the acquisition/contrast times and identity of a DICOM header as text (:class:`ClipHeader`).

    Values are kept as stored (stripped; a multi-valued element's first value) and parsed only when an
    examination needs them (:mod:`ceuskit.io.examination`), so a malformed date never stops a clip from
    being read on its own.  The identity (patient, study) is for matching clips and is never printed.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.

    Returns
    -------
    ClipHeader
        Empty strings for absent elements.
    """
    values = {}
    for name, keyword in _HEADER_KEYWORDS.items():
        found = _values(ds.get(keyword))
        values[name] = str(found[0]).strip() if found else ""
    return ClipHeader(**values)
