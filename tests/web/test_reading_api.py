"""Blinded reading sessions over HTTP, and the audit log of everything the workstation changes.

What a reader's item may carry is checked against the clip file itself (pydicom) and the lesion's injection
time in the store; everything else about the lesion must be absent.
"""

from __future__ import annotations

import json
from typing import Any

import pydicom
import pytest
from fastapi.testclient import TestClient

from ceuskit import store

from .conftest import TOKEN, ReaderStudy, sign_in

READ = {"arterial": "hyper", "washout": "yes", "washout_timing": "early", "late": "hypo", "onset_s": 9.5}


@pytest.fixture()
def admin(reader_app: Any) -> TestClient:
    client = TestClient(reader_app)
    client.headers["X-CSRF-Token"] = sign_in(client, "boss")
    return client


def _reader(app: Any, name: str) -> TestClient:
    client = TestClient(app)
    client.headers["X-CSRF-Token"] = sign_in(client, name)
    return client


def _open(admin: TestClient, name: str = "round 1", readers: tuple[str, ...] = ("ann", "bob")) -> int:
    response = admin.post("/api/studies/1/reading-sessions", json={"name": name, "readers": list(readers)})
    assert response.status_code == 201, response.text
    assert response.json()["n_items"] == 3 and response.json()["readers"] == list(readers)
    return int(response.json()["id"])


def test_an_item_carries_only_what_the_player_needs(reader_app: Any, admin: TestClient,
                                                    reader_study: ReaderStudy) -> None:
    session_id = _open(admin)
    ann = _reader(reader_app, "ann")
    item = ann.get(f"/api/reading-sessions/{session_id}/next").json()
    assert set(item) == {"session", "item", "clip", "position", "total", "n_frames", "rows", "columns", "times_s",
                         "layout", "regions", "target"}
    assert (item["position"], item["total"]) == (1, 3)
    with store.Store(reader_app.state.context.settings.db_url) as db:
        lesion = next(store.get_lesion(db, lesion_id) for lesion_id in reader_study.lesion_ids
                      if store.get_lesion(db, lesion_id)["clip_id"] == item["clip"])
        path = store.get_clip(db, item["clip"])["path"]
    header = pydicom.dcmread(path, stop_before_pixels=True)
    assert item["n_frames"] == int(header.NumberOfFrames) and (item["rows"], item["columns"]) == (header.Rows,
                                                                                                   header.Columns)
    increments = [float(v) / 1000.0 for v in header.FrameTimeVector]  # DICOM (0018,1065): ms from the previous frame
    first = item["times_s"][0] + lesion["injection_time_s"]
    assert first == pytest.approx(0.0, abs=1e-3)  # frame times start at the first frame, shifted to the injection
    assert item["times_s"][5] - item["times_s"][4] == pytest.approx(increments[5], abs=1e-3)
    lesion_roi = next(r for r in lesion["rois"]["rois"] if r["role"] == "lesion")
    assert item["target"]["center"] == pytest.approx(lesion_roi["center"])
    text = json.dumps(item)
    for secret in (lesion["patient"], "ki67", "who_grade", "SOFTWARE-PATTERN", "path", str(path)):
        assert secret not in text


def test_each_reader_reads_every_item_once_in_their_own_order(reader_app: Any, admin: TestClient) -> None:
    session_id = _open(admin)
    orders: dict[str, list[int]] = {}
    for name in ("ann", "bob"):
        client = _reader(reader_app, name)
        orders[name] = []
        while "item" in (item := client.get(f"/api/reading-sessions/{session_id}/next").json()):
            response = client.post(f"/api/reading-sessions/{session_id}/reads", json={"item": item["item"], **READ})
            assert response.status_code == 201 and response.json()["reading_time_s"] >= 0
            again = client.post(f"/api/reading-sessions/{session_id}/reads", json={"item": item["item"], **READ})
            assert again.status_code == 409 and "final" in again.json()["detail"]
            orders[name].append(item["item"])
        assert item == {"done": True, "session": session_id, "total": 3}
        own = client.get(f"/api/reading-sessions/{session_id}").json()
        assert own["progress"] == [{"reader": name, "total": 3, "done": 3}] and "items" not in own
    assert sorted(orders["ann"]) == sorted(orders["bob"]) and len(set(orders["ann"])) == 3
    detail = admin.get(f"/api/reading-sessions/{session_id}").json()
    assert all(item["read_by"] == ["ann", "bob"] for item in detail["items"])
    assert [p["done"] for p in admin.get("/api/studies/1/reading-sessions").json()[0]["progress"]] == [3, 3]


