"""Two studies in Debian's chromium: Cohort and Reading follow the selected lesion's study and name it, flags are
legible, the sign-in lockout says how long to wait.

Study A ("NET liver — site A", two patients, a reading session, stored analyses, one of them flagged) and
study B (three patients, no session).  The administrator expands B, then selects a lesion of A: Cohort and
Reading must show A — its name, its counts, its session — not B, the study last expanded.  The flagged
lesion's quality flags are photographed (``build/test-artifacts/web/flag.png``) and their rendered colours
must reach 4.5:1 (WCAG AA).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ceuskit import store
from ceuskit.simulate import simulate_cohort
from ceuskit.store import accounts, reading
from ceuskit.study import import_manifest
from ceuskit.web import Settings, create_app

from .conftest import ARTIFACTS, CHROMIUM, PASSWORDS, TOKEN, software_document
from .test_contrast import ratio
from .test_e2e import serve, sign_in_as, watched_page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]

STUDY_A, STUDY_B = "NET liver — site A", "NET liver — site B"
FLAGS = [{"code": "no_baseline", "roi": "lesion", "severity": "warning",
          "message": "the recording starts after the contrast arrived: the onset is left empty"},
         {"code": "extrapolated", "roi": "liver", "severity": "info",
          "message": "the wash-out never falls to 5 % within the recording"}]


@pytest.fixture(scope="module")
def two_studies(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data = tmp_path_factory.mktemp("two-studies")
    db_url = f"sqlite:///{data.parent / 'two-studies.db'}"
    with store.Store(db_url) as db:
        import_manifest(db, simulate_cohort(data / "a", n_patients=2, seed=21, duration_s=30.0), study=STUDY_A)
        import_manifest(db, simulate_cohort(data / "b", n_patients=3, seed=22, duration_s=30.0), study=STUDY_B)
        for name in ("boss", "ann"):
            accounts.add_user(db, name, role="admin" if name == "boss" else "reader", password=PASSWORDS[name],
                              actor="cli:test")
        studies = {s["name"]: s["id"] for s in store.list_studies(db)}
        lesions = [lesion for p in store.get_study(db, studies[STUDY_A])["patients"] for lesion in p["lesions"]]
        for i, lesion in enumerate(lesions):
            document = software_document(lesion["id"])
            document["quality"] = FLAGS if i == 0 else []
            store.record_analysis(db, lesion["id"], status="ok", document=document, error=None,
                                  software_version="test", parameters={}, parameter_hash="0" * 64,
                                  input_hash="1" * 64)
        reading.open_reading_session(db, studies[STUDY_A], "round A", ["ann"], actor="boss")
        patients_a = [p["patient"] for p in store.get_study(db, studies[STUDY_A])["patients"]]
        patients_b = [p["patient"] for p in store.get_study(db, studies[STUDY_B])["patients"]]
    return {"data": data, "db_url": db_url, "ids": studies, "patients_a": patients_a, "patients_b": patients_b,
            "flagged": f"{lesions[0]['patient']} · {lesions[0]['lesion']}"}


@pytest.fixture(scope="module")
def server(two_studies: dict) -> Iterator[str]:
    yield from serve(create_app(Settings(db_url=two_studies["db_url"], data_dir=two_studies["data"], token=TOKEN)))


@pytest.fixture()
def page(server: str, browser) -> Iterator:
    yield from watched_page(browser)


def _sign_in(page, server: str) -> None:
    sign_in_as(page, server, "boss", PASSWORDS["boss"])


def _rgb(css: str) -> tuple[float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)[:3]]
    return values[0] / 255, values[1] / 255, values[2] / 255


def test_cohort_and_reading_follow_the_selected_lesions_study(page, server: str, two_studies: dict) -> None:
    _sign_in(page, server)
    study_a = page.locator(f"details.study[data-id='{two_studies['ids'][STUDY_A]}']")
    study_b = page.locator(f"details.study[data-id='{two_studies['ids'][STUDY_B]}']")
    study_a.locator(".lesion").first.wait_for()
    study_b.locator("summary").click()  # expand B after A ...
    study_b.locator(".lesion").first.wait_for()
    study_a.locator(f".lesion:has-text('{two_studies['patients_a'][1]}')").click()  # ... then choose a lesion of A
    page.wait_for_selector(f"#lesion-title:has-text('{two_studies['patients_a'][1]}')")
    page.click("#tab-cohort")
    page.wait_for_selector(f"#cohort-study:text-is('{STUDY_A}')")
    page.wait_for_selector("#cohort-title:text-is('2 patients, 2 lesions')")  # A's counts, not B's three
    page.wait_for_selector("#scatter circle.dot.G1, #scatter circle.dot.G2, #scatter circle.dot.G3")
    legend = page.locator("#scatter .legend text").all_text_contents()
    assert legend == ["G1 (Ki-67 < 3 %)", "G2 (3–20 %)", "G3 (> 20 %)", "no grade"]
    page.screenshot(path=str(ARTIFACTS / "studies-cohort-of-A.png"))
    page.click("#tab-reading")
    page.wait_for_selector(f"#reading-study:text-is('{STUDY_A}')")
    page.wait_for_selector("#rs-list td:text-is('round A')")
    assert page.inner_text("#reading-study-form") == STUDY_A
    page.screenshot(path=str(ARTIFACTS / "studies-reading-of-A.png"))
    study_b.locator(f".lesion:has-text('{two_studies['patients_b'][0]}')").click()  # now a lesion of B
    page.wait_for_selector(f"#reading-study:text-is('{STUDY_B}')")
    page.wait_for_selector("#rs-list td:has-text('No reading session in this study yet')")
    page.click("#tab-cohort")
    page.wait_for_selector(f"#cohort-study:text-is('{STUDY_B}')")
    page.wait_for_selector("#cohort-title:text-is('3 patients, 3 lesions')")


def test_quality_flags_are_legible(page, server: str, two_studies: dict) -> None:
    _sign_in(page, server)
    page.click("#tab-lesion")
    page.locator(f".lesion:has-text('{two_studies['flagged']}')").first.click()
    flags = page.locator("#quality li.flag")
    flags.first.wait_for()
    assert flags.count() == 2
    flags.first.scroll_into_view_if_needed()
    page.locator("#quality").screenshot(path=str(ARTIFACTS / "flag.png"))
    for i in range(2):
        colours = flags.nth(i).evaluate("node => [getComputedStyle(node).color, getComputedStyle(node).backgroundColor]")
        assert ratio(_rgb(colours[0]), _rgb(colours[1])) >= 4.5, colours
    assert "no baseline (lesion): the recording starts after the contrast arrived" in flags.first.inner_text()


def test_the_lockout_message_says_how_long_to_wait(browser, two_studies: dict) -> None:
    app = create_app(Settings(db_url=two_studies["db_url"], data_dir=two_studies["data"], token=TOKEN))
    for url in serve(app):  # a server of its own: its throttle counts start at zero
        context = browser.new_context()
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        tab.goto(url + "/login")
        tab.fill("#username", "mallory")
        for _ in range(app.state.context.settings.throttle.pair_free):
            tab.fill("#password", "guess guess")
            tab.click("#login")
            tab.wait_for_selector("#error:text-is('Wrong user name or password.')")
            tab.evaluate("document.getElementById('error').textContent = ''")
        tab.fill("#password", "guess guess")
        tab.click("#login")
        tab.wait_for_selector("#error:has-text('Try again in')")
        message = tab.inner_text("#error")
        assert message == ("Too many failed sign-ins for this user from this address. Try again in 30 s.")
        assert tab.is_disabled("#login") and "wait" in tab.inner_text("#login")
        tab.screenshot(path=str(ARTIFACTS / "lockout.png"))
        context.close()
