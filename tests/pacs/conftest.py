"""A real Orthanc PACS for the tests, and helpers that ask Orthanc itself (its REST API) what it holds.

The server comes from ``scripts/orthanc-test-server.sh`` (127.0.0.1, throw-away storage folder, DICOMweb
plugin, DICOM port, HTTP basic authentication with a random password).  Missing Orthanc binaries skip these
tests with the reason; ``make install`` installs them (Debian packages orthanc and orthanc-dicomweb).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "orthanc-test-server.sh"
USER = "ceuskit-test"
AET = "ORTHANC_TEST"


@dataclass(frozen=True)
class Orthanc:
    """A running test Orthanc: ports, credentials and its REST API (the independent witness)."""

    http_port: int
    dicom_port: int
    folder: Path
    user: str | None
    password: str | None
    aet: str = AET

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.base}/dicom-web"

    @property
    def dimse(self) -> str:
        return f"127.0.0.1:{self.dicom_port}"

    def rest(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Orthanc's own REST API (not DICOMweb, not ceuskit): what the PACS really holds."""
        auth = (self.user, self.password) if self.user else None
        answer = requests.request(method, self.base + path, auth=auth, timeout=30, **kwargs)
        answer.raise_for_status()
        return answer

    def upload(self, path: Path) -> str:
        """Store a file through the REST API; Orthanc's instance id."""
        return str(self.rest("POST", "/instances", data=path.read_bytes()).json()["ID"])

    def lookup(self, level: str, uid_keyword: str, uid: str) -> list[str]:
        """Orthanc ids of the resources at ``level`` whose ``uid_keyword`` is ``uid``."""
        return list(self.rest("POST", "/tools/find", json={"Level": level, "Query": {uid_keyword: uid}}).json())

    def study_series(self, study_uid: str) -> list[dict[str, Any]]:
        """The series of a study as Orthanc lists them (with MainDicomTags and Instances)."""
        (study_id,) = self.lookup("Study", "StudyInstanceUID", study_uid)
        return list(self.rest("GET", f"/studies/{study_id}/series").json())


def start_orthanc(env: dict[str, str] | None = None) -> Orthanc:
    """Start a server with the script (``env`` adds ORTHANC_TEST_* settings); skip when Orthanc is missing."""
    done = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    if done.returncode == 3:
        pytest.skip(f"Orthanc is not installed: {done.stderr.strip()}")
    if done.returncode != 0:
        pytest.fail(f"could not start the Orthanc test server: {done.stderr.strip()}", pytrace=False)
    http_port, dicom_port, folder = done.stdout.split()
    env = env or {}
    return Orthanc(int(http_port), int(dicom_port), Path(folder), env.get("ORTHANC_TEST_USER"),
                   env.get("ORTHANC_TEST_PASSWORD"))


def stop_orthanc(server: Orthanc) -> None:
    subprocess.run(["bash", str(SCRIPT), "stop", str(server.folder)], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def orthanc() -> Iterator[Orthanc]:
    """The session's Orthanc, with HTTP basic authentication on (user ceuskit-test, random password)."""
    server = start_orthanc({"ORTHANC_TEST_USER": USER, "ORTHANC_TEST_PASSWORD": secrets.token_urlsafe(16)})
    try:
        yield server
    finally:
        stop_orthanc(server)


@pytest.fixture(autouse=True)
def no_pacs_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PACS credentials or config file from the machine running the tests."""
    for name in ("CEUSKIT_PACS_USERNAME", "CEUSKIT_PACS_PASSWORD", "CEUSKIT_PACS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CEUSKIT_PACS_CONFIG", str(tmp_path / "no-pacs-config.toml"))


@pytest.fixture()
def credentials(orthanc: Orthanc, monkeypatch: pytest.MonkeyPatch) -> Orthanc:
    """The Orthanc, with its credentials in the environment as a user would set them."""
    monkeypatch.setenv("CEUSKIT_PACS_USERNAME", str(orthanc.user))
    monkeypatch.setenv("CEUSKIT_PACS_PASSWORD", str(orthanc.password))
    return orthanc


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("phantoms")


def make_phantom(folder: Path, name: str, *, patient_id: str, seed: int, duration_s: float = 60.0,
                 fps: float = 2.0) -> Any:
    """A phantom clip with fake identifiers (ceuskit.simulate), its ROI file and ground truth."""
    from ceuskit.simulate import Phantom, simulate_clip

    return simulate_clip(folder, Phantom(duration_s=duration_s, fps=fps, seed=seed), name=name, patient_id=patient_id)


@pytest.fixture(scope="session")
def stored_clip(orthanc: Orthanc, phantom_dir: Path) -> Any:
    """A phantom clip stored in the Orthanc through its REST API (not through ceuskit)."""
    clip = make_phantom(phantom_dir, "stored", patient_id="CEUSKIT-STORED", seed=11)
    orthanc.upload(clip.dicom)
    return clip
