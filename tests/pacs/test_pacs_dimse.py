"""DIMSE against the same Orthanc's DICOM port: C-ECHO, C-FIND, C-GET, C-MOVE, C-STORE.

Expected values: the phantom file's header (pydicom), Orthanc's REST API, the DICOMweb answers of the same
server (the two protocols must agree) and pydicom's decoding of the original pixels.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from pacs_testing import Orthanc, header, leftovers, make_phantom, pixels, run, uids

pytestmark = pytest.mark.pacs


def dimse(orthanc: Orthanc, *extra: str) -> list[str]:
    return ["--dimse", orthanc.dimse, "--aec", orthanc.aet, *extra]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_c_echo(orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "pacs", "echo", *dimse(orthanc))
    assert status == 0 and out.strip() == f"the PACS at {orthanc.dimse} answered (C-ECHO)", err


def test_c_find_agrees_with_dicomweb_and_the_header(credentials: Orthanc, stored_clip,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "pacs", "find", *dimse(credentials), "--patient-id", "CEUSKIT-STORED", "--json")
    assert status == 0, err
    over_dimse = json.loads(out)
    status, out, err = run(capsys, "pacs", "find", "--url", credentials.dicomweb, "--patient-id", "CEUSKIT-STORED",
                           "--json")
    assert status == 0, err
    assert over_dimse == json.loads(out)
    source = header(stored_clip.dicom)
    (instance,) = over_dimse[0]["series"][0]["instances"]
    assert (over_dimse[0]["StudyInstanceUID"], instance["SOPInstanceUID"], instance["NumberOfFrames"]) == (
        source.StudyInstanceUID, source.SOPInstanceUID, int(source.NumberOfFrames))


def test_c_get_pull_is_pixel_identical(orthanc: Orthanc, stored_clip, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    study, series, sop = uids(stored_clip.dicom)
    status, out, err = run(capsys, "pacs", "pull", *dimse(orthanc), "--study", study, "--out", tmp_path)
    assert status == 0, err
    (pulled,) = [Path(line) for line in out.splitlines()]
    assert pulled == tmp_path / study / series / f"{sop}.dcm"
    got, source = header(pulled), header(stored_clip.dicom)
    assert got.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID  # as stored, not transcoded
    assert np.array_equal(pixels(pulled), pixels(stored_clip.dicom))
    assert leftovers(tmp_path) == []
    status, _, err = run(capsys, "pacs", "pull", *dimse(orthanc), "--study", study, "--out", tmp_path)
    assert status == 0 and "1 already there unchanged" in err


def test_c_move_pull_to_our_storage_scp(orthanc: Orthanc, stored_clip, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    study, series, sop = uids(stored_clip.dicom)
    port = free_port()
    # the PACS side of C-MOVE: Orthanc must know our AE title, host and port (its REST API registers it)
    orthanc.rest("PUT", "/modalities/ceuskit-move", json={"AET": "CEUSKITMOVE", "Host": "127.0.0.1", "Port": port})
    try:
        status, out, err = run(capsys, "pacs", "pull", *dimse(orthanc, "--aet", "CEUSKITMOVE"), "--study", study,
                               "--series", series, "--move-port", port, "--out", tmp_path)
        assert status == 0, err
        (pulled,) = [Path(line) for line in out.splitlines()]
        assert np.array_equal(pixels(pulled), pixels(stored_clip.dicom))
        status, _, err = run(capsys, "pacs", "pull", *dimse(orthanc, "--aet", "NOT-REGISTERED"), "--study", study,
                             "--move-port", free_port(), "--out", tmp_path / "elsewhere")
        assert status == 2
        assert err == (f"ceuskit: error: the PACS at {orthanc.dimse} did not send the instance to us (status "
                       "0xC000): it must know our AE title (NOT-REGISTERED) as a C-MOVE destination, with our host "
                       "and --move-port; or retrieve by C-GET\n")
        assert leftovers(tmp_path) == [] and not list((tmp_path / "elsewhere").rglob("*.dcm"))
    finally:
        orthanc.rest("DELETE", "/modalities/ceuskit-move")


def test_c_store_push(orthanc: Orthanc, phantom_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_phantom(phantom_dir, "dimse-pushed", patient_id="CEUSKIT-DIMSE-PUSHED", seed=21, duration_s=8.0)
    status, out, err = run(capsys, "pacs", "push", *dimse(orthanc), clip.dicom)
    assert status == 0 and out.strip() == f"stored 1 object(s) in the PACS at {orthanc.dimse}", err
    (instance_id,) = orthanc.lookup("Instance", "SOPInstanceUID", header(clip.dicom).SOPInstanceUID)
    stored = orthanc.rest("GET", f"/instances/{instance_id}/file").content
    assert stored[stored.index(b"DICM"):] and header(clip.dicom).SOPInstanceUID.encode() in stored
    tags = orthanc.rest("GET", f"/instances/{instance_id}/simplified-tags").json()
    assert tags["NumberOfFrames"] == str(header(clip.dicom).NumberOfFrames)
    assert orthanc.rest("GET", f"/instances/{instance_id}/metadata/TransferSyntax").text == \
        header(clip.dicom).file_meta.TransferSyntaxUID


def test_wrong_called_ae_title_is_a_rejected_association(orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "pacs", "echo", "--dimse", orthanc.dimse, "--aec", "SOMEONE_ELSE")
    assert status == 2
    assert err == (f"ceuskit: error: the PACS at {orthanc.dimse} rejected the association: check its AE title "
                   "(--aec, here SOMEONE_ELSE) and that it knows ours (--aet, here CEUSKIT)\n")


def test_missing_study_over_dimse(orthanc: Orthanc, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "pacs", "pull", *dimse(orthanc), "--study", "1.2.3.4.5.6.7.8", "--out", tmp_path)
    assert (status, out, err) == (2, "", "ceuskit: error: the PACS has no such study, series or instance\n")
    assert not any(tmp_path.rglob("*"))


def test_c_store_of_a_class_the_pacs_refuses(orthanc: Orthanc, phantom_dir: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import pydicom

    clip = make_phantom(phantom_dir, "private-class", patient_id="CEUSKIT-PRIVATE", seed=22, duration_s=4.0)
    ds = pydicom.dcmread(clip.dicom)  # a SOP class Orthanc does not know (UnknownSopClassAccepted is off)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.826.0.1.3680043.8.498.99"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    private = tmp_path / "private.dcm"
    ds.save_as(private, enforce_file_format=True)
    status, out, err = run(capsys, "pacs", "push", *dimse(orthanc), private)
    assert (status, out) == (2, "")
    assert err == (f"ceuskit: error: the PACS at {orthanc.dimse} does not accept 1.2.826.0.1.3680043.8.498.99 in "
                   "Explicit VR Little Endian\n")
    status, out, err = run(capsys, "pacs", "push", *dimse(orthanc), clip.dicom, private)  # one accepted, one not
    assert (status, out) == (2, "")
    assert err == (f"ceuskit: error: the PACS at {orthanc.dimse} does not accept 1.2.826.0.1.3680043.8.498.99 in "
                   "Explicit VR Little Endian; nothing more was sent\n")
    assert orthanc.lookup("Instance", "SOPInstanceUID", ds.SOPInstanceUID) == []
