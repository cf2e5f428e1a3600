"""De-identification (DICOM PS3.15 Basic Profile, clean pixels) of every ultrasound file in deid-data.

The expected values come from the original files: their headers (read here with pydicom) and their pixels
(pydicom's own decoding).
"""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from ceuskit import store, study
from ceuskit.cli import main
from ceuskit.errors import ClipError, ManifestError
from ceuskit.io.clip import source_sha256
from ceuskit.io.deid import DeidOptions, deidentify_file, deidentify_tree

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_testdata import discover_us_files, materialise  # noqa: E402

# The real files break VR length limits; pydicom warns when their values are read (here, to compare them).
pytestmark = pytest.mark.filterwarnings("ignore:The value length:UserWarning")

DEID_DATA = [f for f in discover_us_files() if f.label.startswith("ultrasounds/")]
KEY = b"test-key-0123456789abcdef"
# Attributes whose original values must not survive (besides every person name, date and instance UID).
IDENTIFYING = ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "InstitutionName",
               "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
               "StudyDescription", "SeriesDescription", "PatientAddress", "PatientTelephoneNumbers",
               "PatientBirthDate", "PatientAge", "MedicalRecordLocator", "RequestedProcedureID")
KEPT_UIDS = {"SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ReferencedSOPClassUID",
             "ImplementationClassUID"}


def _read(path: Path, **kwargs: object) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, **kwargs)


def _walk(ds: Dataset):
    yield from ds.iterall()


def _values(element) -> list[str]:
    value = element.value
    values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
    return [str(v).strip() for v in values if v is not None and str(v).strip()]


def _identifying_values(ds: Dataset) -> dict[str, set[str]]:
    """Original values that must be gone, by kind: person names and identifying attributes, dates, UIDs."""
    found: dict[str, set[str]] = {"text": set(), "date": set(), "uid": set()}
    for element in _walk(ds):
        if element.VR == "SQ":
            continue
        if element.VR == "PN" or element.keyword in IDENTIFYING:
            found["text"].update(_values(element))
        elif element.VR in ("DA", "DT"):
            found["date"].update(v[:8] for v in _values(element))
        elif element.VR == "UI" and element.keyword not in KEPT_UIDS and not element.keyword.endswith("ClassUID"):
            found["uid"].update(v for v in _values(element) if v not in pydicom.uid.UID_dictionary)
    return found


def _by_keyword(ds: Dataset) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for element in _walk(ds):
        if element.VR != "SQ":
            out.setdefault(element.keyword, set()).update(_values(element))
    return out


