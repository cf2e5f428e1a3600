"""DICOMweb against a real Orthanc: find (QIDO-RS), pull (WADO-RS), push (STOW-RS), credentials.

Expected values come from the phantom file's own DICOM header (pydicom), from Orthanc's REST API (what the
PACS really holds, asked outside DICOMweb and outside ceuskit) and from pydicom's decoding of the original
pixels.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from pacs_testing import Orthanc, header, leftovers, make_phantom, pixels, run, uids

pytestmark = pytest.mark.pacs


def test_find_lists_the_study_series_and_instance_orthanc_holds(credentials: Orthanc, stored_clip,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "pacs", "find", "--url", credentials.dicomweb, "--patient-id", "CEUSKIT-STORED",
                           "--modality", "US", "--json")
    assert status == 0, err
    found = json.loads(out)
    source = header(stored_clip.dicom)
    assert [s["StudyInstanceUID"] for s in found] == [source.StudyInstanceUID]
    study = found[0]
    assert study["PatientID"] == "CEUSKIT-STORED" and study["StudyDate"] == source.StudyDate
    assert study["ModalitiesInStudy"] == ["US"]
    (series,) = study["series"]
    assert series["SeriesInstanceUID"] == source.SeriesInstanceUID and series["Modality"] == "US"
    (instance,) = series["instances"]
    assert instance["SOPInstanceUID"] == source.SOPInstanceUID
    assert instance["SOPClassUID"] == source.SOPClassUID
    assert instance["NumberOfFrames"] == int(source.NumberOfFrames)
    # Orthanc's own index agrees: exactly one study with that UID, one series, one instance
    (orthanc_series,) = credentials.study_series(source.StudyInstanceUID)
    assert orthanc_series["MainDicomTags"]["SeriesInstanceUID"] == source.SeriesInstanceUID
    assert len(orthanc_series["Instances"]) == 1


@pytest.mark.parametrize(("options", "expect"), [
    (["--patient-id", "CEUSKIT-STO*"], True),  # wildcard
    (["--patient-id", "CEUSKIT-STORE?"], True),
    (["--patient-id", "CEUSKIT-STORED", "--study-date", "2026-01-01"], True),
    (["--patient-id", "CEUSKIT-STORED", "--study-date", "20251201-20260131"], True),
    (["--patient-id", "CEUSKIT-STORED", "--study-date", "2025-01-01..2025-12-31"], False),
    (["--patient-id", "CEUSKIT-STORED", "--modality", "CT"], False),
    (["--patient-id", "NOBODY"], False),
])
def test_find_filters(credentials: Orthanc, stored_clip, capsys: pytest.CaptureFixture[str], options: list[str],
                      expect: bool) -> None:
    status, out, err = run(capsys, "pacs", "find", "--url", credentials.dicomweb, *options, "--json")
    assert status == 0, err
    found = {s["StudyInstanceUID"] for s in json.loads(out)}
    assert (header(stored_clip.dicom).StudyInstanceUID in found) is expect


def test_find_human_listing_and_limit(credentials: Orthanc, stored_clip, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "pacs", "find", "--url", credentials.dicomweb, "--patient-id", "CEUSKIT-STORED")
    source = header(stored_clip.dicom)
    assert status == 0
    assert f"study {source.StudyInstanceUID}" in out and f"instance {source.SOPInstanceUID}" in out
    assert f"{int(source.NumberOfFrames)} frame(s)  Ultrasound Multi-frame Image Storage" in out
    status, out, _ = run(capsys, "pacs", "find", "--url", credentials.dicomweb, "--limit", "1")
    assert status == 0 and out.count("\nstudy ") + out.startswith("study ") == 1
    n_studies = len(credentials.rest("GET", "/studies").json())
    assert ("more studies match" in out) is (n_studies > 1)


def test_pull_is_the_pacs_file_pixel_identical_then_skipped(credentials: Orthanc, stored_clip, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    study, series, sop = uids(stored_clip.dicom)
    out_dir = tmp_path / "pulled"
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--series", series,
                           "--out", out_dir)
    assert status == 0, err
    (line,) = out.splitlines()
    pulled = Path(line)
    assert pulled == out_dir / study / series / f"{sop}.dcm"
    (orthanc_id,) = credentials.lookup("Instance", "SOPInstanceUID", sop)
    assert pulled.read_bytes() == credentials.rest("GET", f"/instances/{orthanc_id}/file").content
    assert np.array_equal(pixels(pulled), pixels(stored_clip.dicom))
    assert "pulled 1 file(s)" in err and leftovers(out_dir) == []
    index = json.loads((out_dir / ".ceuskit-pacs.json").read_text())
    import hashlib

    entry = index["files"][f"{study}/{series}/{sop}.dcm"]
    assert entry["sha256"] == hashlib.sha256(pulled.read_bytes()).hexdigest()
    assert entry["size_bytes"] == pulled.stat().st_size and entry["fingerprint"]

    before = pulled.stat().st_mtime_ns, pulled.stat().st_ino
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", out_dir)
    assert status == 0 and "pulled 0 file(s)" in err and "1 already there unchanged" in err
    assert (pulled.stat().st_mtime_ns, pulled.stat().st_ino) == before  # not even rewritten

    data = bytearray(pulled.read_bytes())  # damaged on disk: the hash no longer matches, so it comes again
    data[-10] ^= 0xFF
    pulled.write_bytes(bytes(data))
    status, _, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--series", series,
                         "--instance", sop, "--out", out_dir)
    assert status == 0 and "pulled 1 file(s)" in err
    assert pulled.read_bytes() == credentials.rest("GET", f"/instances/{orthanc_id}/file").content


def test_pull_fetches_again_when_the_pacs_object_changed(credentials: Orthanc, phantom_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_phantom(phantom_dir, "changing", patient_id="CEUSKIT-CHANGING", seed=12, duration_s=8.0)
    instance_id = credentials.upload(clip.dicom)
    study, series, sop = uids(clip.dicom)
    out_dir = tmp_path / "cache"
    assert run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", out_dir)[0] == 0
    # the PACS corrects the object in place, keeping its UIDs (Orthanc: modify, delete, store again)
    changed = credentials.rest("POST", f"/instances/{instance_id}/modify", json={
        "Replace": {"StudyDescription": "CEUS liver, corrected"}, "Force": True,
        "Keep": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]}).content
    credentials.rest("DELETE", f"/instances/{instance_id}")
    credentials.rest("POST", "/instances", data=changed)
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", out_dir)
    assert status == 0 and "pulled 1 file(s)" in err
    assert header(Path(out.strip())).StudyDescription == "CEUS liver, corrected"
    assert Path(out.strip()).read_bytes() == changed


def test_pull_deidentified_writes_only_the_clean_file(credentials: Orthanc, stored_clip, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from ceuskit.io.deid import keyed_uid

    study, series, sop = uids(stored_clip.dicom)
    key_file, out_dir = tmp_path / "deid.key", tmp_path / "clean"
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", out_dir,
                           "--deidentify", "--key-file", key_file)
    assert status == 0, err
    (pulled,) = [Path(line) for line in out.splitlines()]
    key = key_file.read_bytes()
    assert pulled == out_dir / keyed_uid(study, key) / keyed_uid(series, key) / f"{keyed_uid(sop, key)}.dcm"
    written = [p for p in out_dir.rglob("*.dcm")]
    assert written == [pulled] and leftovers(out_dir) == []
    clean, source = header(pulled), header(stored_clip.dicom)
    assert clean.PatientIdentityRemoved == "YES" and clean.PatientID != source.PatientID
    assert sop not in out and study not in out and "CEUSKIT-STORED" not in pulled.read_bytes().decode("latin-1")
    region = source.SequenceOfUltrasoundRegions[0]  # pixels inside the ultrasound region are kept as they were
    box = (slice(None), slice(region.RegionLocationMinY0, region.RegionLocationMaxY1 + 1),
           slice(region.RegionLocationMinX0, region.RegionLocationMaxX1 + 1))
    assert np.array_equal(pixels(pulled)[box], pixels(stored_clip.dicom)[box])
    status, _, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", out_dir,
                         "--deidentify", "--key-file", key_file)
    assert status == 0 and "1 already there unchanged" in err


def test_push_stores_the_file_as_sent(credentials: Orthanc, phantom_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_phantom(phantom_dir, "pushed", patient_id="CEUSKIT-PUSHED", seed=13, duration_s=8.0)
    folder = tmp_path / "outbox"
    folder.mkdir()
    (folder / "clip.dcm").write_bytes(clip.dicom.read_bytes())
    (folder / "notes.txt").write_text("not DICOM: skipped in a folder")
    status, out, err = run(capsys, "pacs", "push", "--url", credentials.dicomweb, folder)
    assert status == 0, err
    assert out.strip() == f"stored 1 object(s) in the PACS at {credentials.dicomweb}"
    (instance_id,) = credentials.lookup("Instance", "SOPInstanceUID", header(clip.dicom).SOPInstanceUID)
    assert credentials.rest("GET", f"/instances/{instance_id}/file").content == clip.dicom.read_bytes()


def test_push_refuses_a_file_that_is_not_dicom_before_sending(credentials: Orthanc, phantom_dir: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_phantom(phantom_dir, "never-sent", patient_id="CEUSKIT-NEVER", seed=14, duration_s=4.0)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    status, out, err = run(capsys, "pacs", "push", "--url", credentials.dicomweb, clip.dicom, text)
    assert status == 2 and err == "ceuskit: error: notes.txt: not a DICOM file (no DICM preamble); nothing was sent\n"
    assert credentials.lookup("Instance", "SOPInstanceUID", header(clip.dicom).SOPInstanceUID) == []


def test_missing_study_is_one_line_without_the_uid(credentials: Orthanc, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    missing = "1.2.826.0.1.3680043.8.498.1234567890"
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", missing, "--out",
                           tmp_path / "none")
    assert status == 2 and out == ""
    assert err == "ceuskit: error: the PACS has no such study, series or instance\n"
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").rglob("*"))


def test_credentials_missing_or_wrong_are_refused(orthanc: Orthanc, stored_clip, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "pacs", "find", "--url", orthanc.dicomweb)
    assert status == 2
    assert err == (f"ceuskit: error: the PACS at {orthanc.dicomweb} refused our credentials (HTTP 401); set "
                   "CEUSKIT_PACS_USERNAME and CEUSKIT_PACS_PASSWORD, or CEUSKIT_PACS_TOKEN, or a PACS config entry\n")
    monkeypatch.setenv("CEUSKIT_PACS_USERNAME", str(orthanc.user))
    monkeypatch.setenv("CEUSKIT_PACS_PASSWORD", "not-the-password")
    status, _, err = run(capsys, "pacs", "find", "--url", orthanc.dicomweb)
    assert status == 2 and "refused our credentials (HTTP 401); check the credentials from the environment" in err
    assert "not-the-password" not in err


def test_credentials_from_a_private_config_file(orthanc: Orthanc, stored_clip, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pacs.toml"
    config.write_text(f'[[pacs]]\nname = "test-orthanc"\nurl = "{orthanc.dicomweb}/"\n'
                      f'username = "{orthanc.user}"\npassword = "{orthanc.password}"\n')
    os.chmod(config, 0o644)
    status, _, err = run(capsys, "pacs", "echo", "--url", "test-orthanc", "--config", config)
    assert status == 2 and err == (f"ceuskit: error: {config} holds PACS credentials but other users may read it; "
                                   f"run `chmod 600 {config}`\n")
    os.chmod(config, 0o600)
    status, out, err = run(capsys, "pacs", "echo", "--url", "test-orthanc", "--config", config)
    assert status == 0 and out.strip() == f"the PACS at {orthanc.dicomweb} answered (QIDO-RS)"
    status, out, _ = run(capsys, "pacs", "find", "--url", orthanc.dicomweb, "--config", config,  # matched by URL
                         "--patient-id", "CEUSKIT-STORED", "--json")
    assert status == 0 and len(json.loads(out)) == 1


def test_a_full_disk_is_one_line_and_leaves_nothing(credentials: Orthanc, stored_clip, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("ceuskit.pacs.transfer._check_received", full)  # after the download, before the rename
    study, _, _ = uids(stored_clip.dicom)
    status, out, err = run(capsys, "pacs", "pull", "--url", credentials.dicomweb, "--study", study, "--out", tmp_path)
    assert (status, out) == (2, "")
    assert err == f"ceuskit: error: cannot write into {tmp_path}: No space left on device; nothing incomplete was kept\n"
    assert not list(tmp_path.rglob("*.dcm")) and leftovers(tmp_path) == []
