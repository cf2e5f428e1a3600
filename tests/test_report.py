"""The cohort report: self-contained HTML and a PDF, with the seed study's published figures beside ours."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "store"))
from cohort_fakes import COHORT, fake_analyze, write_cohort  # noqa: E402

from ceuskit import store, study  # noqa: E402
from ceuskit.cli import main  # noqa: E402
from ceuskit.report import write_report  # noqa: E402


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", fail={"P10"}))
        study.import_reads(s, tmp_path / "c" / "reads.csv")
        study.run_study(s, workers=0, analyze=fake_analyze)
    return url


def test_report_html_is_self_contained_and_complete(db_url: str, tmp_path: Path) -> None:
    with store.Store(db_url) as s:
        html_path = write_report(s, tmp_path / "report")
    html = Path(html_path).read_text()
    # No external resource: every src/href is inline (data:) — nothing fetched from a CDN or the network.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html)
    assert "<script" not in html
    n_images = html.count('src="data:image/png;base64,')
    assert n_images == 3 + (len(COHORT) - 1)  # seed bars, scatter, grade boxes + one TIC panel per analysed lesion
    # The seed study's published figures (Massironi et al., Dig Liver Dis 2010).
    for published in ("15/18 (83 %)", "14/18 (78 %)", "12/18 (67 %)", "5/18 (28 %)", "1/18 (6 %)", "0.516", "0.028"):
        assert published in html
    hyper = sum(row[3] == "hyper" for row in COHORT[:-1])  # arterial hyper among the 9 analysed lesions (P10 failed)
    assert f"{hyper}/9 ({100 * hyper / 9:.0f} %)" in html
    assert "planned failure" in html  # the failed lesion is shown with its error
    for heading in ("This cohort beside the seed study", "Arterial onset and tumour proliferation",
                    "Methods and provenance", "Agreement between readers and software"):
        assert heading in html
    assert "ceuskit " in html and db_url.split("///")[1] in html  # provenance: version and database


def test_report_pdf_has_every_page(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["study", "report", "--out", str(tmp_path / "r"), "--db", db_url]) == 0
    pdf = (tmp_path / "r" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert pages == 1 + 3 + (len(COHORT) - 1)  # cover, three cohort figures, one page per TIC panel
    assert "report.html" in capsys.readouterr().out
    assert not list((tmp_path / "r").glob(".report-*"))


def test_report_lists_the_lesions_with_quality_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flags.db'}"
    planned = {"P02": ["no_baseline"], "P05": ["saturation", "motion"]}
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", flags=planned))
        study.run_study(s, workers=0, analyze=fake_analyze)
        html = Path(write_report(s, tmp_path / "report")).read_text()
        frame = study.cohort_frame(s)
    assert "2 lesion(s) carry quality flags" in html
    assert "P02/L1: no_baseline (lesion)" in html and "P05/L1: saturation (lesion); motion (lesion)" in html
    cells = dict(zip(frame["patient_id"], frame["quality"], strict=True))  # the export's one column
    assert cells["P02"] == "no_baseline (lesion)" and cells["P05"] == "saturation (lesion); motion (lesion)"
    assert all(pd.isna(cells[p]) for p in cells if p not in planned)
