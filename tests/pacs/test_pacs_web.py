"""The workstation's PACS routes against the real Orthanc: search, a lesion made from a PACS clip (fetched by
the server), its analysis sent back as SR + SEG.  Witnesses: Orthanc's REST API, the phantom's pixels and
header, the study database's own record of the clip."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pacs_testing import Orthanc, header, make_phantom, pixels, uids

from ceuskit import store as st

pytestmark = pytest.mark.pacs
TOKEN = "pacs-web-test-token"


def make_client(data: Path, pacs: str | None) -> Any:
    from fastapi.testclient import TestClient

    from ceuskit.web import Settings, create_app

    app = create_app(Settings(db_url=f"sqlite:///{data / 'study.db'}", data_dir=data, token=TOKEN, pacs=pacs))
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client


@pytest.fixture()
def client(credentials: Orthanc, tmp_path: Path) -> Iterator[Any]:
    with make_client(tmp_path, credentials.dicomweb) as test_client:
        yield test_client


def job_result(client: Any, answer: Any, *, failed: bool = False) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    job = answer.json()
    for _ in range(600):
        job = client.get(f"/api/jobs/{job['id']}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == ("failed" if failed else "done"), job
    return job if failed else job["result"]


@pytest.fixture(scope="module")
def web_clip(orthanc: Orthanc, phantom_dir: Path) -> Any:
    clip = make_phantom(phantom_dir, "web", patient_id="CEUSKIT-WEB", seed=41, duration_s=60.0)
    orthanc.upload(clip.dicom)
    return clip


def test_pacs_info_and_access(client: Any, credentials: Orthanc, tmp_path: Path) -> None:
    assert client.get("/api/pacs").json() == {"configured": True, "kind": "dicomweb", "label": credentials.dicomweb}
    anonymous = client.get("/api/pacs/studies", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert client.post("/api/lesions/1/push", headers={"Authorization": "Bearer wrong"}).status_code == 401
    with make_client(tmp_path / "plain", None) as plain:
        assert plain.get("/api/pacs").json() == {"configured": False, "kind": None, "label": None}
        answer = plain.get("/api/pacs/studies")
        assert answer.status_code == 503 and "ceuskit serve --pacs" in answer.json()["detail"]


def test_search_make_lesion_analyse_and_send_back(client: Any, credentials: Orthanc, web_clip: Any,
                                                  tmp_path: Path) -> None:
    study_uid, series_uid, sop_uid = uids(web_clip.dicom)
    found = client.get("/api/pacs/studies", params={"patient_id": "CEUSKIT-WEB", "study_date": "2026-01-01.."})
    assert found.status_code == 200, found.text
    (study,) = found.json()["studies"]
    assert study["StudyInstanceUID"] == study_uid
    assert study["series"][0]["instances"][0]["SOPInstanceUID"] == sop_uid

    ceus_study = client.post("/api/studies", json={"name": "pacs web"}).json()["id"]
    body = {"study_id": ceus_study, "study_uid": study_uid, "series_uid": series_uid, "patient": "P-WEB-1",
            "lesion": "L1", "ki67_percent": 12.0}
    result = job_result(client, client.post("/api/pacs/lesions", json=body))
    lesion_id = result["lesion_id"]
    lesion = client.get(f"/api/lesions/{lesion_id}").json()
    assert lesion["clip"]["path"] == f"pacs/{study_uid}/{series_uid}/{sop_uid}.dcm"
    fetched = tmp_path / lesion["clip"]["path"]
    assert np.array_equal(pixels(fetched), pixels(web_clip.dicom))
    with st.Store(f"sqlite:///{tmp_path / 'study.db'}") as db:  # where the clip came from, as recorded
        recorded = st.get_lesion(db, lesion_id)["clip"]["header"]["pacs"]
    assert recorded["server"] == credentials.dicomweb
    assert recorded["reference"] == f"dicomweb:{study_uid}/{series_uid}/{sop_uid}"
    assert client.post("/api/pacs/lesions", json=body).status_code == 409  # same patient and lesion name

    assert client.post(f"/api/lesions/{lesion_id}/push").status_code == 409  # nothing analysed yet
    rois = json.loads(web_clip.roi.read_text())
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=rois).status_code == 200
    job_result(client, client.post(f"/api/lesions/{lesion_id}/analyze"))
    sent = job_result(client, client.post(f"/api/lesions/{lesion_id}/push"))
    assert sent == {"stored": 2, "server": credentials.dicomweb}
    held = credentials.study_series(study_uid)
    assert sorted(s["MainDicomTags"]["Modality"] for s in held) == ["SEG", "SR", "US"]
    sr_series = next(s for s in held if s["MainDicomTags"]["Modality"] == "SR")
    sr = credentials.rest("GET", f"/instances/{sr_series['Instances'][0]}/file").content
    back = tmp_path / "sr-back.dcm"
    back.write_bytes(sr)
    assert header(back).PatientID == "CEUSKIT-WEB"  # the patient's own study, not a pseudonymous copy
    # both PACS actions are in the audit log, with who and what, and no identifier
    events = client.get("/api/audit", params={"limit": 200}).json()
    events = events["events"] if isinstance(events, dict) else events
    mine = {e["action"]: e for e in events if e["target"] == f"lesion:{lesion_id}"}
    assert {"pacs_fetch", "pacs_push"} <= set(mine)
    assert mine["pacs_push"]["detail"]["stored"] == 2 and mine["pacs_fetch"]["detail"]["server"] == credentials.dicomweb
    assert "CEUSKIT-WEB" not in json.dumps(events) and study_uid not in json.dumps(events)


def test_pacs_failures_in_the_workstation(client: Any, credentials: Orthanc, web_clip: Any, tmp_path: Path) -> None:
    ceus_study = client.post("/api/studies", json={"name": "pacs failures"}).json()["id"]
    missing = {"study_id": ceus_study, "study_uid": "1.2.3.4.5", "series_uid": "1.2.3.4.6", "patient": "P-X",
               "lesion": "L1"}
    job = job_result(client, client.post("/api/pacs/lesions", json=missing), failed=True)
    assert job["error"] == "the PACS has no such study, series or instance"
    bad = dict(missing, study_uid="not a uid")
    answer = client.post("/api/pacs/lesions", json=bad)
    assert answer.status_code == 400 and "not a DICOM UID" in answer.json()["detail"]
    with make_client(tmp_path / "down", "http://127.0.0.1:9/dicom-web") as down:
        answer = down.get("/api/pacs/studies")
        assert answer.status_code == 502
        assert answer.json()["detail"].startswith("cannot reach the PACS at http://127.0.0.1:9/dicom-web")
    assert not (tmp_path / "pacs").exists()
