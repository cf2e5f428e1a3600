"""End to end in Debian's chromium (headless, driven by Playwright; no browser download).

A sonographer's session (an administrator): sign in with user name and password, open a phantom clip, draw the lesion (ellipse) and the liver reference
(polygon) where the phantom has them, run the analysis, read the curve and the labels — which must be the
phantom's ground truth — then reload and find everything still there. Screenshots are kept in
``build/test-artifacts/web/``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceuskit.web import Settings, create_app

from .conftest import ARTIFACTS, CHROMIUM, TOKEN, Study

ADMIN, ADMIN_PASSWORD = "sono", "sonographer password"


pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(app) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = _free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                             access_log=False))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "the workstation did not start"
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def serve_with_admin(study_data: Study) -> Iterator[str]:
    """Serve the shared study with the sonographer's administrator account (added once per database)."""
    from ceuskit import store
    from ceuskit.errors import ConflictError
    from ceuskit.store import accounts

    with store.Store(study_data.db_url) as db:
        try:
            accounts.add_user(db, ADMIN, role="admin", password=ADMIN_PASSWORD, actor="cli:test")
        except ConflictError:
            pass
    yield from serve(create_app(Settings(db_url=study_data.db_url, data_dir=study_data.data, token=TOKEN)))


@pytest.fixture(scope="module")
def server(study_data: Study) -> Iterator[str]:
    yield from serve_with_admin(study_data)


def watch(tab, errors: list[str]) -> None:
    """Collect the page's script errors and every Content-Security-Policy violation it reports."""
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda message: errors.append(message.text)
           if "Content Security Policy" in message.text else None)


