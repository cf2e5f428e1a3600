"""Frame folders (PNG/TIFF) and NumPy arrays (.npy, .npz) → :class:`~ceuskit.io.clip.Clip`.

A folder's frames are its PNG/TIFF files in natural name order (``f2`` before ``f10``); they carry no
timing, so ``fps`` is required.  A ``.npy`` holds ``(n, rows, columns)`` or ``(n, rows, columns, 3)``
frames and is memory-mapped; a ``.npz`` holds them under ``"frames"`` and optionally their times in
seconds under ``"times_s"`` (then ``fps`` is not needed).  An uncompressed ``.npz`` is memory-mapped too;
a compressed one is read into memory whole.  Integer frames: uint8 (white = 255) or uint16 (white =
65535); float frames are display grey 0–255.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from tokenize import TokenError
from typing import IO

import numpy as np

from ceuskit.errors import ClipError, TimingError
from ceuskit.io.clip import Box, Clip, crop_box, one_line
from ceuskit.io.layout import resolve_layout

__all__ = ["ArrayFrames", "ImageFrames", "natural_key", "read_folder", "read_npy", "read_npz"]

FRAME_SUFFIXES = (".png", ".tif", ".tiff")
MAX_IN_MEMORY_BYTES = 4 * 2**30
"""Largest compressed .npz member that is read into memory whole, 4 GiB."""


def natural_key(name: str) -> list[object]:
    """Sort key that orders the digit runs of a name by value (``frame2`` < ``frame10``)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _fps_times(source: str, n_frames: int, fps: float | None, what: str) -> np.ndarray:
    if fps is None:
        raise TimingError(f"{source}: {what} carries no frame timing; give the frame rate with --fps")
    return np.arange(n_frames) / float(fps)


class ImageFrames:
    """Decodes the image files of a frame folder on demand (a :class:`~ceuskit.io.clip.FrameSource`).

    Each frame is its own file: several threads may read frames at once.
    """

    concurrent = True

    def __init__(self, files: list[Path], rows: int, columns: int) -> None:
        self._files, self._shape = files, (rows, columns)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as (rows, columns) grey or (rows, columns, 3) RGB."""
        from PIL import Image, UnidentifiedImageError

        path = self._files[index]
        try:
            with Image.open(path) as opened:
                image: Image.Image = opened
                if image.mode in ("RGBA", "P", "PA", "LA", "CMYK", "YCbCr", "1"):
                    image = image.convert("L" if image.mode in ("LA", "1") else "RGB")
                elif image.mode.startswith("I;16"):
                    image = image.convert("I")
                pixels = np.asarray(image)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise ClipError(f"{path}: the frame image cannot be read ({one_line(exc)})") from exc
        if pixels.dtype == np.int32:
            pixels = np.clip(pixels, 0, 65535).astype(np.uint16)
        if pixels.shape[:2] != self._shape:
            raise ClipError(f"{path}: frame size {pixels.shape[1]}×{pixels.shape[0]} px differs from the first "
                            f"frame's {self._shape[1]}×{self._shape[0]} px")
        return pixels

    def iterate(self, start: int, stop: int, box: Box | None = None) -> Iterator[np.ndarray]:
        """Frames ``start … stop-1`` in order, cut to ``box`` when given."""
        for index in range(start, stop):
            yield crop_box(self.read(index), box)

    def close(self) -> None:
        """Nothing stays open between reads."""


def read_folder(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> Clip:
    """Open a folder of PNG/TIFF frames (natural name order) as a :class:`Clip` at ``fps`` frames/s."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(path)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise ClipError(f"{folder}: the folder holds no PNG or TIFF frames")
    times = _fps_times(str(folder), len(files), fps, "a folder of frames")
    try:
        with Image.open(files[0]) as first:
            columns, rows = first.size
            deep = first.mode.startswith("I")
    except (OSError, UnidentifiedImageError) as exc:
        raise ClipError(f"{files[0]}: the frame image cannot be read ({one_line(exc)})") from exc
    clip = Clip(source=str(folder), times=times, rows=rows, columns=columns,
                frames=ImageFrames(files, rows, columns), max_value=65535 if deep else 255,
                info={"format": "frames", "timing_source": "fps"})
    return resolve_layout(clip, (), layout)


