"""How a DICOM file encodes its frames: the transfer syntax and the Image Pixel module.

:func:`transfer_syntax_of` says how the pixel data is encoded, :func:`pixel_format` how each frame is laid
out, checked against the reader's limits (:data:`MAX_SIDE`, :data:`MAX_FRAMES`, :data:`MAX_DECODED_BYTES`)
so that an absurd header is refused before anything is allocated.  De-identification
(:mod:`ceuskit.io.deid`) applies the same limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from ceuskit.errors import ClipError

__all__ = ["MAX_DECODED_BYTES", "MAX_FRAMES", "MAX_SIDE", "PixelFormat", "pixel_format", "transfer_syntax_of"]

MAX_SIDE = 8192
"""Largest accepted Rows or Columns."""
MAX_FRAMES = 200_000
"""Largest accepted Number of Frames (about 1 h 50 min at 30 frames/s)."""
MAX_DECODED_BYTES = 64 * 2**30
"""Largest accepted decoded size of the whole clip, 64 GiB."""


@dataclass(frozen=True)
class PixelFormat:
    """How the frames of one file are stored (DICOM Image Pixel module and transfer syntax).

    Attributes
    ----------
    rows, columns, samples, n_frames : int
        Frame size in pixels, samples per pixel (1 or 3), Number of Frames.
    bits_allocated, bits_stored : int
        Bits per sample allocated (8 or 16) and used.
    signed : bool
        Pixel Representation 1 (two's complement).
    photometric : str
        Photometric Interpretation, stripped and upper case.
    planar : int
        Planar Configuration (0 interleaved, 1 one plane per colour).
    transfer_syntax : UID
        The transfer syntax of the pixel data (``little_endian``: its byte order).
    little_endian : bool
        The transfer syntax is little endian.
    pixel_vr : str
        VR of the Pixel Data element ("OB" or "OW").
    """

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


def pixel_format(ds: Dataset, transfer_syntax: UID, pixel_vr: str, source: str) -> PixelFormat:
    """Give the pixel format a header states, checked against the reader's limits.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.
    transfer_syntax : UID
        The transfer syntax of the pixel data (:func:`transfer_syntax_of`).
    pixel_vr : str
        VR of the Pixel Data element.
    source : str
        File name for messages.

    Returns
    -------
    PixelFormat
        The format, within the limits.

    Raises
    ------
    ClipError
        No Rows, Columns or Bits Allocated; a value that is not a number; a frame side outside
        1–:data:`MAX_SIDE`; a frame count outside 1–:data:`MAX_FRAMES`; a decoded size above
        :data:`MAX_DECODED_BYTES`; samples per pixel other than 1 or 3; bits other than 8 or 16 allocated.
    """
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


def transfer_syntax_of(ds: Dataset) -> UID:
    """Give the transfer syntax of a dataset's pixel data.

    An encapsulated or deflated syntax stated in the File Meta Information is taken as stated; otherwise
    the encoding pydicom found while reading decides (a file without File Meta Information, or one whose
    meta disagrees with its data).

    Parameters
    ----------
    ds : Dataset
        The header as read by pydicom.

    Returns
    -------
    UID
        The transfer syntax.

    Raises
    ------
    ClipError
        The stated Transfer Syntax UID is not a transfer syntax.
    """
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