def watched_page(browser, height_px: int = 1000) -> Iterator:
    """A fresh 1400-px-wide page; its script errors and Content-Security-Policy violations fail the test at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": height_px})
    tab = context.new_page()
    errors: list[str] = []
    watch(tab, errors)
    tab.set_default_timeout(60_000)
    yield tab
    context.close()
    assert errors == [], errors


def sign_in_as(page, server: str, username: str, password: str) -> None:
    """Sign in on the login page as a user would (Enter in the password field) and wait for the workstation."""
    page.goto(server + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/")


@pytest.fixture(scope="module")
def page(server: str, browser) -> Iterator:
    yield from watched_page(browser)


def wait_until(page, expression: str, timeout_s: float = 60.0) -> None:
    """Poll a JavaScript expression until it is true (Playwright's wait_for_function evaluates strings with
    eval, which the workstation's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.1)


def _to_page(page, x: float, y: float) -> tuple[float, float]:
    """Stored-frame pixel (x, y) → page coordinates on the viewer canvas."""
    box = page.locator("#viewer").bounding_box()
    columns = page.evaluate("document.getElementById('viewer').width")
    rows = page.evaluate("document.getElementById('viewer').height")
    return box["x"] + x * box["width"] / columns, box["y"] + y * box["height"] / rows


def draw_rois(page, rois: dict, *, ellipse_by_key: bool = False, after_lesion=None) -> None:
    """Draw an ROI document's lesion ellipse (dragged from its centre to a corner) and liver polygon on the
    viewer; ``ellipse_by_key`` picks the ellipse tool with its keyboard shortcut instead of its button, and
    ``after_lesion`` is called between the two."""
    lesion = next(r for r in rois["rois"] if r["role"] == "lesion")
    liver = next(r for r in rois["rois"] if r["role"] == "parenchyma")
    page.select_option("#role-select", "lesion")
    if ellipse_by_key:
        page.keyboard.press("e")
    else:
        page.click("#tool-ellipse")
    cx, cy = _to_page(page, *lesion["center"])
    ex, ey = _to_page(page, lesion["center"][0] + lesion["radii"][0], lesion["center"][1] + lesion["radii"][1])
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move((cx + ex) / 2, (cy + ey) / 2)
    page.mouse.move(ex, ey)
    page.mouse.up()
    if after_lesion is not None:
        after_lesion()
    page.select_option("#role-select", "parenchyma")
    page.click("#tool-polygon")
    for x, y in liver["points"]:
        page.mouse.click(*_to_page(page, x, y))
    page.keyboard.press("Enter")


def test_sign_in_draw_analyse_and_read_the_labels(page, server: str, study_data: Study) -> None:
    page.goto(server + "/")
    page.wait_for_url("**/login")
    page.fill("#username", ADMIN)
    page.fill("#password", "not the password")
    page.click("#login")
    page.wait_for_selector("#error:has-text('Wrong user name or password')")
    page.fill("#password", ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/")
    page.wait_for_selector(f"#user-name:text-is('{ADMIN}')")
    assert page.evaluate("document.cookie") == ""  # the session cookie is HttpOnly: no script can read it
    stored = page.evaluate("JSON.stringify(localStorage)").lower()
    assert "csrf" not in stored and "token" not in stored  # the access token left localStorage
    page.screenshot(path=str(ARTIFACTS / "01-signed-in.png"))

    page.click(".lesion:has-text('P001')")
    wait_until(page, "document.getElementById('frame-slider').max > 0")
    page.click("#clear-rois")
    truth_rois = json.loads((study_data.data / "cohort" / "clips" / "P001_L1.roi.json").read_text())
    reference = truth_rois["reference_frame"]
    page.locator("#frame-slider").fill(str(reference))
    page.wait_for_selector(f"#time-label:has-text('frame {reference + 1}/')")
    page.screenshot(path=str(ARTIFACTS / "02-clip-open.png"))

    lesion = next(r for r in truth_rois["rois"] if r["role"] == "lesion")
    liver = next(r for r in truth_rois["rois"] if r["role"] == "parenchyma")
    draw_rois(page, truth_rois, ellipse_by_key=True)
    page.wait_for_selector("#save-state:text-is('saved')")
    assert page.locator("#roi-list li").count() == 2
    page.screenshot(path=str(ARTIFACTS / "03-rois-drawn.png"))

    page.click("#analyse")
    page.wait_for_selector("#label-arterial", timeout=300_000)
    page.wait_for_selector("#tic path.curve.lesion")
    truth = study_data.truth["P001/L1"]
    assert page.inner_text("#label-arterial") == truth["pattern"]["arterial"]
    assert page.inner_text("#label-late") == truth["pattern"]["late"]
    assert page.inner_text("#label-washout").startswith(truth["pattern"]["washout_timing"])
    onset = float(page.inner_text("#onset").split()[0])
    assert abs(onset - truth["onset_s"]) < 1.0
    assert page.locator("#tic line.marker.onset").count() == 1
    # the quality flags shown are the analysis's own (the API's document)
    document = page.evaluate("""async () => {
        const lesion = await (await fetch('/api/lesions/' + JSON.parse(localStorage.getItem('ceuskit.state')).lesion)).json();
        return (await (await fetch('/api/analyses/' + lesion.analysis.id)).json()).document; }""")
    shown = page.eval_on_selector_all("#quality li", "items => items.map(i => i.dataset.code)")
    assert shown == [flag["code"] for flag in document["quality"]]
    page.screenshot(path=str(ARTIFACTS / "04-analysed.png"), full_page=True)

    # the ROIs the browser saved are the ones drawn (same geometry within a pixel)
    stored = page.evaluate("""async () => (await (await fetch('/api/lesions/' + JSON.parse(
        localStorage.getItem('ceuskit.state')).lesion)).json()).rois""")  # the cookie goes by itself
    drawn = {r["name"]: r for r in stored["rois"]}
    assert stored["reference_frame"] == reference
    assert all(abs(a - b) <= 1.0 for a, b in zip(drawn["lesion"]["center"], lesion["center"], strict=True))
    assert all(abs(a - b) <= 1.0 for a, b in zip(drawn["lesion"]["radii"], lesion["radii"], strict=True))
    assert len(drawn["liver"]["points"]) == len(liver["points"])

    # nothing lost on reload: same lesion, frame, ROIs and result
    page.reload()
    page.wait_for_selector("#label-arterial")
    assert page.locator("#roi-list li").count() == 2
    assert f"frame {reference + 1}/" in page.inner_text("#time-label")
    assert page.inner_text("#label-arterial") == truth["pattern"]["arterial"]

    # keyboard frame stepping
    page.locator("#viewer").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f"#time-label:has-text('frame {reference + 2}/')")
    page.keyboard.press("Shift+ArrowLeft")
    page.wait_for_selector(f"#time-label:has-text('frame {reference - 8}/')")


def test_rois_drawn_while_a_save_is_under_way_are_kept(page, server: str, study_data: Study) -> None:
    # A slow server: the lesion's save is still on its way when the liver is drawn. Neither the first save's
    # answer nor its late arrival may drop the liver (before, the answer cleared the newer draft and showed
    # "saved", and the late lesion-only save overwrote the newer one on the server).
    from ceuskit import store

    with store.Store(study_data.db_url) as db:
        lesion_id = store.lesion_id_of(db, "P002", "L1")
    held = []

    def hold_the_first_save(route) -> None:
        if route.request.method == "PUT" and not held:
            held.append(route)  # answered later, after the liver is drawn
        else:
            route.continue_()

    def wait_for_the_first_save() -> None:
        deadline = time.monotonic() + 30
        while not held:
            assert time.monotonic() < deadline, "the lesion ROI was never saved"
            page.wait_for_timeout(100)

    page.click(".lesion:has-text('P002')")
    wait_until(page, "document.getElementById('frame-slider').max > 0")
    page.click("#clear-rois")
    drawn = json.loads((study_data.data / "cohort" / "clips" / "P002_L1.roi.json").read_text())
    page.route("**/api/lesions/*/rois*", hold_the_first_save)
    try:
        draw_rois(page, drawn, after_lesion=wait_for_the_first_save)
        page.wait_for_timeout(1000)  # the liver's own save is due (250 ms after the drawing)
        held[0].continue_()
        page.wait_for_selector("#save-state:text-is('saved')")
        wait_until(page, f"fetch('/api/lesions/{lesion_id}').then((r) => r.json())"
                         ".then((l) => l.rois.rois.length === 2)")
    finally:
        page.unroute("**/api/lesions/*/rois*")
    with store.Store(study_data.db_url) as db:
        kept = store.get_lesion(db, lesion_id)["rois"]["rois"]
    assert sorted(roi["role"] for roi in kept) == ["lesion", "parenchyma"]


def test_map_overlay_and_cohort_dashboard(page, server: str, study_data: Study) -> None:
    from ceuskit import store

    page.select_option("#map-select", "arrival_time_s")
    page.wait_for_selector("#map-legend:has-text(' s')", timeout=300_000)
    page.locator("#map-opacity").fill("80")
    page.screenshot(path=str(ARTIFACTS / "05-map-overlay.png"))
    page.click("#tab-cohort")
    page.wait_for_selector("#patterns rect.bar")
    page.wait_for_selector("#scatter circle.dot")
    with store.Store(study_data.db_url) as db:  # the study as the database holds it (the API tests add lesions)
        patients = store.get_study(db, 1)["patients"]
    n_lesions = sum(len(patient["lesions"]) for patient in patients)
    assert page.inner_text("#cohort-title") == f"{len(patients)} patients, {n_lesions} lesions"
    page.screenshot(path=str(ARTIFACTS / "06-cohort.png"))
    with page.expect_download() as download:
        page.click("#download-csv")
    assert download.value.suggested_filename == "lesions.csv"


def test_add_a_lesion_from_an_uploaded_clip(page, server: str, study_data: Study,
                                            tmp_path_factory: pytest.TempPathFactory) -> None:
    from pydicom import dcmread

    from ceuskit.simulate import Phantom, simulate_clip

    phantom = Phantom(duration_s=20.0, fps=2.0, dual=True, ceus_side="right")
    clip = simulate_clip(tmp_path_factory.mktemp("upload"), phantom, name="new clip")
    n_frames = int(dcmread(clip.dicom, stop_before_pixels=True).NumberOfFrames)
    page.click("#tab-lesion")
    page.click("#add-lesion-button")
    page.select_option("#add-study", "new")
    page.fill("#add-study-name", "Uploads")
    page.set_input_files("#add-upload", str(clip.dicom))
    wait_until(page, "document.getElementById('add-clip').value.startsWith('uploads/')")
    assert page.input_value("#add-clip") == "uploads/new_clip.dcm"
    page.fill("#add-patient", "U001")
    page.fill("#add-ki67", "12")
    page.screenshot(path=str(ARTIFACTS / "07-add-lesion.png"))
    page.click("#add-submit")
    page.wait_for_selector(".lesion.active:has-text('U001')")
    page.wait_for_selector(f"#time-label:has-text('frame 1/{n_frames}')")
    assert "G2" in page.inner_text("#lesion-title")  # WHO 2019: Ki-67 3–20 % is G2
    assert page.inner_text("#layout-label") == "dual display · CEUS right"  # as the phantom was rendered
    assert (study_data.data / "uploads" / "new_clip.dcm").read_bytes() == clip.dicom.read_bytes()
    assert page.locator("#roi-list li").count() == 0
    page.screenshot(path=str(ARTIFACTS / "08-lesion-added.png"))
