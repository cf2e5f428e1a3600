"""Contrast arrival on measured TICs, as a reader sees it: the start of the sustained rise to the peak.

A reader times the arrival on the screen, where display grey is proportional to echo power in dB; the onset
is therefore read on the **dB scale** of the curve. It does not depend on the display's dynamic range: grey
maps to dB by a scale and an offset, which a fraction of the way from baseline to peak does not see.
Real recordings are not clean: they start with transients (gain settling, a probe moved, a flash), may
start after the contrast has arrived, and carry noise. The arrival is therefore found **backward from the
peak**, never by scanning forward from the first frame:

1. the curve is smoothed over ``smoothing_s`` (linear power, NaN samples skipped, then bridged for the
   search) and taken to dB;
2. the peak is the largest smoothed value in the search window (for a lesion: the arterial phase);
3. walking back from the peak, the *foot* is the last sample at or below the foot level — 2.5 % of the way
   from the lowest pre-peak level (a low percentile) to the peak, or four times the smoothed curve's noise
   above that level if more — *whose preceding* ``baseline_s`` *seconds lie mostly (80 %) below it too*: a
   short dip inside the rise (an out-of-plane second, dropped frames) is walked past, and a transient
   earlier in the clip, separated from the rise by a return to baseline, is never reached. Half of them
   suffice when the curve has been back below the level for half a smoothing window before the candidate:
   a short excursion of the baseline that returned to it (a tracked ROI crossing onto enhancing tissue for
   half a second) is not the start of the rise and is not walked back to;
4. the **baseline** is the median of the smoothed curve over the ``baseline_s`` seconds up to the foot (a
   robust pre-arrival window). It exists only where the curve is *flat* before the rise: at least
   ``min_baseline_s`` of data precede the foot, and over the window the curve climbs less than
   ``flat_share`` of the rise's own mean slope (foot to half-way; beyond what its noise explains). A curve
   already rising in its first frames — however short that rise — has no baseline and no arrival
   (``no_baseline``), never the first frame's time;
5. the onset (``scale="db"``) is where the curve, from the foot on, first rises past baseline + ``threshold``
   × (peak − baseline) in dB and stays mostly above it (half of the next ``baseline_s`` seconds: a noise
   excursion does not count), interpolated between samples. It is read on a local quadratic regression of
   the samples in dB (Savitzky–Golay on irregular times; a moving mean over a convex rise would reach ahead
   of it) over the time the rise takes, at its mean pace, to climb 18 times the noise of a 1-s mean — at
   least ``smoothing_s``, at most the time from the foot to half-way — above the median of the samples in
   dB over a window before the foot that grows with the rise (``baseline_s``, or the foot-to-half-way time
   if longer): a slow rise, whose 5 % point climbs a fraction of a dB per second, needs both steadier than
   a 1-s window gives. With ``scale="power"`` the same foot and baseline serve the linear-power convention
   instead (VueBox's: 5 % of the rise of the smoothed curve in linear power, the model-free twin of a fit's
   arrival time), which lies later on the same rise;
6. when the peak rises less above the baseline (or above the curve's lowest level, checked first: noise and
   flat curves) than ``min_enhancement_db`` or ``enhancement_sigmas`` times the smoothed curve's own noise
   (robust, from the raw samples' scatter about it, in dB), there is no clear enhancement
   (``low_enhancement``) and no arrival either.

:func:`find_arrivals` does this for many curves at once (compiled); :func:`find_arrival` for one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from ceuskit._fastmath import fast_log
from ceuskit.timeseries import finite_running_sums

__all__ = ["REASONS", "Arrival", "ArrivalOptions", "find_arrival", "find_arrivals", "largest_gap_s"]

FOOT_FRACTION = 0.5
"""The foot is sought at this fraction of the arrival threshold above the lowest level (2.5 % of the rise),
so the baseline window before it holds as little of a slow start as possible …"""

FOOT_SIGMAS = 4.0
"""… but at least this many times the smoothed curve's noise (dB) above it, so a noisy baseline's dips do not
hide the foot."""

LOW_PERCENTILE = 5.0
"""The lowest pre-peak level is this percentile of the smoothed curve up to the peak (its noise's extremes
and a few dark frames do not set it)."""

BASELINE_SHARE = 0.8
"""Share of a candidate baseline window that must lie below the foot level (a dip inside the rise does not) …"""

EXCURSION_SHARE = 0.5
"""… or at least this share, when the curve has been back below the level for :data:`RETURN_WINDOWS` before
the candidate, and the whole window is recorded and starts below the level: what lay above it in the window was a
short excursion of a baseline that returned to it (a blip; a tracked ROI crossing onto enhancing tissue for a
moment), not the start of the rise (half: the window's median, the baseline, still lies below the level); a
curve that starts high has no baseline before its excursion …"""

RETURN_WINDOWS = 0.5
"""… for this many smoothing windows (a dip inside the rise, blurred by the smoothing, lies below the level for
a moment only)."""

WINDOW_CLIMB_SIGMAS = 18.0
"""The 5 % point is read on a local fit over the time the rise takes, at its mean pace (foot to half-way), to
climb this many times the noise of the ``smoothing_s`` mean (dB; 3 dB for 1 dB per sample at 35 Hz; the
window and the dB scale stretch alike with the dynamic range) — at least ``smoothing_s`` …"""

MAX_WINDOW_SHARE = 1.0
"""… and at most this share of the rise's duration (foot to half-way) …"""

BASELINE_RISE_SHARE = 1.0
"""… above a baseline taken over at least this share of it (slow rises: the level needs a steady baseline)."""

QUADRATIC_MIN_SAMPLES = 7
"""A local fit needs this many samples; fewer (coarse sampling, time bins) are summarised by their median."""

SUSTAINED_SHARE = 0.5
"""The arrival is a crossing after which at least this share of the next ``baseline_s`` seconds lie above its
level: a noise excursion between the foot and the rise is passed over."""

FLAT_SIGMAS = 3.0
"""A baseline window's climb counts only beyond this many standard errors of its noise."""

DB_FLOOR = 1e-12
"""Smoothed power at or below this fraction of the peak is taken as this fraction (−120 dB) on the dB scale."""

SCALES = ("db", "power")
"""Where the arrival's fraction of the rise is taken: ``db``, the display's scale (the onset), or ``power``
(linear echo power, VueBox's convention for the arrival time)."""

REASONS = (None, "no_baseline", "low_enhancement", "no_data", "gap")
"""What a ``reason`` code (index) means; 0: the arrival was found. (:func:`find_arrivals` gives 0–3; "gap" is
the caller's verdict from :func:`largest_gap_s`: frames missing over the rise.)"""


@dataclass(frozen=True)
class ArrivalOptions:
    """Settings of :func:`find_arrivals` (times in s).

    Attributes
    ----------
    smoothing_s : moving-average window, s.
    threshold : fraction of the rise (peak − baseline) that marks the arrival.
    baseline_s : pre-arrival window of the baseline, s.
    min_baseline_s : less pre-arrival data than this: no baseline.
    min_enhancement_db : a peak less far above the baseline is no clear enhancement …
    enhancement_sigmas : … nor one less than this many times the smoothed curve's noise (dB).
    scale : "db" (the onset, as a reader sees it) or "power" (linear power, VueBox's arrival time).
    flat_share : the baseline window may climb at most this share of the rise's mean slope (foot → half-way).
    """

    smoothing_s: float = 1.0
    threshold: float = 0.05
    baseline_s: float = 3.0
    min_baseline_s: float = 1.0
    min_enhancement_db: float = 3.0
    enhancement_sigmas: float = 6.0
    scale: str = "db"
    flat_share: float = 0.25

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {self.scale!r}")


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
def _below_for(t: np.ndarray, s: np.ndarray, end: int, level: float) -> float:
    """How long (s) the curve has lain at or below ``level`` up to index ``end`` (which does)."""
    start = end
    while start > 0 and s[start - 1] <= level:
        start -= 1
    below_s: float = t[end] - t[start]
    return below_s


@njit(cache=True)
def _returned(t: np.ndarray, s: np.ndarray, end: int, span_s: float, level: float, return_s: float) -> bool:
    """Tell whether what lay above ``level`` in the ``span_s`` seconds before ``end`` was an excursion of a baseline.

    The recording holds the whole window, its first sample lies at or below the level (a baseline before
    the excursion, not a curve that starts high) and the curve has been back at or below it for ``return_s``
    up to ``end``.
    """
    if t[end] - t[0] < span_s:
        return False
    return bool(s[_window_start(t, end, span_s)] <= level and _below_for(t, s, end, level) >= return_s)


@njit(cache=True)
def _foot(t: np.ndarray, s: np.ndarray, level: float, peak: int, span_s: float, return_s: float) -> int:
    """Last index ≤ peak at or below ``level`` whose preceding ``span_s`` seconds lie mostly (80 %) below it.

    Half of them suffice when the curve has been back below the level for ``return_s`` before it; −1 if none:
    where the sustained rise to the peak starts, walking past short dips inside the rise but not back past a
    short excursion of the baseline that returned to it.
    """
    i = peak
    while i >= 0:
        while i >= 0 and s[i] > level:
            i -= 1
        if i < 0:
            return i
        below = _fraction_below(t, s, i, span_s, level)
        if below >= BASELINE_SHARE or (below >= EXCURSION_SHARE and _returned(t, s, i, span_s, level, return_s)):
            return i
        i -= 1
    return -1


@njit(cache=True)
def _fraction_above(t: np.ndarray, s: np.ndarray, start: int, span_s: float, level: float) -> float:
    """Fraction of the samples from ``start`` to ``span_s`` seconds later that lie above ``level``."""
    end = start
    while end < s.size - 1 and t[end + 1] <= t[start] + span_s:
        end += 1
    return float(np.mean(s[start:end + 1] > level))


@njit(cache=True)
def _rise_time(t: np.ndarray, s: np.ndarray, level: float, start: int, span_s: float) -> float:
    """Time at which the curve rises past ``level`` for good around index ``start``.

    Forward from there if it is below the level, to the first crossing after which the curve stays mostly
    (half of the next ``span_s`` seconds) above it — a noise excursion is passed over; backward to the last
    sample below the level if it is already above. Interpolated between samples.
    """
    k = start
    if s[k] >= level:
        while k > 0 and s[k - 1] >= level:
            k -= 1
    else:
        while True:
            while k < s.size - 1 and s[k] < level:
                k += 1
            if s[k] < level or _fraction_above(t, s, k, span_s, level) >= SUSTAINED_SHARE:
                break
            while k < s.size - 1 and s[k] >= level:
                k += 1
    if k == 0 or s[k] < level:
        at_s: float = t[k]
        return at_s
    step = s[k] - s[k - 1]
    w = (level - s[k - 1]) / step if step != 0.0 else 1.0
    w = min(max(w, 0.0), 1.0)
    crossing_s: float = t[k - 1] + w * (t[k] - t[k - 1])
    return crossing_s


@njit(cache=True)
def _local_quadratic(t: np.ndarray, x: np.ndarray, window_s: float, first: int, stop: int) -> np.ndarray:
    """Local quadratic regression of ``x`` over ``window_s`` seconds centred on each sample first … stop − 1.

    The fit is Savitzky–Golay on irregular times: a convex or concave stretch is followed without the bias of
    a moving mean.  With fewer than :data:`QUADRATIC_MIN_SAMPLES` samples it is the median of as many samples
    on either side; the other entries are copies of ``x``.
    """
    out = x.copy()
    lo, hi = 0, 0
    for i in range(first, stop):
        while t[lo] < t[i] - window_s / 2:
            lo += 1
        while hi < x.size and t[hi] <= t[i] + window_s / 2:
            hi += 1
        if hi - lo < QUADRATIC_MIN_SAMPLES:  # too few for a curve: the median of as many on either side,
            k = min(i - lo, hi - 1 - i)  # unbiased on a monotone rise
            out[i] = np.median(x[i - k:i + k + 1])
            continue
        u = t[lo:hi] - t[i]
        s0, s1, s2, s3, s4 = float(hi - lo), np.sum(u), np.sum(u * u), np.sum(u**3), np.sum(u**4)
        y0, y1, y2 = np.sum(x[lo:hi]), np.sum(u * x[lo:hi]), np.sum(u * u * x[lo:hi])
        a = np.array([[s0, s1, s2], [s1, s2, s3], [s2, s3, s4]])
        det = np.linalg.det(a)
        if abs(det) < 1e-12 * max(s4 * s4 * s0, 1e-300):
            out[i] = np.mean(x[lo:hi])
            continue
        out[i] = np.linalg.solve(a, np.array([y0, y1, y2]))[0]
    return out


@njit(cache=True)
def _climb(t: np.ndarray, d: np.ndarray, start: int, end: int) -> float:
    """How far the least-squares line through d[start:end+1] climbs over those samples' span (dB)."""
    n = end - start + 1
    if n < 3:
        return 0.0
    tm = np.mean(t[start:end + 1])
    dm = np.mean(d[start:end + 1])
    sxx, sxy = 0.0, 0.0
    for i in range(start, end + 1):
        sxx += (t[i] - tm) ** 2
        sxy += (t[i] - tm) * (d[i] - dm)
    if sxx <= 0.0:
        return 0.0
    climb: float = sxy / sxx * (t[end] - t[start])
    return climb


@njit(cache=True)
def _one(t: np.ndarray, s: np.ndarray, raw: np.ndarray, lo: int, hi: int, threshold: float, baseline_s: float,
         min_baseline_s: float, required_db: float, noise_db: float, smoothing_s: float, flat_share: float,
         on_db: bool, out: np.ndarray) -> None:
    """Return (arrival, peak time, peak, baseline, enhancement dB, reason code) for one smoothed curve.

    The curve is ``s``, its samples ``raw`` (linear power, no NaN).
    """
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
    if not (lowest > 0.0 and 10.0 * math.log10(s[peak] / lowest) >= required_db):
        # not even the whole curve's range reaches a clear enhancement: noise, or a flat curve
        out[4] = 10.0 * math.log10(s[peak] / lowest) if lowest > 0.0 and s[peak] > 0.0 else np.nan
        out[5] = 2
        return
    d = _db(s, DB_FLOOR * s[peak])  # the display's scale
    low = np.percentile(d[:peak + 1], LOW_PERCENTILE)
    level = low + max(FOOT_FRACTION * threshold * (d[peak] - low), FOOT_SIGMAS * noise_db)
    foot = _foot(t, d, level, peak, baseline_s, RETURN_WINDOWS * smoothing_s)
    if foot < 0 or t[foot] - t[0] < min_baseline_s:
        out[5] = 1
        return
    start = _window_start(t, foot, baseline_s)
    baseline_db = float(np.median(d[start:foot + 1]))
    out[3] = 10.0 ** (baseline_db / 10.0)
    out[4] = d[peak] - baseline_db
    if not out[4] >= required_db:
        out[5] = 2
        return
    # a baseline is flat: the window climbs less than a share of the rise's own mean slope, beyond its noise
    span = t[foot] - t[start]
    half = foot
    while half < peak and d[half] < baseline_db + 0.5 * out[4]:
        half += 1
    rise_s = max(t[half] - t[foot], 1e-9)  # the rise's own timing: foot to half-way (a plateau has no end)
    rise_slope = 0.5 * out[4] / rise_s
    independent = max(1.0, span / max(smoothing_s, 1e-9))
    allowed = max(flat_share * rise_slope * span, FLAT_SIGMAS * noise_db * math.sqrt(12.0 / independent))
    if _climb(t, d, start, foot) > allowed:
        out[5] = 1
        return
    # the 5 % point is read on the running median of the samples in dB: unbiased on a monotone rise, however
    # steep (a centred mean reaches ahead into the rise), over a window that grows with a slow rise, whose 5 %
    # point climbs a fraction of a dB per second, above a baseline that grows with it too
    window = min(max(smoothing_s, WINDOW_CLIMB_SIGMAS * noise_db / rise_slope), MAX_WINDOW_SHARE * rise_s)
    start = _window_start(t, foot, max(baseline_s, BASELINE_RISE_SHARE * rise_s))
    if on_db:
        samples = _db(raw, DB_FLOOR * s[peak])
        base_db = float(np.median(samples[start:foot + 1]))
        m = _local_quadratic(t, samples, window, start, hi)
        peak_db = np.max(m[max(lo, start):hi])
        out[0] = _rise_time(t, m, base_db + threshold * (peak_db - base_db), foot, baseline_s)
    else:  # VueBox's convention on the smoothed curve, above the baseline of the foot's window
        out[0] = _rise_time(t, s, out[3] + threshold * (s[peak] - out[3]), foot, baseline_s)
    out[5] = 0


_DB_PER_LN = 10.0 / math.log(10.0)  # dB of a natural log: 10·log10(x) = (10 / ln 10)·ln x


@njit(cache=True, error_model="numpy")
def _db(x: np.ndarray, floor: float) -> np.ndarray:
    """10·log10(max(x, floor)) of every sample (a loop that compiles to SIMD code, within 3 ulp of libm's)."""
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = _DB_PER_LN * fast_log(max(x[i], floor))
    return out


@njit(cache=True)
def _window_means(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, csum: np.ndarray, ccount: np.ndarray,
                  out: np.ndarray) -> None:
    """out[i] = mean of the finite samples x[lo[i]:hi[i]], NaN where there is none.

    The moving average of :func:`ceuskit.timeseries.moving_average` for one series (the same running sums, so
    the same numbers), its windows given as sample indices; ``csum`` and ``ccount`` (T + 1,) are scratch.
    """
    finite_running_sums(x, csum, ccount)
    for i in range(x.size):
        k = ccount[hi[i]] - ccount[lo[i]]
        out[i] = (csum[hi[i]] - csum[lo[i]]) / max(k, 1.0) if k > 0 else np.nan


@njit(cache=True)
def _select(a: np.ndarray, n: int, k: int) -> float:
    """Return the k-th smallest (0-based) of a[:n] (no NaN), by quickselect.

    It reorders a[:n] so that a[:k] ≤ a[k].
    """
    lo, hi = 0, n - 1
    while hi > lo:
        mid = (lo + hi) // 2  # median-of-three pivot, moved to hi
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[mid] < a[hi]:
            a[mid], a[hi] = a[hi], a[mid]
        pivot = a[hi]
        store = lo
        for i in range(lo, hi):
            if a[i] < pivot:
                a[i], a[store] = a[store], a[i]
                store += 1
        a[store], a[hi] = a[hi], a[store]
        if store == k:
            found: float = a[k]
            return found
        if store < k:
            lo = store + 1
        else:
            hi = store - 1
    kth: float = a[k]
    return kth


@njit(cache=True)
def _median_in_place(a: np.ndarray, n: int) -> float:
    """np.median of a[:n] (no NaN; a[:n] is reordered): the middle value, or the mean of the two middle ones."""
    upper = _select(a, n, n // 2)
    if n % 2 == 1:
        return upper
    lower: float = a[0]
    for i in range(1, n // 2):  # the largest of the lower half
        lower = a[i] if a[i] > lower else lower
    return (lower + upper) / 2.0


@njit(cache=True)
def _noise_db(raw: np.ndarray, local: np.ndarray, held_factor: float, per_window: float, buf: np.ndarray) -> float:
    """Return the noise (dB) left in a curve's smoothed mean.

    1.4826 × MAD of the dB residual of the samples ``raw`` about their local mean ``local`` (where both are
    positive), × ``held_factor`` (the sample's own share of the local mean), over ``per_window`` (the root of
    the samples a smoothing window holds); NaN when no sample serves.  ``buf`` (T,) is scratch.
    """
    inf = np.inf
    for i in range(raw.size):  # the logs in one loop that compiles to SIMD code …
        a, b = raw[i], local[i]
        usable = a > 0.0 and b > 0.0  # as log10 of NaN, 0 or less: no residual; of inf: inf
        la = _DB_PER_LN * fast_log(a if usable and a < inf else 1.0)
        lb = _DB_PER_LN * fast_log(b if usable and b < inf else 1.0)
        residual = (la if a < inf else inf) - (lb if b < inf else inf)
        buf[i] = residual if usable else np.nan
    m = 0
    for i in range(raw.size):  # … then the usable ones to the front
        if not np.isnan(buf[i]):
            buf[m] = buf[i]
            m += 1
    if m == 0:
        return np.nan
    centre = _median_in_place(buf, m)
    for i in range(m):
        buf[i] = abs(buf[i] - centre)
    spread = 1.4826 * _median_in_place(buf, m)
    spread = spread * held_factor
    return spread / per_window


@njit(parallel=True, cache=True)
def _kernel(t: np.ndarray, raw: np.ndarray, smooth_lo: np.ndarray, smooth_hi: np.ndarray, local_lo: np.ndarray,
            local_hi: np.ndarray, held_factor: float, per_window: float, lo: int, hi: int, threshold: float,
            baseline_s: float, min_baseline_s: float, min_enhancement_db: float, enhancement_sigmas: float,
            smoothing_s: float, flat_share: float, on_db: bool) -> np.ndarray:
    """Run :func:`_one` for every curve (rows of ``raw``), in one pass.

    Each curve first gets its smoothed mean (windows ``smooth_lo`` … ``smooth_hi``) and its noise (about the
    local mean over ``local_lo`` … ``local_hi``).
    """
    n, n_t = raw.shape
    out = np.full((n, 6), np.nan)
    chunk = 16  # curves per parallel task: scratch arrays are allocated once per task
    for first in prange((n + chunk - 1) // chunk):
        csum = np.empty(n_t + 1)
        ccount = np.empty(n_t + 1)
        smooth = np.empty(n_t)
        local = np.empty(n_t)
        buf = np.empty(n_t)
        for c in range(first * chunk, min(n, (first + 1) * chunk)):
            row = raw[c]
            _window_means(row, smooth_lo, smooth_hi, csum, ccount, smooth)
            _window_means(row, local_lo, local_hi, csum, ccount, local)
            noise = _noise_db(row, local, held_factor, per_window, buf)
            if np.isnan(noise):  # as np.nan_to_num(noise, nan=0.0)
                noise = 0.0
            elif np.isinf(noise):
                noise = np.finfo(np.float64).max
            required = max(min_enhancement_db, enhancement_sigmas * noise)
            has = np.isfinite(smooth) & np.isfinite(row)
            count = has.sum()
            if count < 3:
                out[c, 5] = 3
                continue
            if count == n_t:
                _one(t, smooth, row, lo, hi, threshold, baseline_s, min_baseline_s, required, noise, smoothing_s,
                     flat_share, on_db, out[c])
                continue
            s = np.interp(t, t[has], smooth[has])  # rejected frames bridged for the search only
            r = np.interp(t, t[has], row[has])
            _one(t, s, r, lo, hi, threshold, baseline_s, min_baseline_s, required, noise, smoothing_s, flat_share,
                 on_db, out[c])
    return out


def _windows(t: np.ndarray, width_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample-index bounds [lo, hi) of the centred ``width_s`` windows of :func:`ceuskit.timeseries.moving_average`."""
    return (np.searchsorted(t, t - width_s / 2, side="left"), np.searchsorted(t, t + width_s / 2, side="right"))


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

    Notes
    -----
    The smoothed curve's noise (for the enhancement and foot levels) is the robust scatter of the raw samples
    about a local mean (1.4826 × MAD of the dB residual; the mean spans at least three samples, and the
    scatter is corrected for the sample's own share of it) over the root of the samples a smoothing window
    holds.  Smoothing, noise and the search run in one compiled pass per curve.
    """
    opts = options or ArrivalOptions()
    t = np.asarray(times_s, dtype=np.float64)
    raw = np.ascontiguousarray(np.atleast_2d(np.asarray(curves, dtype=np.float64)))
    lo, hi = 0, t.size
    if window_s is not None:
        lo = int(np.searchsorted(t, window_s[0], side="left"))
        hi = int(np.searchsorted(t, window_s[1], side="right"))
    step = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    span = max(opts.smoothing_s, 3.0 * step)  # the local mean the noise is measured about
    held = max(1.0, span / step)
    out = _kernel(t, raw, *_windows(t, opts.smoothing_s), *_windows(t, span), math.sqrt(held / max(held - 1.0, 1.0)),
                  math.sqrt(max(1.0, opts.smoothing_s / step)), lo, hi, opts.threshold, opts.baseline_s,
                  opts.min_baseline_s, opts.min_enhancement_db, opts.enhancement_sigmas, opts.smoothing_s,
                  opts.flat_share, opts.scale == "db")
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
    """Return the longest stretch (s) with no finite sample of ``values`` between ``start_s`` and ``stop_s``.

    It is counted from the last finite sample before the stretch to the first after it (a missing block of
    frames).
    """
    t = np.asarray(times_s, dtype=float)
    ok = np.isfinite(np.asarray(values, dtype=float))
    inside = np.flatnonzero(ok & (t >= start_s) & (t <= stop_s))
    before = np.flatnonzero(ok & (t < start_s))
    after = np.flatnonzero(ok & (t > stop_s))
    edges = np.concatenate([before[-1:], inside, after[:1]])
    if edges.size < 2:
        return float(stop_s - start_s)
    return float(np.max(np.diff(t[edges])))
