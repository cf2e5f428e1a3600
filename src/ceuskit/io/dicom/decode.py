"""The frames of a DICOM file, decoded one at a time from where :mod:`~.pixel_data` found them.

Colour follows pydicom: RGB (planar configuration 0 or 1), YBR_FULL / YBR_FULL_422 converted to RGB,
PALETTE COLOR through its lookup table (8- or 16-bit entries), MONOCHROME1 inverted to MONOCHROME2.
Native unsigned grey, RGB and palette frames are read straight from the file; JPEG baseline frames are
decoded by Pillow (libjpeg-turbo) straight to RGB, which is several times faster than pydicom's
decode-then-convert and agrees with it to rounding (≤ 2 grey levels); everything else goes through
pydicom's decoders.
"""

from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import as_pixel_options
from pydicom.uid import JPEGBaseline8Bit, JPEGExtended12Bit

from ceuskit.errors import ClipError
from ceuskit.io.clip import Box, crop_box, one_line
from ceuskit.io.dicom.encoding import PixelFormat
from ceuskit.io.dicom.pixel_data import PixelData

__all__ = ["DicomFrames"]

_OWN_NATIVE_PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR")


class DicomFrames:
    """Decodes frames of one DICOM file on demand from an open file handle (a :class:`FrameSource`).

    Parameters
    ----------
    pixels : PixelData
        Where the frames are (:func:`~ceuskit.io.dicom.pixel_data.locate_pixel_data`); its file is owned from
        now on, closed by :meth:`close`.
    source : str
        File name for messages.

    Attributes
    ----------
    concurrent : bool
        Whether several threads may decode frames at once: frames read straight from the file or decoded by
        Pillow (the file is read under a lock, the decoding runs in parallel); frames that go through
        pydicom's decoders are decoded one at a time.

    Raises
    ------
    ClipError
        A PALETTE COLOR image whose lookup table is missing or malformed.
    """

    def __init__(self, pixels: PixelData, source: str) -> None:
        ds, fmt, frames = pixels.ds, pixels.fmt, pixels.frames
        self._fh, self._fmt, self._value_offset, self._frames = pixels.fh, fmt, pixels.value_offset, frames
        self._source = source
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
        self.concurrent = self._own_native or self._pillow
        self._file_lock = threading.Lock()  # the file position is shared: seek and read together
        self._pydicom_lock = threading.Lock()  # pydicom's decoder plugins are not known to be thread-safe

    def read(self, index: int) -> np.ndarray:
        """Decode one frame.

        Parameters
        ----------
        index : int
            Frame number, from 0.

        Returns
        -------
        numpy.ndarray
            (rows, columns) grey or (rows, columns, 3) RGB, uint8 or uint16.

        Raises
        ------
        ClipError
            The frame is truncated or cannot be decoded, or decodes to another size than the header states.
        """
        return self._read(index, None)

    def iterate(self, start: int, stop: int, box: Box | None = None) -> Iterator[np.ndarray]:
        """Decode frames ``start … stop-1`` in order.

        Parameters
        ----------
        start, stop : int
            First frame and one past the last.
        box : (x0, y0, x1, y1), optional
            Hand out only this part of each frame (a JPEG frame is then converted to an array only there,
            which saves a third of the cost of reading it).

        Yields
        ------
        numpy.ndarray
            Each frame as :meth:`read` gives it, cut to ``box`` when given.

        Raises
        ------
        ClipError
            As :meth:`read`.
        """
        for index in range(start, stop):
            yield self._read(index, box)

    def _read(self, index: int, box: Box | None) -> np.ndarray:
        try:
            pixels, cut = self._decode(index, box)
        except ClipError:
            raise
        except Exception as exc:  # decoder plugins raise many kinds for corrupt data
            raise ClipError(f"{self._source}: frame {index} cannot be decoded ({one_line(exc)})") from exc
        if cut:
            return self._finish(pixels, index, box)
        return crop_box(self._finish(pixels, index, None), box)

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    # ---------------------------------------------------------------------------------------------------
    def _decode(self, index: int, box: Box | None) -> tuple[np.ndarray, bool]:
        """Return the frame's stored pixels, and whether they were already cut to ``box``."""
        fmt = self._fmt
        if self._frames is None:
            if self._own_native:
                return self._native(index), False
            with self._file_lock, self._pydicom_lock, warnings.catch_warnings():
                self._fh.seek(self._value_offset)
                warnings.simplefilter("ignore")
                return self._decoder.as_array(self._fh, index=index, validate=False, **self._options)[0], False
        with self._file_lock:
            data = b"".join(self._read_at(offset, length) for offset, length in self._frames[index])
        if self._pillow:
            decoded = _pillow_jpeg(data, fmt, box)
            if decoded is not None:
                return decoded
        with self._pydicom_lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._decoder.as_array(encapsulate([data]), index=0, validate=False, **self._options)[0], False

    def _read_at(self, offset: int, length: int) -> bytes:
        self._fh.seek(offset)
        data = self._fh.read(length)
        if len(data) < length:
            raise ClipError(f"{self._source}: the file is truncated inside the pixel data")
        return data

    def _native(self, index: int) -> np.ndarray:
        fmt = self._fmt
        buffer = bytearray(fmt.frame_bytes)
        with self._file_lock:
            self._fh.seek(self._value_offset + index * fmt.frame_bytes)
            got = self._fh.readinto(buffer)  # type: ignore[attr-defined]
        if got < fmt.frame_bytes:
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

    def _finish(self, pixels: np.ndarray, index: int, box: Box | None) -> np.ndarray:
        """Palette and MONOCHROME1 applied, the size checked (against ``box`` where the pixels were cut)."""
        fmt = self._fmt
        if self._lut is not None:
            if pixels.ndim != 2:
                raise ClipError(f"{self._source}: frame {index} of a PALETTE COLOR image is not single-sample")
            indices = np.clip(pixels, self._lut_first, self._lut_first + len(self._lut) - 1)
            pixels = self._lut[(indices - self._lut_first) if self._lut_first else indices]
        elif fmt.photometric == "MONOCHROME1":
            pixels = np.asarray((1 << fmt.bits_stored) - 1, dtype=pixels.dtype) - pixels
        rows, columns = (fmt.rows, fmt.columns) if box is None else (box[3] - box[1], box[2] - box[0])
        expected = (rows, columns) if pixels.ndim == 2 else (rows, columns, 3)
        if pixels.shape != expected:
            raise ClipError(f"{self._source}: frame {index} decodes to shape {pixels.shape}, not the "
                            f"{fmt.columns}×{fmt.rows} px the header states")
        return pixels


