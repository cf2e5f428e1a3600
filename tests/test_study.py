"""ceuskit.study and `ceuskit study …`: import validation, incremental/parallel/resumable runs, stats, export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

sys.path.insert(0, str(Path(__file__).parent / "store"))
from cohort_fakes import COHORT, fake_analyze, roi_document, write_cohort  # noqa: E402

from ceuskit import store, study  # noqa: E402
from ceuskit.cli import main  # noqa: E402
from ceuskit.errors import InputError, ManifestError  # noqa: E402


@pytest.fixture()
def db(tmp_path: Path) -> store.Store:
    with store.Store(f"sqlite:///{tmp_path / 'study.db'}") as s:
        yield s


def _rewrite(manifest: Path, line: int, old: str, new: str) -> None:
    lines = manifest.read_text().splitlines()
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    manifest.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ import


def test_import_stores_clinical_fields_and_who_grade(db: store.Store, tmp_path: Path) -> None:
    counts = study.import_manifest(db, write_cohort(tmp_path / "c", extra_columns={"note": "x"}))
    assert counts["lesions_new"] == 10 and counts["patients"] == 10
    frame = study.cohort_frame(db)
    assert list(frame["patient_id"]) == [row[0] for row in COHORT]
    assert list(frame["ki67"]) == [row[1] for row in COHORT]
    # WHO 2019 GEP-NET grading: G1 < 3 %, G2 3–20 %, G3 > 20 %
    assert list(frame["who_grade"]) == ["G1", "G1", "G1", "G2", "G2", "G2", "G2", "G2", "G3", "G3"]
    assert (frame["injection_time_s"] == 2.0).all() and (frame["size_mm"] == 14.0).all()
    assert store.get_lesion(db, int(frame["lesion_db_id"][0]))["extra"] == {"note": "x"}
    again = study.import_manifest(db, tmp_path / "c" / "manifest.csv")  # re-import updates, never duplicates
    assert again["lesions_new"] == 0 and again["lesions_updated"] == 10


@pytest.mark.parametrize(("line", "old", "new", "message"), [
    (4, ",2.5,", ",abc,", "line 4: ki67 'abc' is not a number"),
    (4, ",2.5,", ",150,", "line 4: ki67 '150' must be"),
    (5, "clips/P04.dcm", "clips/missing.dcm", "line 5: clip clips/missing.dcm not found"),
    (6, "clips/P05.roi.json", "clips/none.json", "line 6: roi clips/none.json not found"),
    (3, "P02,", ",", "line 3: patient_id is empty"),
    (3, "P02,L1", "P01,L1", "line 3: lesion 'L1' of this patient repeats line 2"),
    (2, ",2.0,", ",-1,", "line 2: injection_time_s '-1' must be"),
])
def test_bad_row_names_its_line_and_imports_nothing(db: store.Store, tmp_path: Path, line: int, old: str, new: str,
                                                     message: str) -> None:
    manifest = write_cohort(tmp_path / "c")
    _rewrite(manifest, line, old, new)
    with pytest.raises(ManifestError, match=message) as info:
        study.import_manifest(db, manifest)
    assert "nothing was imported" in str(info.value)
    assert store.list_studies(db) == []


def test_bad_roi_document_and_grade_mismatch_are_reported(db: store.Store, tmp_path: Path) -> None:
    manifest = write_cohort(tmp_path / "c")
    (tmp_path / "c" / "clips" / "P03.roi.json").write_text(json.dumps({"rois": []}))
    with pytest.raises(ManifestError, match=r"line 4: roi P03.roi.json: .*non-empty list"):
        study.import_manifest(db, manifest)
    manifest = write_cohort(tmp_path / "d")
    text = manifest.read_text().splitlines()
    text[0] += ",who_grade"
    text[1:] = [row + ("," if i != 8 else ",G1") for i, row in enumerate(text[1:], start=1)]  # P08: Ki-67 15 % is G2
    manifest.write_text("\n".join(text) + "\n")
    with pytest.raises(ManifestError, match="line 9: who_grade G1 disagrees with ki67 15 % \\(G2"):
        study.import_manifest(db, manifest)
    assert store.list_studies(db) == []


def test_missing_required_column(db: store.Store, tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("patient_id,lesion_id,clip\nP1,L1,a.dcm\n")
    with pytest.raises(ManifestError, match="line 1: missing column\\(s\\) roi, ki67"):
        study.import_manifest(db, manifest)


def test_deidentify_replaces_patient_ids(db: store.Store, tmp_path: Path) -> None:
    # The clips' own de-identification (DICOM only) is tested in tests/privacy; these fake clips are not DICOM.
    lesions, reads = study.read_manifest(write_cohort(tmp_path / "c", extra_columns={"name": "Jane Doe"}),
                                         deidentify=True)
    store.import_lesions(db, lesions, reads=reads)
    frame = study.cohort_frame(db)
    assert not set(frame["patient_id"]) & {row[0] for row in COHORT}
    assert frame["patient_id"].str.fullmatch(r"P-[0-9a-f]{12}").all()
    assert "Jane Doe" not in json.dumps(store.get_study(db))
    assert study.import_reads(db, tmp_path / "c" / "reads.csv", deidentify=True) == 20


# --------------------------------------------------------------------------------------------------- run


def test_run_is_incremental(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_cohort(tmp_path / "c"))
    first = study.run_study(db, workers=0, analyze=fake_analyze)
    assert first.line() == "10 analysed, 0 up to date"
    assert study.run_study(db, workers=0, analyze=fake_analyze).line() == "0 analysed, 10 up to date"
    lesion_id = int(study.cohort_frame(db)["lesion_db_id"][2])
    store.set_lesion_rois(db, lesion_id, roi_document("met"), roi_name="met")  # ROI changed
    clip = tmp_path / "c" / "clips" / "P05.dcm"
    plan = json.loads(clip.read_text())
    clip.write_text(json.dumps({**plan, "onset_s": 99.0}))  # clip content changed
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 10_000_000))
    assert study.run_study(db, workers=0, analyze=fake_analyze).line() == "2 analysed, 8 up to date"
    frame = study.cohort_frame(db)
    assert frame.loc[frame["patient_id"] == "P05", "arterial_onset_s"].item() == 99.0
    assert frame.loc[frame["lesion_db_id"] == lesion_id, "roi"].item() == "met"
    changed = study.run_study(db, workers=0, analyze=fake_analyze, options=study.RunOptions(model="gamma"))
    assert changed.line() == "10 analysed, 0 up to date"  # analysis parameters changed


def test_analyse_one_lesion_on_demand(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_cohort(tmp_path / "c", fail={"P02"}))
    ids = list(study.cohort_frame(db)["lesion_db_id"])
    record = study.analyse_lesion(db, int(ids[0]), analyze=fake_analyze)
    assert record["status"] == "ok" and record["document"]["lesions"][0]["arterial_phase"]["onset_s"] == COHORT[0][6]
    assert study.analyse_lesion(db, int(ids[0]), analyze=fake_analyze)["id"] > record["id"]  # forced again
    failed = study.analyse_lesion(db, int(ids[1]), analyze=fake_analyze)
    assert failed["status"] == "failed" and "planned failure" in failed["error"]
    assert study.run_study(db, workers=0, analyze=fake_analyze).line() == "8 analysed, 2 up to date"


def test_failed_item_is_recorded_and_others_continue(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_cohort(tmp_path / "c", fail={"P02", "P07"}))
    (tmp_path / "c" / "clips" / "P09.dcm").unlink()
    summary = study.run_study(db, workers=0, analyze=fake_analyze)
    assert summary.line() == "10 analysed (3 failed), 0 up to date"
    frame = study.cohort_frame(db).set_index("patient_id")
    assert frame.loc["P02", "analysis_error"] == "no parenchyma reference could be tracked (planned failure)"
    assert "clip file P09.dcm not found" in frame.loc["P09", "analysis_error"]
    assert (frame.drop(index=["P02", "P07", "P09"])["analysis_status"] == "ok").all()
    assert study.run_study(db, workers=0, analyze=fake_analyze).line() == "0 analysed, 10 up to date"
    assert study.run_study(db, workers=0, analyze=fake_analyze, retry_failed=True).line() == \
        "3 analysed (3 failed), 7 up to date"


def _result_columns(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["lesion_db_id", "analysis_id"]).reset_index(drop=True)


def test_two_dask_workers_equal_serial(tmp_path: Path) -> None:
    import cloudpickle
    import cohort_fakes

    cloudpickle.register_pickle_by_value(cohort_fakes)  # the worker processes cannot import the tests folder
    from distributed import LocalCluster

    manifest = write_cohort(tmp_path / "c", fail={"P04"})
    frames = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster:  # an existing cluster, reached by its address
        for name, options in (("serial", {"workers": 0}), ("dask", {"workers": 2}),
                              ("scheduler", {"scheduler": cluster.scheduler_address})):
            with store.Store(f"sqlite:///{tmp_path / name}.db") as s:
                study.import_manifest(s, manifest)
                summary = study.run_study(s, analyze=fake_analyze, **options)
                assert summary.line() == "10 analysed (1 failed), 0 up to date"
                frames.append(_result_columns(study.cohort_frame(s)))
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


_KILLABLE_RUN = """
import sys
sys.path.insert(0, {fakes!r})
from cohort_fakes import fake_analyze
from ceuskit import store, study
with store.Store({url!r}) as s:
    study.run_study(s, workers=0, analyze=fake_analyze)
