"""DICOM ultrasound (single- and multi-frame) → :class:`~ceuskit.io.clip.Clip`, one frame decoded at a time.

The header is read with pydicom up to the pixel data; the pixel data element is then indexed in place
(native: one offset, encapsulated: the offset and length of every fragment), so a clip of any length is
read with memory that does not grow with it.  Everything a malformed file can get wrong is checked
before the first frame is decoded.

Colour follows pydicom: RGB (planar configuration 0 or 1), YBR_FULL / YBR_FULL_422 converted to RGB,
PALETTE COLOR through its lookup table (8- or 16-bit entries), MONOCHROME1 inverted to MONOCHROME2.
JPEG baseline frames are decoded by Pillow (libjpeg-turbo) straight to RGB, which is several times
faster than pydicom's decode-then-convert and agrees with it to rounding (≤ 2 grey levels).

Frame times, seconds from the first frame, are taken from the first of: Frame Time Vector (0018,1065),
Frame Time (0018,1063), Cine Rate (0018,0040).  An explicit ``fps`` is used only when the file states
none of them (or states an unusable value); Recommended Display Frame Rate (0008,2144) is a display
preference, not acquisition timing, and is never used.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, as_pixel_options, get_decoder
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    RLELossless,
)

from ceuskit.errors import CeusError, ClipError, TimingError
from ceuskit.io.clip import Clip, ClipHeader, Region
from ceuskit.io.clip import one_line as _one_line
from ceuskit.io.layout import resolve_layout

__all__ = ["MAX_DECODED_BYTES", "MAX_FRAMES", "MAX_SIDE", "DicomFrames", "PixelFormat", "clip_header", "read_dicom"]

MAX_SIDE = 8192
"""Largest accepted Rows or Columns."""
MAX_FRAMES = 200_000
"""Largest accepted Number of Frames (about 1 h 50 min at 30 frames/s)."""
MAX_DECODED_BYTES = 64 * 2**30
"""Largest accepted decoded size of the whole clip, 64 GiB."""

US_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "US Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.6.2": "Enhanced US Volume",
    "1.2.840.10008.5.1.4.1.1.6": "US Image (retired)",
    "1.2.840.10008.5.1.4.1.1.3": "US Multi-frame Image (retired)",
}
_OWN_NATIVE_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR")
_LONG_LENGTH_VRS = (b"OB", b"OW", b"OD", b"OF", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT")
_ITEM, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)


@dataclass(frozen=True)
class PixelFormat:
    """How the frames of one file are stored (DICOM Image Pixel module and transfer syntax)."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar: int
    n_frames: int
    transfer_syntax: UID
    little_endian: bool
    pixel_vr: str

    @property
    def frame_bytes(self) -> int:
        """Bytes of one natively encoded frame (YBR_FULL_422 stores two samples per pixel)."""
        samples = 2 if self.photometric == "YBR_FULL_422" and self.samples == 3 else self.samples
        return self.rows * self.columns * samples * self.bits_allocated // 8

    @property
    def decoded_bytes(self) -> int:
        """Bytes of the whole clip once decoded to RGB."""
        samples = 3 if self.samples == 3 or self.photometric == "PALETTE COLOR" else 1
        return self.n_frames * self.rows * self.columns * samples * max(1, self.bits_allocated // 8)


def _int(ds: Dataset, keyword: str, default: int | None, source: str) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        if default is None:
            raise ClipError(f"{source}: the DICOM header has no {keyword}; the file is not an image")
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ClipError(f"{source}: {keyword} {value!r} in the DICOM header is not a number") from exc


def _pixel_format(ds: Dataset, transfer_syntax: UID, pixel_vr: str, source: str) -> PixelFormat:
    fmt = PixelFormat(
        rows=_int(ds, "Rows", None, source), columns=_int(ds, "Columns", None, source),
        samples=_int(ds, "SamplesPerPixel", 1, source), bits_allocated=_int(ds, "BitsAllocated", None, source),
        bits_stored=_int(ds, "BitsStored", _int(ds, "BitsAllocated", None, source), source),
        signed=_int(ds, "PixelRepresentation", 0, source) == 1,
        photometric=str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper(),
        planar=_int(ds, "PlanarConfiguration", 0, source), n_frames=_int(ds, "NumberOfFrames", 1, source),
        transfer_syntax=transfer_syntax, little_endian=transfer_syntax.is_little_endian, pixel_vr=pixel_vr)
    if not (0 < fmt.rows <= MAX_SIDE and 0 < fmt.columns <= MAX_SIDE):
        raise ClipError(f"{source}: frame size {fmt.columns}×{fmt.rows} px is outside 1–{MAX_SIDE}; "
                        "the header is corrupt")
    if not 0 < fmt.n_frames <= MAX_FRAMES:
        raise ClipError(f"{source}: Number of Frames {fmt.n_frames} is outside 1–{MAX_FRAMES}; the header is corrupt")
    if fmt.decoded_bytes > MAX_DECODED_BYTES:
        raise ClipError(f"{source}: {fmt.n_frames} frames of {fmt.columns}×{fmt.rows} px would decode to "
                        f"{fmt.decoded_bytes / 2**30:.0f} GiB, more than {MAX_DECODED_BYTES // 2**30} GiB; "
                        "the header is corrupt")
    if fmt.samples not in (1, 3):
        raise ClipError(f"{source}: {fmt.samples} samples per pixel is not supported (1 or 3)")
    if fmt.bits_allocated not in (8, 16) or not 0 < fmt.bits_stored <= fmt.bits_allocated:
        raise ClipError(f"{source}: {fmt.bits_stored} of {fmt.bits_allocated} bits per sample is not supported "
                        "(8 or 16 bits allocated)")
    return fmt


# --- header and pixel data element ------------------------------------------------------------------------
class _BoundedReader:
    """A file whose ``read(n)`` never asks for more than the file still holds.

    A damaged element length (say 0xFFFFFFF0) would otherwise make pydicom request gigabytes, which Python
    allocates before finding the file short; bounded, the read comes back short and pydicom reports it.
    """

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._size = os.fstat(fh.fileno()).st_size

    def read(self, n: int | None = -1) -> bytes:
        left = max(0, self._size - self._fh.tell())
        return self._fh.read(left if n is None or n < 0 else min(n, left))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def read_dataset(fh: BinaryIO, *, pixels: bool = False, force: bool = False) -> Dataset:
    """A DICOM dataset read with bounded reads and every value converted now (pydicom converts lazily),
    so a damaged file fails here, once, with whatever pydicom raises; the caller turns that into its error."""
    ds = pydicom.dcmread(_BoundedReader(fh), stop_before_pixels=not pixels, force=force)
    for _ in ds.iterall():
        pass
    for _ in getattr(ds, "file_meta", Dataset()).iterall():
        pass
    return ds


def _read_header(fh: BinaryIO, source: str) -> tuple[Dataset, list[str]]:
    """The dataset up to (not including) the pixel data; pydicom's warnings are returned, not raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = read_dataset(fh, force=True)
        except Exception as exc:  # pydicom raises many kinds for malformed input
            raise ClipError(f"{source}: not a readable DICOM file ({_one_line(exc)})") from exc
    return ds, [_one_line(w.message) if isinstance(w.message, BaseException) else str(w.message) for w in caught]


def _transfer_syntax(ds: Dataset) -> UID:
    implicit, little = getattr(ds, "original_encoding", (None, None))
    meta = getattr(ds, "file_meta", None)
    stated = meta.get("TransferSyntaxUID") if meta is not None else None
    if stated is not None and not (isinstance(stated, str) and UID(stated).is_transfer_syntax):
        raise ClipError(f"{stated!s:.64}: the file's Transfer Syntax UID is not a transfer syntax; the file is "
                        "damaged")
    if stated is not None and UID(stated).is_encapsulated:
        return UID(stated)
    if stated is not None and UID(stated) == DeflatedExplicitVRLittleEndian:
        return DeflatedExplicitVRLittleEndian
    if implicit is None:
        return UID(stated) if stated is not None else ExplicitVRLittleEndian
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _pixel_element(fh: BinaryIO, transfer_syntax: UID, implicit: bool, source: str) -> tuple[int, int, str]:
    """Offset and length of the Pixel Data value, and its VR, from the element header at ``fh.tell()``."""
    start = fh.tell()
    head = fh.read(8)
    endian = "<" if transfer_syntax.is_little_endian else ">"
    if len(head) < 8:
        raise ClipError(f"{source}: the DICOM file has no pixel data (no image to read)")
    group, element = struct.unpack(endian + "HH", head[:4])
    if (group, element) != (0x7FE0, 0x0010):
        what = "floating-point pixel data is not an ultrasound image" if group == 0x7FE0 else "it has no pixel data"
        raise ClipError(f"{source}: cannot read this DICOM file: {what}")
    if implicit:
        return start + 8, struct.unpack(endian + "L", head[4:8])[0], "OB" if transfer_syntax.is_encapsulated else "OW"
    vr = head[4:6]
    if vr in _LONG_LENGTH_VRS:
        extra = fh.read(4)
        if len(extra) < 4:
            raise ClipError(f"{source}: the file is truncated inside the pixel data header")
        return start + 12, struct.unpack(endian + "L", extra)[0], vr.decode("ascii")
    return start + 8, struct.unpack(endian + "H", head[6:8])[0], vr.decode("ascii", "replace")


def _fragments(fh: BinaryIO, value_offset: int, file_size: int, source: str
               ) -> tuple[list[int], list[tuple[int, int]], int]:
    """Walk the encapsulated pixel data items without reading their data.

    Returns the Basic Offset Table, the fragments as (data offset, length) and the offset of the first
    fragment's item tag (the origin of the offset tables).
    """
    position, offsets, fragments, origin = value_offset, None, [], value_offset
    while True:
        if position + 8 > file_size:
            raise ClipError(f"{source}: the file is truncated: the compressed frames end early; "
                            "copy the file again from the scanner or PACS")
        fh.seek(position)
        group, element, length = struct.unpack("<HHL", fh.read(8))
        if (group, element) == _SEQUENCE_END:
            break
        if (group, element) != _ITEM or length == 0xFFFFFFFF:
            raise ClipError(f"{source}: the encapsulated pixel data is malformed at byte {position}")
        if position + 8 + length > file_size:
            raise ClipError(f"{source}: the file is truncated: a compressed frame ends beyond the end of the file; "
                            "copy the file again from the scanner or PACS")
        if offsets is None:
            table = fh.read(length) if length else b""
            offsets = list(struct.unpack(f"<{length // 4}L", table[:length - length % 4]))
            origin = position + 8 + length
        else:
            fragments.append((position + 8, length))
        position += 8 + length
    return offsets or [], fragments, origin


def _ends_with_eoi(fh: BinaryIO, fragment: tuple[int, int]) -> bool:
    offset, length = fragment
    fh.seek(offset + max(0, length - 3))
    tail = fh.read(min(3, length))
    return tail.endswith(b"\xff\xd9") or tail.endswith(b"\xff\xd9\x00")


def _frame_index(fh: BinaryIO, ds: Dataset, fmt: PixelFormat, value_offset: int, file_size: int,
                 source: str) -> list[list[tuple[int, int]]]:
    """The fragments (data offset, length) of every frame of encapsulated pixel data."""
    bot, fragments, origin = _fragments(fh, value_offset, file_size, source)
    n = fmt.n_frames
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        starts = np.frombuffer(ds.ExtendedOffsetTable, dtype="<u8")
        lengths = np.frombuffer(ds.ExtendedOffsetTableLengths, dtype="<u8")
        if len(starts) >= n and len(lengths) >= n:
            frames = [[(origin + int(s) + 8, int(m))] for s, m in zip(starts[:n], lengths[:n], strict=True)]
            if all(frame[0][0] + frame[0][1] <= file_size for frame in frames):
                return frames
    if len(fragments) < n:
        raise ClipError(f"{source}: Number of Frames is {n} but the pixel data holds only {len(fragments)} "
                        "compressed frame(s); the file is truncated or its header is wrong")
    if len(fragments) == n:
        return [[f] for f in fragments]
    if n == 1:
        return [fragments]
    if len(bot) >= n and all(a < b for a, b in zip(bot, bot[1:], strict=False)):
        bounds = [*bot[:n], math.inf]
        items = [(f[0] - 8 - origin, f) for f in fragments]
        grouped = [[f for at, f in items if bounds[i] <= at < bounds[i + 1]] for i in range(n)]
        if all(grouped):
            return grouped
    if fmt.transfer_syntax != RLELossless:
        grouped, current = [], []
        for fragment in fragments:
            current.append(fragment)
            if _ends_with_eoi(fh, fragment):
                grouped.append(current)
                current = []
        if len(grouped) >= n:
            return grouped[:n]
    raise ClipError(f"{source}: cannot tell which of the {len(fragments)} compressed fragments belong to which of "
                    f"the {n} frames (no offset table); re-export the clip with one fragment per frame")


# --- timing and regions -----------------------------------------------------------------------------------
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
    """Frame times in seconds from the first frame, and where they came from.

    Parameters
    ----------
    ds : the DICOM header.
    n_frames : number of frames.
    fps : frames/s to use only when the file states no usable timing.
    source : file name for messages.

    Returns
    -------
    times : (n_frames,) float64 seconds, ``times[0] == 0``.
    origin : "single_frame", "frame_time_vector", "frame_time", "cine_rate" or "fps".
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
    """2-D regions of the Sequence of Ultrasound Regions (0018,6011) with spacing in mm where stated in cm.

    Only regions with Region Spatial Format 1 (2-D) are returned; the box is clipped to the frame
    (Region Location Max X1/Y1 are inclusive, the box's x1/y1 exclusive); spacing is Physical Delta
    X/Y × 10 when both Physical Units are 3 (cm), else None; kind is "tissue" for Region Data Type 1,
    "color_flow" for 2, else "other".
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


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(dx, dy) in mm from Pixel Spacing (0028,0030), which lists the row spacing (dy) first."""
    values = _values(ds.get("PixelSpacing"))
    if len(values) != 2:
        return None
    dy, dx = _positive(values[0]), _positive(values[1])
    return (dx, dy) if dx is not None and dy is not None else None


def _info(ds: Dataset, fmt: PixelFormat, timing: str, notes: list[str]) -> dict[str, object]:
    """Non-identifying header facts for ``ceuskit info``."""
    sop_class = str(ds.get("SOPClassUID", ""))
    modality = str(ds.get("Modality", ""))
    if modality != "US" and sop_class not in US_SOP_CLASSES:
        notes.insert(0, f"modality {modality or 'unknown'} is not ultrasound (US); read anyway")
    info: dict[str, object] = {
        "format": "dicom",
        "modality": modality,
        "sop_class": US_SOP_CLASSES.get(sop_class, UID(sop_class).name if sop_class else ""),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "model_name": str(ds.get("ManufacturerModelName", "")),
        "transfer_syntax": fmt.transfer_syntax.name,
        "photometric_interpretation": fmt.photometric,
        "bits_allocated": fmt.bits_allocated,
        "number_of_frames": fmt.n_frames,
        "timing_source": timing,
    }
    if notes:
        info["warnings"] = notes
    return info


_HEADER_KEYWORDS = {
    "acquisition_datetime": "AcquisitionDateTime", "acquisition_date": "AcquisitionDate",
    "acquisition_time": "AcquisitionTime", "content_date": "ContentDate", "content_time": "ContentTime",
    "timezone_offset": "TimezoneOffsetFromUTC", "contrast_start_time": "ContrastBolusStartTime",
    "contrast_agent": "ContrastBolusAgent", "patient_id": "PatientID", "study_uid": "StudyInstanceUID",
}


def clip_header(ds: Dataset) -> ClipHeader:
    """The acquisition/contrast times and identity of a DICOM header as text (:class:`ClipHeader`).

    Values are kept as stored (stripped; a multi-valued element's first value) and parsed only when an
    examination needs them (:mod:`ceuskit.io.examination`), so a malformed date never stops a clip from
    being read on its own.
    """
    values = {}
    for name, keyword in _HEADER_KEYWORDS.items():
        found = _values(ds.get(keyword))
        values[name] = str(found[0]).strip() if found else ""
    return ClipHeader(**values)


# --- frames -----------------------------------------------------------------------------------------------
class DicomFrames:
    """Decodes frames of one DICOM file on demand from an open file handle (a :class:`FrameSource`)."""

    def __init__(self, fh: BinaryIO, ds: Dataset, fmt: PixelFormat, value_offset: int,
                 frames: list[list[tuple[int, int]]] | None, source: str) -> None:
        self._fh, self._fmt, self._value_offset, self._frames, self._source = fh, fmt, value_offset, frames, source
        self._decoder = get_decoder(fmt.transfer_syntax)
        options = as_pixel_options(ds)
        options.update(transfer_syntax_uid=fmt.transfer_syntax, pixel_keyword="PixelData", pixel_vr=fmt.pixel_vr,
                       number_of_frames=1 if frames is not None else fmt.n_frames)
        self._options = options
        self._own_native = (frames is None and not fmt.signed and fmt.photometric in _OWN_NATIVE_PHOTOMETRICS
                            and not (not fmt.little_endian and fmt.bits_allocated == 8 and fmt.pixel_vr == "OW"))
        self._pillow = (frames is not None and fmt.bits_allocated == 8 and fmt.bits_stored <= 8
                        and fmt.transfer_syntax in (JPEGBaseline8Bit, JPEGExtended12Bit))
        self._lut: np.ndarray | None = None
        self._lut_first = 0
        if fmt.photometric == "PALETTE COLOR":
            self._lut, self._lut_first = _palette_table(ds, fmt, source)
        self.max_value = _max_value(fmt, self._lut)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as (rows, columns) or (rows, columns, 3) RGB."""
        try:
            pixels = self._decode(index)
        except ClipError:
            raise
        except Exception as exc:  # decoder plugins raise many kinds for corrupt data
            raise ClipError(f"{self._source}: frame {index} cannot be decoded ({_one_line(exc)})") from exc
        return self._finish(pixels, index)

    def iterate(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start … stop-1`` in order."""
        for index in range(start, stop):
            yield self.read(index)

    def close(self) -> None:
        self._fh.close()

    # ---------------------------------------------------------------------------------------------------
    def _decode(self, index: int) -> np.ndarray:
        fmt = self._fmt
        if self._frames is None:
            if self._own_native:
                return self._native(index)
            self._fh.seek(self._value_offset)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self._decoder.as_array(self._fh, index=index, validate=False, **self._options)[0]
        data = b"".join(self._read_at(offset, length) for offset, length in self._frames[index])
        if self._pillow:
            pixels = _pillow_jpeg(data, fmt)
            if pixels is not None:
                return pixels
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._decoder.as_array(encapsulate([data]), index=0, validate=False, **self._options)[0]

    def _read_at(self, offset: int, length: int) -> bytes:
        self._fh.seek(offset)
        data = self._fh.read(length)
        if len(data) < length:
            raise ClipError(f"{self._source}: the file is truncated inside the pixel data")
        return data

    def _native(self, index: int) -> np.ndarray:
        fmt = self._fmt
        buffer = bytearray(fmt.frame_bytes)
        self._fh.seek(self._value_offset + index * fmt.frame_bytes)
        if self._fh.readinto(buffer) < fmt.frame_bytes:  # type: ignore[attr-defined]
            raise ClipError(f"{self._source}: the file is truncated inside frame {index}")
        dtype = np.dtype(np.uint8) if fmt.bits_allocated == 8 else np.dtype("<u2" if fmt.little_endian else ">u2")
        pixels = np.frombuffer(buffer, dtype=dtype)
        if fmt.samples == 3:
            pixels = (pixels.reshape(3, fmt.rows, fmt.columns).transpose(1, 2, 0) if fmt.planar == 1
                      else pixels.reshape(fmt.rows, fmt.columns, 3))
        else:
            pixels = pixels.reshape(fmt.rows, fmt.columns)
        if not dtype.isnative:
            pixels = pixels.astype(np.uint16)
        if fmt.bits_stored < fmt.bits_allocated:
            pixels = pixels & np.asarray((1 << fmt.bits_stored) - 1, dtype=pixels.dtype)
        return pixels

    def _finish(self, pixels: np.ndarray, index: int) -> np.ndarray:
        fmt = self._fmt
        if self._lut is not None:
            if pixels.ndim != 2:
                raise ClipError(f"{self._source}: frame {index} of a PALETTE COLOR image is not single-sample")
            indices = np.clip(pixels, self._lut_first, self._lut_first + len(self._lut) - 1)
            pixels = self._lut[(indices - self._lut_first) if self._lut_first else indices]
        elif fmt.photometric == "MONOCHROME1":
            pixels = np.asarray((1 << fmt.bits_stored) - 1, dtype=pixels.dtype) - pixels
        expected = (fmt.rows, fmt.columns) if pixels.ndim == 2 else (fmt.rows, fmt.columns, 3)
        if pixels.shape != expected:
            raise ClipError(f"{self._source}: frame {index} decodes to shape {pixels.shape}, not the "
                            f"{fmt.columns}×{fmt.rows} px the header states")
        return pixels


def _pillow_jpeg(data: bytes, fmt: PixelFormat) -> np.ndarray | None:
    """Decode an 8-bit JPEG frame with Pillow, making pydicom's colour decisions; None if Pillow cannot.

    For 3 samples the JPEG is YCbCr unless the DICOM header says RGB and the codestream has no JFIF or
    Adobe marker and no "RGB" component ids (then the samples are kept as stored, as pydicom does);
    libjpeg converts YCbCr to RGB itself.
    """
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data), formats=("JPEG",))
        if fmt.samples == 3:
            if image.mode != "RGB":
                return None
            ids = [layer[0] for layer in getattr(image, "layer", [])]
            stored_rgb = ids in ([82, 71, 66], [114, 103, 98])
            if (fmt.photometric == "RGB" and not stored_rgb and "jfif" not in image.info
                    and "adobe" not in image.info):
                image.draft("YCbCr", image.size)
        elif image.mode != "L":
            return None
        pixels = np.asarray(image)
    except (OSError, ValueError, SyntaxError):
        return None
    expected = (fmt.rows, fmt.columns) if fmt.samples == 1 else (fmt.rows, fmt.columns, 3)
    return pixels if pixels.shape == expected else None


