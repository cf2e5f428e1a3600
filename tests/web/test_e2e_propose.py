"""One click in Debian's chromium: propose a lesion's ROIs, accept them, analyse, and read the phantom's truth.

A sonographer opens a phantom lesion, picks the one-click tool with its key (C), clicks inside the lesion on
the frame where it shows best, accepts the dashed proposal with Enter, runs the analysis and reads the labels —
which must be the phantom's ground truth.  The stored ROIs say they were proposed and accepted.  Screenshots are
kept in ``build/test-artifacts/web/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from .conftest import ARTIFACTS, CHROMIUM, Study
from .test_e2e import ADMIN, ADMIN_PASSWORD, _to_page, serve_with_admin, sign_in_as, wait_until, watched_page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]


@pytest.fixture(scope="module")
def proposal_server(study_data: Study) -> Iterator[str]:
    yield from serve_with_admin(study_data)


@pytest.fixture(scope="module")
def tab(proposal_server: str, browser) -> Iterator:
    yield from watched_page(browser)


def test_one_click_accept_analyse_and_read(tab, proposal_server: str, study_data: Study) -> None:
    page = tab
    sign_in_as(page, proposal_server, ADMIN, ADMIN_PASSWORD)
    page.click(".lesion:has-text('P002')")
    wait_until(page, "document.getElementById('frame-slider').max > 0")
    page.click("#clear-rois")
    drawn = json.loads((study_data.data / "cohort" / "clips" / "P002_L1.roi.json").read_text())
    reference = drawn["reference_frame"]
    centre = next(r for r in drawn["rois"] if r["role"] == "lesion")["center"]
    page.locator("#frame-slider").fill(str(reference))
    page.wait_for_selector(f"#time-label:has-text('frame {reference + 1}/')")

    page.locator("#viewer").focus()
    page.keyboard.press("c")
    page.mouse.click(*_to_page(page, *centre))
    page.wait_for_selector("#save-state:has-text('proposed')", timeout=300_000)
    assert page.locator("#accept-rois").is_visible()
    assert page.locator("#roi-list li").count() == 2
    page.screenshot(path=str(ARTIFACTS / "propose-01-proposed.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector("#save-state:text-is('saved')")
    assert not page.locator("#accept-rois").is_visible()

    stored = page.evaluate("""async () => (await (await fetch('/api/lesions/' + JSON.parse(
        localStorage.getItem('ceuskit.state')).lesion)).json()).rois""")
    assert stored["reference_frame"] == reference
    assert {roi["source"] for roi in stored["rois"]} == {"accepted"}
    lesion = next(roi for roi in stored["rois"] if roi["role"] == "lesion")
    assert 0 < lesion["confidence"] <= 1
    # the accepted outline's area centroid (shoelace formula) is the phantom's lesion centre
    x, y = np.asarray(lesion["points"]).T
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    centroid = np.array([((x + np.roll(x, -1)) * cross).sum(), ((y + np.roll(y, -1)) * cross).sum()]) / (6 * area)
    assert np.hypot(*(centroid - np.asarray(centre))) < 3.0

    page.click("#analyse")
    page.wait_for_selector("#label-arterial", timeout=300_000)
    truth = study_data.truth["P002/L1"]
    assert page.inner_text("#label-arterial") == truth["pattern"]["arterial"]
    assert page.inner_text("#label-late") == truth["pattern"]["late"]
    assert page.inner_text("#label-washout").startswith(truth["pattern"]["washout_timing"])
    assert abs(float(page.inner_text("#onset").split()[0]) - truth["onset_s"]) < 1.0
    page.screenshot(path=str(ARTIFACTS / "propose-02-analysed.png"), full_page=True)
