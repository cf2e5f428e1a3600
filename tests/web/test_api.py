"""Every endpoint of the workstation's REST API, against a simulated study in a temporary data folder.

Expected values come from the study store and the clip files themselves (pydicom, ceuskit.io), and the
analysis labels from the simulator's ground truth.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from ceuskit import store

from .conftest import TOKEN, Study

ROUTES_WITH_AUTH = [("GET", "/api/studies"), ("POST", "/api/studies"), ("GET", "/api/studies/1"), ("GET", "/api/studies/1/stats"),
                    ("GET", "/api/studies/1/table"), ("GET", "/api/studies/1/export.csv"),
                    ("GET", "/api/studies/1/report"), ("POST", "/api/studies/1/lesions"), ("GET", "/api/files"),
                    ("POST", "/api/uploads"), ("GET", "/api/clips/1"), ("GET", "/api/clips/1/frames/0"),
                    ("GET", "/api/lesions/1"), ("PUT", "/api/lesions/1/rois"), ("POST", "/api/lesions/1/analyze"),
                    ("POST", "/api/lesions/1/map"), ("GET", "/api/lesions/1/map/r2"), ("GET", "/api/jobs/x"),
                    ("GET", "/api/analyses/1")]


def _lesion(client, patient: str) -> dict:
    study = client.get("/api/studies/1").json()
    return next(lesion for p in study["patients"] if p["patient"] == patient for lesion in p["lesions"])


def _wait(client, job: dict, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = client.get(f"/api/jobs/{job['id']}").json()
        if current["status"] in ("done", "failed"):
            return current
        time.sleep(0.2)
    raise AssertionError("job did not finish")


def test_health_is_open(client) -> None:
    response = client.get("/api/health", headers={"Authorization": ""})
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize(("method", "path"), ROUTES_WITH_AUTH)
@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic dGVzdA==", f"Bearer {TOKEN}x"])
def test_every_api_route_needs_the_token(client, method: str, path: str, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    client.headers.pop("Authorization")
    response = client.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.headers.get("www-authenticate") == "Bearer"


def test_every_route_of_the_app_is_covered(client) -> None:
    from .test_roles import ROLE_MATRIX

    api = {(m.upper(), p) for p, methods in client.get("/api/openapi.json").json()["paths"].items() for m in methods}
    open_routes = {("GET", "/api/health"), ("POST", "/api/login"), ("POST", "/api/session")}
    assert {(m, p) for m, p, _ in ROLE_MATRIX} == api - open_routes  # one role check per route
    concrete = {(m, re.sub(r"\{[a-z_]+\}", "1", p)) for m, p in api}
    assert {(m, re.sub(r"/(\d+|x|r2)(?=/|$)", "/1", p)) for m, p in ROUTES_WITH_AUTH} <= concrete


def test_login(client) -> None:
    assert client.post("/api/login", json={"token": TOKEN}).status_code == 200
    assert client.post("/api/login", json={"token": "nope"}).status_code == 401


def test_openapi_lists_the_design_endpoints(client) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/health", "/api/studies", "/api/studies/{study_id}", "/api/clips/{clip_id}",
                 "/api/clips/{clip_id}/frames/{index}", "/api/lesions/{lesion_id}/rois",
                 "/api/lesions/{lesion_id}/analyze", "/api/analyses/{analysis_id}", "/api/studies/{study_id}/stats",
                 "/api/studies/{study_id}/report"):
        assert path in paths


def test_studies_and_study_match_the_store(client, study_data: Study) -> None:
    with store.Store(study_data.db_url) as db:
        expected = store.list_studies(db)
        detail = store.get_study(db, 1)
    assert client.get("/api/studies").json() == expected
    got = client.get("/api/studies/1").json()
    assert [p["patient"] for p in got["patients"]] == [p["patient"] for p in detail["patients"]] == ["P001", "P002"]
    assert client.get("/api/studies/99").status_code == 404


def test_clip_info_and_frames_match_the_file(client, study_data: Study) -> None:
    lesion = client.get(f"/api/lesions/{_lesion(client, 'P001')['id']}").json()
    path = study_data.data / lesion["clip"]["path"]
    header = pydicom.dcmread(path, stop_before_pixels=True)
    info = client.get(f"/api/clips/{lesion['clip_id']}").json()
    assert info["n_frames"] == int(header.NumberOfFrames)
    assert (info["rows"], info["columns"]) == (header.Rows, header.Columns)
    assert "source" not in info and not str(info["path"]).startswith("/")
    k = info["n_frames"] // 2
    response = client.get(f"/api/clips/{lesion['clip_id']}/frames/{k}")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert np.array_equal(image, pydicom.dcmread(path).pixel_array[k])
    assert client.get(f"/api/clips/{lesion['clip_id']}/frames/{info['n_frames']}").status_code == 404
    assert client.get(f"/api/clips/{lesion['clip_id']}/frames/-1").status_code == 404
    assert client.get("/api/clips/999").status_code == 404


def test_rois_are_validated_and_stored(client, study_data: Study) -> None:
    lesion_id = _lesion(client, "P002")["id"]
    document = json.loads((study_data.data / "cohort" / "clips" / "P002_L1.roi.json").read_text())
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=document).json() == {"ok": True, "n_rois": 2}
    assert client.get(f"/api/lesions/{lesion_id}").json()["rois"] == document
    outside = json.loads(json.dumps(document))
    outside["rois"][0]["center"] = [5000, 10]
    response = client.put(f"/api/lesions/{lesion_id}/rois", json=outside)
    assert response.status_code == 400 and "outside the image" in response.json()["detail"]
    no_lesion = {"rois": [document["rois"][1]]}
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=no_lesion).status_code == 400
    late = dict(document, reference_frame=10**6)
    assert client.put(f"/api/lesions/{lesion_id}/rois", json=late).status_code == 400
    assert client.put(f"/api/lesions/{lesion_id}/rois", content=b"{not json",
                      headers={"Content-Type": "application/json"}).status_code == 422
    assert client.get(f"/api/lesions/{lesion_id}").json()["rois"] == document  # the bad ones changed nothing


def test_analysis_job_gives_the_phantom_labels(client, study_data: Study) -> None:
    lesion_id = _lesion(client, "P001")["id"]
    job = client.post(f"/api/lesions/{lesion_id}/analyze").json()
    assert job["status"] in ("queued", "running", "done")
    finished = _wait(client, job)
    assert finished["status"] == "done", finished["error"]
    analysis = client.get(f"/api/analyses/{finished['result']['analysis_id']}").json()
    lesion = analysis["document"]["lesions"][0]
    truth = study_data.truth["P001/L1"]
    assert lesion["arterial_phase"]["enhancement"] == truth["pattern"]["arterial"]
    assert lesion["portal_venous_phase"]["washout_timing"] == truth["pattern"]["washout_timing"]
    assert lesion["late_phase"]["enhancement"] == truth["pattern"]["late"]
    assert abs(lesion["arterial_phase"]["onset_s"] - truth["onset_s"]) < 1.0
    assert set(analysis["document"]["curves"]["tic"]) >= {"time_s", "lesion_power_smoothed", "liver_power_smoothed"}
    assert client.get("/api/analyses/99999").status_code == 404
    assert client.get("/api/jobs/nope").status_code == 404
    assert analysis["document"]["provenance"]["options"]["kinetics"] == "auto" and analysis["document"]["replenishment"] == {}
    assert client.post(f"/api/lesions/{lesion_id}/analyze?kinetics=sometimes").status_code == 422


def test_stats_table_csv_and_report(client, study_data: Study) -> None:
    client.post(f"/api/lesions/{_lesion(client, 'P002')['id']}/analyze")
    stats = client.get("/api/studies/1/stats").json()
    assert stats["n_patients"] == 2 and stats["n_lesions"] == 2
    assert set(stats["patterns"]) >= {"arterial_hyper", "washout", "late_hypo", "late_iso", "late_hyper"}
    table = client.get("/api/studies/1/table").json()
    assert sorted(r["patient_id"] for r in table) == ["P001", "P002"]
    assert {r["ki67"] for r in table} == {study_data.truth["P001/L1"]["ki67"], study_data.truth["P002/L1"]["ki67"]}
    csv = client.get("/api/studies/1/export.csv")
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.count("\n") == 3
    html = client.get("/api/studies/1/report")
    assert html.status_code == 200 and "<html" in html.text.lower() and "Massironi" in html.text
    pdf = client.get("/api/studies/1/report", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get("/api/studies/1/report", params={"format": "docx"}).status_code == 400


def test_files_lists_clips_of_the_data_folder_only(client, study_data: Study) -> None:
    outside = study_data.data.parent / "outside-target.dcm"
    outside.write_bytes(_dicom_bytes(study_data))
    (study_data.data / "links").mkdir(exist_ok=True)
    link = study_data.data / "links" / "points-out.dcm"
    if not link.is_symlink():
        os.symlink(outside, link)
    listed = {f["path"] for f in client.get("/api/files").json()}
    assert {"cohort/clips/P001_L1.dcm", "cohort/clips/P002_L1.dcm"} <= listed
    assert "links/points-out.dcm" not in listed
    assert all(not p.startswith(("/", "..")) for p in listed)


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py",
                                  "/static/%2e%2e/%2e%2e/errors.py"])
def test_static_files_do_not_leave_their_folder(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404 and "__all__" not in response.text


@pytest.mark.parametrize("clip", ["../web-study.db", "/etc/passwd", "cohort/../../web-study.db", "escape/link.dcm",
                                  "cohort/clips/../../../outside.dcm"])
def test_path_traversal_is_refused(client, study_data: Study, clip: str) -> None:
    link = study_data.data / "escape" / "link.dcm"
    if not link.exists():
        link.parent.mkdir(exist_ok=True)
        os.symlink(study_data.data.parent / "web-study.db", link)
    response = client.post("/api/studies/1/lesions", json={"patient": "PX", "lesion": "L9", "clip": clip})
    assert response.status_code == 403 and "leaves the data folder" in response.json()["detail"]


def test_new_lesion_from_a_data_clip(client, study_data: Study) -> None:
    response = client.post("/api/studies/1/lesions",
                           json={"patient": "P003", "lesion": "L1", "clip": "cohort/clips/P002_L1.dcm"})
    assert response.status_code == 201
    lesion = client.get(f"/api/lesions/{response.json()['id']}").json()
    assert lesion["patient"] == "P003" and lesion["rois"]["rois"] == []
    assert client.post("/api/studies/1/lesions", json={"patient": "P003", "lesion": "L2",
                                                       "clip": "cohort/nothing.dcm"}).status_code == 404


def test_clip_outside_the_data_folder_is_not_served(client, study_data: Study, tmp_path: Path) -> None:
    from ceuskit.simulate import Phantom, simulate_clip

    outside = simulate_clip(tmp_path, Phantom(duration_s=5.0, fps=2.0), name="outside")
    with store.Store(study_data.db_url) as db:
        clip = store.ClipInput(path=str(outside.dicom), sha256="0" * 64, rois={"rois": []})
        made = store.import_lesions(db, [store.LesionInput(patient="POUT", lesion="L1", clips=(clip,))])
        lesion = next(item for p in store.get_study(db, 1)["patients"] if p["patient"] == "POUT"
                      for item in p["lesions"])
        assert made["lesion_ids"] == [lesion["id"]]
    assert client.get(f"/api/clips/{lesion['clip_id']}/frames/0").status_code == 403
    assert client.get(f"/api/lesions/{lesion['id']}").json()["clip"]["path"] is None


def _dicom_bytes(study_data: Study) -> bytes:
    return (study_data.data / "cohort" / "clips" / "P001_L1.dcm").read_bytes()[:60 * 1024]


def test_upload_of_a_clip(client, study_data: Study) -> None:
    response = client.post("/api/uploads", files={"file": ("../../evil name.dcm", _dicom_bytes(study_data))})
    assert response.status_code == 201
    saved = study_data.data / response.json()["path"]
    assert saved.parent == study_data.data / "uploads" and saved.name == "evil_name.dcm"
    assert saved.read_bytes() == _dicom_bytes(study_data) and response.json()["kind"] == "dicom"


@pytest.mark.parametrize("extra_kib", [8, 80])  # 8: caught while streaming to disk; 80: by Content-Length
def test_oversized_upload_is_refused_and_leaves_nothing(client, study_data: Study, extra_kib: int) -> None:
    big = _dicom_bytes(study_data) + bytes(extra_kib * 1024)  # over the 64 KiB limit of this app
    response = client.post("/api/uploads", files={"file": ("big.dcm", big)})
    assert response.status_code == 413 and "limit of 65536 bytes" in response.json()["detail"]
    assert not list((study_data.data / "uploads").glob("big*")) and not list((study_data.data / "uploads").glob(".*"))


def test_upload_without_a_length_is_refused(client) -> None:
    response = client.post("/api/uploads", content=iter([b"--x\r\n"] * 4),
                           headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status_code == 411


def test_upload_of_a_foreign_file_is_refused(client, study_data: Study) -> None:
    response = client.post("/api/uploads", files={"file": ("notes.dcm", b"patient notes " * 20)})
    assert response.status_code == 415 and "DICOM" in response.json()["detail"]


def test_parametric_map_overlay(client, study_data: Study) -> None:
    lesion_id = _lesion(client, "P001")["id"]
    assert client.get(f"/api/lesions/{lesion_id}/map/arrival_time_s").status_code in (200, 404)
    finished = _wait(client, client.post(f"/api/lesions/{lesion_id}/map").json())
    assert finished["status"] == "done", finished["error"]
    assert "arrival_time_s" in finished["result"]["maps"]
    response = client.get(f"/api/lesions/{lesion_id}/map/arrival_time_s")
    assert response.status_code == 200 and response.headers["x-map-unit"] == "s"
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    info = client.get(f"/api/clips/{_lesion(client, 'P001')['clip_id']}").json()
    assert image.shape == (info["rows"], info["columns"], 4)
    assert image[..., 3].any() and not image[..., 3].all()  # transparent outside the analysed region
    assert float(response.headers["x-map-min"]) < float(response.headers["x-map-max"])
    assert client.get(f"/api/lesions/{lesion_id}/map/nonsense").status_code == 404


def test_logs_carry_no_identifiers(client, study_data: Study, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ceuskit.web")
    lesion = _lesion(client, "P001")
    client.get(f"/api/lesions/{lesion['id']}")
    client.get("/api/studies/1", params={"patient": "P001"})
    client.post("/api/studies/1/lesions", json={"patient": "SECRET-NAME", "lesion": "L1", "clip": "../x"})
    text = caplog.text
    assert "GET /api/lesions/{lesion_id} 200" in text
    for identifier in ("P001", "P002", "SECRET-NAME", "cohort/clips", str(study_data.data)):
        assert identifier not in text


def test_ui_pages_are_served_without_a_cdn(client) -> None:
    client.headers.pop("Authorization")
    scripts = sorted(p.name for p in (Path(__file__).parents[2] / "src/ceuskit/web/static/js").glob("*.js"))
    assert {"main.js", "read.js", "login.js", "api.js"} <= set(scripts)
    for path in ("/", "/login", "/read", "/static/style.css", *(f"/static/js/{name}" for name in scripts)):
        response = client.get(path)
        assert response.status_code == 200
        external = re.findall(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//|fetch\(\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""",
                              response.text)
        assert external == [], path


