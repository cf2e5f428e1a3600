"""Helpers shared by the PACS tests: the Orthanc test server and its REST API, phantoms, DICOM readers."""

from __future__ import annotations

import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import requests


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``ceuskit ARGS`` through ``ceuskit.cli.main``: exit status, stdout, stderr."""
    from ceuskit.cli import main

    capsys.readouterr()
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def header(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, stop_before_pixels=True)


def pixels(path: Path) -> np.ndarray:
    """The pixel data decoded by pydicom (the independent reader)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(pydicom.dcmread(path).pixel_array)


def uids(path: Path) -> tuple[str, str, str]:
    ds = header(path)
    return str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)


def leftovers(folder: Path) -> list[Path]:
    """Partial or temporary files under ``folder`` (what an interrupted transfer must not leave)."""
    return [p for p in folder.rglob("*") if p.is_file() and (p.suffix == ".part" or p.name.startswith(".")
                                                              and p.name != ".ceuskit-pacs.json")]


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


def make_phantom(folder: Path, name: str, *, patient_id: str, seed: int, duration_s: float = 60.0,
                 fps: float = 2.0) -> Any:
    """A phantom clip with fake identifiers (ceuskit.simulate), its ROI file and ground truth."""
    from ceuskit.simulate import Phantom, simulate_clip

    return simulate_clip(folder, Phantom(duration_s=duration_s, fps=fps, seed=seed), name=name, patient_id=patient_id)


def make_site_ca(folder: Path) -> dict[str, Path]:
    """A site CA and a server certificate for 127.0.0.1 that it signed (openssl, EC P-256), in ``folder``."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True, timeout=60)

    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=ceuskit test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *curve, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
