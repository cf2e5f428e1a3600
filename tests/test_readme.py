"""The README, walked: every code block runs on simulated data, in order, and does what the README says.

Blocks are found in README.md itself (``readme_walk.blocks``), so a section added tomorrow is walked too; the
grammar of a shell line is in ``readme_walk``'s docstring.  Commands run through ``bash`` in one workspace,
as a new user would type them, with ``ceuskit`` on the PATH and ``HOME`` inside the workspace.

The workspace (:class:`Walk`) holds what the README's commands name: ``clip.dcm`` (a phantom whose lesion
lies where the README's ROI example draws it, injected at the README's ``--injection-time``, patient
``NET-0001`` and a study date inside the README's ``pacs find`` range), ``rois.json`` (the README's own ROI
block), ``manifest.csv`` with ``reads.csv`` and ``clips/`` (a simulated 3-patient cohort), ``archive/`` (DICOM
files to de-identify), ``password.txt`` and ``srv/ceus/`` (a data folder).

What stands in for the world (:data:`PLACEHOLDERS` and :meth:`Walk.runnable`, nothing else):

==================================== =======================================================================
``https://pacs.example.org/…``       the test Orthanc's DICOMweb (``scripts/orthanc-test-server.sh``, with
``pacs.example.org:104``             credentials in ``CEUSKIT_PACS_USERNAME/PASSWORD``) and its DICOM port;
``pacs.example.org:2762``            ``:2762`` is that port behind DICOM TLS signed by a site CA (site-ca.pem)
``ARCHIVE``                          the Orthanc's AE title
``UID`` after ``--study`` …          the UIDs of ``clip.dcm``, which the Orthanc holds (as a hospital's would)
``NAME``                             ``ann``, the account the README adds
``--move-port 11112``, ``--port``    free ports (C-MOVE's destination is registered in the Orthanc)
``/srv/ceus``, ``CEUSKIT_TOKEN=…``   the workspace's data folder; a fresh token
==================================== =======================================================================

``ceuskit serve`` runs in the background on 127.0.0.1 until its pages answer, then is stopped.  ``make demo``
and ``make test`` are checked narrowly (``make -n``: the target exists and runs ``ceuskit demo`` / pytest):
running them here would rebuild ``.venv`` and run this suite inside itself; the demo itself is
``tests/study/test_demo.py``'s.  PACS blocks need Orthanc (``make install``); without it they are skipped with
that reason, as the PACS suite is.  Blocks depend on the ones before them: run this module whole.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pydicom
import pytest
import requests

import ceuskit
import readme_walk
from ceuskit.simulate import Phantom, simulate_clip, simulate_cohort
from ceuskit.simulate.render import layout_of

sys.path.insert(0, str(Path(__file__).parent / "pacs"))
from pacs_proxy import CuttingProxy  # noqa: E402
from pacs_testing import USER, make_site_ca, start_orthanc, stop_orthanc  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = readme_walk.blocks(README.read_text(encoding="utf-8"))
PLACEHOLDERS = {"UID": "the clip's study/series/instance UID (by the option before it)", "NAME": "ann",
                "ARCHIVE": "the test PACS's AE title"}
LITERAL_CAPITALS = {"CEUSKIT", "US"}  # our own AE title and the DICOM modality: words, not placeholders
TIMEOUT_S = 900


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Walk:
    """The workspace, the services the README names, and what every command printed."""

    def __init__(self, folder: Path) -> None:
        self.ws = folder
        self.remembered: dict[str, str] = {}
        self.outputs: list[tuple[str, subprocess.CompletedProcess[str], float]] = []
        self.cleanup: list[Any] = []
        self._pacs: dict[str, Any] | None = None
        self.token = os.urandom(24).hex()
        bin_dir = folder / ".bin"
        bin_dir.mkdir()
        shim = bin_dir / "ceuskit"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "from ceuskit.cli import run; run()" "$@"\n')
        shim.chmod(0o755)
        (folder / "home").mkdir()
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CEUSKIT_", "PYTEST_"))},
                    "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
                    "PYTHONPATH": str(Path(ceuskit.__file__).parents[1]), "HOME": str(folder / "home")}
        self._prepare()

    # ---------------------------------------------------------------------------------------- workspace
    def _readme_value(self, pattern: str, default: str) -> str:
        match = re.search(pattern, README.read_text(encoding="utf-8"))
        return match.group(1) if match else default

    def _prepare(self) -> None:
        roi_block = next(b for b in BLOCKS if b.kind == "json" and '"rois"' in b.text)
        document = json.loads(roi_block.text)
        (self.ws / "rois.json").write_text(roi_block.text + "\n")
        lesion = next(r for r in document["rois"] if r.get("role", "lesion") == "lesion")
        injection_s = float(self._readme_value(r"ceuskit analyze clip\.dcm .*--injection-time (-?[\d.]+)", "0"))
        probe = Phantom()
        x0, y0 = layout_of(probe).ceus_box[:2]
        # the simulator draws its own ROI at 3/4 of the lesion's radii: the README's ellipse sits inside the
        # lesion the same way
        phantom = Phantom(seed=21, fps=2.0, lead_in_s=injection_s, lesion_center_px=(lesion["center"][0] - x0,
                                                                            lesion["center"][1] - y0),
                          lesion_radii_px=(lesion["radii"][0] / 0.75, lesion["radii"][1] / 0.75))
        clip = simulate_clip(self.ws / ".phantom", phantom, name="clip", patient_id="NET-0001")
        dates = self._readme_value(r"--study-date (\d{4}-\d\d-\d\d)\.\.", "2026-01-01").replace("-", "")
        ds = pydicom.dcmread(clip.dicom)
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = f"{dates[:6]}15"  # inside the README's find range
        ds.save_as(self.ws / "clip.dcm")
        self.truth = json.loads(clip.truth.read_text())
        simulate_cohort(self.ws, n_patients=3, seed=4, fps=2.0)  # manifest.csv, reads.csv, truth.json, clips/
        (self.ws / "archive" / "ward").mkdir(parents=True)
        shutil.copy(self.ws / "clip.dcm", self.ws / "archive" / "clip.dcm")
        shutil.copy(self.ws / "clips" / "P001_L1.dcm", self.ws / "archive" / "ward" / "P001.dcm")
        (self.ws / "archive" / "notes.txt").write_text("not DICOM\n")
        (self.ws / "password.txt").write_text("a long README password 2026\n")
        (self.ws / "srv" / "ceus").mkdir(parents=True)
        shutil.copy(self.ws / "clip.dcm", self.ws / "srv" / "ceus" / "clip.dcm")
        header = pydicom.dcmread(self.ws / "clip.dcm", stop_before_pixels=True)
        self.uids = {"--study": header.StudyInstanceUID, "--series": header.SeriesInstanceUID,
                     "--instance": header.SOPInstanceUID}

    # ------------------------------------------------------------------------------------------ services
    def pacs(self) -> dict[str, Any]:
        """The test Orthanc holding clip.dcm, C-MOVE's destination, and its DICOM port behind TLS."""
        if self._pacs is None:
            server = start_orthanc({"ORTHANC_TEST_USER": USER, "ORTHANC_TEST_PASSWORD": os.urandom(12).hex()})
            self.cleanup.append(lambda: stop_orthanc(server))
            server.upload(self.ws / "clip.dcm")
            ca = make_site_ca(self.ws / "home")
            shutil.copy(ca["ca"], self.ws / "site-ca.pem")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(ca["cert"], ca["key"])
            proxy = CuttingProxy(server.dicom_port, tls=context)
            self.cleanup.append(proxy.close)
            move_port = _free_port()
            server.rest("PUT", "/modalities/ceuskit-readme", json={"AET": "CEUSKIT", "Host": "127.0.0.1",
                                                                   "Port": move_port})
            self.env.update(CEUSKIT_PACS_USERNAME=str(server.user), CEUSKIT_PACS_PASSWORD=str(server.password))
            self._pacs = {"server": server, "tls": f"127.0.0.1:{proxy.port}", "move_port": move_port}
        return self._pacs

    def in_pacs(self, path: Path) -> bool:
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        return bool(self.pacs()["server"].lookup("Instance", "SOPInstanceUID", uid))

    # -------------------------------------------------------------------------------------- substitution
    def runnable(self, command: readme_walk.Command) -> str:
        """The command as it runs here (module docstring); fails on what the walker cannot stand in for."""
        where = f"README line {command.line}"
        try:
            text = readme_walk.resolve_ellipses(readme_walk.expand_optional(command.text), self.remembered)
        except KeyError as exc:
            pytest.fail(f"{where}: {exc.args[0]}")
        unknown = readme_walk.placeholders(text, LITERAL_CAPITALS | set(PLACEHOLDERS))
        if unknown:
            pytest.fail(f"{where}: {command.text!r} has placeholder(s) {unknown} the walker cannot fill; write a "
                        "concrete value, or teach tests/test_readme.py (PLACEHOLDERS, Walk.runnable)")
        if "pacs.example.org" in text:
            pacs = self.pacs()
            server = pacs["server"]
            text = (text.replace("https://pacs.example.org/dicom-web", server.dicomweb)
                    .replace("pacs.example.org:2762", pacs["tls"]).replace("pacs.example.org:104", server.dimse))
            text = re.sub(r"--move-port \d+", f"--move-port {pacs['move_port']}", text)
            text = re.sub(r"\bARCHIVE\b", server.aet, text)
        text = re.sub(r"(--study|--series|--instance) UID\b", lambda m: f"{m.group(1)} {self.uids[m.group(1)]}", text)
        text = re.sub(r"\bNAME\b", PLACEHOLDERS["NAME"], text)
        text = text.replace("CEUSKIT_TOKEN=…", f"CEUSKIT_TOKEN={self.token}").replace("/srv/ceus", "srv/ceus")
        if re.search(r"(^|\s)ceuskit serve\b", text):
            self.port = _free_port()
            text = re.sub(r"--port \d+", "", text) + f" --port {self.port}"
        left = [w for w in ("example.org", "…", *PLACEHOLDERS) if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
        if left:
            pytest.fail(f"{where}: {command.text!r} keeps {left} the walker cannot stand in for here; write a "
                        "concrete value, or teach tests/test_readme.py (PLACEHOLDERS, Walk.runnable)")
        return text

    # ----------------------------------------------------------------------------------------- running
    def files(self) -> set[Path]:
        return {p for p in self.ws.rglob("*") if p.is_file() and ".bin" not in p.parts}

    def run(self, text: str, line: int) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", text], cwd=self.ws, env=self.env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
        self.outputs.append((text, done, time.monotonic() - started))
        assert done.returncode == 0, f"README line {line}: `{text}` exited {done.returncode}: {done.stderr[-2000:]}"
        return done

    def serve(self, text: str, line: int) -> None:
        """Start the workstation as written, wait until it answers, check it, stop it."""
        process = subprocess.Popen(["bash", "-c", text], cwd=self.ws, env=self.env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{self.port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                assert process.poll() is None, f"README line {line}: `{text}` stopped: {process.stdout.read()}"
                try:
                    if requests.get(f"{base}/api/health", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    pass
                assert time.monotonic() < deadline, f"README line {line}: `{text}` never answered"
                time.sleep(0.5)
            page = requests.get(f"{base}/", timeout=10)  # the workstation's page (it asks to sign in)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert requests.get(f"{base}/api/studies", timeout=10).status_code == 401  # access needs a sign-in
            if "CEUSKIT_TOKEN=" in text:  # the bootstrap administrator token opens the API
                answer = requests.get(f"{base}/api/studies", headers={"Authorization": f"Bearer {self.token}"},
                                      timeout=10)
                assert answer.status_code == 200, answer.text
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=60)


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory) -> Any:
    state = Walk(tmp_path_factory.mktemp("readme"))
    try:
        yield state
    finally:
        for step in reversed(state.cleanup):
            step()


def _params() -> list[Any]:
    return [pytest.param(b, id=b.name, marks=[pytest.mark.pacs] if "pacs.example.org" in b.text else [])
            for b in BLOCKS]


@pytest.mark.parametrize("block", _params())
def test_readme_block(block: readme_walk.Block, walk: Walk) -> None:
    from readme_claims import check_command, check_json, check_make, check_python

    if block.kind == "shell":
        for command in readme_walk.commands(block):
            if command.text.startswith("make "):
                check_make(command)
                continue
            text = walk.runnable(command)
            before = walk.files()
            if re.search(r"(^|\s)ceuskit serve\b", text):
                walk.serve(text, command.line)
                continue
            check_command(walk, command, text, walk.run(text, command.line), walk.files() - before)
    elif block.kind == "python":
        check_python(walk, block)
    elif block.kind == "json":
        check_json(walk, block)
    else:
        pytest.fail(f"README line {block.line}: a {block.kind!r} block; the walker knows shell, python and json")


def test_the_walker_fails_on_what_it_cannot_run() -> None:
    """The grammar: optional parts included (first alternative), … from earlier values, unknown capitals."""
    assert readme_walk.expand_optional("a [--x 1 [--y 2]] [--w 2 | --s tcp://h:1] b") == "a --x 1 --y 2 --w 2 b"
    remembered: dict[str, str] = {}
    assert readme_walk.resolve_ellipses("c --db sqlite:///s.db --flag --key-file k", remembered) == \
        "c --db sqlite:///s.db --flag --key-file k"
    assert remembered == {"--db": "sqlite:///s.db", "--key-file": "k"}
    assert readme_walk.resolve_ellipses("d --db …", remembered) == "d --db sqlite:///s.db"
    with pytest.raises(KeyError, match="--url"):
        readme_walk.resolve_ellipses("e --url …", remembered)
    assert readme_walk.placeholders("ceuskit pacs pull --study UID --aet CEUSKIT 'NET*'", LITERAL_CAPITALS) == ["UID"]
    block = readme_walk.Block("shell", "a --x 1   # one\n          # two\nb \\\n  --y", 3, "S")
    assert [(c.text, c.comment, c.line) for c in readme_walk.commands(block)] == [("a --x 1", "one two", 4),
                                                                                  ("b --y", "", 6)]
    assert {b.kind for b in BLOCKS} <= {"shell", "python", "json"}
    assert sum(b.kind == "shell" for b in BLOCKS) >= 8  # the walk found the README's blocks
