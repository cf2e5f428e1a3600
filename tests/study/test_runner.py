"""ceuskit.study.runner: incremental, resumable runs; failures recorded, the other lesions go on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cohort_fakes import COHORT, fake_analyze_examination, roi_document, write_cohort

from ceuskit import store, study
from ceuskit.cli import main


def test_run_is_incremental(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_cohort(tmp_path / "c"))
    first = study.run_study(db, workers=0, analyze_examination=fake_analyze_examination)
    assert first.line() == "10 analysed, 0 up to date"
    assert study.run_study(db, workers=0, analyze_examination=fake_analyze_examination).line() == "0 analysed, 10 up to date"
    lesion_id = int(study.cohort_frame(db)["lesion_db_id"][2])
    store.set_lesion_rois(db, lesion_id, roi_document("met"), roi_name="met")  # ROI changed
    clip = tmp_path / "c" / "clips" / "P05.dcm"
    plan = json.loads(clip.read_text())
    clip.write_text(json.dumps({**plan, "onset_s": 99.0}))  # clip content changed
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert study.run_study(db, workers=0, analyze_examination=fake_analyze_examination).line() == "2 analysed, 8 up to date"
    frame = study.cohort_frame(db)
    assert frame.loc[frame["patient_id"] == "P05", "arterial_onset_s"].item() == 99.0
    assert frame.loc[frame["lesion_db_id"] == lesion_id, "roi"].item() == "met"
    changed = study.run_study(db, workers=0, analyze_examination=fake_analyze_examination, options=study.RunOptions(model="gamma"))
    assert changed.line() == "10 analysed, 0 up to date"  # analysis parameters changed


def test_analyse_one_lesion_on_demand(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_cohort(tmp_path / "c", fail={"P02"}))
    ids = list(study.cohort_frame(db)["lesion_db_id"])
    record = study.analyse_lesion(db, int(ids[0]), analyze_examination=fake_analyze_examination)
    assert record["status"] == "ok" and record["document"]["lesions"][0]["arterial_phase"]["onset_s"] == COHORT[0][6]
    assert study.analyse_lesion(db, int(ids[0]), analyze_examination=fake_analyze_examination)["id"] > record["id"]  # forced again
    failed = study.analyse_lesion(db, int(ids[1]), analyze_examination=fake_analyze_examination)
    assert failed["status"] == "failed" and "planned failure" in failed["error"]
    assert study.run_study(db, workers=0, analyze_examination=fake_analyze_examination).line() == "8 analysed, 2 up to date"


def test_failed_item_is_recorded_and_others_continue(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_cohort(tmp_path / "c", fail={"P02", "P07"}))
    (tmp_path / "c" / "clips" / "P09.dcm").unlink()
    summary = study.run_study(db, workers=0, analyze_examination=fake_analyze_examination)
    assert summary.line() == "10 analysed (3 failed), 0 up to date"
    frame = study.cohort_frame(db).set_index("patient_id")
    assert frame.loc["P02", "analysis_error"] == "no parenchyma reference could be tracked (planned failure)"
    assert "clip file P09.dcm not found" in frame.loc["P09", "analysis_error"]
    assert (frame.drop(index=["P02", "P07", "P09"])["analysis_status"] == "ok").all()
    assert study.run_study(db, workers=0, analyze_examination=fake_analyze_examination).line() == "0 analysed, 10 up to date"
    assert study.run_study(db, workers=0, analyze_examination=fake_analyze_examination, retry_failed=True).line() == \
        "3 analysed (3 failed), 7 up to date"


_KILLABLE_RUN = """
import sys
sys.path.insert(0, {fakes!r})
from cohort_fakes import fake_analyze_examination
from ceuskit import store, study
with store.Store({url!r}) as s:
    study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
"""


def test_killed_run_resumes_without_loss(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", sleep_s=0.4))
    script = _KILLABLE_RUN.format(fakes=str(Path(__file__).parents[1] / "store"), url=url)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        done: list[dict] = []
        while time.monotonic() < deadline:
            with store.Store(url) as s:
                done = [r["analysis"] for r in store.cohort_records(s) if r["analysis"]]
            if len(done) >= 3:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert 3 <= len(done) < 10
    with store.Store(url) as s:
        before = {r["id"]: r["analysis"]["id"] for r in store.cohort_records(s) if r["analysis"]}
        summary = study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
        assert summary.analysed == 10 - len(before) and summary.up_to_date == len(before)
        after = {r["id"]: r["analysis"]["id"] for r in store.cohort_records(s)}
    assert all(after[k] == v for k, v in before.items())  # committed results kept, not redone
    assert len(after) == 10 and len(set(after.values())) == 10



@pytest.mark.slow
def test_cli_run_killed_then_rerun_with_real_pipeline(tmp_path: Path) -> None:
    from ceuskit.simulate import simulate_cohort

    manifest = simulate_cohort(tmp_path / "cohort", n_patients=4, seed=1)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["study", "import", str(manifest), "--db", url]) == 0
    command = [sys.executable, "-c", "from ceuskit.cli import run; run()", "study", "run", "--workers", "0", "--db", url]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, done = time.monotonic() + 300, 0
        while time.monotonic() < deadline and proc.poll() is None:
            with store.Store(url) as s:
                done = sum(r["analysis"] is not None for r in store.cohort_records(s))
            if done >= 1:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert done >= 1
    with store.Store(url) as s:
        kept = {r["id"]: r["analysis"]["id"] for r in store.cohort_records(s) if r["analysis"]}
        summary = study.run_study(s, workers=0)
        assert (summary.analysed, summary.up_to_date) == (4 - len(kept), len(kept))
        records = store.cohort_records(s)
    assert all({r["id"]: r["analysis"]["id"] for r in records}[k] == v for k, v in kept.items())
    assert all(r["analysis"]["status"] == "ok" for r in records), [r["analysis"]["error"] for r in records]