@pytest.mark.parametrize(("body", "status"), [
    ({"arterial": "bright"}, 400), ({"washout": "maybe"}, 400), ({"washout": "no", "washout_timing": "early"}, 400),
    ({"onset_s": 1e9}, 400), ({"late": None}, 422), ({"onset_s": "soon"}, 422), ({"item": 10**6}, 404)])
def test_bad_reads_are_refused_and_store_nothing(reader_app: Any, admin: TestClient, body: dict, status: int) -> None:
    session_id = _open(admin)
    ann = _reader(reader_app, "ann")
    item = ann.get(f"/api/reading-sessions/{session_id}/next").json()
    response = ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": item["item"], **READ, **body})
    assert response.status_code == status, response.text
    assert ann.get(f"/api/reading-sessions/{session_id}/next").json()["position"] == 1


def test_reopen_and_close_are_audited(reader_app: Any, admin: TestClient) -> None:
    session_id = _open(admin)
    ann = _reader(reader_app, "ann")
    item = ann.get(f"/api/reading-sessions/{session_id}/next").json()
    ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": item["item"], **READ})
    reopened = admin.post(f"/api/reading-sessions/{session_id}/reopen", json={"item": item["item"], "reader": "ann"})
    assert reopened.status_code == 200 and reopened.json()["removed"]["arterial"] == "hyper"
    assert ann.get(f"/api/reading-sessions/{session_id}/next").json()["item"] == item["item"]
    assert admin.post(f"/api/reading-sessions/{session_id}/reopen",
                      json={"item": item["item"], "reader": "ann"}).status_code == 400  # nothing left to reopen
    assert admin.post(f"/api/reading-sessions/{session_id}/close").json()["status"] == "closed"
    response = ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": item["item"], **READ})
    assert response.status_code == 400 and "closed" in response.json()["detail"]
    events = admin.get("/api/audit", params={"limit": 6}).json()
    assert [(e["actor"], e["action"]) for e in events[:4]] == [
        ("boss", "reading_session_close"), ("boss", "read_reopen"), ("ann", "read"), ("ann", "sign_in")]
    assert events[1]["detail"]["removed"]["onset_s"] == 9.5 and events[1]["detail"]["reader"] == "ann"


@pytest.mark.parametrize(("readers", "status", "message"), [
    (["boss"], 400, "only active readers"), (["nobody"], 400, "no user"), (["ann", "ann"], 400, "twice"),
    ([], 422, "")])
def test_sessions_need_real_readers(admin: TestClient, readers: list[str], status: int, message: str) -> None:
    response = admin.post("/api/studies/1/reading-sessions", json={"name": "bad", "readers": readers})
    assert response.status_code == status and message in json.dumps(response.json())
    assert admin.get("/api/studies/1/reading-sessions").json() == []


def test_a_session_name_is_unique_in_its_study(admin: TestClient) -> None:
    _open(admin, "twice")
    assert admin.post("/api/studies/1/reading-sessions", json={"name": "twice", "readers": ["cy"]}).status_code == 409
    assert admin.post("/api/studies/99/reading-sessions", json={"name": "x", "readers": ["cy"]}).status_code == 404


