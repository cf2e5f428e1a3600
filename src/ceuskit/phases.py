"""Phase characterisation of a lesion against its parenchyma reference (DESIGN "Phases and characterisation").

All times are seconds after contrast injection.  Both curves are smoothed over ~1 s and compared as
``R(t) = 10·log10(L(t) / P(t))`` dB on total linear power:

* arterial phase (0–45 s): at the lesion's peak in that window, ``hyper`` if R ≥ +1.5 dB, ``hypo`` if
  R ≤ −1.5 dB, else ``iso``; ``onset_s`` is the lesion's arrival time. "At the peak" is at the time the
  lesion shows at its brightest, read from the whole top of its smoothed curve (the 1 dB below its maximum:
  four grey levels of 256 on a 60 dB display) by a parabola's vertex, or the middle of a flat top
  (:func:`peak_sample`): the maximum alone lands anywhere on a top the lesion holds for seconds;
* wash-out (reported under ``portal_venous_phase``): searched from the lesion's arterial peak to the clip's
  end — a lesion that was not hypo at its peak becomes hypo (R ≤ −1.5 dB) and stays so for ≥ 5 s, observed
  within one clip; timing early (< 60 s) or late; degree marked if R ≤ −10 dB before 120 s, else mild. A
  wash-out that begins in the time between two clips is reported as the interval bracketing it, its timing
  early or late only where that interval decides it, else ``indeterminate``;
* late phase (≥ 120 s): median R with the same ±1.5 dB rule, or ``not_assessed`` when less than
  ``min_late_duration_s`` of it was observed.

Rejected frames (NaN) are skipped, never counted as breaks.  CEUS LI-RADS v2017 is offered as decision
support where size and HCC-risk status are given; it is not validated for NET metastases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ceuskit.timeseries import moving_average, round_or_none

__all__ = ["ARTERIAL_WINDOW_S", "PhaseOptions", "characterise", "lirads_category", "peak_sample", "relative_db"]

ARTERIAL_WINDOW_S = (0.0, 45.0)
"""The arterial phase, s after injection: where a lesion's first-pass peak and its arrival are sought."""


@dataclass(frozen=True)
class PhaseOptions:
    """Thresholds and windows of the characterisation; every one a documented option."""

    smoothing_s: float = 1.0
    arterial_end_s: float = ARTERIAL_WINDOW_S[1]
    portal_end_s: float = 120.0
    late_start_s: float = 120.0
    hyper_db: float = 1.5
    hypo_db: float = -1.5
    washout_min_duration_s: float = 5.0
    early_washout_s: float = 60.0
    marked_washout_db: float = -10.0
    min_late_duration_s: float = 3.0  # the late phase needs this much observed time (not a sample count)
    peak_top_db: float = 1.0  # the arterial peak is read from the curve's top, this deep below its maximum (dB)


def relative_db(times_s: np.ndarray, lesion: np.ndarray, parenchyma: np.ndarray, *, smoothing_s: float = 1.0
                ) -> np.ndarray:
    """R(t) = 10·log10(L/P) of the curves smoothed over ``smoothing_s``; NaN where either is missing."""
    smooth_l = moving_average(times_s, lesion, smoothing_s)
    smooth_p = moving_average(times_s, parenchyma, smoothing_s)
    valid = np.isfinite(lesion) & np.isfinite(parenchyma) & (smooth_l > 0) & (smooth_p > 0)
    out = np.full(times_s.shape, np.nan)
    out[valid] = 10.0 * np.log10(smooth_l[valid] / smooth_p[valid])
    return out


def observed_s(times_s: np.ndarray, segments: np.ndarray | None = None, *, max_step_s: float = 1.0) -> float:
    """Time covered by samples at ``times_s`` (s).

    The sum of the steps between them within each clip (``segments``), a step longer than ``max_step_s`` (or
    three median steps) counting as a gap.
    """
    if times_s.size < 2:
        return 0.0
    steps = np.diff(times_s)
    same = np.ones(steps.size, dtype=bool) if segments is None else np.diff(segments) == 0
    allowed = max(max_step_s, 3.0 * float(np.median(steps)))
    return float(steps[same & (steps <= allowed)].sum())


