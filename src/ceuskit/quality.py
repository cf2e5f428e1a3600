"""Quality flags: what a reader must know before trusting a number (DESIGN: analysis.json ``quality``).

Each flag is ``{"code", "roi", "severity", "message"}``; ``roi`` is None for clip-wide flags. Severity
``warning`` means a number may be off and says which; ``info`` records a limit of the recording (e.g. no
late phase). The checks take arrays and return flags; they never change a result.

Codes: ``no_baseline``, ``low_enhancement``, ``saturation``, ``poor_fit``, ``motion``,
``late_phase_missing``, ``overlay_in_roi``, ``extrapolated``, ``gap``, ``display`` (a colour display whose
map could not be recovered, read by luminance), ``flash`` (single-frame flashes left out), ``no_data`` (an
ROI without a single measured frame), ``onset_disagreement`` (the fitted arrival far from where the curve
itself puts it), ``destruction`` (a high-MI destruction: the bolus reading stops before it) and ``step`` (a
level step in every ROI at once), both made by :mod:`ceuskit.kinetics`.
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
    "onset_disagreement_flag",
    "overlay_flags",
    "saturation_flags",
]

CODES = ("no_baseline", "low_enhancement", "saturation", "poor_fit", "motion", "late_phase_missing",
         "overlay_in_roi", "extrapolated", "gap", "display", "flash", "no_data", "onset_disagreement", "destruction",
         "step")

SATURATION_FRACTION = 0.02
"""An ROI is flagged when at least this fraction of its pixels sit at the display maximum around its peak."""

SATURATION_WINDOW_S = 2.0
"""… averaged over the frames within this many seconds of the ROI's peak."""

POOR_FIT_R2 = 0.8
"""A fit below this R² (or a failed fit) is flagged."""

DISAGREEMENT_MIN_S = 3.0
"""The fitted arrival may lie this far from the curve's own 5 % point (in linear power) before it is flagged …"""

DISAGREEMENT_RISE_SHARE = 0.25
"""… or this share of the rise (onset to arterial peak), if more: a slow rise times its arrival less sharply."""

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
        """Return the flag as analysis.json lists it: ``code``, ``roi``, ``severity`` and ``message``."""
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


def onset_disagreement_flag(roi: str, onset_s: float | None, fitted_arrival_s: float | None,
                            model_free_arrival_s: float | None, peak_time_s: float | None) -> list[Flag]:
    """Flag ``onset_disagreement`` between the fitted arrival and the curve's own.

    The flag is raised when the fitted arrival lies further from where the curve itself puts it than the
    curve's own timing allows.

    The fitted arrival (5 % of the fitted peak in linear power, VueBox's convention) lies after the onset
    (5 % of the rise in dB) by as much as the measured curve's own 5 % point in linear power does; it is
    flagged when it lies more than ``max(3 s, a quarter of the rise from onset to peak)`` from that point
    (from the onset when the curve has none), or before the onset by as much: the fit then describes another
    part of the curve (a second supply, a late rise) than the wash-in the reader sees.

    Parameters
    ----------
    roi : the lesion's ROI name.
    onset_s : the onset read on the curve (dB), s; None: nothing to compare.
    fitted_arrival_s : the fitted curve's arrival time, s; None: nothing to compare.
    model_free_arrival_s : the measured curve's own 5 % point in linear power, s, or None.
    peak_time_s : the curve's arterial peak time, s, or None.

    Returns
    -------
    list of Flag
        One warning saying by how much they differ, or none.
    """
    values = (onset_s, fitted_arrival_s)
    if any(v is None or not np.isfinite(v) for v in values):
        return []
    assert onset_s is not None and fitted_arrival_s is not None
    expected = onset_s
    if model_free_arrival_s is not None and np.isfinite(model_free_arrival_s):
        expected = model_free_arrival_s
    rise_s = (peak_time_s - onset_s) if peak_time_s is not None and np.isfinite(peak_time_s) else 0.0
    allowed = max(DISAGREEMENT_MIN_S, DISAGREEMENT_RISE_SHARE * max(rise_s, 0.0))
    off_s = fitted_arrival_s - expected
    if abs(off_s) <= allowed and fitted_arrival_s >= onset_s - allowed:
        return []
    return [Flag("onset_disagreement", roi, "warning",
                 f"the fitted arrival ({fitted_arrival_s:.1f} s) lies {fitted_arrival_s - onset_s:+.1f} s from the onset "
                 f"read on the curve ({onset_s:.1f} s), {off_s:+.1f} s from where the curve's own rise puts it "
                 f"(allowed ±{allowed:.1f} s): the fit describes another part of the curve than its wash-in; "
                 "prefer the onset and the model-free parameters")]
