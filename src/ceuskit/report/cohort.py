"""The cohort report: ``report.html`` (self-contained) and ``report.pdf`` beside the seed study's figures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ceuskit._atomic import atomic_path
from ceuskit._version import __version__
from ceuskit.report.onset_figure import onset_conventions_figure
from ceuskit.report.pdf import find_chromium, html_to_pdf
from ceuskit.report.plots import (
    bland_altman_plot,
    grade_boxplots,
    onset_scatter,
    pattern_bars,
    png_data_uri,
    tic_panel,
)
from ceuskit.store import Store, cohort_records, get_study

__all__ = ["METHODS", "SEED", "agreement_lines", "plural", "seed_comparison", "seed_rows", "stats_lines",
           "write_report"]

SEED: dict[str, Any] = {
    "citation": "Massironi S, et al. Contrast-enhanced ultrasonography in evaluating hepatic metastases from "
                "neuroendocrine tumours. Dig Liver Dis 2010;42(9):635–641.",
    "n": 18,
    "patterns": {"arterial_hyper": 15, "washout": 14, "late_hypo": 12, "late_iso": 5, "late_hyper": 1},
    "rho": 0.516,
    "p_value": 0.028,
}
"""The seed study's published figures (n = 18 patients)."""

_LABELS = {"arterial_hyper": "arterial hyper-enhancement", "arterial_iso": "arterial iso-enhancement",
           "arterial_hypo": "arterial hypo-enhancement", "washout": "wash-out (portal venous)",
           "washout_early": "early wash-out (< 60 s)", "washout_late": "late wash-out (≥ 60 s)",
           "late_hypo": "late phase hypo-echoic", "late_iso": "late phase iso-echoic",
           "late_hyper": "late phase hyper-echoic"}
_UNITS = {"arterial_onset_s": "arterial onset (s)", "time_to_peak_s": "time to peak (s)",
          "rise_time_s": "rise time (s)", "peak_enhancement_db": "peak enhancement (dB)",
          "arterial_relative_peak_db": "arterial peak, lesion − liver (dB)",
          "washout_onset_s": "wash-out onset (s)", "late_relative_db": "late phase, lesion − liver (dB)",
          "mean_transit_time_s": "mean transit time (s)", "wash_in_rate": "wash-in rate (power/s)",
          "wash_out_rate": "wash-out rate (power/s)"}


_TITLE_CHARS = 90  # of a 10-pt title across a 7.5-inch TIC panel


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _p_eq(p: float | None) -> str:
    """``"= 0.028"`` or ``"< 0.001"`` (or ``"–"``), to follow a "p"."""
    if p is None:
        return "–"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _fmt_ci(ci: list[float] | None, digits: int = 0, unit: str = "") -> str:
    return "–" if ci is None else f"{ci[0]:.{digits}f} to {ci[1]:.{digits}f}{unit}"


