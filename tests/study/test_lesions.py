"""Making a lesion from its clip files: one clip input per file, one lesion input, one way to store it alone.

Expected facts come from the files themselves (hashlib over their bytes, ``os.stat``, the DICOM header read by
pydicom), from the WHO 2019 grading thresholds (G1 Ki-67 < 3 %, G2 3–20 %, G3 > 20 %; NEC is high grade) and
from the database read back.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import pydicom
import pytest

from ceuskit import store, study
from ceuskit.errors import ConflictError, InputError, StoreError
from ceuskit.simulate import Phantom, simulate_clip

SRC = Path(study.__file__).resolve().parents[1]
NO_ROIS = {"reference_frame": 0, "units": "px", "rois": []}  # DESIGN's ROI JSON listing no ROI


@pytest.fixture(scope="module")
def dicom_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulate_clip(tmp_path_factory.mktemp("clip"), Phantom(duration_s=5.0, fps=2.0), name="loop").dicom


def test_a_clip_input_holds_the_files_facts(dicom_clip: Path, tmp_path: Path) -> None:
    where = {"server": "orthanc", "reference": "dicomweb:1.2/3.4/5.6", "fetched_at": "2026-12-07T13:00:00+00:00"}
    clip = study.clip_from_file(dicom_clip, offset_s=120.0, provenance=where)
    stat = dicom_clip.stat()
    assert clip.path == str(dicom_clip)
    assert clip.sha256 == hashlib.sha256(dicom_clip.read_bytes()).hexdigest()
    assert (clip.size_bytes, clip.mtime_ns, clip.offset_s) == (stat.st_size, stat.st_mtime_ns, 120.0)
    assert clip.rois == NO_ROIS
    header = pydicom.dcmread(dicom_clip, stop_before_pixels=True)
    assert clip.header["format"] == "dicom" and clip.header["name"] == "loop.dcm"
    assert clip.header["Modality"] == header.Modality and clip.header["NumberOfFrames"] == int(header.NumberOfFrames)
    assert clip.header["pacs"] == where
    assert "PatientID" not in clip.header and "PatientName" not in clip.header

    rois = {"reference_frame": 3, "units": "px", "rois": [{"name": "lesion", "role": "lesion"}]}
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "f1.png").write_bytes(b"one")
    (folder / "f0.png").write_bytes(b"zero")
    frames = study.clip_from_file(folder, rois=rois)
    expected = hashlib.sha256()
    for name, data in (("f0.png", b"zero"), ("f1.png", b"one")):  # by name: names and contents both count
        expected.update(name.encode())
        expected.update(hashlib.sha256(data).digest())
    assert frames.sha256 == expected.hexdigest()
    assert (frames.size_bytes, frames.mtime_ns, frames.offset_s, frames.rois) == (None, None, None, rois)
    assert frames.header == {"name": "frames", "format": "folder"}


@pytest.mark.parametrize(("ki67", "given", "expected"), [
    (2.9, None, ("G1", "ki67")), (3.0, "", ("G2", "ki67")), (20.0, None, ("G2", "ki67")),
    (20.5, None, ("G3", "ki67")), (None, None, (None, None)), (10.0, " g2 ", ("G2", "manifest")),
    (55.0, "NEC", ("NEC", "manifest")), (None, "G1", ("G1", "manifest")),
])
def test_the_who_grade_is_derived_from_ki67_or_checked_against_it(ki67: float | None, given: str | None,
                                                                   expected: tuple[str | None, str | None]) -> None:
    clip = store.ClipInput(path="/clips/p1.dcm", sha256="0" * 64)
    lesion = study.lesion_input("P1", "L1", [clip], ki67_percent=ki67, who_grade=given)
    assert (lesion.who_grade, lesion.who_grade_source) == expected
    assert lesion.clips == (clip,) and lesion.clips[0].rois == NO_ROIS


@pytest.mark.parametrize(("ki67", "given", "message"), [
    (10.0, "G1", "who_grade G1 disagrees with ki67 10 % (G2 by WHO 2019); correct one of them or leave who_grade "
                 "empty"),
    (2.0, "NEC", "who_grade NEC disagrees with ki67 2 % (G1 by WHO 2019)"),
    (None, "G4", "who_grade 'G4' must be G1, G2, G3 or NEC"),
])
def test_a_grade_that_disagrees_is_refused(ki67: float | None, given: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        study.lesion_input("P1", "L1", [store.ClipInput(path="/c.dcm", sha256="0" * 64)], ki67_percent=ki67,
                           who_grade=given)


def test_add_lesion_stores_one_lesion_and_refuses_its_label_again(dicom_clip: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep.mp4"
    sweep.write_bytes(b"not really a video")
    with store.Store(f"sqlite:///{tmp_path / 'study.db'}") as db:
        study_id = store.import_lesions(db, [], study="web")["study_id"]
        clips = [study.clip_from_file(dicom_clip), study.clip_from_file(sweep, offset_s=90.0)]
        made = study.add_lesion(db, study.lesion_input("P1", "L1", clips, ki67_percent=12.0,
                                                       injection_time_s=1.5), study=study_id)
        assert store.lesion_id_of(db, "P1", "L1", study="web") == made
        lesion = store.get_lesion(db, made)
        assert (lesion["patient"], lesion["lesion"], lesion["study_id"]) == ("P1", "L1", study_id)
        assert (lesion["who_grade"], lesion["who_grade_source"], lesion["injection_time_s"]) == ("G2", "ki67", 1.5)
        assert [(c["path"], c["sha256"], c["offset_s"], c["rois"]) for c in lesion["clips"]] == [
            (str(dicom_clip), hashlib.sha256(dicom_clip.read_bytes()).hexdigest(), None, NO_ROIS),
            (str(sweep), hashlib.sha256(sweep.read_bytes()).hexdigest(), 90.0, NO_ROIS)]

        with pytest.raises(ConflictError, match="already has a lesion with that name"):
            study.add_lesion(db, study.lesion_input("P1", "L1", clips[1:], ki67_percent=40.0), study="web")
        with pytest.raises(ConflictError):
            study.check_new_lesion(db, study_id, "P1", "L1")
        again = store.get_lesion(db, made)
        assert again["n_clips"] == 2 and again["ki67_percent"] == 12.0  # left as it was
        study.check_new_lesion(db, study_id, "P1", "L2")  # another label is free
        assert store.lesion_id_of(db, "P2", "L1", study=study_id) is None
        with pytest.raises(StoreError, match="no study with id 99"):
            study.add_lesion(db, study.lesion_input("P2", "L1", clips[:1]), study=99)


def _calls(name: str) -> set[str]:
    """The modules of src/ceuskit that call ``name(...)`` (by name or as an attribute)."""
    found = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and name in (getattr(node.func, "id", None), getattr(node.func, "attr", None)):
                found.add(path.relative_to(SRC).as_posix())
    return found


def test_lesions_and_clip_inputs_are_made_in_one_place_each() -> None:
    assert _calls("LesionInput") == {"study/lesions.py"}
    # study/files.py makes a clip input from a file; the store rebuilds them from its own rows
    assert _calls("ClipInput") == {"study/files.py", "store/lesions.py"}
    assert _calls("clip_from_file") >= {"study/files.py", "study/manifest.py", "web/studies.py", "web/pacs.py",
                                        "web/examination.py"}
    assert _calls("lesion_input") >= {"study/manifest.py", "web/studies.py", "web/pacs.py"}
