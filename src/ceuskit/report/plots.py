"""Cohort figures (matplotlib, Agg, no pyplot state): seed comparison, onset vs Ki-67, grade boxes, TIC panels."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ceuskit.report.tic_plot import draw_tic_panel

__all__ = ["bland_altman_plot", "grade_boxplots", "onset_scatter", "pattern_bars", "png_data_uri", "tic_panel"]

GRADE_ORDER = ("G1", "G2", "G3", "NEC")


def png_data_uri(fig: Figure, *, dpi: int = 110) -> str:
    """Return the figure as an embedded ``data:image/png;base64,…`` URI (no external file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def pattern_bars(rows: Sequence[Mapping[str, Any]]) -> Figure:
    """Seed vs ceuskit percentages per pattern, ceuskit with its Wilson 95 % CI.

    ``rows``: dicts with ``label``, ``seed_percent`` and ``percent`` / ``ci95`` (None when undefined).
    """
    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))
    seed = [r["seed_percent"] for r in rows]
    ours = [np.nan if r["percent"] is None else r["percent"] for r in rows]
    # Clamped at 0: at 0 % or 100 % the Wilson bound meets the estimate up to rounding.
    low = [0.0 if r["ci95"] is None else max(0.0, r["percent"] - r["ci95"][0]) for r in rows]
    high = [0.0 if r["ci95"] is None else max(0.0, r["ci95"][1] - r["percent"]) for r in rows]
    ax.barh(y + 0.2, seed, height=0.38, color="#bbbbbb", label="seed study (Massironi 2010, n = 18)")
    ax.barh(y - 0.2, ours, height=0.38, color="#1f77b4", xerr=[low, high], capsize=3,
            label="ceuskit (bars: Wilson 95 % CI)")
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("lesions (%)")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return fig