def seed_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of the seed-vs-ceuskit table: ``label``, seed ``seed_n``/``seed_percent``, ours ``n``/``of``/…."""
    rows = []
    for name, seed_n in SEED["patterns"].items():
        ours = result["patterns"][name]
        rows.append({"name": name, "label": _LABELS[name], "seed_n": seed_n, "seed_of": SEED["n"],
                     "seed_percent": 100.0 * seed_n / SEED["n"], **ours})
    return rows


def _onset(result: Mapping[str, Any]) -> dict[str, Any]:
    return next((c for c in result["correlations"] if c["x"] == "arterial_onset_s"), {"rho": None, "n": 0})


def seed_comparison(result: Mapping[str, Any]) -> list[str]:
    """Return the seed-vs-ceuskit table as text lines (for the terminal)."""
    lines = [f"{'finding':34s} {'seed (n = 18)':>14s} {'ceuskit':>14s}  95 % CI", "-" * 76]
    for row in seed_rows(result):
        ours = "–" if row["percent"] is None else f"{row['n']}/{row['of']} = {row['percent']:.0f}%"
        lines.append(f"{row['label']:34s} {row['seed_n']:>4d}/18 = {row['seed_percent']:>3.0f}% {ours:>14s}  "
                     f"{_fmt_ci(row['ci95'], 0, '%')}")
    c = _onset(result)
    ours = "–" if c.get("rho") is None else f"rs {c['rho']:.3f}, p {_p_eq(c['p_value'])}"
    lines.append(f"{'onset vs Ki-67 (Spearman)':34s} {'rs 0.516, p 0.028':>14s} {ours:>14s}  "
                 f"{_fmt_ci(c.get('ci95'), 2)}")
    return lines


def stats_lines(result: Mapping[str, Any]) -> list[str]:
    """``ceuskit study stats`` as readable text."""
    lines = [f"{plural(result['n_patients'], 'patient')}, {plural(result['n_lesions'], 'lesion')}, "
             f"{result['n_analysed']} analysed"
             + (f", {result['n_failed']} failed" if result["n_failed"] else ""), "", "Patterns (Wilson 95 % CI):"]
    for name, p in result["patterns"].items():
        value = "–" if p["percent"] is None else f"{p['n']}/{p['of']} = {p['percent']:.0f}%"
        lines.append(f"  {_LABELS[name]:34s} {value:>14s}  {_fmt_ci(p['ci95'], 0, '%')}")
    lines += ["", "Spearman correlation with Ki-67 (p: t approximation; permutation p for n ≤ 20):"]
    for c in result["correlations"]:
        if c["rho"] is None:
            lines.append(f"  {c['x']:28s} n = {c['n']}: not computable")
            continue
        lines.append(f"  {c['x']:28s} rs = {c['rho']:+.3f}  p {_p_eq(c['p_value']):>7s}  "
                     f"p_perm {_p_eq(c['p_exact']):>7s}  95% CI {_fmt_ci(c['ci95'], 2)}  n = {c['n']}")
    roc = result["roc"]
    if roc["auc"] is not None:
        lines += ["", f"ROC AUC of arterial onset for G2+ vs G1: {roc['auc']:.2f} (95% CI {_fmt_ci(roc['ci95'], 2)}; "
                  f"{roc['n_positive']} vs {roc['n_negative']} lesions)"]
    onset_grade = result["by_grade"].get("arterial_onset_s", {})
    if onset_grade.get("p_value") is not None:
        lines.append(f"Arterial onset by WHO grade: Kruskal–Wallis H = {onset_grade['h']:.2f}, "
                     f"p {_p_eq(onset_grade['p_value'])}")
    lines += agreement_lines(result["agreement"])
    return lines


def plural(n: int, word: str) -> str:
    """``"1 lesion"``, ``"2 lesions"``: a count with its noun (English, regular plurals).

    Parameters
    ----------
    n : int
        The count.
    word : str
        The noun in the singular.

    Returns
    -------
    str
        The count and the noun, in the plural unless the count is 1.
    """
    return f"{n} {word}{'' if n == 1 else 's'}"


def _kappa(value: float | None, ci: list[float] | None, reason: str | None = None) -> str:
    if value is None:
        return "—" if reason is None else f"— ({reason})"
    return f"{value:.2f} (95% CI {_fmt_ci(ci, 2)})"


def agreement_lines(agreement: Mapping[str, Any]) -> list[str]:
    """Return the ``agreement`` of ``cohort_stats`` as text lines (none without reader reads)."""
    if not agreement.get("pairs"):
        return []
    lines = ["", "Agreement (Cohen's kappa; linearly weighted kappa beside for the ordered enhancement labels; "
             "95% CI: percentile bootstrap over lesions):"]
    for p in agreement["pairs"]:
        reason = p.get("reason")
        weighted = ("" if p["weights"] is None or reason is not None
                    else f"; weighted {_kappa(p['weighted_kappa'], p['weighted_ci'])}")
        lines.append(f"  {p['a']} vs {p['b']}, {p['feature']:8s}: {_kappa(p['kappa'], p['ci'], reason)}{weighted}, "
                     f"n = {p['n']}")
    for f in agreement.get("fleiss") or []:
        lines.append(f"  Fleiss' kappa, {f['feature']:8s} ({', '.join(f['raters'])}): "
                     f"{_kappa(f['kappa'], f['ci'], f.get('reason'))}, n = {f['n']}")
    onset = agreement.get("onset") or {}
    for p in onset.get("pairs") or []:
        if p["bias"] is None:
            continue
        limits = "–" if p["limits"] is None else f"{p['limits'][0]:+.2f} to {p['limits'][1]:+.2f} s"
        icc = "" if p["icc"] is None else f", ICC {_kappa(p['icc'], p['icc_ci'])}"
        lines.append(f"  onset {p['a']} − {p['b']}: bias {p['bias']:+.2f} s, 95% limits {limits}{icc}, n = {p['n']}")
    overall = onset.get("icc")
    if overall and overall.get("icc") is not None:
        lines.append(f"  onset ICC(2,1) of {', '.join(overall['raters'])}: {_kappa(overall['icc'], overall['ci'])}, "
                     f"n = {overall['n']}")
    return lines


def _lesion_table(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def num(value: Any, digits: int = 1) -> str:
        return "–" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"

    rows = []
    for _, r in frame.iterrows():
        washout = "–"
        if r["washout"] is not None and not pd.isna(r["washout"]):
            washout = (f"{_text(r['washout_timing'])}, {_text(r['washout_degree'])} ({num(r['washout_onset_s'])} s)"
                       if bool(r["washout"]) else "none")
        rows.append({"patient": _text(r["patient_id"]), "lesion": _text(r["lesion_id"]),
                     "primary": _text(r["primary_site"]) or "–", "ki67": num(r["ki67"]),
                     "grade": _text(r["who_grade"]) or "–", "arterial": _text(r["arterial_enhancement"]) or "–",
                     "onset": num(r["arterial_onset_s"]), "washout": washout,
                     "late": _text(r["late_enhancement"]) or "–", "r2": num(r["fit_r2"], 2),
                     "status": _text(r["analysis_status"]) or "not analysed", "error": _text(r["analysis_error"]),
                     "quality": _text(r.get("quality"))})
    return rows


def _text(value: Any) -> str:
    """Return a table cell's text: empty for a missing value (None, NaN), never ``"nan"``."""
    return "" if value is None or (not isinstance(value, str) and bool(pd.isna(value))) else str(value)


