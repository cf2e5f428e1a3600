"""A blinded reader study end to end in Debian's chromium: an administrator opens a reading session in the
workstation, two readers each read the three lesions with the keyboard alone, and the report's kappa is the
one statsmodels computes from the reads the database stored.

Everything a reader's browser receives (DOM and every network response) is searched for the patients'
pseudonyms, their Ki-67, and the stored software result (distinctive values planted by the fixture).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ceuskit import store
from ceuskit.web import Settings, create_app

from .conftest import ARTIFACTS, CHROMIUM, PASSWORDS, TOKEN, ReaderStudy
from .test_e2e import serve, wait_until, watch

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]

# what each reader presses for their 1st, 2nd and 3rd lesion (in their own random order)
PLANS = {"ann": [("q", "a", "c"), ("w", "d", "x"), ("q", "s", "c")],
         "bob": [("q", "a", "c"), ("q", "a", "c"), ("w", "d", "x")]}
ARTERIAL = {"q": "hyper", "w": "iso", "e": "hypo"}


@pytest.fixture(scope="module")
def db_url(reader_study: ReaderStudy, tmp_path_factory: pytest.TempPathFactory) -> str:
    copy = tmp_path_factory.mktemp("e2e-reading") / "reading.db"
    shutil.copy(reader_study.db_url.removeprefix("sqlite:///"), copy)
    return f"sqlite:///{copy}"


@pytest.fixture(scope="module")
def server(db_url: str, reader_study: ReaderStudy) -> Iterator[str]:
    yield from serve(create_app(Settings(db_url=db_url, data_dir=reader_study.data, token=TOKEN)))


def _sign_in(browser, server: str, username: str, errors: list[str]):
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    tab = context.new_page()
    tab.set_default_timeout(60_000)
    watch(tab, errors)
    tab.goto(server + "/login")
    tab.fill("#username", username)
    tab.fill("#password", PASSWORDS[username])
    tab.keyboard.press("Enter")
    return context, tab


FORBIDDEN_KEYS = {"patient", "patient_id", "lesion", "lesion_id", "ki67", "ki67_percent", "who_grade", "primary_site",
                  "analysis", "document", "lesions", "arterial_phase", "pattern", "lirads", "reads", "read_by",
                  "path", "sha256"}


def _forbidden(reader_study: ReaderStudy) -> list[str]:
    """Strings a reader must never receive: pseudonyms, Ki-67 and the stored software result."""
    out = [*reader_study.patients, "Ki-67", "SOFTWARE-PATTERN", "LR-M", "relative_peak_db", "washout_degree"]
    out += [f"{doc['lesions'][0]['arterial_phase']['onset_s']:.4f}" for doc in reader_study.software.values()]
    return out


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_admin_opens_a_session_and_two_readers_read_blind(browser, server: str, db_url: str,
                                                          reader_study: ReaderStudy) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    errors: list[str] = []
    admin_context, admin = _sign_in(browser, server, "boss", errors)
    admin.wait_for_url(server + "/")
    admin.click("#tab-reading")
    admin.wait_for_selector("#rs-readers input[value='ann']")
    admin.fill("#rs-name", "round 1")
    admin.check("#rs-readers input[value='ann']")
    admin.check("#rs-readers input[value='bob']")
    admin.click("#rs-open")
    admin.wait_for_selector("#rs-list td:text-is('round 1')")
    assert admin.inner_text("#rs-list .rs-progress") == "ann 0/3 · bob 0/3"
    admin.screenshot(path=str(ARTIFACTS / "10-reading-session-opened.png"))

    forbidden = _forbidden(reader_study)
    for reader, plan in PLANS.items():
        received: list[str] = []
        context, tab = _sign_in(browser, server, reader, errors)

        def keep(response, received=received) -> None:  # every API answer (the static code is the same for all)
            if "/api/" in response.url and "image/png" not in response.headers.get("content-type", ""):
                try:
                    received.append(response.text())
                except Exception:  # a redirect or an aborted request has no body
                    pass

        tab.on("response", keep)
        tab.wait_for_url(server + "/read")
        assert tab.evaluate("document.cookie") == "" and tab.evaluate("localStorage.length") in (0, 1)
        for position, keys in enumerate(plan, start=1):
            tab.wait_for_selector(f"#progress:text-is('{position}/3')")
            wait_until(tab, "document.getElementById('time-label').textContent.startsWith('frame 1/')")
            for _ in range(4):
                tab.keyboard.press("ArrowRight")
            tab.wait_for_selector("#time-label:has-text('frame 5/')")
            tab.keyboard.press("m")
            tab.wait_for_selector("#onset-label:has-text('frame 5')")
            for key in keys:
                tab.keyboard.press(key)
            tab.wait_for_selector(f".choices[data-group='arterial'] button.active:has-text('{ARTERIAL[keys[0]]}')")
            if position == 1:
                tab.screenshot(path=str(ARTIFACTS / f"11-{reader}-reading.png"))
            tab.keyboard.press("Enter")
        tab.wait_for_selector("#finished:not([hidden])")
        tab.wait_for_selector("#progress:text-is('3/3')")
        dom = tab.evaluate("document.documentElement.outerHTML")
        assert received
        for text in forbidden:
            assert text not in dom, f"{reader}'s page shows {text!r}"
            for body in received:
                assert text not in body, f"{reader}'s browser received {text!r}"
        for body in received:
            if body.startswith(("{", "[")):
                assert not _keys(json.loads(body)) & FORBIDDEN_KEYS, body[:300]
        context.close()

    with store.Store(db_url) as db:
        reads = [r for r in store.reader_reads(db) if r["source"] == "session"]
        times = {r["lesion_id"]: r["onset_s"] for r in reads}
    assert len(reads) == 6
    # the onset is the time of the 5th frame after injection, as the reader's page showed it
    assert all(value is not None for value in times.values())
    by_reader = {name: {r["lesion_id"]: r for r in reads if r["reader"] == name} for name in PLANS}
    lesions = sorted(by_reader["ann"])
    cats = ["hypo", "iso", "hyper"]
    table = np.zeros((3, 3))
    for lesion in lesions:
        table[cats.index(by_reader["ann"][lesion]["arterial"]), cats.index(by_reader["bob"][lesion]["arterial"])] += 1
    expected = cohens_kappa(table).kappa

    admin.reload()
    admin.wait_for_selector("#rs-list .rs-progress:text-is('ann 3/3 · bob 3/3')")
    report = admin_context.request.get(server + "/api/studies/1/report?format=html")
    assert report.status == 200
    match = re.search(r'data-pair="ann\|bob\|arterial" data-kappa="([^"]+)"', report.text())
    assert match is not None, "the report has no ann vs bob arterial kappa"
    assert float(match.group(1)) == pytest.approx(expected, abs=1e-12)
    admin_context.close()
    assert errors == [], errors
    (ARTIFACTS / "reading-kappa.json").write_text(json.dumps({"statsmodels": expected,
                                                             "report": float(match.group(1))}))