def onset_scatter(frame: pd.DataFrame, correlation: Mapping[str, Any], *, x: str = "arterial_onset_s") -> Figure:
    """Arterial onset (s) vs Ki-67 (%) with Spearman rho and p in the title; points coloured by WHO grade."""
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    colours = {"G1": "#2ca02c", "G2": "#ff7f0e", "G3": "#d62728", "NEC": "#8c564b"}
    for grade in GRADE_ORDER:
        part = frame[frame["who_grade"] == grade]
        if len(part):
            ax.scatter(part["ki67"], part[x], s=28, color=colours[grade], label=grade, edgecolor="k", lw=0.4)
    other = frame[~frame["who_grade"].isin(GRADE_ORDER)]
    if len(other):
        ax.scatter(other["ki67"], other[x], s=28, color="#999999", label="no grade")
    ax.set_xlabel("Ki-67 index (%)")
    ax.set_ylabel("arterial enhancement onset (s after injection)")
    if correlation.get("rho") is not None:
        def fmt(p: float) -> str:
            return "< 0.001" if p < 0.001 else f"= {p:.3f}"

        p_exact = correlation.get("p_exact")
        extra = "" if p_exact is None else f", permutation p {fmt(p_exact)}"
        ax.set_title(f"Spearman rs = {correlation['rho']:.3f}, p {fmt(correlation['p_value'])}{extra} "
                     f"(n = {correlation['n']})\nseed study: rs = 0.516, p = 0.028 (n = 18)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:  # no analysed lesion yet: no points, no legend
        ax.legend(title="WHO 2019", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    return fig


def grade_boxplots(frame: pd.DataFrame, parameters: Mapping[str, str], tests: Mapping[str, Mapping[str, Any]]
                   ) -> Figure:
    """Box plots of each parameter (``{column: axis label with unit}``) by WHO grade, Kruskal–Wallis p on top."""
    n = len(parameters)
    fig = Figure(figsize=(3.0 * n, 3.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n))
    grades = [g for g in GRADE_ORDER if (frame["who_grade"] == g).any()]
    for ax, (column, label) in zip(axes, parameters.items(), strict=True):
        data = [frame.loc[frame["who_grade"] == g, column].dropna().to_numpy(float) for g in grades]
        if any(d.size for d in data):
            ax.boxplot([d if d.size else np.array([np.nan]) for d in data], tick_labels=grades, showfliers=False)
            for i, d in enumerate(data):
                ax.plot(np.full(d.size, i + 1.0) + np.linspace(-0.08, 0.08, d.size), d, "o", ms=3, color="#1f77b4",
                        alpha=0.7)
        p = (tests.get(column) or {}).get("p_value")
        ax.set_title(label + ("" if p is None else f"\nKruskal–Wallis p = {p:.3f}"), fontsize=9)
        ax.set_xlabel("WHO 2019 grade")
        ax.grid(alpha=0.3, axis="y")
    return fig


def bland_altman_plot(pairs: Sequence[Mapping[str, Any]], *, unit: str = "s", max_panels: int = 6) -> Figure | None:
    """Bland–Altman plots of the onset, one panel per rater pair with at least two paired values.

    ``pairs``: the ``agreement["onset"]["pairs"]`` entries (``a``, ``b``, ``means``, ``differences``, ``bias``,
    ``limits``, ``n``, ``icc``).  Each panel: the difference a − b against the mean of a and b (in ``unit``),
    the bias (solid) and the 95 % limits of agreement (dashed).  None when no pair has two values.
    """
    shown = [p for p in pairs if p.get("limits") is not None and p.get("n", 0) >= 2][:max_panels]
    if not shown:
        return None
    columns = min(3, len(shown))
    rows = (len(shown) + columns - 1) // columns
    fig = Figure(figsize=(3.3 * columns, 2.9 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax, pair in zip(axes, shown, strict=False):
        means, diffs = np.asarray(pair["means"], float), np.asarray(pair["differences"], float)
        ax.scatter(means, diffs, s=22, color="#1f77b4", edgecolor="k", lw=0.4, zorder=3)
        ax.axhline(pair["bias"], color="#d62728", lw=1.5, label=f"bias {pair['bias']:+.2f} {unit}")
        low, high = pair["limits"]
        for value in (low, high):
            ax.axhline(value, color="#d62728", lw=1.0, ls="--")
        ax.axhline(0.0, color="#888888", lw=0.6)
        icc = "" if pair.get("icc") is None else f", ICC {pair['icc']:.2f}"
        ax.set_title(f"{pair['a']} − {pair['b']} (n = {pair['n']}{icc})", fontsize=9)
        ax.set_xlabel(f"mean onset ({unit})", fontsize=8)
        ax.set_ylabel(f"difference ({unit})", fontsize=8)
        ax.text(0.98, 0.03, f"95 % limits {low:+.2f} to {high:+.2f} {unit}", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="#d62728")
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    return fig


def tic_panel(document: Mapping[str, Any], roi_name: str | None, title: str) -> Figure | None:
    """One lesion's TIC panel from a stored analysis document (needs its ``curves``), or None."""
    curves = document.get("curves")
    lesions = document.get("lesions") or []
    if not curves or not lesions:
        return None
    index = next((i for i, item in enumerate(lesions) if item.get("roi") == roi_name), 0)

    def arrays(mapping: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {k: np.array([np.nan if v is None else v for v in values], dtype=float) for k, v in mapping.items()
                for values in (v,)}

    analysis = SimpleNamespace(document=document, tic=arrays(curves["tic"]), fitted=arrays(curves["fitted"]),
                               relative_db=arrays(curves["relative_db"]),
                               refill_fitted=arrays(curves.get("refill_fitted") or {}))
    fig = Figure(figsize=(7.5, 4.8))  # fixed margins: constrained layout costs ~0.3 s per panel
    ax_tic, ax_rel = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1.3], "hspace": 0.3})
    fig.subplots_adjust(left=0.09, right=0.98, top=0.84, bottom=0.1)
    draw_tic_panel(ax_tic, ax_rel, analysis, index)  # type: ignore[arg-type]
    ax_tic.set_title(ax_tic.get_title(), fontsize=9, pad=14)  # above the phase names
    fig.suptitle(title, fontsize=10, y=0.985)
    return fig
