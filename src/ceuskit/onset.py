"""Contrast arrival on measured TICs: the start of the sustained rise that leads to the peak.

Real recordings are not clean: they start with transients (gain settling, a probe moved, a flash), may
start after the contrast has arrived, and carry noise. The arrival is therefore found **backward from the
peak**, never by scanning forward from the first frame:

1. the curve is smoothed over ``smoothing_s`` (NaN samples skipped, then bridged for the search);
2. the peak is the largest smoothed value in the search window (for a lesion: the arterial phase);
3. walking back from the peak, the *foot* is the last sample at or below 2.5 % of the way from the lowest
   pre-peak level to the peak *whose preceding* ``baseline_s`` *seconds lie mostly (80 %) below it too*:
   a short dip inside the rise (an out-of-plane second, dropped frames) is walked past, and a transient
   earlier in the clip, separated from the rise by a return to baseline, is never reached;
4. the **baseline** is the median of the smoothed curve over the ``baseline_s`` seconds up to the foot (a
   robust pre-arrival window), and the arrival time is where the curve, from the foot on, first rises
   past baseline + ``threshold`` × (peak − baseline), interpolated between samples;
5. when less than ``min_baseline_s`` of data precede the foot, the clip started during the wash-in: there
   is no baseline and the arrival is unknown (``no_baseline``), never the first frame's time;
6. when the peak rises less above the baseline (or above the curve's lowest level, checked first: noise and
   flat curves) than ``min_enhancement_db`` or ``enhancement_sigmas`` times the smoothed curve's own noise
   (robust, from the raw samples' scatter about it, in dB), there is no clear enhancement
   (``low_enhancement``) and no arrival either.

:func:`find_arrivals` does this for many curves at once (compiled); :func:`find_arrival` for one.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ceuskit.timeseries import moving_average

__all__ = ["REASONS", "Arrival", "ArrivalOptions", "find_arrival", "find_arrivals", "largest_gap_s"]

FOOT_FRACTION = 0.5
"""The foot is sought at this fraction of the arrival threshold above the lowest level (2.5 % of the rise),
so the baseline window before it holds as little of a slow start as possible."""

BASELINE_SHARE = 0.8
"""Share of a candidate baseline window that must lie below the foot level (a dip inside the rise does not)."""

REASONS = (None, "no_baseline", "low_enhancement", "no_data", "gap")
"""What a ``reason`` code (index) means; 0: the arrival was found. (:func:`find_arrivals` gives 0–3; "gap" is
the caller's verdict from :func:`largest_gap_s`: frames missing over the rise.)"""


@dataclass(frozen=True)
class ArrivalOptions:
    """Settings of :func:`find_arrivals` (times in s)."""

    smoothing_s: float = 1.0
    threshold: float = 0.05  # fraction of the rise (peak − baseline) that marks the arrival
    baseline_s: float = 3.0  # pre-arrival window for the baseline
    min_baseline_s: float = 1.0  # less pre-arrival data than this: no baseline
    min_enhancement_db: float = 3.0  # a peak less far above the baseline is no clear enhancement …
    enhancement_sigmas: float = 6.0  # … nor one less than this many times the smoothed curve's noise (dB)


@dataclass(frozen=True)
class Arrival:
    """The arrival of one curve (see :func:`find_arrival`).

    Attributes
    ----------
    time_s : arrival time (s, on the input time axis), or None with ``reason`` saying why.
    peak_time_s : time of the smoothed peak in the window, or None when the window holds no sample.
    peak : smoothed peak value (linear power), NaN when none.
    baseline : robust pre-arrival level (linear power), NaN when there is none.
    enhancement_db : 10·log10(peak / baseline), NaN when either is missing.
    reason : None, "no_baseline", "low_enhancement" or "no_data" (or "gap", a caller's verdict; see
        :data:`REASONS`).
    """

    time_s: float | None
    peak_time_s: float | None
    peak: float
    baseline: float
    enhancement_db: float
    reason: str | None


@njit(cache=True)
def _window_start(t: np.ndarray, end: int, span_s: float) -> int:
    """First index of the samples within ``span_s`` seconds up to and including ``end``."""
    start = end
    while start > 0 and t[start - 1] >= t[end] - span_s:
        start -= 1
    return start


@njit(cache=True)
def _window_median(t: np.ndarray, s: np.ndarray, end: int, span_s: float) -> float:
    """Median of s over the samples within ``span_s`` seconds up to and including ``end``."""
    return float(np.median(s[_window_start(t, end, span_s):end + 1]))


@njit(cache=True)
def _fraction_below(t: np.ndarray, s: np.ndarray, end: int, span_s: float, level: float) -> float:
    """Fraction of the samples within ``span_s`` seconds up to ``end`` that lie at or below ``level``."""
    return float(np.mean(s[_window_start(t, end, span_s):end + 1] <= level))


@njit(cache=True)
def _foot(t: np.ndarray, s: np.ndarray, level: float, peak: int, span_s: float) -> int:
    """Last index ≤ peak at or below ``level`` whose preceding ``span_s`` seconds lie mostly (80 %) below it
    (−1 if none): where the sustained rise to the peak starts, walking past short dips inside the rise."""
    i = peak
    while i >= 0:
        while i >= 0 and s[i] > level:
            i -= 1
        if i < 0 or _fraction_below(t, s, i, span_s, level) >= BASELINE_SHARE:
            return i
        i -= 1
    return -1


@njit(cache=True)
def _rise_time(t: np.ndarray, s: np.ndarray, level: float, start: int) -> float:
    """Time at which the curve rises past ``level`` around index ``start`` (forward if it is below level
    there, backward to the last sample below otherwise), interpolated between samples."""
    k = start
    if s[k] >= level:
        while k > 0 and s[k - 1] >= level:
            k -= 1
    else:
        while k < s.size - 1 and s[k] < level:
            k += 1
    if k == 0 or s[k] < level:
        return t[k]
    step = s[k] - s[k - 1]
    w = (level - s[k - 1]) / step if step != 0.0 else 1.0
    w = min(max(w, 0.0), 1.0)
    return t[k - 1] + w * (t[k] - t[k - 1])


@njit(cache=True)
def _one(t: np.ndarray, s: np.ndarray, lo: int, hi: int, threshold: float, baseline_s: float,
         min_baseline_s: float, min_enhancement_db: float, out: np.ndarray) -> None:
    """out = (arrival, peak time, peak, baseline, enhancement dB, reason code) for one smoothed curve."""
    peak = -1
    for i in range(lo, hi):
        if np.isfinite(s[i]) and (peak < 0 or s[i] > s[peak]):
            peak = i
    if peak < 0:
        out[5] = 3
        return
    out[1] = t[peak]
    out[2] = s[peak]
    lowest = np.min(s)
    if not (lowest > 0.0 and 10.0 * math.log10(s[peak] / lowest) >= min_enhancement_db):
        # not even the whole curve's range reaches a clear enhancement: noise, or a flat curve
        out[4] = 10.0 * math.log10(s[peak] / lowest) if lowest > 0.0 and s[peak] > 0.0 else np.nan
        out[5] = 2
        return
    low = s[0]
    for i in range(peak + 1):
        low = min(low, s[i])
    foot = _foot(t, s, low + FOOT_FRACTION * threshold * (s[peak] - low), peak, baseline_s)
    if foot < 0 or t[foot] - t[0] < min_baseline_s:
        out[5] = 1
        return
    baseline = _window_median(t, s, foot, baseline_s)
    out[3] = baseline
    if baseline > 0.0 and s[peak] > 0.0:
        out[4] = 10.0 * math.log10(s[peak] / baseline)
    if not out[4] >= min_enhancement_db:
        out[5] = 2
        return
    out[0] = _rise_time(t, s, baseline + threshold * (s[peak] - baseline), foot)
    out[5] = 0


@njit(parallel=True, cache=True)
def _kernel(t: np.ndarray, smooth: np.ndarray, lo: int, hi: int, threshold: float, baseline_s: float,
            min_baseline_s: float, min_enhancement_db: np.ndarray) -> np.ndarray:
    n, n_t = smooth.shape
    out = np.full((n, 6), np.nan)
    for c in prange(n):
        has = np.isfinite(smooth[c])
        if has.sum() < 3:
            out[c, 5] = 3
            continue
        s = np.interp(t, t[has], smooth[c][has])  # rejected frames bridged for the search only
        _one(t, s, lo, hi, threshold, baseline_s, min_baseline_s, min_enhancement_db[c], out[c])
    return out


def _smoothed_noise_db(t: np.ndarray, curves: np.ndarray, smooth: np.ndarray, smoothing_s: float) -> np.ndarray:
    """Per curve, the noise (dB) left in its smoothed version: the robust scatter of the raw samples about
    it (1.4826 × MAD of the dB residual) over the root of the samples a smoothing window holds."""
    raw = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        residual = 10.0 * np.log10(np.where(raw > 0, raw, np.nan)) - 10.0 * np.log10(np.where(smooth > 0, smooth, np.nan))
    with warnings.catch_warnings():  # a curve with no usable sample has no noise figure (NaN)
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = 1.4826 * np.nanmedian(np.abs(residual - np.nanmedian(residual, axis=1, keepdims=True)), axis=1)
    per_window = max(1.0, smoothing_s / float(np.median(np.diff(t)))) if t.size > 1 else 1.0
    return spread / np.sqrt(per_window)


def find_arrivals(times_s: np.ndarray, curves: np.ndarray, *, window_s: tuple[float, float] | None = None,
                  options: ArrivalOptions | None = None) -> dict[str, np.ndarray]:
    """Arrival of each curve, found backward from its peak above a robust pre-arrival baseline.

    Parameters
    ----------
    times_s : (T,) increasing times, s.
    curves : (n, T) linear power (NaN for rejected frames).
    window_s : (start, stop) the peak is searched in, s; None for the whole curve.
    options : thresholds and windows.

    Returns
    -------
    dict of (n,) arrays: ``arrival_time_s`` (NaN where unknown), ``peak_time_s``, ``peak``, ``baseline``,
    ``enhancement_db`` and ``reason`` (int codes indexing :data:`REASONS`).
    """
    opts = options or ArrivalOptions()
    t = np.asarray(times_s, dtype=np.float64)
    smooth = np.atleast_2d(moving_average(t, np.asarray(curves, dtype=np.float64), opts.smoothing_s))
    lo, hi = 0, t.size
    if window_s is not None:
        lo = int(np.searchsorted(t, window_s[0], side="left"))
        hi = int(np.searchsorted(t, window_s[1], side="right"))
    required = np.maximum(opts.min_enhancement_db, opts.enhancement_sigmas * _smoothed_noise_db(t, curves, smooth,
                                                                                               opts.smoothing_s))
    out = _kernel(t, np.ascontiguousarray(smooth), lo, hi, opts.threshold, opts.baseline_s, opts.min_baseline_s,
                  np.nan_to_num(required, nan=opts.min_enhancement_db))
    names = ("arrival_time_s", "peak_time_s", "peak", "baseline", "enhancement_db")
    result = {name: out[:, k] for k, name in enumerate(names)}
    result["reason"] = out[:, 5].astype(int)
    return result


def find_arrival(times_s: np.ndarray, power: np.ndarray, *, window_s: tuple[float, float] | None = None,
                 options: ArrivalOptions | None = None) -> Arrival:
    """:func:`find_arrivals` for one curve (``power`` (T,)), as an :class:`Arrival`."""
    found = find_arrivals(times_s, np.asarray(power, dtype=float)[None, :], window_s=window_s, options=options)

    def value(name: str) -> float:
        return float(found[name][0])

    arrival, peak_time = value("arrival_time_s"), value("peak_time_s")
    return Arrival(arrival if np.isfinite(arrival) else None, peak_time if np.isfinite(peak_time) else None,
                   value("peak"), value("baseline"), value("enhancement_db"), REASONS[int(found["reason"][0])])


def largest_gap_s(times_s: np.ndarray, values: np.ndarray, start_s: float, stop_s: float) -> float:
    """Longest stretch (s) without a finite sample of ``values`` between ``start_s`` and ``stop_s``, counting
    from the last finite sample before the stretch to the first after it (a missing block of frames)."""
    t = np.asarray(times_s, dtype=float)
    ok = np.isfinite(np.asarray(values, dtype=float))
    inside = np.flatnonzero(ok & (t >= start_s) & (t <= stop_s))
    before = np.flatnonzero(ok & (t < start_s))
    after = np.flatnonzero(ok & (t > stop_s))
    edges = np.concatenate([before[-1:], inside, after[:1]])
    if edges.size < 2:
        return float(stop_s - start_s)
    return float(np.max(np.diff(t[edges])))
