"""Quality flags: what a reader must know before trusting a number (DESIGN: analysis.json ``quality``).

Each flag is ``{"code", "roi", "severity", "message"}``; ``roi`` is None for clip-wide flags. Severity
``warning`` means a number may be off and says which; ``info`` records a limit of the recording (e.g. no
late phase). The checks take arrays and return flags; they never change a result.

Codes: ``no_baseline``, ``low_enhancement``, ``saturation``, ``poor_fit``, ``motion``,
``late_phase_missing``, ``overlay_in_roi``, ``extrapolated``, ``gap``, ``display`` (a colour display whose
map could not be recovered, read by luminance), ``flash`` (single-frame flashes left out), ``no_data`` (an
ROI without a single measured frame), ``destruction`` (a high-MI destruction: the bolus reading stops before
it) and ``step`` (a level step in every ROI at once), both made by :mod:`ceuskit.kinetics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "CODES",
    "Flag",
    "arrival_flags",
    "display_flag",
    "extrapolated_flag",
    "fit_flags",
    "flash_flag",
    "late_phase_flag",
    "motion_flag",
    "overlay_flags",
    "saturation_flags",
]

CODES = ("no_baseline", "low_enhancement", "saturation", "poor_fit", "motion", "late_phase_missing",
         "overlay_in_roi", "extrapolated", "gap", "display", "flash", "no_data", "destruction", "step")

SATURATION_FRACTION = 0.02
"""An ROI is flagged when at least this fraction of its pixels sit at the display maximum around its peak."""

SATURATION_WINDOW_S = 2.0
"""… averaged over the frames within this many seconds of the ROI's peak."""

POOR_FIT_R2 = 0.8
"""A fit below this R² (or a failed fit) is flagged."""

MOTION_REJECTED_FRACTION = 0.2
"""Motion compensation is flagged unreliable when more than this fraction of tracked frames was rejected …"""

MOTION_MIN_QUALITY = 0.3
"""… or the median match of the frames used is below this correlation."""


@dataclass(frozen=True)
class Flag:
    """One quality flag."""

    code: str
    roi: str | None
    severity: str
    message: str

    def to_json(self) -> dict[str, str | None]:
        return asdict(self)


def arrival_flags(roi: str, reason: str | None, enhancement_db: float) -> list[Flag]:
    """``no_baseline`` / ``low_enhancement`` / ``gap`` from the arrival search of one ROI (:mod:`ceuskit.onset`)."""
    if reason == "no_baseline":
        return [Flag("no_baseline", roi, "warning",
                     "contrast was already rising at the start of the recording: there is no pre-contrast "
                     "baseline, so the arrival time (onset) is unknown and left empty")]
    if reason == "no_data":
        return [Flag("no_data", roi, "warning", "no frame could be measured in this ROI (all rejected, outside "
                     "the image or covered by overlays): it has no curve")]
    if reason == "gap":
        return [Flag("gap", roi, "warning", "frames are missing over the wash-in: when the contrast arrived cannot "
                     "be told, so the arrival time (onset) is left empty")]
    if reason == "low_enhancement":
        rise = "" if not np.isfinite(enhancement_db) else f" ({enhancement_db:.1f} dB)"
        return [Flag("low_enhancement", roi, "warning",
                     f"the curve never rises clearly above its baseline{rise}: no arrival time, and its "
                     "parameters describe noise")]
    return []


def saturation_flags(times_s: np.ndarray, saturated: Mapping[str, np.ndarray], peaks_s: Mapping[str, float | None]
                     ) -> list[Flag]:
    """``saturation`` for each ROI with ≥ 2 % of its pixels at display white around its peak.

    Parameters
    ----------
    times_s : (T,) s.  saturated : ROI → (T,) fraction of the ROI's pixels at the display maximum per frame.
    peaks_s : ROI → time of its peak (None: the whole clip counts).
    """
    flags = []
    for roi, fraction in saturated.items():
        peak = peaks_s.get(roi)
        near = np.isfinite(fraction)
        if peak is not None:
            near &= np.abs(times_s - peak) <= SATURATION_WINDOW_S
        if not near.any():
            continue
        level = float(np.mean(fraction[near]))
        if level >= SATURATION_FRACTION:
            flags.append(Flag("saturation", roi, "warning",
                              f"{100 * level:.1f} % of the ROI's pixels are at the display maximum around its peak: "
                              "the gain clipped the brightest echoes; its mean treats them as censored speckle, "
                              "but its peak and the lesion–liver contrast are less certain (lower the gain)"))
    return flags