def _palette_table(ds: Dataset, fmt: PixelFormat, source: str) -> tuple[np.ndarray, int]:
    """The palette as an (entries, 3) RGB table and the first mapped pixel value.

    The table is pydicom's :func:`~pydicom.pixels.apply_color_lut` applied to every stored value once,
    so frames need only one indexing step; big-endian 16-bit tables are put in the right byte order.
    """
    try:
        entries, first = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536, \
            int(ds.RedPaletteColorLookupTableDescriptor[1])
        first = max(0, first)
        values = np.arange(first, first + entries, dtype=np.uint16 if fmt.bits_allocated == 16 else np.uint8)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = apply_color_lut(values, ds)[..., :3]
        if not fmt.little_endian and table.dtype == np.uint16 and "RedPaletteColorLookupTableData" in ds:
            table = table.byteswap()  # pydicom 3.0 reads unsegmented OW lookup tables in host byte order
    except Exception as exc:  # missing or malformed lookup table elements
        raise ClipError(f"{source}: the PALETTE COLOR lookup table is missing or malformed "
                        f"({_one_line(exc)})") from exc
    return np.ascontiguousarray(table), first


def _max_value(fmt: PixelFormat, lut: np.ndarray | None) -> int:
    """Value that means full white: 65535 for a 16-bit palette, 2^BitsStored − 1 for deeper grey/RGB."""
    if lut is not None:
        return 65535 if lut.dtype == np.uint16 else 255
    return (1 << fmt.bits_stored) - 1 if fmt.bits_stored > 8 else 255


