"""The reading's figure: lesion vs liver in dB over time, with its marks and quality flags.

Phase bands, fitted curves, onset and wash-out marked, the time between an examination's clips shaded as gaps,
destructions and level steps marked with the refills' replenishment fits, and the quality flags underneath.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ceuskit.phases import PhaseOptions
from ceuskit.pipeline import write_outputs
from ceuskit.report.words import reading_words

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ceuskit.pipeline import Analysis

__all__ = ["draw_refills", "draw_tic_panel", "quality_lines", "tic_figure", "write_analysis"]

PHASE_COLOURS = {"arterial": "#fde0dd", "portal venous": "#e0ecf4", "late": "#efedf5"}
TITLE_PAD_PT = 16.0
"""Space between a panel and its title: room for the phase names drawn just above the axes."""
FLAG_LINE_CHARS = 140
"""Characters per flag line under the figure (7-pt text across the 8.5-inch figure)."""
COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e")


def _db(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return 10.0 * np.log10(np.where(values > 0, values, np.nan))


def _phase_options(document: Mapping[str, Any]) -> PhaseOptions:
    """Return the phase windows and thresholds the analysis used (its provenance), else the defaults."""
    given = ((document.get("provenance") or {}).get("options") or {}).get("phases") or {}
    known = {f.name for f in fields(PhaseOptions)}
    return PhaseOptions(**{k: v for k, v in given.items() if k in known})


def _segments(tic: Mapping[str, Any], n: int) -> np.ndarray:
    """Return the clip index of every sample (all 0 for one clip or a table without the column)."""
    clip = tic.get("clip")
    return np.zeros(n, dtype=int) if clip is None else np.asarray(clip, dtype=int)


def _broken(t: np.ndarray, values: np.ndarray, segment: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``t`` and ``values`` with a NaN between clips, so a line is drawn within each clip, never across a gap."""
    cuts = np.flatnonzero(np.diff(segment) != 0) + 1
    return np.insert(t.astype(float), cuts, np.nan), np.insert(np.asarray(values, dtype=float), cuts, np.nan)


def draw_tic_panel(ax_tic: Axes, ax_rel: Axes | None, analysis: Analysis, lesion_index: int = 0) -> None:
    """Draw one lesion's TIC panel (and its relative-enhancement panel when ``ax_rel`` is given).

    The time between the clips of an examination is shaded as a gap and no line crosses it.
    """
    doc = analysis.document
    t = np.asarray(analysis.tic["time_s"], dtype=float)
    segment = _segments(analysis.tic, t.size)
    phases = _phase_options(doc)
    lesion = doc["lesions"][lesion_index]
    names = [lesion["roi"], lesion["reference"]]
    end = float(np.nanmax(t))
    for ax in (ax_tic, ax_rel):
        if ax is None:
            continue
        bands = (("arterial", 0.0, phases.arterial_end_s), ("portal venous", phases.arterial_end_s, phases.portal_end_s),
                 ("late", phases.late_start_s, np.inf))
        for label, start, stop in bands:
            colour = PHASE_COLOURS[label]
            if start < end:
                ax.axvspan(start, min(stop, end), color=colour, zorder=0, lw=0)
                if ax is ax_tic:
                    ax.text((start + min(stop, end)) / 2, 1.0, label, transform=ax.get_xaxis_transform(),
                            ha="center", va="bottom", fontsize=8, color="#555")
        for k in np.flatnonzero(np.diff(segment) != 0):  # no recording between clips
            ax.axvspan(t[k], t[k + 1], facecolor="white", edgecolor="#bbbbbb", hatch="//", lw=0, zorder=0.5)
    for colour, name in zip(COLOURS, names, strict=False):
        power = np.asarray(analysis.tic[f"{name}_power"], dtype=float)
        ax_tic.plot(t, _db(power), ".", ms=2, color=colour, alpha=0.35)
        fit = doc["rois"][name]["fit"]
        # the fit as the reading drew it: above the measured baseline, only where it meets the data in dB
        drawn = np.asarray(analysis.fitted.get(name, np.full(t.size, np.nan)), dtype=float)
        if fit["success"] and np.isfinite(drawn).any():
            ax_tic.plot(*_broken(t, _db(drawn), segment), "-", color=colour, lw=1.6,
                        label=f"{name} ({doc['rois'][name]['role']}), {fit['model']} fit, R² {fit['r2']:.2f}")
        else:
            why = "fit failed" if not fit["success"] else "the fit does not follow it in dB"
            smooth = np.asarray(analysis.tic.get(f"{name}_power_smoothed", power), dtype=float)
            ax_tic.plot(*_broken(t, _db(smooth), segment), "-", color=colour, lw=1.2,
                        label=f"{name} (smoothed; {why})")
    draw_refills(ax_tic, analysis, names, segment)
    onset = lesion["arterial_phase"]["onset_s"]
    if onset is not None:
        ax_tic.axvline(onset, color="k", ls="--", lw=1)
        ax_tic.text(onset, 0.02, f" onset {onset:.1f} s", transform=ax_tic.get_xaxis_transform(), fontsize=8)
    washout = lesion["portal_venous_phase"]["washout_onset_s"]
    bracket = lesion["portal_venous_phase"].get("washout_onset_interval_s")
    if washout is not None:
        ax_tic.axvline(washout, color="#7f7f7f", ls=":", lw=1.2)
        ax_tic.text(washout, 0.10, f" wash-out {washout:.1f} s", transform=ax_tic.get_xaxis_transform(), fontsize=8)
    elif bracket is not None:
        ax_tic.axvspan(bracket[0], bracket[1], ymin=0.0, ymax=0.06, color="#7f7f7f", alpha=0.6, lw=0)
        ax_tic.text(bracket[0], 0.10, f" wash-out began {bracket[0]:.0f}–{bracket[1]:.0f} s",
                    transform=ax_tic.get_xaxis_transform(), fontsize=8)
    ax_tic.set_ylabel("echo power (dB)")
    ax_tic.legend(loc="lower right", fontsize=7, frameon=False)
    # the phase names sit just above the axes: the title goes above them
    ax_tic.set_title(f"{lesion['roi']} — {reading_words(lesion)}", fontsize=10, pad=TITLE_PAD_PT)
    if ax_rel is not None:
        rel = analysis.relative_db[lesion["roi"]]
        ax_rel.plot(*_broken(t, rel, segment), "-", color="#444", lw=1)
        ax_rel.axhspan(phases.hypo_db, phases.hyper_db, color="#cccccc", alpha=0.5, lw=0)
        ax_rel.axhline(0, color="#888", lw=0.6)
        ax_rel.set_ylabel("lesion − liver (dB)")
        ax_rel.set_xlabel("time after injection (s)")
        ax_rel.set_xlim(ax_tic.get_xlim())


