"""ceuskit.study.manifest: manifest validation (one bad line imports nothing), WHO grades, de-identification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cohort_fakes import COHORT, rewrite_line, write_cohort

from ceuskit import store, study
from ceuskit.errors import ManifestError


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
    rewrite_line(manifest, line, old, new)
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
