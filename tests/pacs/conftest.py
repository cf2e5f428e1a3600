"""Fixtures of the PACS tests: a real Orthanc (see ``pacs_testing.Orthanc``), isolated PACS settings, phantoms.

The server comes from ``scripts/orthanc-test-server.sh`` (127.0.0.1, throw-away storage folder, DICOMweb
plugin, DICOM port, HTTP basic authentication with a random password).  Missing Orthanc binaries skip these
tests with the reason; ``make install`` installs them (Debian packages orthanc and orthanc-dicomweb).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from pacs_testing import USER, Orthanc, make_phantom, start_orthanc, stop_orthanc  # noqa: E402


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


@pytest.fixture(scope="session")
def stored_clip(orthanc: Orthanc, phantom_dir: Path) -> Any:
    """A phantom clip stored in the Orthanc through its REST API (not through ceuskit)."""
    clip = make_phantom(phantom_dir, "stored", patient_id="CEUSKIT-STORED", seed=11)
    orthanc.upload(clip.dicom)
    return clip
