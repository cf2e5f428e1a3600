"""Kappa in every output of a study (``study stats`` text and JSON, the report): intervals within [−1, 1], an
undefined kappa as "—" with its reason; and the report's counts and names read right.

The cohort is the fake one of tests/store/cohort_fakes.py (planned labels); a third reader, "monotone", labels
every late phase "hypo", so their late-phase kappa with anyone is undefined by construction.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "store"))
from cohort_fakes import COHORT, fake_analyze_examination, write_cohort  # noqa: E402

from ceuskit import store, study  # noqa: E402
from ceuskit.cli import main  # noqa: E402
from ceuskit.report import write_report as _write_report  # noqa: E402
from ceuskit.report.cohort import _fitting  # noqa: E402


def write_report(s: store.Store, out: Path, **options: object) -> Path:
    """The cohort report of ``s``, from its cohort table and statistics (as ``ceuskit study report`` makes it)."""
    frame = study.cohort_frame(s)
    return Path(_write_report(s, out, frame=frame, result=study.cohort_stats(frame), **options))


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    manifest = write_cohort(tmp_path / "c")
    reads = tmp_path / "c" / "reads.csv"
    with open(reads, "a", newline="") as fh:
        writer = csv.writer(fh)
        for pid, _ki67, _primary, arterial, washout, _late, _onset in COHORT:
            writer.writerow([pid, "L1", "monotone", arterial, washout, "hypo"])
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with store.Store(url) as s:
        study.import_manifest(s, manifest)
        study.import_reads(s, reads)
        study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
    return url


def _intervals(value: object) -> list[list[float]]:
    """Every ``ci`` / ``weighted_ci`` / ``ci95`` of kappas in a stats document."""
    found: list[list[float]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("ci", "weighted_ci", "ci95") and isinstance(item, list):
                found.append(item)
            else:
                found += _intervals(item)
    elif isinstance(value, list):
        for item in value:
            found += _intervals(item)
    return found


def test_stats_json_keeps_kappa_intervals_in_range_and_gives_the_reason_of_an_undefined_one(
        db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "stats", "--db", db_url, "--json"]) == 0
    agreement = json.loads(capsys.readouterr().out)["agreement"]
    kappas = agreement["pairs"] + agreement["fleiss"]
    assert kappas and all(-1.0 <= low <= high <= 1.0 for low, high in _intervals(kappas))
    undefined = [p for p in agreement["pairs"] if p["b"] == "monotone" or p["a"] == "monotone"]
    late = [p for p in undefined if p["feature"] == "late"]
    assert late and all(p["kappa"] is None and p["ci"] is None and p["weighted_kappa"] is None for p in late)
    assert all(p["reason"].startswith("monotone gave every item the same label (hypo)") for p in late)
    defined = [p for p in agreement["pairs"] if p["kappa"] is not None]
    assert defined and all(p["reason"] is None and p["ci_method"].startswith("percentile bootstrap")
                           for p in defined)


def test_stats_text_shows_an_undefined_kappa_as_a_dash_with_its_reason(db_url: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "stats", "--db", db_url]) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if "monotone vs reader1, late" in line)
    assert ": — (monotone gave every item the same label (hypo)" in line and "0.00" not in line
    for low, high in re.findall(r"95% CI (-?\d+\.\d+) to (-?\d+\.\d+)", text):
        assert -1.0 <= float(low) <= float(high) <= 1.0


def test_the_report_shows_undefined_kappas_as_dashes_with_reasons(db_url: str, tmp_path: Path) -> None:
    with store.Store(db_url) as s:
        html = Path(write_report(s, tmp_path / "report", pdf=False)).read_text()
    cell = re.search(r'data-pair="monotone\|reader1\|late" data-kappa="null" title="([^"]+)">—<', html)
    assert cell is not None and cell.group(1).startswith("monotone gave every item the same label (hypo)")
    assert "<li>— monotone vs reader1, late: monotone gave every item the same label (hypo)" in html
    for low, high in re.findall(r'class="num kappa-ci">(-?\d+\.\d+) to (-?\d+\.\d+)<', html):
        assert -1.0 <= float(low) <= float(high) <= 1.0
    assert "percentile bootstrap" in html and "0.00 to 0.00" not in html


def test_one_patient_is_one_patient(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", rows=COHORT[:1]))
        study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
        html = Path(write_report(s, tmp_path / "r", pdf=False)).read_text()
    assert "1 patient, 1 lesion, 1 analysed" in html and "1 patients" not in html


def test_a_long_figure_title_is_cut_with_an_ellipsis_and_kept_whole_in_the_caption() -> None:
    long = "patient " + "P" * 120 + ", lesion L1 — Ki-67 4 %, G2, primary unknown"
    cut = _fitting(long)
    assert len(cut) == 90 and cut.endswith("…") and long.startswith(cut[:-1])
    assert _fitting("patient P01, lesion L1") == "patient P01, lesion L1"
