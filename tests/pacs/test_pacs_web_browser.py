"""The PACS view in Debian's chromium (Playwright): search the real Orthanc, pick the clip, make a lesion (the
server fetches it; the page opens it in place), then ask to send results that do not exist yet.  Screenshots in
``build/test-artifacts/web/``."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pacs_testing import Orthanc, make_phantom

ARTIFACTS = Path(__file__).parents[2] / "build" / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
TOKEN = "pacs-browser-token"

pytestmark = [pytest.mark.pacs, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]


def serve(data: Path, pacs: str) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    from ceuskit.web import Settings, create_app

    app = create_app(Settings(db_url=f"sqlite:///{data / 'study.db'}", data_dir=data, token=TOKEN, pacs=pacs))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    return server, thread, f"http://127.0.0.1:{port}"


def test_make_a_lesion_from_the_pacs_in_the_browser(credentials: Orthanc, phantom_dir: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    clip = make_phantom(phantom_dir, "browser", patient_id="CEUSKIT-BROWSER", seed=51, duration_s=20.0)
    credentials.upload(clip.dicom)
    server, thread, url = serve(tmp_path, credentials.dicomweb)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    try:
        import httpx

        from ceuskit.store import Store, accounts

        httpx.post(url + "/api/studies", json={"name": "from the PACS"}, headers={"Authorization": f"Bearer {TOKEN}"})
        with Store(f"sqlite:///{tmp_path / 'study.db'}") as db:
            accounts.add_user(db, "radiologist", role="admin", password="a pacs test password", actor="cli:test")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.set_default_timeout(60_000)
            page.goto(url + "/login")
            page.fill("#username", "radiologist")
            page.fill("#password", "a pacs test password")
            page.click("#login")
            page.wait_for_url(url + "/")
            page.click("#pacs-button")
            page.fill("#pacs-patient", "CEUSKIT-BROWSER")
            page.fill("#pacs-from", "2026-01-01")
            page.click("#pacs-search-button")
            page.wait_for_selector("#pacs-count:has-text('1 study')")
            page.click("#pacs-results li")
            page.fill("#pacs-pseudonym", "P-BROWSER")
            page.screenshot(path=str(ARTIFACTS / "pacs-01-search.png"))
            page.evaluate("window.loadedOnce = true")  # gone if the page reloads
            page.click("#pacs-make-button")
            page.wait_for_selector(".lesion.active:has-text('P-BROWSER')")  # the new lesion open in the tree
            assert page.evaluate("window.loadedOnce === true")  # in place: the page was not reloaded
            assert not page.locator("#pacs-dialog").is_visible()
            assert page.evaluate("JSON.parse(localStorage.getItem('ceuskit.state')).lesion") == int(
                page.get_attribute(".lesion.active", "data-id"))  # state.js keeps it for the next visit
            deadline = time.monotonic() + 60  # polled: wait_for_function evaluates with eval, which the CSP forbids
            while not page.evaluate("document.getElementById('frame-slider').max > 0"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            page.screenshot(path=str(ARTIFACTS / "pacs-02-lesion.png"))
            page.click("#pacs-push")
            page.wait_for_selector("#status:has-text('not sent: this lesion has no finished analysis yet')")
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert errors == []
    assert list((tmp_path / "pacs").rglob("*.dcm"))  # the server fetched the clip into its data folder