def test_changes_made_in_the_workstation_are_audited(reader_app: Any, admin: TestClient,
                                                     reader_study: ReaderStudy) -> None:
    lesion_id = reader_study.lesion_ids[0]
    rois = admin.get(f"/api/lesions/{lesion_id}").json()["rois"]
    assert admin.put(f"/api/lesions/{lesion_id}/rois", json=rois).status_code == 200
    assert admin.get("/api/studies/1/export.csv").status_code == 200
    assert admin.get("/api/studies/1/table").status_code == 200
    assert admin.get("/api/studies/1/report", params={"format": "html"}).status_code == 200
    assert admin.post("/api/studies", json={"name": "audited"}).status_code == 201
    bearer = TestClient(reader_app)
    bearer.headers["Authorization"] = f"Bearer {TOKEN}"
    assert bearer.post("/api/uploads", files={"file": ("x.dcm", b"\0" * 128 + b"DICM" + b"\0" * 64)}).status_code == 201
    events = admin.get("/api/audit", params={"limit": 6}).json()
    got = [(e["actor"], e["action"], e["target"]) for e in events]
    assert got == [("bootstrap", "upload", None), ("boss", "study_add", got[1][2]),
                   ("boss", "report", "study:1"), ("boss", "export", "study:1"), ("boss", "export", "study:1"),
                   ("boss", "rois_edit", f"lesion:{lesion_id}")]
    assert events[0]["detail"] == {"kind": "dicom", "size_bytes": 196}
    assert [e["detail"]["format"] for e in events[2:5]] == ["html", "json", "csv"]
    assert events[5]["detail"]["n_rois"] == len(rois["rois"])
    with store.Store(reader_app.state.context.settings.db_url) as db:
        patients = {store.get_lesion(db, i)["patient"] for i in reader_study.lesion_ids}
    assert not any(p in json.dumps(events) for p in patients)  # targets are ids, never pseudonyms


def test_an_analysis_is_audited_when_it_finishes(reader_app: Any, admin: TestClient,
                                                 reader_study: ReaderStudy) -> None:
    import time

    lesion_id = reader_study.lesion_ids[1]
    with TestClient(reader_app) as client:  # the app's lifespan: its job runner
        client.cookies.update(admin.cookies)
        job = client.post(f"/api/lesions/{lesion_id}/analyze", headers={"X-CSRF-Token": admin.headers["X-CSRF-Token"]})
        assert job.status_code == 202
        deadline = time.monotonic() + 300
        while (state := client.get(f"/api/jobs/{job.json()['id']}").json())["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        event = client.get("/api/audit", params={"action": "analysis"}).json()[0]
    assert (event["actor"], event["target"]) == ("boss", f"lesion:{lesion_id}")
    assert event["detail"]["status"] == ("ok" if state["status"] == "done" else "failed")
    assert event["detail"]["analysis"] == (state["result"] or {}).get("analysis_id", event["detail"]["analysis"])


def test_a_read_is_accepted_only_for_the_item_served_and_not_yet_read(reader_app: Any, admin: TestClient) -> None:
    session_id = _open(admin)
    items = [i["item"] for i in admin.get(f"/api/reading-sessions/{session_id}").json()["items"]]
    ann = _reader(reader_app, "ann")
    unserved = ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": items[0], **READ})
    assert unserved.status_code == 409 and "not been shown to you" in unserved.json()["detail"]
    served = ann.get(f"/api/reading-sessions/{session_id}/next").json()["item"]
    for other in (i for i in items if i != served):  # items of her session she has not been shown
        response = ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": other, **READ})
        assert response.status_code == 409, response.text
    accepted = ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": served, **READ})
    assert accepted.status_code == 201 and accepted.json()["reading_time_s"] is not None
    assert ann.post(f"/api/reading-sessions/{session_id}/reads", json={"item": served, **READ}).status_code == 409
    assert admin.get(f"/api/reading-sessions/{session_id}").json()["progress"][0] == {"reader": "ann", "total": 3,
                                                                                     "done": 1}


def test_frames_sent_to_a_reader_are_never_cached(reader_app: Any, admin: TestClient) -> None:
    session_id = _open(admin)
    ann = _reader(reader_app, "ann")
    clip = ann.get(f"/api/reading-sessions/{session_id}/next").json()["clip"]
    frame = ann.get(f"/api/clips/{clip}/frames/0")
    assert frame.status_code == 200 and frame.headers["cache-control"] == "no-store"
    assert frame.headers["content-type"] == "image/png"
    own = admin.get(f"/api/clips/{clip}/frames/0")  # the administrator's own player may keep them a while
    assert own.content == frame.content and own.headers["cache-control"] == "private, max-age=3600"
