"""The issue's "done when", on a real Orthanc, once over DICOMweb and once over DIMSE: a phantom clip stored
in the PACS is found, pulled back pixel-identical, analysed, exported, and its SR and SEG are pushed back, so
that the PACS then holds the clip, the SR and the SEG in one study.

Witnesses: Orthanc's REST API (what the study holds, the stored bytes), the phantom file's header and
pixels (pydicom), and dciodvfy (dicom3tools) on the SR and SEG as they come back out of the PACS.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pacs_testing import Orthanc, header, make_phantom, pixels, run

pytestmark = pytest.mark.pacs


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines dciodvfy (dicom3tools, an independent validator) prints for ``path``."""
    done = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("Error")]


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_find_pull_analyse_push_back(protocol: str, credentials: Orthanc, phantom_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    patient = f"CEUSKIT-RT-{protocol.upper()}"
    clip = make_phantom(phantom_dir, f"roundtrip-{protocol}", patient_id=patient, seed=31, duration_s=60.0)
    credentials.upload(clip.dicom)  # the scanner sent it (Orthanc's REST API, not ceuskit)
    config = tmp_path / "pacs.toml"  # the DIMSE destination as a named entry, for export-dicom --push
    config.write_text(f'[[pacs]]\nname = "archive"\ndimse = "{credentials.dimse}"\naec = "{credentials.aet}"\n')
    where = ["--url", credentials.dicomweb] if protocol == "dicomweb" else \
        ["--dimse", credentials.dimse, "--aec", credentials.aet]

    status, out, err = run(capsys, "pacs", "find", *where, "--patient-id", patient, "--modality", "US", "--json")
    assert status == 0, err
    (study,) = json.loads(out)
    (series,) = study["series"]
    source = header(clip.dicom)
    assert (study["StudyInstanceUID"], series["SeriesInstanceUID"]) == (source.StudyInstanceUID,
                                                                         source.SeriesInstanceUID)

    status, out, err = run(capsys, "pacs", "pull", *where, "--study", study["StudyInstanceUID"], "--series",
                           series["SeriesInstanceUID"], "--out", tmp_path / "pulled")
    assert status == 0, err
    (pulled,) = [Path(line) for line in out.splitlines()]
    assert np.array_equal(pixels(pulled), pixels(clip.dicom))

    status, _, err = run(capsys, "analyze", pulled, "--roi", clip.roi, "--out", tmp_path / "analysis")
    assert status == 0, err
    analysis = json.loads((tmp_path / "analysis" / "analysis.json").read_text())
    assert analysis["lesions"][0]["arterial_phase"]["enhancement"] == "hyper"  # the phantom's pattern

    push = credentials.dicomweb if protocol == "dicomweb" else "archive"
    status, out, err = run(capsys, "export-dicom", tmp_path / "analysis", "--clip", pulled, "--roi", clip.roi,
                           "--out", tmp_path / "results", "--push", push, "--config", config)
    assert status == 0, err
    label = credentials.dicomweb if protocol == "dicomweb" else credentials.dimse
    assert out.splitlines()[-1] == f"stored 2 object(s) in the PACS at {label}, in the clip's study"

    held = credentials.study_series(source.StudyInstanceUID)  # Orthanc's own view of the study
    assert sorted(s["MainDicomTags"]["Modality"] for s in held) == ["SEG", "SR", "US"]
    assert all(len(s["Instances"]) == 1 for s in held)
    for name in ("sr.dcm", "seg.dcm"):
        written = tmp_path / "results" / name
        (instance_id,) = credentials.lookup("Instance", "SOPInstanceUID", header(written).SOPInstanceUID)
        stored = credentials.rest("GET", f"/instances/{instance_id}/file").content
        if protocol == "dicomweb":  # STOW-RS keeps the file as sent
            assert stored == written.read_bytes()
        back = tmp_path / f"back-{name}"
        back.write_bytes(stored)
        assert header(back).StudyInstanceUID == source.StudyInstanceUID
        if shutil.which("dciodvfy"):
            assert dciodvfy_errors(back) == [], name
    sr = header(tmp_path / "results" / "sr.dcm")
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert sorted(os.listdir(tmp_path / "results")) == ["seg.dcm", "sr.dcm"]  # nothing else left there
