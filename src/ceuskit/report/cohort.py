"""The cohort report: ``report.html`` (self-contained) and ``report.pdf`` beside the seed study's figures."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ceuskit import __version__
from ceuskit._atomic import atomic_path

if TYPE_CHECKING:
    from ceuskit.store import Store

__all__ = ["SEED", "seed_comparison", "seed_rows", "stats_lines", "write_report"]

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
    """Rows of the seed-vs-ceuskit table: ``label``, seed ``seed_n``/``seed_percent``, ours ``n``/``of``/…"""
    rows = []
    for name, seed_n in SEED["patterns"].items():
        ours = result["patterns"][name]
        rows.append({"name": name, "label": _LABELS[name], "seed_n": seed_n, "seed_of": SEED["n"],
                     "seed_percent": 100.0 * seed_n / SEED["n"], **ours})
    return rows


def _onset(result: Mapping[str, Any]) -> dict[str, Any]:
    return next((c for c in result["correlations"] if c["x"] == "arterial_onset_s"), {"rho": None, "n": 0})


def seed_comparison(result: Mapping[str, Any]) -> list[str]:
    """The seed-vs-ceuskit table as text lines (for the terminal)."""
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
    lines = [f"{result['n_patients']} patients, {result['n_lesions']} lesions, {result['n_analysed']} analysed"
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
    if result["agreement"]:
        lines += ["", "Agreement (Cohen's kappa; linear weights for enhancement):"]
        for a in result["agreement"]:
            k = "–" if a["kappa"] is None else f"{a['kappa']:.2f} (95% CI {_fmt_ci(a['ci95'], 2)})"
            lines.append(f"  {a['rater_a']} vs {a['rater_b']}, {a['label']:8s}: {k}, n = {a['n']}")
    return lines


def _lesion_table(frame: pd.DataFrame) -> list[dict[str, Any]]:
    def num(value: Any, digits: int = 1) -> str:
        return "–" if value is None or pd.isna(value) else f"{float(value):.{digits}f}"

    rows = []
    for _, r in frame.iterrows():
        washout = "–"
        if r["washout"] is not None and not pd.isna(r["washout"]):
            washout = (f"{r['washout_timing']}, {r['washout_degree']} ({num(r['washout_onset_s'])} s)"
                       if bool(r["washout"]) else "none")
        rows.append({"patient": r["patient_id"], "lesion": r["lesion_id"], "primary": r["primary_site"] or "–",
                     "ki67": num(r["ki67"]), "grade": r["who_grade"] or "–",
                     "arterial": r["arterial_enhancement"] or "–", "onset": num(r["arterial_onset_s"]),
                     "washout": washout, "late": r["late_enhancement"] or "–", "r2": num(r["fit_r2"], 2),
                     "status": r["analysis_status"] or "not analysed", "error": r["analysis_error"] or ""})
    return rows


def _figures(frame: pd.DataFrame, result: Mapping[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    from ceuskit.report.plots import grade_boxplots, onset_scatter, pattern_bars, tic_panel

    ok = frame[frame["analysis_status"] == "ok"]
    figures: dict[str, Any] = {
        "patterns": pattern_bars(seed_rows(result)),
        "scatter": onset_scatter(ok, _onset(result)),
        "grades": grade_boxplots(ok, {k: _UNITS[k] for k in ("arterial_onset_s", "time_to_peak_s",
                                                               "arterial_relative_peak_db")}, result["by_grade"]),
        "tics": [],
    }
    for record in records:
        analysis = record.get("analysis") or {}
        if analysis.get("status") != "ok" or not analysis.get("document"):
            continue
        title = (f"patient {record['patient']}, lesion {record['lesion']} — Ki-67 "
                 f"{'–' if record['ki67_percent'] is None else format(record['ki67_percent'], 'g')} %, "
                 f"{record['who_grade'] or 'no grade'}, {record['primary_site'] or 'primary unknown'}")
        fig = tic_panel(analysis["document"], record.get("roi_name"), title)
        if fig is not None:
            figures["tics"].append((title, fig))
    return figures


def _atomic_write(path: Path, write: Any) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def _pdf(path: Path, context: Mapping[str, Any], figures: Mapping[str, Any]) -> None:
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    cover = Figure(figsize=(8.27, 11.69))
    cover.text(0.06, 0.965, context["title"], va="top", ha="left", fontsize=14, weight="bold", color="#1f4e79")
    text = [*context["summary_lines"], "", "Seed study vs ceuskit", *context["seed_lines"], "",
            "Provenance", *[f"{k}: {v}" for k, v in context["provenance"].items()], "", "Methods",
            *context["methods_lines"]]
    cover.text(0.06, 0.93, "\n".join(text), va="top", ha="left", family="monospace", fontsize=7.2, wrap=True)
    with PdfPages(path) as pdf:
        info = pdf.infodict()
        info["Title"] = context["title"]
        info["Creator"] = context["provenance"]["software"]
        pdf.savefig(cover)
        for key in ("patterns", "scatter", "grades"):
            pdf.savefig(figures[key])
        for _title, fig in figures["tics"]:
            pdf.savefig(fig)


def write_report(store: Store, out_dir: str | Path, *, study: int | str | None = None,
                 frame: pd.DataFrame | None = None, result: Mapping[str, Any] | None = None,
                 pdf: bool = True) -> Path:
    """Write ``report.html`` (images embedded, no external resource) and ``report.pdf`` into ``out_dir``.

    Returns the path of ``report.html``.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from jinja2 import Environment, PackageLoader, select_autoescape

    from ceuskit.report.plots import png_data_uri
    from ceuskit.store import cohort_records, get_study
    from ceuskit.study import cohort_frame, cohort_stats

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if frame is None:
        frame = cohort_frame(store, study)
    if result is None:
        result = cohort_stats(frame)
    info = get_study(store, study)
    records = cohort_records(store, study)
    figures = _figures(frame, result, records)
    parameters = sorted({str(r["analysis"]["parameters"]) for r in records if r.get("analysis")})
    provenance = {
        "software": f"ceuskit {__version__}",
        "report created (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "database": store.display_url, "study": info["name"],
        "analyses by": ", ".join(sorted({str(r["analysis"]["software_version"]) for r in records
                                         if r.get("analysis")})) or "–",
        "analysis parameters": "; ".join(parameters) or "–",
    }
    methods = [
        "Lesion vs liver relative enhancement R(t) = 10·log10(lesion/liver power), smoothed over ~1 s;",
        "hyper ≥ +1.5 dB, hypo ≤ −1.5 dB. Arterial phase 0–45 s, wash-out from the arterial peak (≥ 5 s hypo),",
        "late phase ≥ 120 s. Onset = fitted arrival time (5 % of peak). WHO 2019 grade from Ki-67",
        "(G1 < 3 %, G2 3–20 %, G3 > 20 %). Proportions: Wilson 95 % CI. Spearman p: t approximation",
        "(as scipy); permutation p exact (n ≤ 9) or Monte-Carlo with 10^6 permutations (n ≤ 20); CI: Fisher z",
        "with SE 1.06/√(n−3). Kruskal–Wallis across grades; ROC AUC with stratified bootstrap CI; Cohen's kappa",
        "with Fleiss–Cohen–Everitt SE.",
    ]
    title = f"ceuskit cohort report — study “{info['name']}”"
    context = {
        "title": title, "result": result, "seed": SEED, "seed_rows": seed_rows(result), "onset": _onset(result),
        "lesions": _lesion_table(frame), "provenance": provenance, "methods_lines": methods,
        "labels": _LABELS, "units": _UNITS, "fmt_p": _fmt_p, "fmt_ci": _fmt_ci,
        "summary_lines": stats_lines(result), "seed_lines": seed_comparison(result),
        "images": {k: png_data_uri(figures[k]) for k in ("patterns", "scatter", "grades")},
        "tics": [(t, png_data_uri(f, dpi=90)) for t, f in figures["tics"]],
    }
    env = Environment(loader=PackageLoader("ceuskit.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("cohort.html.j2").render(**context)
    _atomic_write(out / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    if pdf:
        _atomic_write(out / "report.pdf", lambda p: _pdf(p, context, figures))
    return out / "report.html"
