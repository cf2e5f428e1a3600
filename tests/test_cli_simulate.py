"""``ceuskit simulate`` never overwrites an earlier run's files unless asked (``--force``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ceuskit.cli import main

RUNS = {  # arguments after OUT_DIR, and the files the run writes
    "clip": (["--case", "ceus-breathing-15px"], ["phantom.dcm", "phantom.roi.json", "phantom.truth.json"]),
    "examination": (["--examination", "--loop", "40", "--sweeps", "120", "--sweep-duration", "4"],
                    ["exam_loop.dcm", "exam_loop.roi.json", "exam_sweep1.dcm", "exam_sweep1.roi.json",
                     "exam.truth.json"]),
    "cohort": (["--cohort", "1"], ["manifest.csv", "reads.csv", "truth.json", "clips/P001_L1.dcm"]),
    "curves": (["--curves", "real-like-slow"], ["curves.csv", "curves.xlsx", "qlab_export.txt", "truth.json",
                                                "tics/lesion.csv"]),
}


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", RUNS)
def test_a_second_run_is_refused_unless_forced(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args, files = RUNS[kind]
    out = tmp_path / "out"
    assert main(["simulate", str(out), *args]) == 0
    assert all((out / f).is_file() for f in files)
    before = _digests(out)
    capsys.readouterr()
    assert main(["simulate", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"ceuskit: error: {out} already holds an earlier simulation (")
    assert "give --force to overwrite it" in err and files[0].split("/")[-1] in err
    assert _digests(out) == before
    mtimes = {f: (out / f).stat().st_mtime_ns for f in files}
    assert main(["simulate", str(out), *args, "--force"]) == 0
    assert all((out / f).stat().st_mtime_ns > mtimes[f] for f in files)


def test_another_name_in_the_same_folder_is_fine(tmp_path: Path) -> None:
    assert main(["simulate", str(tmp_path), "--duration", "10", "--fps", "2"]) == 0
    before = _digests(tmp_path)
    assert main(["simulate", str(tmp_path), "--duration", "10", "--fps", "2", "--name", "second"]) == 0
    after = _digests(tmp_path)
    assert {k: after[k] for k in before} == before and "second.dcm" in after
