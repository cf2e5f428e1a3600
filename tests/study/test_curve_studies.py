"""Curve tables in studies: a manifest ``clip`` cell may name a curve file (its ``roi`` cell empty).

The curves are the simulator's (ceuskit.simulate.curve_cases), written as a QLAB export and as a wide CSV
(ceuskit.simulate.exports); the onsets are compared with the simulator's truth.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ceuskit import store, study
from ceuskit.errors import ManifestError
from ceuskit.simulate import exports
from ceuskit.simulate.curve_cases import curve_case


def _manifest(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / "manifest.csv"
    columns = ["patient_id", "lesion_id", "clip", "roi", "ki67", "curve_units", "curve_columns", "injection_time_s"]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


@pytest.fixture()
def curve_cohort(tmp_path: Path) -> tuple[Path, dict[str, float]]:
    slow, sharp = curve_case("slow-lognormal-35s", seed=4), curve_case("sharp-gamma", seed=5)
    exports.write_qlab(tmp_path / "p1_qlab.txt", slow.times_s, slow.power)
    exports.write_wide(tmp_path / "p2.csv", sharp.times_s, {"tumour": sharp.power["lesion"],
                                                            "ref": sharp.power["liver"]}, units="db")
    rows = [{"patient_id": "P1", "lesion_id": "L1", "clip": "p1_qlab.txt", "ki67": "2"},
            {"patient_id": "P2", "lesion_id": "L1", "clip": "p2.csv", "ki67": "15", "curve_units": "db",
             "curve_columns": "lesion=tumour;parenchyma=ref"}]
    return _manifest(tmp_path, rows), {"P1": slow.truth["onset_s"]["lesion"], "P2": sharp.truth["onset_s"]["lesion"]}


def test_curve_files_are_imported_and_read_like_clips(db: store.Store, curve_cohort) -> None:
    manifest, truth = curve_cohort
    assert study.import_manifest(db, manifest)["lesions_new"] == 2
    assert study.run_study(db, workers=0).line() == "2 analysed, 0 up to date"
    frame = study.cohort_frame(db)
    for _, row in frame.iterrows():
        assert row["analysis_status"] == "ok"
        assert abs(float(row["arterial_onset_s"]) - truth[row["patient_id"]]) <= 1.0
    assert study.run_study(db, workers=0).line() == "0 analysed, 2 up to date"
    lesion = store.get_lesion(db, int(frame["lesion_db_id"][1]))
    assert lesion["rois"]["curves"] == {"units": "db", "time_column": None,
                                        "columns": [["lesion", "tumour"], ["parenchyma", "ref"]]}


@pytest.mark.parametrize(("change", "message"), [
    ({"curve_units": "grey"}, "line 3: p2.csv: display grey lies between 0 and 255"),
    ({"curve_columns": "lesion=tumour;liver=ref"}, "line 3: curve_columns 'liver=ref' must be ROLE=NAME"),
    ({"roi": "rois.json"}, "line 3: a curve table needs no roi file"),
])
def test_bad_curve_rows_name_their_line(db: store.Store, curve_cohort, change, message) -> None:
    manifest, _ = curve_cohort
    with open(manifest, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[1].update(change)
    with pytest.raises(ManifestError, match=message):
        study.import_manifest(db, _manifest(manifest.parent, rows))