def _label(r_db: float, opts: PhaseOptions) -> str:
    if r_db >= opts.hyper_db:
        return "hyper"
    if r_db <= opts.hypo_db:
        return "hypo"
    return "iso"


MIN_TOP_SAMPLES = 4
"""Fewer samples than this make no top to fit: the maximum is the peak."""
TOP_GAP_S = 1.0
"""Dips below the top shorter than this (the curves' smoothing: noise) do not split it, s."""


def _first_top(times_s: np.ndarray, level_db: np.ndarray, usable: np.ndarray, peak: int, tolerance_db: float
               ) -> np.ndarray:
    """Return the first stretch of samples within ``tolerance_db`` of the maximum (the first pass's top).

    ``usable`` holds the increasing indices of the samples that may count, ``level_db`` their level and ``peak``
    the maximum's index.  Stretches apart by less than :data:`TOP_GAP_S`, or only by samples that do not count
    (rejected frames), are one; the first holding :data:`MIN_TOP_SAMPLES` samples is taken, else the one holding
    ``peak``.  Returns increasing indices.
    """
    near = usable[level_db[usable] >= level_db[peak] - tolerance_db]
    splits = np.flatnonzero(np.diff(times_s[near]) > TOP_GAP_S + 1e-9) + 1
    gaps_over = np.flatnonzero(np.diff(np.searchsorted(usable, near)) > 1) + 1
    stretches = np.split(near, np.intersect1d(splits, gaps_over))
    for stretch in stretches:
        if stretch.size >= MIN_TOP_SAMPLES:
            return stretch
    return next(stretch for stretch in stretches if peak in stretch)


def peak_sample(times_s: np.ndarray, smooth_l: np.ndarray, usable: np.ndarray, peak: int, segments: np.ndarray,
                tolerance_db: float) -> int:
    """Return the sample at the lesion's peak, its time read from the whole top of the curve rather than its maximum.

    A parabola is fitted (in dB, against time) to the first stretch of smoothed samples within ``tolerance_db``
    of the maximum, the first pass's top (:func:`_first_top`: a lesion that comes back to its level after a dip
    of a second or more, as proposal-30's did, has a second top; a parabola through both put the vertex in the
    dip, R 3 dB low; one through the top the maximum happened to fall in read proposal-06 on the later one,
    4.7 dB low), each sample weighing as much as it stands above that floor (a slow tail that only just makes the
    top would otherwise pull the vertex its way: 2.7 dB of R on the sparse-late-frames case); the peak is where
    the parabola stands highest over their times (its vertex, or the end of the top it rises to: a curve falling
    from the clip's first frame peaks there). Where the fitted top is flat (it varies by less than half the
    tolerance over those times: the lesion holds its level) the peak is the middle of the top. The maximum alone
    is one noisy sample: on a lesion that holds its level for seconds while the liver fills in (R falling from
    +20 to 0 dB meanwhile) it lands anywhere on the plateau and so picks any label.

    Parameters
    ----------
    times_s : (n,) sample times, s.
    smooth_l : (n,) the lesion's smoothed linear power.
    usable : (n,) samples that may count (in the arterial window, R finite).
    peak : index of the maximum.
    segments : (n,) the clip of each sample; only the peak's clip counts.
    tolerance_db : the top's depth below the maximum (dB).

    Returns
    -------
    int
        A usable sample of the peak's clip (``peak`` itself when fewer than four samples make the top).
    """
    candidates = usable & (segments == segments[peak])
    level_db = 10.0 * np.log10(np.where(candidates, np.maximum(smooth_l, 1e-300), 1.0))
    top = _first_top(times_s, level_db, np.flatnonzero(candidates), peak, tolerance_db)
    if top.size < MIN_TOP_SAMPLES:
        return peak
    t = times_s[top] - times_s[peak]
    height_db = level_db[top] - (level_db[peak] - tolerance_db)
    coefficients = np.polyfit(t, level_db[top], 2, w=np.sqrt(height_db))
    fitted = np.polyval(coefficients, t)
    if float(fitted.max() - fitted.min()) < 0.5 * tolerance_db:
        at_s = float(np.median(t))
    elif coefficients[0] < 0:
        at_s = float(np.clip(-coefficients[1] / (2.0 * coefficients[0]), t.min(), t.max()))
    else:
        at_s = float(t[np.argmax(fitted)])
    return int(top[np.argmin(np.abs(t - at_s))])


