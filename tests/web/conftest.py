"""A small simulated study in a data folder, served by the workstation app (TestClient or a real server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ceuskit import store
from ceuskit.simulate import simulate_cohort
from ceuskit.study import import_manifest
from ceuskit.web import Settings, create_app

TOKEN = "test-token-not-secret"


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