def flagged_lines(frame: pd.DataFrame) -> list[str]:
    """One line per lesion whose analysis carries quality flags: "patient/lesion: code (roi); …"."""
    if "quality" not in frame:
        return []
    flagged = frame[frame["quality"].notna() & (frame["quality"] != "")]
    return [f"{r['patient_id']}/{r['lesion_id']}: {r['quality']}" for _, r in flagged.iterrows()]


def _figures(frame: pd.DataFrame, result: Mapping[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    ok = frame[frame["analysis_status"] == "ok"]
    figures: dict[str, Any] = {
        "patterns": pattern_bars(seed_rows(result)),
        "scatter": onset_scatter(ok, _onset(result)),
        "grades": grade_boxplots(ok, {k: _UNITS[k] for k in ("arterial_onset_s", "time_to_peak_s",
                                                               "arterial_relative_peak_db")}, result["by_grade"]),
        "tics": [],
        "bland_altman": bland_altman_plot(((result.get("agreement") or {}).get("onset") or {}).get("pairs") or []),
    }
    for record in records:
        analysis = record.get("analysis") or {}
        if analysis.get("status") != "ok" or not analysis.get("document"):
            continue
        title = (f"patient {record['patient']}, lesion {record['lesion']} — Ki-67 "
                 f"{'–' if record['ki67_percent'] is None else format(record['ki67_percent'], 'g')} %, "
                 f"{record['who_grade'] or 'no grade'}, {record['primary_site'] or 'primary unknown'}")
        fig = tic_panel(analysis["document"], record.get("roi_name"), _fitting(title))
        if fig is not None:
            figures["tics"].append((title, fig))
    return figures


def _fitting(title: str, width: int = _TITLE_CHARS) -> str:
    """Cut ``title`` to ``width`` characters with an ellipsis, to fit a figure's width.

    The caption below the figure carries the whole title.
    """
    return title if len(title) <= width else title[:width - 1].rstrip() + "…"


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


METHODS = (
    "Enhancement is read on total linear echo power: the lesion against its liver reference as R(t) = "
    "10·log10(lesion/liver), both smoothed over about 1 s; hyper-enhancing where R ≥ +1.5 dB, hypo-enhancing where "
    "R ≤ −1.5 dB, iso-enhancing between. Arterial phase 0–45 s (at the lesion's peak), wash-out searched from that "
    "peak to the end of the clip (hypo for at least 5 s; early before 60 s), late phase from 120 s (median R).",
    "The onset (time of arterial enhancement) is read model-free as a reader sees it, on the lesion's "
    "time–intensity curve in dB (display grey is proportional to dB): the start of the sustained rise that leads "
    "to its arterial peak, found backward from the peak, where the curve has risen 5 % of its way in dB from a "
    "robust, flat pre-arrival baseline to the peak; it does not depend on the display's dynamic range. It is "
    "left empty when the clip starts after contrast arrival, the curve is already rising in its first frames, or "
    "the lesion does not clearly enhance; the fitted bolus model stands in only when the curve has no samples. "
    "The fitted arrival time keeps VueBox's convention (5 % of the fitted peak in linear power), which lies later "
    "on the same rise; a fit whose arrival lies further from the curve's own than its rise allows is flagged. "
    "Times are seconds after injection.",
    "WHO 2019 grade from Ki-67 (G1 < 3 %, G2 3–20 %, G3 > 20 %). Proportions with Wilson 95 % intervals. Spearman "
    "correlation with the t approximation for p (as scipy), a permutation p (exact for n ≤ 9, 10^6 random "
    "permutations for n ≤ 20) and Fisher-z intervals (SE 1.06/√(n−3)); Kruskal–Wallis across grades; ROC AUC with "
    "a stratified bootstrap interval.",
    "Reader agreement: Cohen's kappa for every pair of readers and every reader against the software, unweighted, "
    "with the linearly weighted kappa beside it for the ordered enhancement labels (Fleiss–Cohen–Everitt standard "
    "errors); Fleiss' kappa for more than two readers; 95 % intervals of every kappa by the percentile bootstrap "
    "over lesions (Efron & Tibshirani 1993; 2000 resamples), which stay within −1 to 1. A kappa is undefined (—) "
    "where a rater gave every lesion the same label: it is then 0 by construction whatever the other rater did. "
    "For the onset, "
    "Bland–Altman bias with 95 % limits of agreement and the ICC(2,1) (two-way random effects, absolute agreement, "
    "McGraw–Wong interval). Readers read blind in reading sessions: each in their own random order, seeing neither "
    "patient, Ki-67, grade, software result nor another reader's read.",
)
"""The report's Methods section, one paragraph per item (it follows the code: change both together)."""


def _provenance(store: Store, info: Mapping[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Who made the report, from what: rows of text, and the distinct analysis parameter sets as tables."""
    analyses = [r["analysis"] for r in records if r.get("analysis")]
    sets: dict[str, dict[str, Any]] = {}
    for analysis in analyses:
        parameters = analysis.get("parameters") or {}
        sets.setdefault(json.dumps(parameters, sort_keys=True, default=str), parameters)
    rows = {"software": f"ceuskit {__version__}",
            "report created (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "database": store.display_url, "study": info["name"],
            "lesions analysed": f"{sum(a.get('status') == 'ok' for a in analyses)} of {len(records)}",
            "analyses by": ", ".join(sorted({str(a["software_version"]) for a in analyses})) or "–"}
    tables = [[(key, _plain(value)) for key, value in sorted(parameters.items())] for parameters in sets.values()]
    return {"rows": rows, "parameter_sets": tables}


def _plain(value: Any) -> str:
    """Return a parameter value as readers of a report write it (no Python quotes or braces)."""
    if value is None:
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in sorted(value.items())) or "–"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) or "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def write_report(store: Store, out_dir: str | Path, *, frame: pd.DataFrame, result: Mapping[str, Any],
                 study: int | str | None = None, pdf: bool | None = None) -> Path:
    """Write ``report.html`` (images embedded, no external resource) and ``report.pdf`` into ``out_dir``.

    ``frame`` is the study's cohort table and ``result`` its statistics (:func:`ceuskit.study.cohort_frame` and
    :func:`ceuskit.study.cohort_stats`, which the caller computes: the report layer never runs the study).

    The PDF is the same HTML printed by Chromium (:mod:`ceuskit.report.pdf`).  ``pdf``: True — required (a
    :class:`~ceuskit.errors.ReportError` after the HTML is written when Chromium is missing); None — printed when
    Chromium is installed; False — not printed.  A ``report.pdf`` left from an earlier run is removed when no new
    one is printed.  Returns the path of ``report.html``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from jinja2 import Environment, PackageLoader, select_autoescape

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info = get_study(store, study)
    records = cohort_records(store, study)
    figures = _figures(frame, result, records)
    title = f"ceuskit cohort report — study “{info['name']}”"
    context = {
        "title": title, "result": result, "seed": SEED, "seed_rows": seed_rows(result), "onset": _onset(result),
        "lesions": _lesion_table(frame), "flagged": flagged_lines(frame),
        "provenance": _provenance(store, info, records), "methods": METHODS,
        "labels": _LABELS, "units": _UNITS, "fmt_p": _fmt_p, "fmt_ci": _fmt_ci, "plural": plural,
        "images": {k: png_data_uri(figures[k]) for k in ("patterns", "scatter", "grades")},
        "bland_altman": None if figures["bland_altman"] is None else png_data_uri(figures["bland_altman"]),
        "tics": [(t, png_data_uri(f, dpi=90)) for t, f in figures["tics"]],
        "onset_conventions": png_data_uri(onset_conventions_figure(), dpi=90),
    }
    env = Environment(loader=PackageLoader("ceuskit.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("cohort.html.j2").render(**context)
    _atomic_write(out / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    if pdf is False or (pdf is None and find_chromium() is None):
        (out / "report.pdf").unlink(missing_ok=True)
    else:
        try:
            _atomic_write(out / "report.pdf", lambda p: html_to_pdf(out / "report.html", p))
        except BaseException:
            (out / "report.pdf").unlink(missing_ok=True)
            raise
    return out / "report.html"
