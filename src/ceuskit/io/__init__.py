"""Reading clips: DICOM, video, frame folders and NumPy arrays → :class:`~ceuskit.io.clip.Clip`.

:func:`open_clip` looks at the file's content, not its name, and hands it to the matching reader
(:mod:`~ceuskit.io.dicom`, :mod:`~ceuskit.io.video`, :mod:`~ceuskit.io.frames`); every reader finishes
with the display-layout detection of :mod:`~ceuskit.io.layout`.
"""

from __future__ import annotations

import math
from pathlib import Path

from ceuskit.errors import ClipError, InputError
from ceuskit.io.clip import Clip, FrameSource, Region
from ceuskit.io.layout import LAYOUTS

__all__ = ["ACCEPTED", "Clip", "FrameSource", "Region", "open_clip"]

ACCEPTED = ("DICOM (single- or multi-frame), video (AVI, MP4, MOV, MKV…), a folder of PNG/TIFF frames, "
            "or a .npy/.npz array")
"""What :func:`open_clip` reads, for messages."""

_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")


def _looks_like_raw_dicom(head: bytes) -> bool:
    """Tell whether ``head`` is a DICOM dataset without preamble: a group 0002 or 0008 element, either byte order."""
    return len(head) >= 8 and head[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08") and \
        (head[4:6].isalpha() or head[6:8] == b"\x00\x00")


def open_clip(path: str | Path, *, fps: float | None = None, layout: str = "auto") -> Clip:
    """Open a CEUS clip from a file or folder.

    Parameters
    ----------
    path : DICOM file (with or without preamble), video file, folder of PNG/TIFF frames, .npy or .npz.
    fps : frames/s.  Used only when the file states no frame timing: DICOM without Frame Time Vector,
        Frame Time or Cine Rate; frame folders and arrays without ``times_s`` (required there).  Videos
        always use their presentation timestamps.
    layout : "auto" (detect single vs dual display), "single", "dual-left-ceus" or "dual-right-ceus".

    Returns
    -------
    Clip
        Frames decoded on demand; close it (or use ``with``) to release the file.

    Raises
    ------
    ClipError
        Missing, foreign, truncated or malformed file, or no usable frame timing.
    """
    if layout not in LAYOUTS:
        raise InputError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if fps is not None and not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"frame rate {fps!r} is not a positive number of frames/s")
    path = Path(path)
    if not path.exists():
        raise ClipError(f"{path}: no such file")
    if path.is_dir():
        from ceuskit.io.frames import read_folder

        return read_folder(path, fps=fps, layout=layout)
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise ClipError(f"{path}: cannot be read ({exc.strerror})") from exc
    if head[128:132] == b"DICM" or _looks_like_raw_dicom(head):
        from ceuskit.io.dicom import read_dicom

        return read_dicom(path, fps=fps, layout=layout)
    if head.startswith(b"\x93NUMPY"):
        from ceuskit.io.frames import read_npy

        return read_npy(path, fps=fps, layout=layout)
    if head.startswith(b"PK\x03\x04"):
        from ceuskit.io.frames import read_npz

        return read_npz(path, fps=fps, layout=layout)
    if head.startswith(_IMAGE_MAGIC):
        raise ClipError(f"{path}: a single image is not a clip; put the frames in a folder and give --fps, "
                        f"or use {ACCEPTED}")
    from ceuskit.io.video import is_video, read_video

    if len(head) > 0 and is_video(path):
        return read_video(path, layout=layout)
    raise ClipError(f"{path}: not a clip ceuskit can read; accepted: {ACCEPTED}")
