"""Where the workstation may read and write: the data folder (and its uploads), nothing else.

Every path the API touches goes through :func:`inside`, which resolves it (symbolic links included) and
refuses anything that ends up outside its base — ``..``, absolute paths, links pointing out.
"""

from __future__ import annotations

import re
import secrets
from collections import OrderedDict
from pathlib import Path
from threading import Lock

from ceuskit.errors import InputError
from ceuskit.io.clip import Clip

__all__ = ["ClipCache", "PathRefused", "clip_kind", "inside", "safe_name", "upload_kind"]

CLIP_SUFFIXES = (".dcm", ".dicom", ".mp4", ".avi", ".mov", ".mkv", ".npy", ".npz")
CURVE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
"""Tables of time–intensity curves (:mod:`ceuskit.io.curves`), read without a viewer."""


class PathRefused(InputError):
    """A path that leaves the data folder, or names nothing there."""


def inside(base: Path, candidate: str | Path) -> Path:
    """``candidate`` (relative to ``base``, or absolute) resolved, if it lies inside ``base``."""
    root = base.resolve()
    text = str(candidate)
    if not text or "\x00" in text:
        raise PathRefused("empty or invalid path")
    path = (root / text).resolve()
    if path != root and root not in path.parents:
        raise PathRefused("the path leaves the data folder")
    return path


def safe_name(name: str) -> str:
    """Return a file name for an upload: the original's base name reduced to [A-Za-z0-9._-], never hidden."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name.replace("\\", "/")).name).lstrip(".")
    return base[:80] or "upload"


def clip_kind(head: bytes) -> str | None:
    """"dicom" or "video" from a file's first bytes (DICOM preamble, MP4/MOV, AVI, Matroska), else None."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free") or head[:4] == b"\x1a\x45\xdf\xa3":
        return "video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    return None


def upload_kind(head: bytes, filename: str) -> str | None:
    """Return the kind of an uploaded file: "dicom", "video", "curves" or None.

    "dicom" or "video" (:func:`clip_kind`), or "curves" for a curve table named .csv/.tsv/.txt/.xlsx whose
    first bytes are text (UTF-8 or UTF-16, as QLAB writes it) or an XLSX (zip) archive; else None.
    """
    kind = clip_kind(head)
    if kind is not None:
        return kind
    if Path(filename).suffix.lower() not in CURVE_SUFFIXES:
        return None
    if Path(filename).suffix.lower() == ".xlsx":
        return "curves" if head.startswith(b"PK\x03\x04") else None
    wide = head.startswith((b"\xff\xfe", b"\xfe\xff"))  # a character cut off at the end is not the file's fault
    text = head[:len(head) // 2 * 2].decode("utf-16", errors="ignore") if wide else head.decode("utf-8", errors="ignore")
    printable = all(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return "curves" if text and printable and any(sep in text for sep in ("\t", ",", ";")) else None


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or with a random infix when that exists already."""
    target = folder / name
    while target.exists():
        stem, dot, suffix = name.partition(".")
        target = folder / f"{stem}-{secrets.token_hex(3)}{dot}{suffix}"
    return target


class ClipCache:
    """A few open clips, least recently used closed first.

    Frame requests come in bursts per clip; a lesion's examination is a loop and a few sweeps.
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._clips: OrderedDict[str, Clip] = OrderedDict()
        self._lock = Lock()

    def get(self, path: Path) -> Clip:
        """Return the open clip at ``path``, opening it (and closing the least recently used) when needed.

        Parameters
        ----------
        path : Path
            The clip file.

        Returns
        -------
        Clip
            The clip, kept open for later requests.
        """
        from ceuskit.io import open_clip

        key = str(path)
        with self._lock:
            clip = self._clips.pop(key, None)
            if clip is None:
                clip = open_clip(path)
            self._clips[key] = clip
            while len(self._clips) > self._size:
                _, old = self._clips.popitem(last=False)
                old.close()
            return clip

    def close(self) -> None:
        """Close every cached clip and empty the cache."""
        with self._lock:
            for clip in self._clips.values():
                clip.close()
            self._clips.clear()
