"""Examinations in studies: ``;``-lists in the manifest, several clips per lesion, runs redone on any change.

The fake cohort (``tests/store/cohort_fakes.py``) plans every result before the code runs; the simulated
examination (``ceuskit.simulate.examination``) gives real DICOM files whose headers state the times.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pydicom
import pytest
from cohort_fakes import (
    COHORT,
    fake_analyze_examination,
    rewrite_line,
    write_examination_cohort,
)

from ceuskit import store, study
from ceuskit.cli import main
from ceuskit.errors import ConflictError, ManifestError, StoreError
from ceuskit.io import open_clip
from ceuskit.io.examination import place_clips
from ceuskit.simulate import Phantom
from ceuskit.simulate.examination import simulate_examination


def _run(db: store.Store) -> study.RunSummary:
    return study.run_study(db, workers=0, analyze_examination=fake_analyze_examination)


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10_000_000))


def test_manifest_lists_import_every_clip_with_its_rois(db: store.Store, tmp_path: Path) -> None:
    manifest = write_examination_cohort(tmp_path / "c", sweeps=2)
    counts = study.import_manifest(db, manifest)
    assert counts["lesions_new"] == 10
    lesion_id = int(study.cohort_frame(db)["lesion_db_id"][0])
    lesion = store.get_lesion(db, lesion_id)
    assert [Path(c["path"]).name for c in lesion["clips"]] == ["P01.dcm", "P01_s1.dcm", "P01_s2.dcm"]
    assert [c["position"] for c in lesion["clips"]] == [0, 1, 2]
    for clip, name in zip(lesion["clips"], ["P01.roi.json", "P01_s1.roi.json", "P01_s2.roi.json"], strict=True):
        assert clip["rois"] == json.loads((tmp_path / "c" / "clips" / name).read_text())
    assert lesion["clip"]["id"] == lesion["clips"][0]["id"] == lesion["clip_id"]  # the first clip, as before
    assert lesion["rois"] == lesion["clips"][0]["rois"] and lesion["n_clips"] == 3


def test_examinations_are_analysed_whole_and_export_one_row_per_lesion(db: store.Store, tmp_path: Path) -> None:
    study.import_manifest(db, write_examination_cohort(tmp_path / "c", sweeps=2))
    assert _run(db).line() == "10 analysed, 0 up to date"
    frame = study.cohort_frame(db)
    assert len(frame) == 10 and (frame["n_clips"] == 3).all()
    assert list(frame["late_enhancement"]) == [row[5] for row in COHORT]  # from the sweeps, not the loop's "iso"
    assert list(frame["arterial_onset_s"]) == [row[6] for row in COHORT]
    record = store.latest_analysis(db, int(frame["lesion_db_id"][3]))
    assert record["document"]["given"] == {"clips": ["P04.dcm", "P04_s1.dcm", "P04_s2.dcm"],
                                           "rois": ["lesion", "lesion", "lesion"], "clip_offsets_s": None}
    assert "clip" in record["document"]["curves"]["tic"]  # the curves keep the clip each sample comes from
    out = tmp_path / "lesions.csv"
    study.export_table(study.cohort_frame(db), out)
    assert len(out.read_text().strip().splitlines()) == 11


def test_a_changed_clip_roi_or_offset_redoes_only_that_lesion(db: store.Store, tmp_path: Path) -> None:
    manifest = write_examination_cohort(tmp_path / "c", sweeps=2)
    study.import_manifest(db, manifest)
    assert _run(db).line() == "10 analysed, 0 up to date"
    assert _run(db).line() == "0 analysed, 10 up to date"
    sweep = tmp_path / "c" / "clips" / "P03_s2.dcm"
    _touch(sweep, json.dumps({"late": "hyper", "sweep": 2}))  # a sweep's content changed
    ids = list(study.cohort_frame(db)["lesion_db_id"])
    document = store.get_lesion(db, int(ids[6]))["clips"][1]["rois"]
    document["rois"][0]["radii"] = [9, 7]
    store.set_lesion_rois(db, int(ids[6]), document, position=1)  # the ROI drawn on P07's first sweep changed
    assert _run(db).line() == "2 analysed, 8 up to date"
    frame = study.cohort_frame(db).set_index("patient_id")
    assert frame.loc["P03", "late_enhancement"] == "hyper"
    study.import_manifest(db, manifest)  # the re-import puts P07's sweep ROI file back in place of the edit
    assert _run(db).line() == "1 analysed, 9 up to date"
    study.import_manifest(db, manifest)  # nothing changed
    assert _run(db).line() == "0 analysed, 10 up to date"
    text = manifest.read_text().splitlines()
    text[0] += ",clip_offset_s"
    text[1:] = [row + (",;130;190" if i == 1 else ",") for i, row in enumerate(text[1:], start=1)]
    manifest.write_text("\n".join(text) + "\n")
    study.import_manifest(db, manifest)
    assert _run(db).line() == "1 analysed, 9 up to date"
    given = store.latest_analysis(db, int(ids[0]))["document"]["given"]
    assert given["clip_offsets_s"] == [None, 130.0, 190.0]


def test_fewer_clips_on_reimport_and_a_missing_sweep(db: store.Store, tmp_path: Path) -> None:
    manifest = write_examination_cohort(tmp_path / "c", sweeps=2)
    study.import_manifest(db, manifest)
    rewrite_line(manifest, 2, ";clips/P01_s2.dcm", "")
    rewrite_line(manifest, 2, ";clips/P01_s2.roi.json", "")
    study.import_manifest(db, manifest)
    lesion_id = int(study.cohort_frame(db)["lesion_db_id"][0])
    assert [Path(c["path"]).name for c in store.get_lesion(db, lesion_id)["clips"]] == ["P01.dcm", "P01_s1.dcm"]
    (tmp_path / "c" / "clips" / "P02_s2.dcm").unlink()
    summary = _run(db)
    assert summary.line() == "10 analysed (1 failed), 0 up to date"
    frame = study.cohort_frame(db).set_index("patient_id")
    assert frame.loc["P02", "analysis_error"] == "clip file P02_s2.dcm not found; restore it or re-import the manifest"
    assert frame.loc["P01", "n_clips"] == 2


@pytest.mark.parametrize(("old", "new", "message"), [
    (";clips/P03_s2.roi.json", "", "line 4: clip lists 3 file(s) but roi lists 2; give one ROI file per clip"),
    (";clips/P03_s2.dcm", ";", "line 4: clip lists an empty entry"),
    ("clips/P03_s2.dcm", "clips/P03_s1.dcm", "line 4: clip clips/P03_s1.dcm is listed twice"),
    ("clips/P03_s2.dcm", "clips/P03_s9.dcm", "line 4: clip clips/P03_s9.dcm not found"),
    ("clips/P03_s2.roi.json", "clips/P03_none.json", "line 4: roi clips/P03_none.json not found"),
])
def test_bad_examination_cells_name_the_line_and_import_nothing(db: store.Store, tmp_path: Path, old: str,
                                                                new: str, message: str) -> None:
    manifest = write_examination_cohort(tmp_path / "c", sweeps=2)
    rewrite_line(manifest, 4, old, new)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        study.import_manifest(db, manifest)
    assert "nothing was imported" in str(info.value) and "\n" not in str(info.value)
    assert store.list_studies(db) == []


def test_bad_offsets_are_refused(db: store.Store, tmp_path: Path, capsys) -> None:
    manifest = write_examination_cohort(tmp_path / "c", sweeps=1)
    text = manifest.read_text().splitlines()
    text[0] += ",clip_offset_s"
    text[1:] = [row + (",1;2;3" if i == 5 else ",") for i, row in enumerate(text[1:], start=1)]
    manifest.write_text("\n".join(text) + "\n")
    url = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["study", "import", str(manifest), "--db", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ceuskit: error: manifest.csv line 6: clip_offset_s lists 3 "
                                               "offset(s) for 2 clip(s)")


def test_add_a_sweep_to_a_lesion(db: store.Store, tmp_path: Path) -> None:
    manifest = write_examination_cohort(tmp_path / "c", sweeps=1)
    study.import_manifest(db, manifest)
    lesion_id = int(study.cohort_frame(db)["lesion_db_id"][0])
    extra = tmp_path / "c" / "clips" / "P01_s2.dcm"
    extra.write_text(json.dumps({"late": "hypo", "sweep": 2}))
    clip = store.ClipInput(path=str(extra), sha256="a" * 64, rois={"reference_frame": 0, "units": "px", "rois": []})
    lesion = store.add_lesion_clip(db, lesion_id, clip)
    assert [c["position"] for c in lesion["clips"]] == [0, 1, 2] and lesion["clips"][2]["rois"]["rois"] == []
    with pytest.raises(ConflictError, match="part of the lesion's examination already"):
        store.add_lesion_clip(db, lesion_id, clip)
    with pytest.raises(StoreError, match="no clip at position 5 of lesion"):
        store.set_lesion_rois(db, lesion_id, {"rois": []}, position=5)
    assert store.get_lesion(db, lesion_id)["n_clips"] == 3


def test_simulated_examination_imports_with_injection_auto_and_deidentified(db: store.Store, tmp_path: Path) -> None:
    phantom = Phantom(pattern="hyper-late-hypo", seed=3, lead_in_s=6.5, fps=2.0)
    exam = simulate_examination(tmp_path / "exam", phantom, loop_s=40.0, sweeps_s=(120.0, 180.0), sweep_duration_s=4.0,
                                patient_id="REAL-ID-77")
    names = [p.name for p in exam.dicoms]
    manifest = tmp_path / "exam" / "manifest.csv"
    manifest.write_text("patient_id,lesion_id,clip,roi,ki67,injection_time_s\n"
                        f"REAL-ID-77,L1,{';'.join(names[::-1])},{';'.join(p.name for p in exam.rois[::-1])},4.2,auto\n")
    study.import_manifest(db, manifest, deidentify=True, study="deid")
    lesion = store.get_lesion(db, int(study.cohort_frame(db, "deid")["lesion_db_id"][0]))
    assert lesion["injection_time_s"] == pytest.approx(phantom.lead_in_s)  # Contrast/Bolus Start Time vs the loop
    copies = [Path(c["path"]) for c in lesion["clips"]]
    assert [p.name for p in copies] == ["L1.dcm", "L1-clip2.dcm", "L1-clip3.dcm"]
    assert "REAL-ID-77" not in json.dumps(lesion)
    assert {str(pydicom.dcmread(p, stop_before_pixels=True).PatientID) for p in copies} == {lesion["patient"]}
    opened = [open_clip(p) for p in copies]
    try:  # the copies' shifted dates keep the examination's times
        assert place_clips(opened) == pytest.approx([c["offset_s"] for c in exam.truth_data["clips"][::-1]], abs=1e-6)
    finally:
        for clip in opened:
            clip.close()


def test_real_examinations_imported_as_a_study_export_the_labels_the_cli_reads(tmp_path: Path, capsys) -> None:
    """Two simulated examinations (a wash-out that begins between the clips, and an early one) and one loop
    read alone, imported from ``;``-lists in shuffled order with ``injection_time_s`` auto, analysed by the
    real pipeline: the export holds the simulator's labels, the same the command line reads."""
    import csv

    cases = {"E01": Phantom(pattern="hyper-late-hypo", seed=41, lead_in_s=3.0, fps=3.0),
             "E02": Phantom(pattern="hyper-early-hypo", seed=42, lead_in_s=1.5, fps=3.0)}
    rows, exams = ["patient_id,lesion_id,clip,roi,ki67,injection_time_s"], {}
    for patient, phantom in cases.items():
        exam = simulate_examination(tmp_path / patient, phantom, loop_s=70.0, sweeps_s=(125.0, 185.0),
                                    sweep_duration_s=6.0, name=patient.lower(), patient_id=patient)
        exams[patient] = exam
        order = [2, 0, 1]
        clips = ";".join(f"{patient}/{exam.dicoms[k].name}" for k in order)
        rois = ";".join(f"{patient}/{exam.rois[k].name}" for k in order)
        rows.append(f"{patient},L1,{clips},{rois},3.0,auto")
    rows.append(f"E01,loop,E01/{exams['E01'].dicoms[0].name},E01/{exams['E01'].rois[0].name},3.0,3.0")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["study", "import", str(manifest), "--db", url]) == 0
    assert main(["study", "run", "--workers", "0", "--db", url]) == 0
    assert main(["study", "export", "--out", str(tmp_path / "lesions.csv"), "--db", url]) == 0
    capsys.readouterr()
    with open(tmp_path / "lesions.csv", newline="") as fh:
        exported = {(r["patient_id"], r["lesion_id"]): r for r in csv.DictReader(fh)}
    assert len(exported) == 3  # one row per lesion
    for patient, exam in exams.items():
        truth, row = exam.truth_data, exported[(patient, "L1")]
        assert row["analysis_status"] == "ok", row["analysis_error"]
        assert (row["arterial_enhancement"], row["washout_timing"], row["late_enhancement"]) == (
            truth["pattern"]["arterial"], truth["pattern"]["washout_timing"], truth["pattern"]["late"])
        assert abs(float(row["arterial_onset_s"]) - truth["onset_s"]) <= 1.0
        assert row["n_clips"] == "3"
        assert main(["analyze", *map(str, exam.dicoms[::-1]), *(a for r in exam.rois[::-1] for a in ("--roi", str(r))),
                     "--injection-time", "auto", "--json"]) == 0
        cli = json.loads(capsys.readouterr().out)["lesions"][0]
        assert (cli["arterial_phase"]["enhancement"], cli["portal_venous_phase"]["washout_timing"],
                cli["late_phase"]["enhancement"]) == (row["arterial_enhancement"], row["washout_timing"],
                                                      row["late_enhancement"])
    bracket = exams["E01"].truth_data["washout_bracket_s"]  # the wash-out began in the gap after the loop
    assert float(exported[("E01", "L1")]["washout_interval_start_s"]) == pytest.approx(bracket[0], abs=0.5)
    assert exported[("E01", "loop")]["late_enhancement"] == "not_assessed"  # the loop alone ends at 67 s