class ArrayFrames:
    """Frames of an (n, rows, columns[, 3]) array, usually memory-mapped (a :class:`FrameSource`).

    Several threads may read frames at once.
    """

    concurrent = True

    def __init__(self, array: np.ndarray) -> None:
        self._array = array

    def read(self, index: int) -> np.ndarray:
        """Return frame ``index`` as an array (a view of the memory map where the array is one).

        Parameters
        ----------
        index : int
            0-based frame number.

        Returns
        -------
        numpy.ndarray
            The frame, (rows, columns[, 3]), in the array's dtype.
        """
        return np.asarray(self._array[index])

    def iterate(self, start: int, stop: int, box: Box | None = None) -> Iterator[np.ndarray]:
        """Frames ``start … stop-1`` in order, cut to ``box`` when given (only that part is read)."""
        for index in range(start, stop):
            if box is None:
                yield np.asarray(self._array[index])
            else:
                yield np.asarray(self._array[index, box[1]:box[3], box[0]:box[2]])

    def close(self) -> None:
        """Drop the array; the mapping closes once no frame handed out refers to it."""
        self._array = np.empty((0, 1, 1), dtype=np.uint8)


def _check_array(source: str, array: np.ndarray) -> int:
    """Validate a frames array and return the value that means white."""
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[3] != 3) or 0 in array.shape:
        raise ClipError(f"{source}: frames must have shape (n, rows, columns) or (n, rows, columns, 3), "
                        f"not {array.shape}")
    if array.dtype.kind == "f":
        _check_float_range(source, array)
        return 255
    if array.dtype == np.uint8:
        return 255
    if array.dtype == np.uint16:
        return 65535
    raise ClipError(f"{source}: frames of type {array.dtype} are not supported (uint8, uint16 or float grey 0–255)")


FLOAT_SAMPLE_FRAMES = 16
"""Frames of a float array looked at to tell its intensity range."""


def _check_float_range(source: str, array: np.ndarray) -> None:
    """Float frames must be display grey 0–255.

    Frames normalised to 0–1 (or holding negative or non-finite values) would be read as almost black, a flat
    curve with no error — refuse them and say what to do.
    """
    picks = np.unique(np.linspace(0, array.shape[0] - 1, min(FLOAT_SAMPLE_FRAMES, array.shape[0])).astype(int))
    sample = np.asarray(array[picks], dtype=np.float64)
    if not np.isfinite(sample).all():
        raise ClipError(f"{source}: the float frames hold NaN or infinite values; give display grey 0–255")
    low, high = float(sample.min()), float(sample.max())
    if low < 0.0 or high > 255.0:
        raise ClipError(f"{source}: float frames span {low:g} to {high:g}, outside display grey 0–255; rescale them "
                        "to the scanner's display (0 black, 255 white)")
    if 0.0 < high <= 1.0:
        raise ClipError(f"{source}: float frames span {low:g} to {high:g}: they look normalised to 0–1, but ceuskit "
                        "reads display grey 0–255; multiply them by 255 (or save them as uint8)")


def _array_clip(source: str, array: np.ndarray, times: np.ndarray, timing: str, layout: str) -> Clip:
    max_value = _check_array(source, array)
    if len(times) != array.shape[0]:
        raise ClipError(f"{source}: times_s has {len(times)} entries for {array.shape[0]} frames")
    clip = Clip(source=source, times=times, rows=int(array.shape[1]), columns=int(array.shape[2]),
                frames=ArrayFrames(array), max_value=max_value,
                info={"format": "numpy", "timing_source": timing})
    return resolve_layout(clip, (), layout)


