"""The cohort report: self-contained HTML and a PDF, with the seed study's published figures beside ours."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "store"))
from cohort_fakes import COHORT, fake_analyze_examination, write_cohort  # noqa: E402

from ceuskit import store, study  # noqa: E402
from ceuskit.cli import main  # noqa: E402
from ceuskit.report import write_report as _write_report  # noqa: E402


def write_report(s: store.Store, out: Path, **options: object) -> Path:
    """The cohort report of ``s``, from its cohort table and statistics (as ``ceuskit study report`` makes it)."""
    frame = study.cohort_frame(s)
    return Path(_write_report(s, out, frame=frame, result=study.cohort_stats(frame), **options))


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", fail={"P10"}))
        study.import_reads(s, tmp_path / "c" / "reads.csv")
        study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
    return url


def test_report_html_is_self_contained_and_complete(db_url: str, tmp_path: Path) -> None:
    with store.Store(db_url) as s:
        html_path = write_report(s, tmp_path / "report")
    html = Path(html_path).read_text()
    # No external resource: every src/href is inline (data:) — nothing fetched from a CDN or the network.
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", html)
    assert "<script" not in html
    n_images = html.count('src="data:image/png;base64,')
    # seed bars, scatter, grade boxes, the onset conventions (Methods) + one TIC panel per analysed lesion
    assert n_images == 4 + (len(COHORT) - 1)
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


def _pdf_facts(pdf: bytes) -> dict:
    """Page count, page size (pt) and the document information of a PDF (as Chromium's Skia writes it)."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    title = re.search(rb"/Title\s*\(((?:[^()\\]|\\.)*)\)", pdf) or re.search(rb"/Title\s*<([0-9A-Fa-f]+)>", pdf)
    return {"pages": len(re.findall(rb"/Type\s*/Page\b", pdf)), "boxes": {(float(w), float(h)) for w, h in boxes},
            "producer": re.search(rb"/Producer\s*\(([^)]*)\)", pdf), "title": title}


def test_report_pdf_is_the_html_typeset_by_chromium(db_url: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from ceuskit.report.pdf import find_chromium

    if find_chromium() is None:
        pytest.skip("Debian's chromium is not installed (make install installs it)")
    assert main(["study", "report", "--out", str(tmp_path / "r"), "--db", db_url]) == 0
    pdf = (tmp_path / "r" / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    facts = _pdf_facts(pdf)
    assert b"Skia/PDF" in facts["producer"].group(1)  # Chromium's print engine, not a figure-per-page export
    assert facts["boxes"] == {(594.95996, 841.91998)} or all(abs(w - 595.3) < 1.5 and abs(h - 841.9) < 1.5
                                                            for w, h in facts["boxes"])  # A4 (ISO 216) in points
    assert facts["pages"] >= 4  # tables, figures and nine TIC panels do not fit on fewer A4 pages
    out = capsys.readouterr().out
    assert "report.html" in out and "report.pdf" in out
    assert not list((tmp_path / "r").glob(".report-*"))


def test_without_chromium_the_html_is_written_and_the_pdf_refused(db_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ceuskit.errors import ReportError

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "report.pdf").write_bytes(b"%PDF stale")
    monkeypatch.setenv("CEUSKIT_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert main(["study", "report", "--out", str(tmp_path / "r"), "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "no PDF" in out and "chromium" in out.lower()
    assert (tmp_path / "r" / "report.html").is_file() and not (tmp_path / "r" / "report.pdf").exists()
    with store.Store(db_url) as s, pytest.raises(ReportError, match="apt install chromium"):
        write_report(s, tmp_path / "r2", pdf=True)
    assert (tmp_path / "r2" / "report.html").is_file() and not (tmp_path / "r2" / "report.pdf").exists()


def test_report_agreement_section_methods_and_provenance(db_url: str, tmp_path: Path) -> None:
    from statsmodels.stats.inter_rater import cohens_kappa

    with store.Store(db_url) as s:
        html = Path(write_report(s, tmp_path / "report", pdf=False)).read_text()
        reads = store.reader_reads(s)
        analysed = {r["lesion_db_id"] for r in study.cohort_frame(s).to_dict("records") if r["analysis_status"] == "ok"}
    cats = ["hypo", "iso", "hyper"]
    table = np.zeros((3, 3))
    by = {(r["lesion_id"], r["reader"]): r for r in reads}
    for lesion in {r["lesion_id"] for r in reads}:
        table[cats.index(by[(lesion, "reader1")]["late"]), cats.index(by[(lesion, "reader2")]["late"])] += 1
    shown = float(re.search(r'data-pair="reader1\|reader2\|late" data-kappa="([^"]+)"', html).group(1))
    assert shown == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)  # statsmodels on the stored reads
    assert f"{cohens_kappa(table).kappa:.2f}" in html
    assert "read model-free" in html and "fitted arrival time (5 % of peak)" not in html  # Methods follow the code
    assert "<th>software</th>" in html and "{" not in re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    assert "lesions analysed" in html and "Analysis parameters" in html and analysed


def test_report_of_a_study_with_nothing_analysed_yet(tmp_path: Path) -> None:
    """Found by tests/fuzz/test_fuzz_web.py: an empty scatter plot warned (no legend entries), a 500 in the API."""
    import warnings

    with store.Store(f"sqlite:///{tmp_path / 'empty.db'}") as s:
        study.import_manifest(s, write_cohort(tmp_path / "c"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            html = Path(write_report(s, tmp_path / "r", pdf=False)).read_text()
    assert "10 patients, 10 lesions, 0 analysed" in html


def test_report_lists_the_lesions_with_quality_flags(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flags.db'}"
    planned = {"P02": ["no_baseline"], "P05": ["saturation", "motion"]}
    with store.Store(url) as s:
        study.import_manifest(s, write_cohort(tmp_path / "c", flags=planned))
        study.run_study(s, workers=0, analyze_examination=fake_analyze_examination)
        html = Path(write_report(s, tmp_path / "report")).read_text()
        frame = study.cohort_frame(s)
    assert "2 lesions carry quality flags" in html
    assert ">nan<" not in html and html.count("<td>–</td>") >= 8  # lesions without flags: a dash, never nan
    assert "P02/L1: no_baseline (lesion)" in html and "P05/L1: saturation (lesion); motion (lesion)" in html
    cells = dict(zip(frame["patient_id"], frame["quality"], strict=True))  # the export's one column
    assert cells["P02"] == "no_baseline (lesion)" and cells["P05"] == "saturation (lesion); motion (lesion)"
    assert all(pd.isna(cells[p]) for p in cells if p not in planned)