def _washout(times_s: np.ndarray, r_db: np.ndarray, start: int, segments: np.ndarray, opts: PhaseOptions
             ) -> tuple[float | None, tuple[float, float] | None]:
    """Wash-out onset from sample ``start`` on.

    The first time R ≤ hypo threshold *and stays so* for the minimum duration, observed within one clip (a run
    never spans the time between clips).

    Returns (onset, None), or (None, (a, b)) when the qualifying run begins a clip after a gap: the onset lies
    somewhere in (a, b], a being the previous clip's last sample (a hypo stretch it ended with was too short
    to count: a duration is observed, never bridged), b the first hypo sample after the gap; or (None, None)
    without wash-out.
    """
    valid = np.flatnonzero(np.isfinite(r_db))
    valid = valid[valid >= start]
    if valid.size == 0:
        return None, None
    t, hypo, seg = times_s[valid], r_db[valid] <= opts.hypo_db, segments[valid]
    run_start: int | None = None
    for j in range(valid.size):
        if j > 0 and seg[j] != seg[j - 1]:
            run_start = None  # a duration is observed, never bridged across the time between clips
        if not hypo[j]:
            run_start = None
            continue
        if run_start is None:
            run_start = j
        if t[j] - t[run_start] < opts.washout_min_duration_s:
            continue
        if run_start == 0 or seg[run_start] == seg[run_start - 1]:
            return float(t[run_start]), None
        return None, (float(t[run_start - 1]), float(t[run_start]))
    return None, None


def _timing(onset: float | None, interval: tuple[float, float] | None, opts: PhaseOptions) -> str:
    if onset is not None:
        return "early" if onset < opts.early_washout_s else "late"
    assert interval is not None
    if interval[1] < opts.early_washout_s:
        return "early"
    if interval[0] >= opts.early_washout_s:
        return "late"
    return "indeterminate"


def characterise(times_s: np.ndarray, lesion: np.ndarray, parenchyma: np.ndarray, *, onset_s: float | None,
                 options: PhaseOptions | None = None, segments: np.ndarray | None = None) -> dict[str, Any]:
    """Arterial, portal-venous (wash-out) and late-phase reading of one lesion.

    Parameters
    ----------
    times_s : (n,) seconds after injection, increasing.
    lesion, parenchyma : (n,) linear power TICs (NaN for rejected frames).
    onset_s : the lesion's arrival time (reported as the arterial onset).
    segments : (n,) the clip each sample comes from (an examination of several clips); durations are
        observed within a clip, never bridged across the time between clips. None: one clip.

    Returns
    -------
    dict with ``arterial_phase``, ``portal_venous_phase``, ``late_phase`` and ``pattern`` as in DESIGN's
    analysis.json (the lesion's arterial peak time under ``arterial_phase.peak_time_s``), plus
    ``relative_db`` (n,) R(t).
    """
    opts = options or PhaseOptions()
    r_db = relative_db(times_s, lesion, parenchyma, smoothing_s=opts.smoothing_s)
    smooth_l = moving_average(times_s, lesion, opts.smoothing_s)
    window = (times_s >= 0) & (times_s <= opts.arterial_end_s) & np.isfinite(r_db)
    segments = np.zeros(times_s.size, dtype=int) if segments is None else np.asarray(segments)
    if window.any():
        peak = int(np.flatnonzero(window)[np.argmax(smooth_l[window])])
        peak_db = float(r_db[peak_sample(times_s, smooth_l, window, peak, segments, opts.peak_top_db)])
        arterial = _label(peak_db, opts)
        arterial_peak_s: float | None = float(times_s[peak])
    else:
        peak, peak_db, arterial, arterial_peak_s = 0, float("nan"), "not_assessed", None
    washout_onset, interval = None, None
    if arterial in ("hyper", "iso"):
        washout_onset, interval = _washout(times_s, r_db, peak, segments, opts)
    washout = washout_onset is not None or interval is not None
    if not washout:
        timing, degree = "none", "none"
    else:
        timing = _timing(washout_onset, interval, opts)
        begins = washout_onset if washout_onset is not None else interval[0]  # type: ignore[index]
        before = (times_s >= begins) & (times_s < opts.portal_end_s) & np.isfinite(r_db)
        degree = "marked" if before.any() and np.min(r_db[before]) <= opts.marked_washout_db else "mild"
    late_window = (times_s >= opts.late_start_s) & np.isfinite(r_db)
    if observed_s(times_s[late_window], segments[late_window]) >= opts.min_late_duration_s:
        median_db = float(np.median(r_db[late_window]))
        late_db: float | None = median_db
        late = _label(median_db, opts)
    else:
        late_db, late = None, "not_assessed"
    pattern = f"arterial {arterial}, " + (f"{timing} {degree} wash-out" if washout else "no wash-out") + f", late {late}"
    return {
        "arterial_phase": {"enhancement": arterial, "onset_s": round_or_none(onset_s, 3), "relative_peak_db": round_or_none(peak_db, 3),
                           "peak_time_s": arterial_peak_s},
        "portal_venous_phase": {"washout": washout, "washout_onset_s": washout_onset,
                                "washout_onset_interval_s": None if interval is None else list(interval),
                                "washout_timing": timing, "washout_degree": degree},
        "late_phase": {"enhancement": late, "relative_db": round_or_none(late_db, 3)},
        "pattern": pattern,
        "relative_db": r_db,
    }