def test_new_study_and_a_graded_lesion_in_it(client, study_data: Study) -> None:
    response = client.post("/api/studies", json={"name": "Second cohort"})
    assert response.status_code == 201
    study_id = response.json()["id"]
    listed = {s["name"]: s for s in client.get("/api/studies").json()}
    assert listed["Second cohort"]["id"] == study_id and listed["Second cohort"]["n_lesions"] == 0
    assert client.post("/api/studies", json={"name": "Second cohort"}).status_code == 409
    assert client.post("/api/studies", json={"name": "../etc"}).status_code == 422
    created = client.post(f"/api/studies/{study_id}/lesions", json={
        "patient": "Q001", "lesion": "L1", "clip": "cohort/clips/P001_L1.dcm", "ki67_percent": 25.0,
        "injection_time_s": 3.0})
    assert created.status_code == 201
    lesion = client.get(f"/api/lesions/{created.json()['id']}").json()
    assert lesion["who_grade"] == "G3"  # WHO 2019: Ki-67 > 20 % is G3
    assert lesion["injection_time_s"] == 3.0 and lesion["ki67_percent"] == 25.0
    # an injection before the recording started is a negative time (DESIGN: seconds after the first frame)
    late = client.post(f"/api/studies/{study_id}/lesions", json={
        "patient": "Q002", "lesion": "L1", "clip": "cohort/clips/P001_L1.dcm", "injection_time_s": -20.0})
    assert late.status_code == 201
    assert client.get(f"/api/lesions/{late.json()['id']}").json()["injection_time_s"] == -20.0