# --- entry point ------------------------------------------------------------------------------------------
def read_dicom(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> Clip:
    """Open a DICOM ultrasound file (single- or multi-frame) as a :class:`Clip`.

    Parameters
    ----------
    path : the DICOM file (with or without the 128-byte preamble).
    fps : frames/s used only when the file states no usable timing (see the module docstring).
    layout : "auto", "single", "dual-left-ceus" or "dual-right-ceus" (see :mod:`ceuskit.io.layout`).

    Raises
    ------
    ClipError
        Not DICOM, no pixel data, absurd dimensions, truncated pixel data, fewer frames than Number of
        Frames, unusable or missing timing for a multi-frame file.
    """
    source = str(path)
    fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - owned by the frame source, closed by Clip.close
    try:
        clip = _open(fh, source, fps=fps, layout=layout)
    except CeusError:
        fh.close()
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, RuntimeError,
            struct.error) as exc:  # a header value no check above foresaw: still the file's fault
        fh.close()
        raise ClipError(f"{source}: malformed DICOM header ({_one_line(exc)})") from exc
    except BaseException:
        fh.close()
        raise
    return clip


def _open(fh: BinaryIO, source: str, *, fps: float | None, layout: str) -> Clip:
    ds, notes = _read_header(fh, source)
    transfer_syntax = _transfer_syntax(ds)
    file_size = os.fstat(fh.fileno()).st_size
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        fh, value_offset, length, pixel_vr, ds = _inflate(fh, source)
        file_size, transfer_syntax = length, ExplicitVRLittleEndian
        notes.append("deflated file: the whole pixel data is held in memory")
    else:
        implicit = bool(getattr(ds, "original_encoding", (False, True))[0])
        value_offset, length, pixel_vr = _pixel_element(fh, transfer_syntax, implicit, source)
    fmt = _pixel_format(ds, transfer_syntax, pixel_vr, source)
    if not get_decoder(transfer_syntax).is_available:
        raise ClipError(f"{source}: no decoder for transfer syntax {transfer_syntax.name} is installed; "
                        "install pylibjpeg with its -libjpeg, -openjpeg and -rle plugins")
    frames = None
    if transfer_syntax.is_encapsulated:
        if length != 0xFFFFFFFF:
            raise ClipError(f"{source}: compressed pixel data ({transfer_syntax.name}) is not encapsulated; "
                            "the file is malformed")
        frames = _frame_index(fh, ds, fmt, value_offset, file_size, source)
    else:
        if length == 0xFFFFFFFF:
            raise ClipError(f"{source}: uncompressed pixel data has an undefined length; the file is malformed")
        needed = fmt.n_frames * fmt.frame_bytes
        if length < needed:
            raise ClipError(f"{source}: Number of Frames is {fmt.n_frames} but the pixel data holds only "
                            f"{length // fmt.frame_bytes} frame(s) ({length} of {needed} bytes); the header is wrong")
        if value_offset + needed > file_size:
            raise ClipError(f"{source}: the file is truncated: it ends inside frame "
                            f"{(file_size - value_offset) // fmt.frame_bytes} of {fmt.n_frames}; "
                            "copy the file again from the scanner or PACS")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ClipError(f"frame rate {fps} is not a positive number of frames/s")
    times, timing = frame_times(ds, fmt.n_frames, fps, source)
    if fps is not None and timing not in ("fps", "single_frame"):
        notes.append(f"--fps {fps:g} ignored: the file states its frame timing ({timing})")
    source_frames = DicomFrames(fh, ds, fmt, value_offset, frames, source)
    clip = Clip(source=source, times=times, rows=fmt.rows, columns=fmt.columns, frames=source_frames,
                pixel_spacing_mm=_pixel_spacing(ds), max_value=source_frames.max_value,
                info=_info(ds, fmt, timing, notes), header=clip_header(ds))
    return resolve_layout(clip, ultrasound_regions(ds, fmt.rows, fmt.columns), layout)


def _inflate(fh: BinaryIO, source: str) -> tuple[BinaryIO, int, int, str, Dataset]:
    """A deflated file read whole: its pixel data in memory as a file-like (offset 0)."""
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = pydicom.dcmread(fh, force=True)
        data = bytes(full.PixelData)
        vr = str(full["PixelData"].VR)
    except Exception as exc:  # malformed deflate stream or no pixel data
        raise ClipError(f"{source}: cannot read the deflated DICOM file ({_one_line(exc)})") from exc
    fh.close()
    del full.PixelData
    return io.BytesIO(data), 0, len(data), vr, full
