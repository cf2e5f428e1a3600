"""A lesion's examination through the REST API: add sweeps, their timeline, ROIs per clip, refusals, audit.

The clips are a simulated examination (``ceuskit.simulate.examination``) written into the data folder;
expected times come from its truth and headers, refusals from files made to differ (another patient, no
acquisition time).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceuskit.simulate import Phantom
from ceuskit.simulate.examination import simulate_examination
from ceuskit.web import Settings, create_app

from .conftest import TOKEN

sys.path.insert(0, str(Path(__file__).parents[1] / "io"))
from io_testdata import write_mp4  # noqa: E402

PHANTOM = Phantom(pattern="hyper-late-hypo", seed=9, lead_in_s=2.0, fps=2.0)


@pytest.fixture(scope="module")
def exam_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("examdata")
    simulate_examination(data / "exam", PHANTOM, loop_s=30.0, sweeps_s=(120.0, 180.0), sweep_duration_s=4.0,
                         patient_id="SIM-A")
    simulate_examination(data / "other", PHANTOM, loop_s=30.0, sweeps_s=(120.0,), sweep_duration_s=4.0,
                         patient_id="SIM-B")
    write_mp4(data / "exam" / "handheld.mp4")  # a clip with no acquisition time
    return data


@pytest.fixture()
def client(exam_data: Path, tmp_path: Path) -> Iterator:
    from fastapi.testclient import TestClient

    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'exam.db'}", data_dir=exam_data, token=TOKEN))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


def _new_lesion(client) -> int:
    study = client.post("/api/studies", json={"name": "exams"}).json()["id"]
    created = client.post(f"/api/studies/{study}/lesions", json={"patient": "E01", "lesion": "L1",
                                                                 "clip": "exam/exam_loop.dcm", "injection_time_s": 2.0})
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_add_sweeps_and_see_them_in_time(client, exam_data: Path) -> None:
    lesion_id = _new_lesion(client)
    truth = json.loads((exam_data / "exam" / "exam.truth.json").read_text())
    for k, name in enumerate(["exam_sweep2.dcm", "exam_sweep1.dcm"], start=1):  # any order
        added = client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": f"exam/{name}"})
        assert added.status_code == 201, added.text
        assert added.json() == {"id": lesion_id, "position": k, "n_clips": k + 1}
    lesion = client.get(f"/api/lesions/{lesion_id}").json()
    assert [c["path"] for c in lesion["clips"]] == ["exam/exam_loop.dcm", "exam/exam_sweep2.dcm", "exam/exam_sweep1.dcm"]
    offsets = {c["dicom"]: c["offset_s"] for c in truth["clips"]}
    assert lesion["timeline"]["starts_s"] == pytest.approx(
        [offsets["exam_loop.dcm"], offsets["exam_sweep2.dcm"], offsets["exam_sweep1.dcm"]], abs=1e-3)
    assert lesion["timeline"]["n_frames"] == [truth["clips"][0]["n_frames"], truth["clips"][2]["n_frames"],
                                              truth["clips"][1]["n_frames"]]
    assert lesion["timeline"]["error"] is None
    sweep_rois = json.loads((exam_data / "exam" / "exam_sweep1.roi.json").read_text())
    assert client.put(f"/api/lesions/{lesion_id}/rois?clip=2", json=sweep_rois).json() == {"ok": True, "n_rois": 2}
    lesion = client.get(f"/api/lesions/{lesion_id}").json()
    assert lesion["clips"][2]["rois"] == sweep_rois and lesion["clips"][0]["rois"]["rois"] == []
    assert client.put(f"/api/lesions/{lesion_id}/rois?clip=7", json=sweep_rois).status_code == 404
    events = client.get("/api/audit", params={"action": "clip_add"}).json()
    assert [e["detail"]["position"] for e in events] == [2, 1] and all(e["target"] == f"lesion:{lesion_id}"
                                                                       for e in events)
    edits = client.get("/api/audit", params={"action": "rois_edit"}).json()
    assert edits[0]["detail"]["clip"] == 2


def test_refusals_are_one_line_and_change_nothing(client) -> None:
    lesion_id = _new_lesion(client)
    other = client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": "other/exam_sweep1.dcm"})
    assert other.status_code == 400
    assert other.json()["detail"].startswith("clip 2 (exam_sweep1.dcm) belongs to another patient than clip 1 "
                                             "(exam_loop.dcm)")
    assert "SIM-" not in other.text
    video = client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": "exam/handheld.mp4"})
    assert video.status_code == 400
    assert video.json()["detail"] == ("this clip states no acquisition time (a video, frame folder or array has "
                                      "none): give its start in seconds after the first clip's first frame")
    twice = client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": "exam/exam_loop.dcm"})
    assert twice.status_code == 409
    outside = client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": "../../etc/passwd"})
    assert outside.status_code == 403
    assert client.get(f"/api/lesions/{lesion_id}").json()["n_clips"] == 1
    placed = client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": "exam/handheld.mp4", "offset_s": 200.0})
    assert placed.status_code == 201
    assert client.get(f"/api/lesions/{lesion_id}").json()["timeline"]["starts_s"][1] == pytest.approx(200.0)


def test_remove_a_sweep(client) -> None:
    lesion_id = _new_lesion(client)
    for name in ("exam_sweep1.dcm", "exam_sweep2.dcm"):
        assert client.post(f"/api/lesions/{lesion_id}/clips", json={"clip": f"exam/{name}"}).status_code == 201
    assert client.delete(f"/api/lesions/{lesion_id}/clips/1").json() == {"id": lesion_id, "n_clips": 2}
    assert [c["path"] for c in client.get(f"/api/lesions/{lesion_id}").json()["clips"]] == [
        "exam/exam_loop.dcm", "exam/exam_sweep2.dcm"]
    first = client.delete(f"/api/lesions/{lesion_id}/clips/0")
    assert first.status_code == 404 and "the first one stays" in first.json()["detail"]
    assert client.get("/api/audit", params={"action": "clip_remove"}).json()[0]["detail"] == {"position": 1}