def test_adding_an_existing_lesion_again_is_refused_and_keeps_its_rois(client, study_data: Study) -> None:
    existing = _lesion(client, "P001")
    before = client.get(f"/api/lesions/{existing['id']}").json()["rois"]
    response = client.post("/api/studies/1/lesions", json={"patient": "P001", "lesion": existing["lesion"],
                                                           "clip": "cohort/clips/P001_L1.dcm"})
    assert response.status_code == 409
    assert client.get(f"/api/lesions/{existing['id']}").json()["rois"] == before and before["rois"]


@pytest.mark.parametrize("path", ["/api/studies/{}", "/api/lesions/{}", "/api/clips/{}", "/api/analyses/{}"])
@pytest.mark.parametrize("key", [2**63, -(2**63) - 1, -1])
def test_ids_beyond_the_database_are_not_found(client, path: str, key: int) -> None:
    """Ids no 64-bit key column can hold (found by tests/fuzz/test_fuzz_web.py): 404, not a server error."""
    assert client.get(path.format(key)).status_code == 404


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/studies"), ("PUT", "/api/lesions/1/rois"),
                                              ("POST", "/api/studies/1/lesions")])
@pytest.mark.parametrize("body", [b"\x80", b"\x80SECRET", b'"\xff\xfeSECRET"'])
def test_undecodable_body_is_refused_without_echo(client, method: str, path: str, body: bytes) -> None:
    """Found by tests/fuzz/test_fuzz_web.py: FastAPI's own 422 handler crashed echoing the bytes back."""
    response = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422) and "SECRET" not in response.text
