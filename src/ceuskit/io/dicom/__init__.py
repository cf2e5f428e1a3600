"""DICOM ultrasound (single- and multi-frame) → :class:`~ceuskit.io.clip.Clip`, one frame decoded at a time.

The header is read with pydicom up to the pixel data; the pixel data element is then indexed in place
(native: one offset, encapsulated: the offset and length of every fragment), so a clip of any length is
read with memory that does not grow with it.  Everything a malformed file can get wrong is checked
before the first frame is decoded.

Modules, in the order :func:`read_dicom` uses them::

    header.py      the header read bounded; frame times, spacing, ultrasound regions, acquisition facts
    encoding.py    the transfer syntax and pixel format, checked against the reader's limits
    pixel_data.py  where the Pixel Data value and the fragments of every frame are
    decode.py      frames decoded on demand (:class:`DicomFrames`)
    summary.py     the one identity-free header summary (``ceuskit info``, a study's stored clip summary)

Colour follows pydicom (see :mod:`~ceuskit.io.dicom.decode`); frame times come from the file's own timing
elements, an explicit ``fps`` only when it states none (see :mod:`~ceuskit.io.dicom.header`).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import BinaryIO

from ceuskit.errors import CeusError, ClipError
from ceuskit.io.clip import Clip, one_line
from ceuskit.io.dicom.decode import DicomFrames
from ceuskit.io.dicom.encoding import (
    MAX_DECODED_BYTES,
    MAX_FRAMES,
    MAX_SIDE,
    PixelFormat,
    pixel_format,
    transfer_syntax_of,
)
from ceuskit.io.dicom.header import (
    clip_header,
    frame_times,
    pixel_spacing,
    read_dataset,
    read_header,
    ultrasound_regions,
)
from ceuskit.io.dicom.pixel_data import PixelData, locate_pixel_data
from ceuskit.io.dicom.summary import (
    SUMMARY_KEYWORDS,
    US_SOP_CLASSES,
    clip_info,
    header_summary,
    read_header_summary,
)
from ceuskit.io.layout import resolve_layout

__all__ = ["MAX_DECODED_BYTES", "MAX_FRAMES", "MAX_SIDE", "SUMMARY_KEYWORDS", "US_SOP_CLASSES", "DicomFrames", "PixelData",
           "PixelFormat", "clip_header", "frame_times", "header_summary", "locate_pixel_data", "pixel_format",
           "read_dataset", "read_dicom", "read_header_summary", "transfer_syntax_of", "ultrasound_regions"]


def read_dicom(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> Clip:
    """Open a DICOM ultrasound file (single- or multi-frame) as a :class:`Clip`.

    Parameters
    ----------
    path : str or Path
        The DICOM file (with or without the 128-byte preamble).
    fps : float, optional
        Frames/s, used only when the file states no usable timing (see :func:`~.header.frame_times`).
    layout : str
        "auto", "single", "dual-left-ceus" or "dual-right-ceus" (see :mod:`ceuskit.io.layout`).

    Returns
    -------
    Clip
        The clip, its frames decoded on demand; it owns the open file (:meth:`Clip.close`).

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
        raise ClipError(f"{source}: malformed DICOM header ({one_line(exc)})") from exc
    except BaseException:
        fh.close()
        raise
    return clip


def _open(fh: BinaryIO, source: str, *, fps: float | None, layout: str) -> Clip:
    ds, notes = read_header(fh, source)
    pixels = locate_pixel_data(fh, ds, source)
    ds, fmt = pixels.ds, pixels.fmt
    notes.extend(pixels.notes)
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ClipError(f"frame rate {fps} is not a positive number of frames/s")
    times, timing = frame_times(ds, fmt.n_frames, fps, source)
    if fps is not None and timing not in ("fps", "single_frame"):
        notes.append(f"--fps {fps:g} ignored: the file states its frame timing ({timing})")
    source_frames = DicomFrames(pixels, source)
    clip = Clip(source=source, times=times, rows=fmt.rows, columns=fmt.columns, frames=source_frames,
                pixel_spacing_mm=pixel_spacing(ds), max_value=source_frames.max_value,
                info=clip_info(ds, fmt, timing, notes), header=clip_header(ds))
    return resolve_layout(clip, ultrasound_regions(ds, fmt.rows, fmt.columns), layout)