def read_npy(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> Clip:
    """Open a ``.npy`` frames array, memory-mapped, at ``fps`` frames/s."""
    source = str(path)
    try:
        with open(source, "rb") as fh:
            shape, _, dtype = _npy_header(fh)
            stored = os.fstat(fh.fileno()).st_size - fh.tell()
        declared = math.prod(shape) * dtype.itemsize
        if declared > stored:  # checked here: NumPy's own size arithmetic overflows on absurd shapes
            raise ClipError(f"{source}: the .npy header declares shape {shape} ({declared} bytes) but the file "
                            f"holds {stored} bytes; the file is truncated or damaged")
        array = np.load(source, mmap_mode="r", allow_pickle=False)
    except ClipError:
        raise
    except (OSError, ValueError) as exc:
        raise ClipError(f"{source}: not a readable .npy array ({one_line(exc)})") from exc
    _check_array(source, array)
    return _array_clip(source, array, _fps_times(source, array.shape[0], fps, "a .npy array"), "fps", layout)


def _npy_header(fh: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from the .npy header at ``fh``'s position; the file is left after it."""
    version = np.lib.format.read_magic(fh)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        return reader(fh)
    except (TokenError, SyntaxError) as exc:  # NumPy runs Python's tokenizer over a damaged header
        raise ValueError(f"damaged .npy header ({exc})") from exc


def _check_member(source: str, archive: zipfile.ZipFile, key: str) -> None:
    """Refuse a .npz member whose .npy header declares more data than the archive holds or memory allows.

    The header is read on its own, before NumPy allocates the array it declares.
    """
    name = f"{key}.npy" if f"{key}.npy" in archive.namelist() else key
    info = archive.getinfo(name)
    with archive.open(info) as fh:
        shape, _, dtype = _npy_header(fh)
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size:
        raise ClipError(f"{source}: the .npz member {key!r} declares shape {shape} ({declared} bytes) but holds "
                        f"{info.file_size} bytes; the archive is damaged")
    if info.compress_type != zipfile.ZIP_STORED and declared > MAX_IN_MEMORY_BYTES:
        raise ClipError(f"{source}: the compressed .npz member {key!r} would take {declared / 2**30:.1f} GiB in "
                        f"memory, more than {MAX_IN_MEMORY_BYTES // 2**30} GiB; save it with np.savez (uncompressed)")


def _mapped_member(path: str, name: str) -> np.ndarray | None:
    """Memory-map an uncompressed member of a .npz (a zip of .npy files); None when compressed."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
        if info.compress_type != zipfile.ZIP_STORED:
            return None
    with open(path, "rb") as fh:
        fh.seek(info.header_offset)
        local = fh.read(30)
        name_length, extra_length = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        fh.seek(info.header_offset + 30 + name_length + extra_length)
        shape, fortran, dtype = _npy_header(fh)
        offset = fh.tell()
    if fortran or dtype.hasobject:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)


def read_npz(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> Clip:
    """Open a ``.npz`` with ``frames`` and optional ``times_s`` (seconds), else at ``fps`` frames/s."""
    source = str(path)
    try:
        with open(source, "rb") as fh, np.load(fh, allow_pickle=False) as archive:  # closed even if not a zip
            if "frames" not in archive.files:
                raise ClipError(f"{source}: the .npz has no 'frames' array (it holds "
                                f"{', '.join(repr(name) for name in archive.files)})")
            for key in ("frames", "times_s"):
                if key in archive.files:
                    _check_member(source, archive.zip, key)
            times = np.asarray(archive["times_s"], dtype=np.float64).ravel() if "times_s" in archive.files else None
            array = _mapped_member(source, "frames.npy")
            if array is None:
                array = archive["frames"]
    except ClipError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, KeyError, EOFError, zlib.error,
            RuntimeError) as exc:  # zipfile: unsupported version, method or encryption (RuntimeError and subclasses)
        raise ClipError(f"{source}: not a readable .npz archive ({one_line(exc)})") from exc
    _check_array(source, array)
    if times is None:
        return _array_clip(source, array, _fps_times(source, array.shape[0], fps, "a .npz without times_s"),
                           "fps", layout)
    return _array_clip(source, array, times, "times_s", layout)
