"""A curve table in the browser: upload a QLAB export, make a lesion of it, analyse it — no viewer needed.

Debian's chromium driven by Playwright, as tests/web/test_e2e.py; the curves are the simulator's
(ceuskit.simulate.curve_cases) and the onset is compared with their truth. Screenshots go to
``build/test-artifacts/web/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ceuskit.simulate import exports
from ceuskit.simulate.curve_cases import curve_case
from ceuskit.web import Settings, create_app

from .conftest import ARTIFACTS, CHROMIUM, TOKEN
from .test_e2e import serve, wait_until, watch

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed "
                                 "(make install installs it)")]

ADMIN, PASSWORD = "curves", "curve reader password"
CASE = curve_case("slow-gamma-25s", seed=6)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from ceuskit import store
    from ceuskit.store import accounts

    root = tmp_path_factory.mktemp("curves-web")
    (root / "data").mkdir()
    db_url = f"sqlite:///{root / 'web.db'}"
    with store.Store(db_url) as db:
        accounts.add_user(db, ADMIN, role="admin", password=PASSWORD, actor="cli:test")
    yield from serve(create_app(Settings(db_url=db_url, data_dir=root / "data", token=TOKEN)))


def test_upload_a_curve_table_and_read_it(server: str, browser, tmp_path: Path) -> None:
    qlab = exports.write_qlab(tmp_path / "exported-roi-quantification.txt", CASE.times_s, CASE.power)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    watch(page, errors)
    page.set_default_timeout(60_000)
    page.goto(server + "/login")
    page.fill("#username", ADMIN)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_url(server + "/")

    page.click("#add-lesion-button")
    page.set_input_files("#add-upload", str(qlab))
    wait_until(page, "document.getElementById('add-clip').value.endsWith('.txt')")
    assert page.is_visible("#add-units")  # a curve table: its units may be stated
    page.fill("#add-study-name", "Curves")
    page.fill("#add-patient", "C01")
    page.click("#add-submit")
    page.wait_for_selector("#curves-note:has-text('no images')")
    assert not page.is_visible("#viewer") and page.locator("#roi-list li").count() == 2
    page.screenshot(path=str(ARTIFACTS / "curves-01-lesion.png"))

    page.click("#analyse")
    page.wait_for_selector("#label-arterial", timeout=300_000)
    page.wait_for_selector("#tic path.curve.lesion")
    onset = float(page.inner_text("#onset").split()[0])
    assert abs(onset - CASE.truth["onset_s"]["lesion"]) <= 1.0
    assert page.locator("#tic path[data-name='ROI 1 fit']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "curves-02-analysed.png"), full_page=True)
    for item in exports.FAKE_PATIENT.values():
        assert item not in page.content()
    context.close()
    assert errors == [], errors
