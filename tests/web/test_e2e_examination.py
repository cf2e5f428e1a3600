"""A whole examination in the workstation, in Debian's chromium (headless, Playwright; no browser download).

A sonographer (an administrator) opens a lesion whose loop was imported, adds a late-phase sweep by uploading
it (one dialog), draws the lesion and liver on the sweep where the simulator put them (the probe moved), sees
the timeline with the gap between the clips, analyses the examination and reads a time–intensity plot whose
curves break across the gap — with the late phase read on the sweep, as the simulator's truth says.
Screenshots are kept in ``build/test-artifacts/web/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceuskit import store
from ceuskit.simulate import Phantom
from ceuskit.simulate.examination import simulate_examination
from ceuskit.store import accounts
from ceuskit.study import import_manifest
from ceuskit.web import Settings, create_app

from .conftest import ARTIFACTS, CHROMIUM, TOKEN
from .test_e2e import draw_rois, serve, sign_in_as, wait_until, watch

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]

ADMIN, PASSWORD = "sono", "sonographer password"
PHANTOM = Phantom(pattern="hyper-early-hypo", seed=31, lead_in_s=3.0, fps=3.0)


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory):
    """The loop imported as a study lesion (with its ROIs) in the data folder; the sweep outside it, to upload."""
    data = tmp_path_factory.mktemp("exam-e2e")
    written = simulate_examination(tmp_path_factory.mktemp("exam-files"), PHANTOM, loop_s=60.0, sweeps_s=(130.0,),
                                   sweep_duration_s=8.0)
    (data / "loop").mkdir()
    for source in (written.dicoms[0], written.rois[0]):
        (data / "loop" / source.name).write_bytes(source.read_bytes())
    (data / "loop" / "manifest.csv").write_text("patient_id,lesion_id,clip,roi,ki67,injection_time_s\n"
                                                "X01,L1,exam_loop.dcm,exam_loop.roi.json,5,auto\n")
    db_url = f"sqlite:///{data.parent / 'exam-e2e.db'}"
    with store.Store(db_url) as db:
        import_manifest(db, data / "loop" / "manifest.csv")
        accounts.add_user(db, ADMIN, role="admin", password=PASSWORD, actor="cli:test")
    return data, db_url, written


@pytest.fixture(scope="module")
def server(exam) -> Iterator[str]:
    data, db_url, _ = exam
    yield from serve(create_app(Settings(db_url=db_url, data_dir=data, token=TOKEN)))


def test_add_a_sweep_draw_on_it_and_read_the_gapped_curves(browser, server: str, exam) -> None:
    data, db_url, written = exam
    truth = written.truth_data
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    errors: list[str] = []
    watch(page, errors)
    page.set_default_timeout(60_000)
    sign_in_as(page, server, ADMIN, PASSWORD)
    page.click(".lesion:has-text('X01')")
    wait_until(page, "document.getElementById('frame-slider').max > 0")
    assert page.locator("#timeline .segment").count() == 1

    # one action: the sweep is uploaded in the dialog and added
    page.click("#add-sweep-button")
    page.set_input_files("#add-sweep-upload", str(written.dicoms[1]))
    wait_until(page, "document.getElementById('add-sweep-file').value.startsWith('uploads/')")
    page.screenshot(path=str(ARTIFACTS / "20-add-sweep.png"))
    page.click("#add-sweep-submit")
    page.wait_for_selector("#timeline .segment.current:has-text('clip 2')")
    sweep_frames = truth["clips"][1]["n_frames"]
    page.wait_for_selector(f"#time-label:has-text('clip 2/2 · frame 1/{sweep_frames}')")
    start = truth["clips"][1]["start_after_injection_s"]
    assert f"{start:.1f} s after injection · late" in page.inner_text("#time-label")
    gap = truth["clip_windows_s"][1][0] - truth["clip_windows_s"][0][1]
    assert page.inner_text("#timeline .gap") == f"gap {gap:.0f} s"
    assert page.locator("#roi-list li").count() == 0  # the sweep's own ROIs: none yet

    # the sweep's ROIs where the probe put the lesion in that clip, drawn on its reference frame
    sweep_rois = json.loads(written.rois[1].read_text())
    page.locator("#frame-slider").fill(str(sweep_rois["reference_frame"]))
    draw_rois(page, sweep_rois)
    page.wait_for_selector("#save-state:text-is('saved')")
    page.screenshot(path=str(ARTIFACTS / "21-sweep-rois.png"))
    with store.Store(db_url) as db:
        lesion_id = store.get_study(db)["patients"][0]["lesions"][0]["id"]
        stored = store.get_lesion(db, lesion_id)["clips"]
    assert [Path(c["path"]).name for c in stored] == ["exam_loop.dcm", Path(written.dicoms[1]).name]
    assert stored[0]["rois"] == json.loads(written.rois[0].read_text())  # the loop's ROIs untouched
    drawn = {r["name"]: r for r in stored[1]["rois"]["rois"]}
    truth_lesion = next(r for r in sweep_rois["rois"] if r["role"] == "lesion")
    assert all(abs(a - b) <= 1.0 for a, b in zip(drawn["lesion"]["center"], truth_lesion["center"], strict=True))

    # back to the loop and to the sweep again by the timeline: each clip keeps its own ROIs
    page.click("#timeline .segment:has-text('clip 1')")
    page.wait_for_selector("#time-label:has-text('clip 1/2')")
    assert page.inner_text("#reference-frame") == str(json.loads(written.rois[0].read_text())["reference_frame"] + 1)
    page.click("#timeline .segment:has-text('clip 2')")
    page.wait_for_selector("#time-label:has-text('clip 2/2')")
    assert page.locator("#roi-list li").count() == 2

    # the examination analysed: one plot, its curves broken across the gap, the late phase read on the sweep
    page.click("#analyse")
    page.wait_for_selector("#label-late", timeout=300_000)
    page.wait_for_selector("#tic rect.gap")
    gap_from, gap_to = (float(page.get_attribute("#tic rect.gap", name)) for name in ("data-from", "data-to"))
    windows = truth["clip_windows_s"]
    assert windows[0][1] - 1.0 <= gap_from <= windows[0][1] + 1e-6 and windows[1][0] - 1e-6 <= gap_to <= windows[1][0] + 1.0
    path = page.get_attribute("#tic path.curve.lesion", "d")
    assert path.count("M") >= 2  # a new segment after the gap, not a line across it
    assert page.inner_text("#label-late") == truth["pattern"]["late"]
    assert page.inner_text("#label-arterial") == truth["pattern"]["arterial"]
    page.screenshot(path=str(ARTIFACTS / "22-examination-analysed.png"), full_page=True)
    context.close()
    assert errors == [], errors
