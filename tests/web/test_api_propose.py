"""One-click proposals through the REST API: propose (a background job), accept, edit, carry to sweeps.

The clips are a simulated examination written into the data folder; where the lesion lies comes from its
truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ceuskit.propose import accept
from ceuskit.roi import parse_rois
from ceuskit.simulate import Phantom
from ceuskit.simulate.examination import simulate_examination
from ceuskit.simulate.score_proposals import dice, true_mask
from ceuskit.web import Settings, create_app

from .conftest import TOKEN

PHANTOM = Phantom(seed=21, lead_in_s=2.0, fps=4.0, breathing_amplitude_px=(1.0, 3.0))


@pytest.fixture(scope="module")
def exam_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("proposaldata")
    simulate_examination(data / "exam", PHANTOM, loop_s=45.0, sweeps_s=(90.0,), sweep_duration_s=5.0,
                         probe_moves_px=((14.0, -9.0),), patient_id="SIM-P")
    return data


@pytest.fixture()
def client(exam_data: Path, tmp_path: Path) -> Iterator:
    from fastapi.testclient import TestClient

    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'p.db'}", data_dir=exam_data, token=TOKEN))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


def _job(client, response) -> dict:
    assert response.status_code == 202, response.text
    job = response.json()
    for _ in range(1200):
        job = client.get(f"/api/jobs/{job['id']}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.25)
    raise AssertionError("the job did not finish")


def _lesion(client, sweep: bool = False) -> int:
    study = client.post("/api/studies", json={"name": "one click"}).json()["id"]
    lesion = client.post(f"/api/studies/{study}/lesions", json={"patient": "P1", "lesion": "L1",
                                                                "clip": "exam/exam_loop.dcm",
                                                                "injection_time_s": 2.0}).json()["id"]
    if sweep:
        assert client.post(f"/api/lesions/{lesion}/clips", json={"clip": "exam/exam_sweep1.dcm"}).status_code == 201
    return int(lesion)


def test_propose_accept_then_edit(client, exam_data: Path) -> None:
    truth = json.loads((exam_data / "exam" / "exam.truth.json").read_text())["clips"][0]
    frame = truth["masks"]["frame"]
    lesion_mask = true_mask(truth, "lesion", frame)
    rows, cols = np.nonzero(lesion_mask)
    lesion_id = _lesion(client)
    job = _job(client, client.post(f"/api/lesions/{lesion_id}/propose",
                                   json={"x": float(cols.mean()), "y": float(rows.mean()), "frame": frame}))
    assert job["status"] == "done", job
    document = job["result"]["document"]
    assert client.get(f"/api/lesions/{lesion_id}").json()["rois"]["rois"] == []  # nothing saved yet
    masks = parse_rois(document).masks(*lesion_mask.shape)
    assert dice(masks["lesion"], lesion_mask) >= 0.85
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=accept(document)).status_code == 200
    stored = client.get(f"/api/lesions/{lesion_id}").json()["rois"]
    assert [roi["source"] for roi in stored["rois"]] == ["accepted", "accepted"]
    stored["rois"][0]["points"][0][0] += 3.0  # the reader moves one vertex
    for roi in stored["rois"]:  # and a page that does not know about marks sends none
        roi.pop("source"), roi.pop("confidence")
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=stored).status_code == 200
    again = client.get(f"/api/lesions/{lesion_id}").json()["rois"]["rois"]
    assert [roi["source"] for roi in again] == ["edited", "accepted"]
    assert all(0 < roi["confidence"] <= 1 for roi in again)
    events = client.get("/api/audit", params={"action": "rois_propose"}).json()
    assert events[0]["target"] == f"lesion:{lesion_id}" and events[0]["detail"]["frame"] == frame


def test_a_click_off_the_lesion_fails_in_one_line(client) -> None:
    lesion_id = _lesion(client)
    job = _job(client, client.post(f"/api/lesions/{lesion_id}/propose", json={"x": 2, "y": 2, "frame": 3}))
    assert job["status"] == "failed" and job["error"].startswith("the click 2,2 lies outside the ultrasound image")
    assert client.post(f"/api/lesions/{lesion_id}/propose", json={"x": 50, "y": 50, "frame": 3, "clip": 4}
                       ).status_code == 404


def test_carry_the_loop_s_rois_to_the_sweep(client, exam_data: Path) -> None:
    exam = json.loads((exam_data / "exam" / "exam.truth.json").read_text())
    lesion_id = _lesion(client, sweep=True)
    assert client.post(f"/api/lesions/{lesion_id}/carry").status_code == 409  # nothing on the loop yet
    loop_rois = json.loads((exam_data / "exam" / "exam_loop.roi.json").read_text())
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=loop_rois).status_code == 200
    job = _job(client, client.post(f"/api/lesions/{lesion_id}/carry"))
    assert job["status"] == "done", job
    carried = client.get(f"/api/lesions/{lesion_id}").json()["clips"][1]["rois"]
    assert {roi["source"] for roi in carried["rois"]} == {"proposed"}
    # the loop's drawn ellipse, moved where the probe put the lesion on the sweep's frame
    sweep = exam["clips"][1]
    there = true_mask(sweep, "lesion", carried["reference_frame"])
    centre = next(r for r in carried["rois"] if r["role"] == "lesion")["center"]
    rows, cols = np.nonzero(there)
    assert np.hypot(centre[0] - cols.mean(), centre[1] - rows.mean()) <= 3.0
