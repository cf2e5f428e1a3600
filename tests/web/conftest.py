"""Simulated studies in data folders, served by the workstation app (TestClient or a real server).

``study_data``: two patients, used through the bootstrap administrator token.  ``reader_study``: three
patients, an administrator and three readers with passwords, and a stored "software" analysis of every lesion
whose labels the blinded reader must never see.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ceuskit import store
from ceuskit.simulate import simulate_cohort
from ceuskit.study import import_manifest
from ceuskit.web import Settings, create_app

TOKEN = "test-token-not-secret"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "build" / "test-artifacts" / "web"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@dataclass
class Study:
    data: Path
    db_url: str
    truth: dict
    manifest: Path


@pytest.fixture(scope="session")
def study_data(tmp_path_factory: pytest.TempPathFactory) -> Study:
    data = tmp_path_factory.mktemp("webdata")
    manifest = simulate_cohort(data / "cohort", n_patients=2, seed=7, duration_s=150.0)
    db_url = f"sqlite:///{data.parent / 'web-study.db'}"
    with store.Store(db_url) as db:
        import_manifest(db, manifest)
    truth = json.loads((data / "cohort" / "truth.json").read_text())
    return Study(data=data, db_url=db_url, truth=truth, manifest=manifest)


@pytest.fixture()
def client(study_data: Study) -> Iterator:
    from fastapi.testclient import TestClient

    app = create_app(Settings(db_url=study_data.db_url, data_dir=study_data.data, token=TOKEN,
                              max_upload_bytes=64 * 1024))
    with TestClient(app) as test_client:
        test_client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield test_client


PASSWORDS = {"boss": "boss password 2026", "ann": "ann reads blinded", "bob": "bob reads blinded",
             "cy": "cy reads blinded too"}
ROLES = {"boss": "admin", "ann": "reader", "bob": "reader", "cy": "reader"}


@dataclass
class ReaderStudy:
    data: Path
    db_url: str
    patients: list[str]
    ki67: list[float]
    lesion_ids: list[int]
    clip_ids: list[int]
    software: dict[int, dict]


def software_document(lesion_id: int) -> dict:
    """A stored analysis with labels and numbers no reader may see (distinctive values, to search for)."""
    return {"lesions": [{"roi": "lesion", "reference": "liver",
                         "arterial_phase": {"enhancement": "hyper", "onset_s": 12.3456 + lesion_id,
                                            "relative_peak_db": 4.321},
                         "portal_venous_phase": {"washout": True, "washout_onset_s": 55.5, "washout_timing": "early",
                                                 "washout_degree": "mild"},
                         "late_phase": {"enhancement": "hypo", "relative_db": -3.21},
                         "pattern": "SOFTWARE-PATTERN", "lirads": {"category": "LR-M"}}],
            "rois": {}, "clip": {}}


@pytest.fixture(scope="session")
def reader_study(tmp_path_factory: pytest.TempPathFactory) -> ReaderStudy:
    from ceuskit.store import accounts

    data = tmp_path_factory.mktemp("readerdata")
    manifest = simulate_cohort(data / "cohort", n_patients=3, seed=11, duration_s=40.0)
    db_url = f"sqlite:///{data.parent / 'reader-study.db'}"
    with store.Store(db_url) as db:
        import_manifest(db, manifest)
        for name, password in PASSWORDS.items():
            accounts.add_user(db, name, role=ROLES[name], password=password, actor="cli:test")
        lesions = [lesion for p in store.get_study(db, 1)["patients"] for lesion in p["lesions"]]
        software = {}
        for lesion in lesions:
            software[lesion["id"]] = software_document(lesion["id"])
            store.record_analysis(db, lesion["id"], status="ok", document=software[lesion["id"]], error=None,
                                  software_version="test", parameters={}, parameter_hash="0" * 64,
                                  input_hash="1" * 64)
    return ReaderStudy(data=data, db_url=db_url, patients=[lesion["patient"] for lesion in lesions],
                       ki67=[lesion["ki67_percent"] for lesion in lesions], lesion_ids=[le["id"] for le in lesions],
                       clip_ids=[le["clip_id"] for le in lesions], software=software)


def sign_in(client, username: str) -> str:
    """Sign ``client`` in as ``username`` (cookie kept by the client); returns the CSRF token."""
    response = client.post("/api/session", json={"username": username, "password": PASSWORDS[username]})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


@pytest.fixture()
def reader_app(reader_study: ReaderStudy, tmp_path: Path) -> Iterator:
    """A fresh database copy of ``reader_study`` per test (reads and sessions do not leak between tests)."""
    from ceuskit.web import Settings, create_app

    source = Path(reader_study.db_url.removeprefix("sqlite:///"))
    copy = tmp_path / "reader-study.db"
    shutil.copy(source, copy)
    app = create_app(Settings(db_url=f"sqlite:///{copy}", data_dir=reader_study.data, token=TOKEN,
                              max_upload_bytes=64 * 1024))
    yield app
    app.state.context.close()  # clients made without the app's lifespan leave its clips open otherwise


@pytest.fixture()
def anonymous(reader_app) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(reader_app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()
