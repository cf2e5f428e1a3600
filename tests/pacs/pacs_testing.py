"""Small helpers shared by the PACS tests."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``ceuskit ARGS`` through ``ceuskit.cli.main``: exit status, stdout, stderr."""
    from ceuskit.cli import main

    capsys.readouterr()
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def header(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


def pixels(path: Path) -> np.ndarray:
    """The pixel data decoded by pydicom (the independent reader)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(pydicom.dcmread(path).pixel_array)


def uids(path: Path) -> tuple[str, str, str]:
    ds = header(path)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def leftovers(folder: Path) -> list[Path]:
    """Partial or temporary files under ``folder`` (what an interrupted transfer must not leave)."""
    return [p for p in folder.rglob("*") if p.is_file() and (p.suffix == ".part" or p.name.startswith(".")
                                                              and p.name != ".ceuskit-pacs.json")]