def _pillow_jpeg(data: bytes, fmt: PixelFormat, box: Box | None = None) -> tuple[np.ndarray, bool] | None:
    """Decode an 8-bit JPEG frame with Pillow, making pydicom's colour decisions; None if Pillow cannot.

    With ``box`` inside the frame only that part becomes an array (converting Pillow's image costs as much
    as a third of decoding it); the flag says whether the pixels were cut to it. For 3 samples the JPEG is YCbCr unless the DICOM header says RGB and the codestream has no JFIF or
    Adobe marker and no "RGB" component ids (then the samples are kept as stored, as pydicom does);
    libjpeg converts YCbCr to RGB itself.
    """
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
        if image.size != (fmt.columns, fmt.rows):
            return None
        cut = box is not None and 0 <= box[0] < box[2] <= fmt.columns and 0 <= box[1] < box[3] <= fmt.rows
        pixels = np.asarray(image.crop(box) if cut else image)
    except (OSError, ValueError, SyntaxError):
        return None
    return pixels, cut


def _palette_table(ds: Dataset, fmt: PixelFormat, source: str) -> tuple[np.ndarray, int]:
    """Give the palette as an (entries, 3) RGB table and the first mapped pixel value.

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
                        f"({one_line(exc)})") from exc
    return np.ascontiguousarray(table), first


def _max_value(fmt: PixelFormat, lut: np.ndarray | None) -> int:
    """Value that means full white: 65535 for a 16-bit palette, 2^BitsStored − 1 for deeper grey/RGB."""
    if lut is not None:
        return 65535 if lut.dtype == np.uint16 else 255
    return (1 << fmt.bits_stored) - 1 if fmt.bits_stored > 8 else 255
