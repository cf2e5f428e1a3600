"""Atomic outputs: all or nothing, with the permissions of an ordinary new file."""

from __future__ import annotations

import os
import stat

import pytest

from ceuskit._atomic import atomic_path


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
