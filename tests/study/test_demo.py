"""ceuskit.demo.run_demo: the seed-like demo cohort, end to end, against the simulator's ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from ceuskit import store, study
from ceuskit.demo import run_demo


@pytest.mark.slow
def test_run_demo_end_to_end(tmp_path: Path) -> None:
    import json as _json

    lines: list[str] = []
    report = run_demo(tmp_path, n_patients=4, echo=lines.append)
    assert report.name == "report.html" and report.with_suffix(".pdf").is_file()
    assert any("15/18" in line for line in lines)  # the seed column of the printed table
    truth = _json.loads((tmp_path / "cohort" / "truth.json").read_text())
    with store.Store(f"sqlite:///{tmp_path / 'demo.db'}") as s:
        frame = study.cohort_frame(s)
    assert (frame["analysis_status"] == "ok").all()
    # The simulator's ground truth (ceuskit.simulate) vs the analysis: every label, and onset within 1 s.
    for _, row in frame.iterrows():
        expected = truth[f"{row['patient_id']}/{row['lesion_id']}"]
        assert row["arterial_enhancement"] == expected["pattern"]["arterial"]
        assert row["washout_timing"] == expected["pattern"]["washout_timing"]
        assert row["late_enhancement"] == expected["pattern"]["late"]
        assert abs(row["arterial_onset_s"] - expected["onset_s"]) < 1.0
