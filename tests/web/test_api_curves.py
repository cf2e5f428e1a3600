"""Curve tables in the workstation: upload one, make a lesion of it, read it — without a viewer.

The curves are the simulator's (ceuskit.simulate.curve_cases), written as a QLAB export
(ceuskit.simulate.exports); the onset is compared with the simulator's truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceuskit.simulate import exports
from ceuskit.simulate.curve_cases import curve_case
from ceuskit.web import Settings, create_app

from .conftest import TOKEN

CASE = curve_case("sharp-gamma", seed=2)


@pytest.fixture()
def client(tmp_path: Path) -> Iterator:
    from fastapi.testclient import TestClient

    data = tmp_path / "data"
    data.mkdir()
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'curves.db'}", data_dir=data, token=TOKEN,
                              max_upload_bytes=4 << 20))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


def _wait(client, job: dict, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = client.get(f"/api/jobs/{job['id']}").json()
        if current["status"] in ("done", "failed"):
            return current
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_a_curve_table_is_uploaded_read_and_shown(client, tmp_path: Path) -> None:
    qlab = exports.write_qlab(tmp_path / "export.txt", CASE.times_s, CASE.power)
    response = client.post("/api/uploads", files={"file": ("export.txt", qlab.read_bytes())})
    assert response.status_code == 201 and response.json()["kind"] == "curves"
    path = response.json()["path"]
    assert {"path": path, "kind": "curves"}.items() <= next(f for f in client.get("/api/files").json()
                                                            if f["path"] == path).items()
    study_id = client.post("/api/studies", json={"name": "Curves"}).json()["id"]
    created = client.post(f"/api/studies/{study_id}/lesions", json={"patient": "C01", "lesion": "L1", "clip": path})
    assert created.status_code == 201, created.text
    lesion = client.get(f"/api/lesions/{created.json()['id']}").json()
    assert lesion["rois"]["curves"]["units"] is None and lesion["timeline"] is None
    assert [(r["name"], r["role"]) for r in lesion["rois"]["rois"]] == [("ROI 1", "lesion"), ("ROI 2", "parenchyma")]
    job = _wait(client, client.post(f"/api/lesions/{lesion['id']}/analyze").json())
    assert job["status"] == "done", job.get("error")
    analysis = client.get(f"/api/analyses/{job['result']['analysis_id']}").json()
    document = analysis["document"]
    assert document["clip"]["kind"] == "curves" and document["clip"]["format"] == "qlab"
    onset = document["lesions"][0]["arterial_phase"]["onset_s"]
    assert abs(onset - CASE.truth["onset_s"]["lesion"]) <= 1.0
    assert set(document["curves"]["fitted"]) == {"ROI 1", "ROI 2"}  # the plot's curves travel with it
    for item in exports.FAKE_PATIENT.values():  # the export's patient lines stay in the file
        assert item not in analysis.__repr__()
    assert client.post(f"/api/lesions/{lesion['id']}/map").status_code == 409


def test_foreign_or_wrongly_stated_tables_are_refused(client, tmp_path: Path) -> None:
    response = client.post("/api/uploads", files={"file": ("notes.csv", bytes(range(256)) * 2)})
    assert response.status_code == 415 and "curves" in response.json()["detail"]
    table = exports.write_wide(tmp_path / "t.csv", CASE.times_s, CASE.power, units="db")
    path = client.post("/api/uploads", files={"file": ("t.csv", table.read_bytes())}).json()["path"]
    study_id = client.post("/api/studies", json={"name": "Curves"}).json()["id"]
    for units, expected in ((None, "--units"), ("grey", "between 0 and 255")):
        body = {"patient": "C02", "lesion": "L1", "clip": path, **({"units": units} if units else {})}
        response = client.post(f"/api/studies/{study_id}/lesions", json=body)
        assert response.status_code in (400, 422) and expected in response.json()["detail"], response.text
    body = {"patient": "C02", "lesion": "L1", "clip": path, "units": "db"}
    assert client.post(f"/api/studies/{study_id}/lesions", json=body).status_code == 201
