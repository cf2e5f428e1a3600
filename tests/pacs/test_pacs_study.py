"""Study manifests whose ``clip`` names a PACS object (``dicomweb:STUDY/SERIES[/INSTANCE]``): fetched at
import into the local cache with their provenance recorded, fetched again by ``study run --pacs`` only when
changed.  Witnesses: Orthanc's REST API (the object changed there), the phantom's pixels, the study database.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pacs_testing import Orthanc, header, make_phantom, pixels, run, uids

from ceuskit import store as st

pytestmark = pytest.mark.pacs


def manifest(folder: Path, clip_cell: str, roi: Path) -> Path:
    shutil.copy(roi, folder / "lesion.roi.json")
    path = folder / "manifest.csv"
    path.write_text(f"patient_id,lesion_id,clip,roi,ki67\nP1,L1,{clip_cell},lesion.roi.json,12\n")
    return path


def test_manifest_clip_from_the_pacs_is_cached_recorded_and_refreshed(credentials: Orthanc, phantom_dir: Path,
                                                                     tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    clip = make_phantom(phantom_dir, "study", patient_id="CEUSKIT-STUDY", seed=71, duration_s=40.0)
    instance_id = credentials.upload(clip.dicom)
    study_uid, series_uid, sop_uid = uids(clip.dicom)
    cache, db = tmp_path / "cache", f"sqlite:///{tmp_path / 'study.db'}"
    sheet = manifest(tmp_path, f"dicomweb:{study_uid}/{series_uid}", clip.roi)

    status, _, err = run(capsys, "study", "import", sheet, "--db", db)  # no --pacs: the line says what to do
    assert status == 2 and err == ("ceuskit: error: manifest.csv line 2: the clip is a PACS object: give the PACS "
                                   "with --pacs URL (or a config entry name); nothing was imported\n")
    status, out, err = run(capsys, "study", "import", sheet, "--pacs", credentials.dicomweb, "--pacs-cache", cache,
                           "--db", db)
    assert status == 0, err
    with st.Store(db) as store:
        (item,) = st.work_items(store)
    path = Path(item["clip"]["path"])
    assert cache in path.parents and path.name == f"{sop_uid}.dcm"
    assert np.array_equal(pixels(path), pixels(clip.dicom))
    assert item["clip"]["header"]["pacs"]["server"] == credentials.dicomweb
    assert item["clip"]["header"]["pacs"]["reference"] == f"dicomweb:{study_uid}/{series_uid}/{sop_uid}"

    status, out, err = run(capsys, "study", "run", "--pacs", credentials.dicomweb, "--workers", "0", "--db", db)
    assert status == 0 and "PACS clips: 1 checked, 0 fetched again" in err and "1 analysed" in out, err
    path.unlink()  # the cache lost the file: fetched again, same bytes, nothing to analyse
    status, out, err = run(capsys, "study", "run", "--pacs", credentials.dicomweb, "--workers", "0", "--db", db)
    assert status == 0 and "1 fetched again" in err and "0 analysed, 1 up to date" in out, (out, err)

    changed = credentials.rest("POST", f"/instances/{instance_id}/modify", json={  # corrected on the PACS
        "Replace": {"StudyDescription": "CEUS liver, corrected"}, "Force": True,
        "Keep": ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]}).content
    credentials.rest("DELETE", f"/instances/{instance_id}")
    credentials.rest("POST", "/instances", data=changed)
    status, out, err = run(capsys, "study", "run", "--pacs", credentials.dicomweb, "--workers", "0", "--db", db)
    assert status == 0 and "1 fetched again" in err and "1 analysed" in out, (out, err)
    assert header(path).StudyDescription == "CEUS liver, corrected"


def test_manifest_pacs_failures(credentials: Orthanc, stored_clip, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'study.db'}"
    sheet = manifest(tmp_path, "dicomweb:1.2.3.4/1.2.3.5", stored_clip.roi)
    status, _, err = run(capsys, "study", "import", sheet, "--pacs", credentials.dicomweb, "--pacs-cache",
                         tmp_path / "cache", "--db", db)
    assert status == 2 and err == ("ceuskit: error: manifest.csv line 2: the PACS has no such study, series or "
                                   "instance; nothing was imported\n")
    sheet = manifest(tmp_path, "dicomweb:1.2.3.4", stored_clip.roi)
    status, _, err = run(capsys, "study", "import", sheet, "--pacs", credentials.dicomweb, "--db", db)
    assert status == 2 and "line 2: a PACS clip is named dicomweb:STUDY_UID/SERIES_UID[/SOP_INSTANCE_UID]" in err
    study_uid, series_uid, _ = uids(stored_clip.dicom)
    sheet = manifest(tmp_path, f"dicomweb:{study_uid}/{series_uid}", stored_clip.roi)
    status, _, err = run(capsys, "study", "import", sheet, "--pacs", "http://127.0.0.1:9/dicom-web", "--db", db)
    assert status == 2 and err.startswith("ceuskit: error: cannot reach the PACS at http://127.0.0.1:9/dicom-web")
    assert study_uid not in err
    with st.Store(db) as store:
        assert st.list_studies(store) == [] or all(s["n_lesions"] == 0 for s in st.list_studies(store))