def lirads_category(characterisation: dict[str, Any], *, size_mm: float | None, at_risk: bool | None
                    ) -> dict[str, Any]:
    """CEUS LI-RADS v2017 category as decision support (ACR CEUS LI-RADS v2017 diagnostic table).

    LR-M: early (< 60 s) or marked wash-out (rim APHE is not assessed by ceuskit).  Otherwise by arterial
    phase hyperenhancement (APHE), late-and-mild wash-out and size: no APHE → LR-3 (LR-4 with wash-out and
    ≥ 20 mm); APHE without wash-out → LR-3 (< 10 mm) or LR-4; APHE with wash-out → LR-4 (< 10 mm) or LR-5.
    Applies only to patients at risk of HCC; not validated for neuroendocrine metastases.
    """
    note = "decision support only; CEUS LI-RADS is defined for patients at risk of HCC and not validated for NET metastases"
    if size_mm is None or at_risk is None:
        return {"category": None, "applicable": False,
                "reason": "needs lesion size and HCC risk status (size_mm, at_risk)", "note": note}
    if not at_risk:
        return {"category": None, "applicable": False, "reason": "patient not at risk of HCC", "note": note}
    arterial = characterisation["arterial_phase"]["enhancement"]
    pv = characterisation["portal_venous_phase"]
    if arterial == "not_assessed":
        return {"category": None, "applicable": True, "size_mm": size_mm, "note": note,
                "reason": "the arterial phase was not recorded: hyperenhancement cannot be judged"}
    if pv["washout"] and (pv["washout_timing"] == "early" or pv["washout_degree"] == "marked"):
        category = "LR-M"
    elif pv["washout"] and pv["washout_timing"] == "indeterminate":
        return {"category": None, "applicable": True, "size_mm": size_mm, "note": note,
                "reason": "the wash-out began between two clips, on either side of 60 s: LR-M if it was early"}
    else:
        aphe, washout = arterial == "hyper", bool(pv["washout"])
        if not aphe:
            category = "LR-4" if washout and size_mm >= 20 else "LR-3"
        elif not washout:
            category = "LR-4" if size_mm >= 10 else "LR-3"
        else:
            category = "LR-5" if size_mm >= 10 else "LR-4"
    return {"category": category, "applicable": True, "size_mm": size_mm, "note": note}