def draw_refills(ax: Axes, analysis: Analysis, names: list[str], segment: np.ndarray) -> None:
    """Mark each destruction and draw the replenishment fit of every refill over its data (dashed)."""
    doc = analysis.document
    for item in doc.get("destructions", []):
        ax.axvspan(item["start_s"], item["destruction_s"] + 1e-3, color="#ffbf00", alpha=0.5, lw=0, zorder=0.6)
        ax.text(item["start_s"], 0.94, " destruction", transform=ax.get_xaxis_transform(), fontsize=7, color="#9a6b00")
    for step in doc.get("steps", []):
        ax.axvline(step["time_s"], color="#9a6b00", ls="-.", lw=0.8)
        ax.text(step["time_s"], 0.86, f" step{' (gain)' if step['gain'] else ''}", transform=ax.get_xaxis_transform(),
                fontsize=7, color="#9a6b00")
    t = np.asarray(analysis.tic["time_s"], dtype=float)
    refills = doc.get("replenishment") or {}
    for colour, name in zip(COLOURS, names, strict=False):
        fitted = (getattr(analysis, "refill_fitted", None) or {}).get(name)
        good = [c for c in refills.get(name, []) if c["success"]]
        if fitted is None or not good:
            continue
        betas = ", ".join(f"{c['beta_per_s']:.2g}" for c in good)
        ax.plot(*_broken(t, _db(fitted), segment), "--", color=colour, lw=1.4,
                label=f"{name} refill fit, β {betas} s⁻¹")


def quality_lines(document: dict[str, Any], *, width: int = FLAG_LINE_CHARS) -> list[str]:
    """Return the quality flags of an analysis document as lines of at most ``width`` characters.

    Each flag reads "⚠ code (roi): message" (• for information), each message whole, wrapped onto indented
    lines.
    """
    lines = []
    for flag in document.get("quality", []):
        mark = "⚠" if flag["severity"] == "warning" else "•"
        where = f" ({flag['roi']})" if flag["roi"] else ""
        lines += textwrap.wrap(f"{mark} {flag['code']}{where}: {flag['message']}", width=width,
                               subsequent_indent="    ", break_on_hyphens=False)
    return lines


def tic_figure(analysis: Analysis, path: str | Path, *, dpi: int = 110) -> Path:
    """Write the figure for every lesion of ``analysis`` to ``path`` (PNG or PDF by suffix)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    n = max(1, len(analysis.document["lesions"]))
    flags = quality_lines(analysis.document)
    fig = Figure(figsize=(8.5, 4.8 * n + 0.18 * len(flags)), layout="constrained")
    axes = fig.subplots(2 * n, 1, gridspec_kw={"height_ratios": [3, 1.3] * n}, squeeze=False)[:, 0]
    for i in range(len(analysis.document["lesions"])):
        draw_tic_panel(axes[2 * i], axes[2 * i + 1], analysis, i)
    if flags:
        fig.supxlabel("\n".join(flags), fontsize=7, color="#b35806", ha="left", x=0.01)
    fig.savefig(path, dpi=dpi)
    return Path(path)


def write_analysis(analysis: Analysis, out_dir: str | Path) -> Path:
    """Write ``analysis.json``, ``tic.csv`` and ``tic.png`` into ``out_dir`` atomically; return the JSON's path."""
    return write_outputs(analysis, out_dir, figures={"tic.png": lambda path: tic_figure(analysis, path)})
