"""Atomic outputs: all or nothing, with the permissions of an ordinary new file."""

from __future__ import annotations

import os
import stat

import pytest

import ceuskit._atomic as atomic_module
from ceuskit._atomic import atomic_folder, atomic_path


def test_success_replaces_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "report.html"
    old = os.umask(0o027)
    try:
        with atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp.suffix == ".html" and tmp != target
            tmp.write_text("new")
    finally:
        os.umask(old)
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # 0o666 less the umask, not mkstemp's 0o600
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "lesions.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["lesions.csv"]


def test_folder_moves_every_file_the_last_ones_last(tmp_path, monkeypatch):
    out = tmp_path / "result"
    out.mkdir()
    (out / "keep.txt").write_text("untouched")
    (out / "analysis.json").write_text("old")
    moved = []
    real_replace = os.replace
    monkeypatch.setattr(atomic_module.os, "replace", lambda a, b: (moved.append(os.path.basename(b)),
                                                                    real_replace(a, b)))
    with atomic_folder(out, last=("analysis.json",)) as tmp:
        assert tmp.parent == out and tmp.name.startswith(".")
        for name in ("analysis.json", "tic.csv", "b.png"):
            (tmp / name).write_text(name)
    assert moved[-1] == "analysis.json" and sorted(moved) == ["analysis.json", "b.png", "tic.csv"]
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "keep.txt": "untouched", "analysis.json": "analysis.json", "tic.csv": "tic.csv", "b.png": "b.png"}


def test_folder_failure_changes_nothing(tmp_path):
    out = tmp_path / "result"
    out.mkdir()
    (out / "analysis.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(out, last=("analysis.json",)) as tmp:
        (tmp / "analysis.json").write_text("new")
        (tmp / "tic.csv").write_text("half")
        raise RuntimeError("interrupted")
    assert [p.name for p in out.iterdir()] == ["analysis.json"]
    assert (out / "analysis.json").read_text() == "old"