"""


def test_killed_run_resumes_without_loss(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", sleep_s=0.4))
    script = _KILLABLE_RUN.format(fakes=str(Path(__file__).parent / "store"), url=url)
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
        summary = study.run_study(s, workers=0, analyze=fake_analyze)
        assert summary.analysed == 10 - len(before) and summary.up_to_date == len(before)
        after = {r["id"]: r["analysis"]["id"] for r in store.cohort_records(s)}
    assert all(after[k] == v for k, v in before.items())  # committed results kept, not redone
    assert len(after) == 10 and len(set(after.values())) == 10


# ------------------------------------------------------------------------------------------------- stats


@pytest.fixture()
def analysed(db: store.Store, tmp_path: Path) -> store.Store:
    study.import_manifest(db, write_cohort(tmp_path / "c"))
    study.import_reads(db, tmp_path / "c" / "reads.csv")
    study.run_study(db, workers=0, analyze=fake_analyze)
    return db


def test_stats_patterns_and_correlations_match_independent_computation(analysed: store.Store) -> None:
    result = study.cohort_stats(study.cohort_frame(analysed))
    assert result["n_patients"] == 10 and result["n_lesions"] == 10
    assert list(result["patterns"]) == list(study.PATTERN_NAMES)
    counts = {"arterial_hyper": sum(r[3] == "hyper" for r in COHORT), "arterial_iso": 1, "arterial_hypo": 1,
              "washout": sum(r[4] != "none" for r in COHORT), "washout_early": sum(r[4] == "early" for r in COHORT),
              "washout_late": 2, "late_hypo": sum(r[5] == "hypo" for r in COHORT), "late_iso": 3, "late_hyper": 1}
    for name, k in counts.items():
        low, high = proportion_confint(k, 10, method="wilson")  # statsmodels
        got = result["patterns"][name]
        assert (got["n"], got["of"]) == (k, 10)
        assert got["ci95"] == pytest.approx([100 * low, 100 * high])
    onset = next(c for c in result["correlations"] if c["x"] == "arterial_onset_s")
    ref = sps.spearmanr([r[6] for r in COHORT], [r[1] for r in COHORT])  # scipy on the planned values
    assert onset["rho"] == pytest.approx(ref.statistic) and onset["p_value"] == pytest.approx(ref.pvalue)
    assert onset["y"] == "ki67" and onset["n"] == 10 and onset["p_exact"] is not None
    grades = ["G1" if r[1] < 3 else "G2" if r[1] <= 20 else "G3" for r in COHORT]
    groups = [[r[6] for r, g in zip(COHORT, grades, strict=True) if g == grade] for grade in ("G1", "G2", "G3")]
    assert result["by_grade"]["arterial_onset_s"]["p_value"] == pytest.approx(sps.kruskal(*groups).pvalue)
    pos = [r[6] for r, g in zip(COHORT, grades, strict=True) if g != "G1"]
    u = sps.mannwhitneyu(pos, groups[0]).statistic  # AUC = U / (n1 n2)
    assert result["roc"]["auc"] == pytest.approx(u / (len(pos) * 3))


def test_stats_kappa_reader_vs_software_and_readers(analysed: store.Store) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    result = study.cohort_stats(study.cohort_frame(analysed))
    agreement = {(a["rater_a"], a["rater_b"], a["label"]): a for a in result["agreement"]}
    assert agreement[("reader1", "software", "late")]["kappa"] == pytest.approx(1.0)  # reader1 reads the truth
    # reader2 differs on P07's late phase (hypo → iso) and on P01/P02 wash-out: statsmodels on the tables
    late_table = np.zeros((3, 3))
    cats = ["hypo", "iso", "hyper"]
    for pid, *_rest in COHORT:
        truth = _rest[4]
        late_table[cats.index(truth), cats.index("iso" if pid == "P07" else truth)] += 1
    ref = cohens_kappa(late_table, wt="linear")
    assert agreement[("reader1", "reader2", "late")]["kappa"] == pytest.approx(ref.kappa)
    wash = np.zeros((2, 2))
    for pid, *_rest in COHORT:
        truth = int(_rest[3] != "none")
        wash[truth, 0 if pid in ("P01", "P02") else truth] += 1
    assert agreement[("reader2", "software", "washout")]["kappa"] == pytest.approx(cohens_kappa(wash.T).kappa)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_export_round_trip(analysed: store.Store, tmp_path: Path, suffix: str) -> None:
    frame = study.cohort_frame(analysed)
    out = study.export_table(frame, tmp_path / f"lesions{suffix}")
    back = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".xlsx": pd.read_excel}[suffix](out)
    assert len(back) == 10 and list(back.columns) == list(frame.columns)
    assert list(back["patient_id"]) == [r[0] for r in COHORT]
    assert np.allclose(back["arterial_onset_s"], [r[6] for r in COHORT])
    assert {"ki67", "who_grade", "time_to_peak_s", "late_enhancement", "read_reader1_arterial"} <= set(back.columns)
    assert not list(tmp_path.glob(".lesions-*"))  # no temporary file left behind


def test_export_rejects_unknown_suffix(analysed: store.Store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="use a .csv, .parquet or .xlsx"):
        study.export_table(study.cohort_frame(analysed), tmp_path / "lesions.txt")


# --------------------------------------------------------------------------------------------------- CLI


def test_cli_import_stats_export_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    manifest = write_cohort(tmp_path / "c")
    assert main(["study", "init", "--db", url]) == 0
    assert main(["study", "import", str(manifest), "--db", url]) == 0
    assert "imported 10 new" in capsys.readouterr().out
    assert main(["study", "import-reads", str(tmp_path / "c" / "reads.csv"), "--db", url]) == 0
    with store.Store(url) as s:
        study.run_study(s, workers=0, analyze=fake_analyze)
    capsys.readouterr()
    assert main(["study", "stats", "--json", "--db", url]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_lesions"] == 10 and result["patterns"]["arterial_hyper"]["n"] == 8
    assert {"x", "y", "method", "rho", "p_value", "p_exact", "ci95", "n"} <= set(result["correlations"][0])
    assert main(["study", "stats", "--db", url]) == 0
    assert "arterial onset" not in capsys.readouterr().err
    assert main(["study", "export", "--out", str(tmp_path / "l.csv"), "--db", url]) == 0
    assert len(pd.read_csv(tmp_path / "l.csv")) == 10
    _rewrite(manifest, 3, ",2.0,", ",x,")
    capsys.readouterr()
    assert main(["study", "import", str(manifest), "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ceuskit: error: manifest.csv line 3: ki67 'x' is not a number") and "\n" not in err
    assert main(["study", "run", "--workers", "1", "--scheduler", "tcp://127.0.0.1:1", "--db", url]) == 2
    assert main(["study", "run", "--model", "spline", "--db", url]) == 2
    assert "model 'spline' is not one of" in capsys.readouterr().err
    assert main(["study", "stats", "--db", "nonsense"]) == 2
    assert "not a database URL" in capsys.readouterr().err


# ------------------------------------------------------------------------------ real pipeline, end to end


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


@pytest.mark.slow
def test_run_demo_end_to_end(tmp_path: Path) -> None:
    import json as _json

    lines: list[str] = []
    report = study.run_demo(tmp_path, n_patients=4, echo=lines.append)
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


@pytest.mark.slow
def test_two_dask_workers_equal_serial_with_real_pipeline(tmp_path: Path) -> None:
    from ceuskit.simulate import simulate_cohort

    manifest = simulate_cohort(tmp_path / "cohort", n_patients=3, seed=2, duration_s=100.0)
    frames = []
    for name, workers in (("serial", 0), ("dask", 2)):
        with store.Store(f"sqlite:///{tmp_path / name}.db") as s:
            study.import_manifest(s, manifest)
            assert study.run_study(s, workers=workers).line() == "3 analysed, 0 up to date"
            frames.append(_result_columns(study.cohort_frame(s)))
    pd.testing.assert_frame_equal(frames[0], frames[1])
