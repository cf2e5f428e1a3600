"""Where a DICOM file keeps its frames, found without reading them.

The Pixel Data element is indexed in place: native data is one offset, encapsulated data the offset and
length of every fragment of every frame, so a clip of any length is located with memory that does not
grow with it.  A deflated file is the exception: it is inflated whole.  Everything a malformed file can
get wrong here is checked before the first frame is decoded (:func:`locate_pixel_data`).
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless

from ceuskit.errors import ClipError
from ceuskit.io.clip import one_line
from ceuskit.io.dicom.encoding import PixelFormat, pixel_format, transfer_syntax_of

__all__ = ["Fragment", "PixelData", "locate_pixel_data"]

Fragment = tuple[int, int]
"""One fragment of encapsulated pixel data: (byte offset of its data in the file, length in bytes)."""

_LONG_LENGTH_VRS = (b"OB", b"OW", b"OD", b"OF", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT")
_ITEM, _SEQUENCE_END = (0xFFFE, 0xE000), (0xFFFE, 0xE0DD)
_UNDEFINED_LENGTH = 0xFFFFFFFF


@dataclass(frozen=True)
class PixelData:
    """Where a file's frames are and how they are stored, as :func:`locate_pixel_data` found them.

    Attributes
    ----------
    fh : BinaryIO
        The file, or for a deflated file its pixel data in memory.
    ds : Dataset
        The header (for a deflated file, the inflated one).
    fmt : PixelFormat
        How the frames are stored.
    value_offset : int
        Byte offset of the Pixel Data value in ``fh``.
    frames : list of list of Fragment, or None
        Encapsulated data: every frame's fragments in order; native data: None (frame ``k`` starts at
        ``value_offset + k * fmt.frame_bytes``).
    notes : tuple of str
        What a reader of the clip should know (a deflated file is held in memory).
    """

    fh: BinaryIO
    ds: Dataset
    fmt: PixelFormat
    value_offset: int
    frames: list[list[Fragment]] | None
    notes: tuple[str, ...] = ()


def locate_pixel_data(fh: BinaryIO, ds: Dataset, source: str) -> PixelData:
    """Find a file's frames and check that they are all there and can be decoded, without reading them.

    Parameters
    ----------
    fh : BinaryIO
        The file, at the element after the header (:func:`~ceuskit.io.dicom.header.read_header`); a
        deflated file is read whole and closed.
    ds : Dataset
        Its header.
    source : str
        File name for messages.

    Returns
    -------
    PixelData
        Where the frames are.

    Raises
    ------
    ClipError
        A damaged transfer syntax; no Pixel Data element; a pixel format outside the reader's limits
        (:func:`pixel_format`); no installed decoder for the transfer syntax; compressed data not
        encapsulated, native data of undefined length, fewer frames than Number of Frames, malformed
        fragments, or a file that ends inside the frames.
    """
    transfer_syntax = transfer_syntax_of(ds)
    file_size = os.fstat(fh.fileno()).st_size
    notes = []
    if transfer_syntax == DeflatedExplicitVRLittleEndian:
        fh, value_offset, length, pixel_vr, ds = _inflate(fh, source)
        file_size, transfer_syntax = length, ExplicitVRLittleEndian
        notes.append("deflated file: the whole pixel data is held in memory")
    else:
        implicit = bool(getattr(ds, "original_encoding", (False, True))[0])
        value_offset, length, pixel_vr = _pixel_element(fh, transfer_syntax, implicit, source)
    fmt = pixel_format(ds, transfer_syntax, pixel_vr, source)
    if not get_decoder(transfer_syntax).is_available:
        raise ClipError(f"{source}: no decoder for transfer syntax {transfer_syntax.name} is installed; "
                        "install pylibjpeg with its -libjpeg, -openjpeg and -rle plugins")
    frames = _locate_frames(fh, ds, fmt, value_offset, length, file_size, source)
    return PixelData(fh, ds, fmt, value_offset, frames, tuple(notes))


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


def _inflate(fh: BinaryIO, source: str) -> tuple[BinaryIO, int, int, str, Dataset]:
    """Read a deflated file whole (and close it): its pixel data in memory as a file-like (offset 0)."""
    fh.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = pydicom.dcmread(fh, force=True)
        data = bytes(full.PixelData)
        vr = str(full["PixelData"].VR)
    except Exception as exc:  # malformed deflate stream or no pixel data
        raise ClipError(f"{source}: cannot read the deflated DICOM file ({one_line(exc)})") from exc
    fh.close()
    del full.PixelData
    return io.BytesIO(data), 0, len(data), vr, full


def _fragments(fh: BinaryIO, value_offset: int, file_size: int, source: str
               ) -> tuple[list[int], list[Fragment], int]:
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
        if (group, element) != _ITEM or length == _UNDEFINED_LENGTH:
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


def _ends_with_eoi(fh: BinaryIO, fragment: Fragment) -> bool:
    offset, length = fragment
    fh.seek(offset + max(0, length - 3))
    tail = fh.read(min(3, length))
    return tail.endswith(b"\xff\xd9") or tail.endswith(b"\xff\xd9\x00")


def _frame_index(fh: BinaryIO, ds: Dataset, fmt: PixelFormat, value_offset: int, file_size: int,
                 source: str) -> list[list[Fragment]]:
    """Assign the fragments of encapsulated pixel data to its frames.

    Frames are told apart by, in order: the Extended Offset Table, one fragment per frame, a single frame,
    the Basic Offset Table, and (not for RLE) the JPEG end-of-image marker ending a frame's last fragment.
    """
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


def _locate_frames(fh: BinaryIO, ds: Dataset, fmt: PixelFormat, value_offset: int, length: int,
                   file_size: int, source: str) -> list[list[Fragment]] | None:
    """Check that the value holds every frame; give the frames' fragments (encapsulated) or None (native)."""
    syntax = fmt.transfer_syntax
    if syntax.is_encapsulated:
        if length != _UNDEFINED_LENGTH:
            raise ClipError(f"{source}: compressed pixel data ({syntax.name}) is not encapsulated; "
                            "the file is malformed")
        return _frame_index(fh, ds, fmt, value_offset, file_size, source)
    if length == _UNDEFINED_LENGTH:
        raise ClipError(f"{source}: uncompressed pixel data has an undefined length; the file is malformed")
    needed = fmt.n_frames * fmt.frame_bytes
    if length < needed:
        raise ClipError(f"{source}: Number of Frames is {fmt.n_frames} but the pixel data holds only "
                        f"{length // fmt.frame_bytes} frame(s) ({length} of {needed} bytes); the header is wrong: "
                        "export the clip again from the scanner or PACS")
    if value_offset + needed > file_size:
        raise ClipError(f"{source}: the file is truncated: it ends inside frame "
                        f"{(file_size - value_offset) // fmt.frame_bytes} of {fmt.n_frames}; "
                        "copy the file again from the scanner or PACS")
    return None
