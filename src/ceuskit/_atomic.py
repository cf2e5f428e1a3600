"""Atomic output: write beside the target, rename over it only when the writing succeeded (a file or a folder)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_folder", "atomic_path"]


def _umask() -> int:
    """Return the process umask, read without changing it (Linux /proc); 0o022 elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path (same folder and suffix as ``path``) that replaces ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was. The result gets the
    permissions of a newly created file (``0o666`` less the umask), not the private mode of a temp file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(out_dir: str | Path, *, last: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a temporary folder inside ``out_dir`` whose files move into ``out_dir`` when the block succeeds.

    Every file written into the yielded folder replaces its namesake in ``out_dir`` only after the whole block
    has run without an exception, the files named in ``last`` after all others (in that order), so a reader
    that waits for the last file (``analysis.json``) never sees a partial set. On an exception nothing in
    ``out_dir`` changes. The temporary folder is removed either way.

    Parameters
    ----------
    out_dir : str or Path
        The output folder (created if missing).
    last : tuple of str
        Names of files to move after all the others, in this order.

    Yields
    ------
    Path
        The temporary folder (a hidden sibling of the outputs, on the same file system: moves are renames).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ceuskit-", dir=out))
    try:
        yield tmp
        names = sorted(p.name for p in tmp.iterdir())
        mode = 0o666 & ~_umask()
        for name in [n for n in names if n not in last] + [n for n in last if n in names]:
            os.chmod(tmp / name, mode)
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
