"""``make demo``'s examination: the loop alone leaves the late phase unread, the sweeps read it as simulated."""

from __future__ import annotations

import json
from pathlib import Path

from ceuskit.demo import DEMO_EXAMINATION, run_examination_demo


def test_examination_demo_reads_the_late_phase_only_with_the_sweeps(tmp_path: Path) -> None:
    lines: list[str] = []
    path = run_examination_demo(tmp_path, echo=lines.append)
    truth = json.loads((tmp_path / "clips" / "exam.truth.json").read_text())
    loop_only = json.loads((tmp_path / "loop-only" / "analysis.json").read_text())["lesions"][0]
    whole = json.loads(path.read_text())["lesions"][0]
    assert truth["phantom"]["pattern"] == DEMO_EXAMINATION.pattern
    assert loop_only["late_phase"]["enhancement"] == "not_assessed"
    assert (whole["arterial_phase"]["enhancement"], whole["portal_venous_phase"]["washout_timing"],
            whole["late_phase"]["enhancement"]) == (truth["pattern"]["arterial"], truth["pattern"]["washout_timing"],
                                                    truth["pattern"]["late"])
    assert abs(whole["arterial_phase"]["onset_s"] - truth["onset_s"]) <= 1.0
    start, end = whole["portal_venous_phase"]["washout_onset_interval_s"]
    assert start <= truth["washout_onset_s"] <= end  # begun between the clips, as simulated
    assert (tmp_path / "examination" / "tic.png").is_file() and (tmp_path / "examination" / "tic.csv").is_file()
    assert lines[1].split()[:4] == ["loop", "alone", "(70", "s)"] and "/not assessed" in lines[1]
    assert "hyper/late/hypo" in lines[2] and lines[3].startswith("  read it yourself: ceuskit analyze ")