def fit_flags(names: Iterable[str], r2: np.ndarray, success: np.ndarray, messages: Iterable[str]) -> list[Flag]:
    """``poor_fit`` for each ROI whose bolus fit failed or has R² below :data:`POOR_FIT_R2`."""
    flags = []
    for name, value, ok, why in zip(names, r2, success, messages, strict=True):
        if not ok:
            flags.append(Flag("poor_fit", name, "warning", f"no bolus fit ({why}); fitted parameters are empty, "
                              "model-free ones remain"))
        elif not value >= POOR_FIT_R2:
            flags.append(Flag("poor_fit", name, "warning", f"the bolus model fits poorly (R² {value:.2f}); "
                              "prefer the model-free parameters"))
    return flags


def motion_flag(tracked: np.ndarray, rejected: np.ndarray, quality: np.ndarray, applied: bool) -> list[Flag]:
    """``motion`` when tracking was applied but many frames were rejected or the matches were poor."""
    if not applied or not tracked.any():
        return []
    fraction = float(rejected[tracked].mean())
    used = tracked & ~rejected & np.isfinite(quality)
    median = float(np.median(quality[used])) if used.any() else float("nan")
    if fraction > MOTION_REJECTED_FRACTION:
        return [Flag("motion", None, "warning", f"{100 * fraction:.0f} % of the tracked frames were rejected "
                     "(out of plane or poorly matched): the curves have large gaps")]
    if not median >= MOTION_MIN_QUALITY:
        return [Flag("motion", None, "warning", f"the tissue was tracked with poor matches (median correlation "
                     f"{median:.2f}): ROI positions may be off")]
    return []


def late_phase_flag(roi: str, end_s: float, late_start_s: float, min_duration_s: float) -> list[Flag]:
    """``late_phase_missing`` for a lesion whose late phase was not assessed (the caller's reading decides)."""
    if end_s < late_start_s:
        why = f"the recording ends {end_s:.0f} s after injection, before the late phase ({late_start_s:.0f} s)"
    else:
        why = f"less than {min_duration_s:g} s of the late phase (from {late_start_s:.0f} s) was observed"
    return [Flag("late_phase_missing", roi, "info", f"{why}: late enhancement not assessed")]


def overlay_flags(touching: Mapping[str, int]) -> list[Flag]:
    """``overlay_in_roi`` for each ROI that burned-in overlay pixels touch (count of pixels left out)."""
    return [Flag("overlay_in_roi", roi, "warning", f"{count} burned-in overlay pixel(s) (text, markers, "
                 "callipers) lie inside the ROI; they are left out of its mean")
            for roi, count in touching.items() if count > 0]


def display_flag(note: str) -> list[Flag]:
    """``display`` when the clip's display map carries a note (a colour display read by luminance)."""
    return [Flag("display", None, "warning", note)] if note else []


def flash_flag(roi: str, count: int) -> list[Flag]:
    """``flash`` when single-frame flashes or dropouts were left out of an ROI's curve."""
    if count <= 0:
        return []
    return [Flag("flash", roi, "info", f"{count} single-frame flash(es) or dropout(s) left out of the curve "
                 "(they decide neither the peak nor the fit)")]


def extrapolated_flag(roi: str, fitted: Iterable[str], model_free: Iterable[str]) -> list[Flag]:
    """``extrapolated`` naming the parameters left empty because the recording does not cover them."""
    parts = [f"{kind}: {', '.join(sorted(names))}" for kind, names in (("fitted", list(fitted)),
                                                                       ("model-free", list(model_free))) if names]
    if not parts:
        return []
    return [Flag("extrapolated", roi, "warning", "left empty, the recording does not cover them (arrival before "
                 "the first frame, peak not resolved, or tail beyond the end): " + "; ".join(parts))]