def _header_bytes(path: Path) -> bytes:
    """The file's bytes before its pixel data element (tag 7FE0,0010 in Explicit VR Little Endian)."""
    data = path.read_bytes()
    cut = max(data.rfind(b"\xe0\x7f\x10\x00OB"), data.rfind(b"\xe0\x7f\x10\x00OW"))
    return data[:cut] if cut > 0 else data


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Every deid-data ultrasound file, de-identified once: label → (original, output)."""
    folder = tmp_path_factory.mktemp("deid")
    out = {}
    for entry in DEID_DATA:
        source = materialise(entry, folder / "in")
        target = folder / "out" / Path(entry.label).name
        deidentify_file(source, target, DeidOptions(key=KEY))
        out[entry.label] = (source, target)
    return out


def test_deid_data_has_ultrasound_files() -> None:
    assert len(DEID_DATA) >= 5  # GREYSCALE_CINE, GREYSCALE_IMAGE, RGB_CINE, RGB_IMAGE, ultrasound-multiframe


@pytest.mark.parametrize("label", [f.label for f in DEID_DATA])
def test_no_original_identifier_survives(deidentified: dict[str, tuple[Path, Path]], label: str) -> None:
    source, target = deidentified[label]
    original, result = _read(source, stop_before_pixels=True), _read(target, stop_before_pixels=True)
    gone = _identifying_values(original)
    assert gone["text"] and gone["uid"]  # the originals do carry identifiers to remove
    # 1. no identifying attribute keeps its value (whatever its length)
    before, after = _by_keyword(original), _by_keyword(result)
    for keyword in (k for k in before if k in IDENTIFYING or k in ("PatientName", "StudyDate", "SeriesDate",
                                                                   "StudyInstanceUID", "SOPInstanceUID")):
        assert not before[keyword] & after.get(keyword, set()), keyword
    # 2. no value of 4 characters or more appears anywhere else: not as an element, not in the raw header
    long_values = {v for v in gone["text"] | gone["date"] | gone["uid"] if len(v) >= 4}
    remaining = set().union(*after.values()) | {v[:8] for v in after.get("StudyDate", set())}
    assert not long_values & remaining
    raw = _header_bytes(target)
    assert [v for v in long_values if v.encode() in raw] == []
    assert not any(e.tag.is_private for e in _walk(result))
    assert result.PatientIdentityRemoved == "YES"
    assert "Basic Application Confidentiality Profile" in result.DeidentificationMethod
    codes = {item.CodeValue for item in result.DeidentificationMethodCodeSequence}
    assert {"113100", "113101", "113107"} <= codes
    assert result.PatientID.startswith("P-") and str(result.PatientName) == result.PatientID


@pytest.mark.parametrize("label", [f.label for f in DEID_DATA])
def test_new_uids_and_shifted_dates(deidentified: dict[str, tuple[Path, Path]], label: str) -> None:
    source, target = deidentified[label]
    original, result = _read(source, stop_before_pixels=True), _read(target, stop_before_pixels=True)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        new = str(result[keyword].value)
        assert new != str(original[keyword].value) and new.startswith("2.25.")
        assert pydicom.uid.UID(new).is_valid
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert result.SOPClassUID == original.SOPClassUID
    if original.get("StudyDate"):  # shifted back by a per-patient 1–3650 days
        import datetime as dt

        before = dt.datetime.strptime(original.StudyDate, "%Y%m%d")
        after = dt.datetime.strptime(result.StudyDate, "%Y%m%d")
        assert 1 <= (before - after).days <= 3650
        assert result.LongitudinalTemporalInformationModified == "MODIFIED"


@pytest.mark.parametrize("label", [f.label for f in DEID_DATA])
def test_pixels_outside_regions_zero_inside_identical(deidentified: dict[str, tuple[Path, Path]],
                                                      label: str) -> None:
    source, target = deidentified[label]
    original, result = _read(source), _read(target)
    keep = np.zeros((original.Rows, original.Columns), dtype=bool)
    for region in original.SequenceOfUltrasoundRegions:  # the header's regions; max X1/Y1 inclusive
        keep[region.RegionLocationMinY0:region.RegionLocationMaxY1 + 1,
             region.RegionLocationMinX0:region.RegionLocationMaxX1 + 1] = True
    before, after = original.pixel_array, result.pixel_array
    assert before.shape == after.shape
    if original.SamplesPerPixel == 3:
        keep = keep[..., None].repeat(3, axis=-1)
    keep = np.broadcast_to(keep, before.shape)
    assert np.array_equal(after[keep], before[keep])
    assert not after[~keep].any()
    assert before[~keep].any()  # there was something to blank (burned-in text, scale, logo)


def test_same_study_keeps_consistent_uids(tmp_path: Path) -> None:
    """Two files of one study and series: the same new Study/Series UIDs, distinct new SOP UIDs."""
    source = materialise(next(f for f in DEID_DATA if f.n_frames == 1), tmp_path / "in")
    twin = tmp_path / "twin.dcm"
    ds = _read(source)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(twin)
    a = deidentify_file(source, tmp_path / "out" / "a.dcm", DeidOptions(key=KEY))
    b = deidentify_file(twin, tmp_path / "out" / "b.dcm", DeidOptions(key=KEY))
    ra, rb = _read(tmp_path / "out" / "a.dcm"), _read(tmp_path / "out" / "b.dcm")
    assert a == b and ra.StudyInstanceUID == rb.StudyInstanceUID and ra.SeriesInstanceUID == rb.SeriesInstanceUID
    assert ra.SOPInstanceUID != rb.SOPInstanceUID
    other = deidentify_file(source, tmp_path / "out" / "c.dcm", DeidOptions(key=b"another-key-0123456789"))
    assert other != a and _read(tmp_path / "out" / "c.dcm").StudyInstanceUID != ra.StudyInstanceUID


def test_remove_dates_empties_dates_and_times(tmp_path: Path) -> None:
    source = materialise(DEID_DATA[0], tmp_path / "in")
    deidentify_file(source, tmp_path / "o.dcm", DeidOptions(key=KEY, remove_dates=True))
    result = _read(tmp_path / "o.dcm", stop_before_pixels=True)
    assert all(e.value in (None, "") for e in _walk(result) if e.VR in ("DA", "DT", "TM"))
    assert result.LongitudinalTemporalInformationModified == "REMOVED"


def test_file_without_regions_needs_a_region(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    plain = Path(get_testdata_file("US1_UNCR.dcm"))  # an ultrasound image without ultrasound regions
    with pytest.raises(ClipError, match="--region"):
        deidentify_file(plain, tmp_path / "o.dcm", DeidOptions(key=KEY))
    assert not (tmp_path / "o.dcm").exists()
    deidentify_file(plain, tmp_path / "o.dcm", DeidOptions(key=KEY, region=(100, 50, 500, 400)))
    after, before = _read(tmp_path / "o.dcm").pixel_array, _read(plain).pixel_array
    assert np.array_equal(after[50:400, 100:500], before[50:400, 100:500]) and not after[:50].any()


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_tree_mirrors_skips_and_prints_no_identifier(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "archive"
    names = []
    for i, entry in enumerate(DEID_DATA[:3]):
        source = materialise(entry, tmp_path / "x")
        target = tree / f"visit{i}" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
        names.append(target.relative_to(tree))
    (tree / "notes.txt").write_text("not DICOM\n")
    (tree / "link.dcm").symlink_to(tree / names[0])  # links are not followed
    originals = {v for n in names for v in _identifying_values(_read(tree / n, stop_before_pixels=True))["text"]
                 if len(v) >= 4}
    out = tmp_path / "clean"
    assert main(["deidentify", str(tree), str(out), "--key-file", str(tmp_path / "k.key")]) == 0
    printed = capsys.readouterr()
    assert "3 file(s)" in printed.out and "2 other file(s) skipped" in printed.out
    for value in originals:
        assert value not in printed.out + printed.err
    assert sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) == sorted(names)
    assert not any(tmp_path.glob("*.csv"))  # no pseudonym map unless asked

    mapped = tmp_path / "clean2"
    assert main(["deidentify", str(tree), str(mapped), "--key-file", str(tmp_path / "k.key"),
                 "--map", str(tmp_path / "map.csv")]) == 0
    with open(tmp_path / "map.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ids = {str(_read(tree / n, stop_before_pixels=True).PatientID) for n in names}
    assert {r["patient_id"] for r in rows} == ids
    for row in rows:  # the same key file: the same pseudonyms as the first run
        assert any(_read(p, stop_before_pixels=True).PatientID == row["pseudonym"] for p in out.rglob("*.dcm"))


def test_cli_bad_file_fails_cleanly_others_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "archive"
    tree.mkdir()
    good = materialise(DEID_DATA[0], tmp_path / "x")
    (tree / "good.dcm").write_bytes(good.read_bytes())
    (tree / "cut.dcm").write_bytes(good.read_bytes()[:3000])
    out = tmp_path / "clean"
    assert main(["deidentify", str(tree), str(out)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith("ceuskit: error: 1 file(s) could not be de-identified")
    assert "Traceback" not in err
    assert (out / "good.dcm").is_file() and not (out / "cut.dcm").exists()
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temp files left


def test_cli_output_inside_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "archive"
    tree.mkdir()
    assert main(["deidentify", str(tree), str(tree / "clean")]) == 2
    assert "outside the input folder" in capsys.readouterr().err


def test_tree_summary_counts(tmp_path: Path) -> None:
    source = materialise(DEID_DATA[0], tmp_path / "x")
    summary = deidentify_tree(source, tmp_path / "one.dcm", DeidOptions(key=KEY))
    assert summary.written == 1 and list(summary.pseudonyms) == [str(_read(source, stop_before_pixels=True).PatientID)]


# ---------------------------------------------------------------------------------------- study import
def test_study_import_deidentifies_clips_on_the_way_in(tmp_path: Path) -> None:
    from ceuskit.simulate import simulate_cohort

    manifest = simulate_cohort(tmp_path / "cohort", n_patients=2, seed=4, duration_s=40.0)
    originals = {str(_read(p, stop_before_pixels=True).PatientID) for p in (tmp_path / "cohort").rglob("*.dcm")}
    with store.Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as db:
        study.import_manifest(db, manifest, deidentify=True, deid_dir=tmp_path / "clean")
        records = store.cohort_records(db)
        clips = {r["clip_id"]: store.get_clip(db, r["clip_id"]) for r in records}
    assert len(records) == 2
    for record in records:
        clip = Path(clips[record["clip_id"]]["path"])
        assert (tmp_path / "clean") in clip.parents
        ds = _read(clip, stop_before_pixels=True)
        assert ds.PatientID == record["patient"] and ds.PatientID not in originals
        assert ds.PatientIdentityRemoved == "YES" and "Phantom" not in str(ds.PatientName)
        assert record["clip_sha256"] == source_sha256(clip)


def test_study_import_deidentify_refuses_non_dicom_and_imports_nothing(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
    from cohort_fakes import write_cohort  # fake (JSON) clips: not DICOM

    manifest = write_cohort(tmp_path / "c")
    with store.Store(f"sqlite:///{tmp_path / 'db.sqlite'}") as db:
        with pytest.raises(ManifestError, match="not a DICOM file"):
            study.import_manifest(db, manifest, deidentify=True, deid_dir=tmp_path / "clean")
        assert store.list_studies(db) == []
    assert not (tmp_path / "clean").exists() or not list((tmp_path / "clean").rglob("*.dcm"))
