"""Compiled timing and size features of time–intensity curves: the fit engine's data-driven first guesses.

Per curve, of its moving average over ``width`` samples (non-finite samples left out of each window): the
arrival (last time before the peak below 10 % of the rise), the peak time, the centroid of the enhancement
above the pre-peak minimum, the height and that baseline; then of the raw samples: max |y|, max − min and the
number of finite samples.  A curve with every sample finite (the usual case) takes a path whose loops compile
to SIMD code: window sums built from blocks of 1, 2, 4 … samples (a running or cumulative sum is one chain of
additions, one sample at a time), extremes kept four at a time, every loop indexed from 0 (an index such as
``i − 1`` or a loop from ``start`` keeps numba's negative-index test in the loop, which stops LLVM from
vectorising it).  A curve with gaps takes the cumulative-sum path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ceuskit.timeseries import finite_running_sums

__all__ = ["extreme", "features_kernel"]

Arr = np.ndarray

_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}  # lets sums vectorise; NaN and inf keep their meaning
_CHUNK = 8  # curves per parallel task: scratch arrays are allocated once per task


@njit(parallel=True, cache=True)
def features_kernel(t: Arr, y: Arr, width: int) -> Arr:
    """Compute the timing and size features of each curve.

    Parameters
    ----------
    t : (T,) s, increasing.  y : (n, T) curves (non-finite samples ignored).  width : moving-average window,
    samples (odd).

    Returns
    -------
    (n, 8) float64: per curve [arrival (10 % rise) s, peak s, centroid s, height, baseline] of the moving
    average (NaN for a curve without finite samples), then [max |y|, max y − min y, number of finite
    samples] of the raw curve.
    """
    n, n_t = y.shape
    out = np.full((n, 8), np.nan)
    dtw = np.empty(n_t)
    for i in range(n_t):
        dtw[i] = 0.5 * (t[min(i + 1, n_t - 1)] - t[max(i - 1, 0)])
    half = width // 2
    for chunk in prange((n + _CHUNK - 1) // _CHUNK):
        csum = np.zeros(n_t + 1)
        ccount = np.zeros(n_t + 1)
        s = np.empty(n_t)
        for c in range(chunk * _CHUNK, min(n, (chunk + 1) * _CHUNK)):
            count = _raw_stats(y[c], out[c])
            if count == 0:
                continue
            if count == n_t and n_t > 2 * half:
                _smooth_all_finite(y[c], half, s, csum, ccount)
            else:
                _smooth_with_gaps(y[c], half, csum, ccount, s)
            _timing(t, s, dtw, out[c])
    return out


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _raw_stats(y: Arr, out: Arr) -> int:
    """Write max |y|, max − min and the number of finite samples into ``out[5:8]``; return that number."""
    count = 0
    for i in range(y.size):
        count += 1 if math.isfinite(y[i]) else 0
    out[7] = count
    if count == 0:
        return count
    if count == y.size:
        y_max = extreme(y, y.size, -1.0)
        y_min = extreme(y, y.size, 1.0)
    else:
        y_max = -np.inf
        y_min = np.inf
        for i in range(y.size):
            v = y[i]
            ok = math.isfinite(v)
            y_max = v if ok and v > y_max else y_max
            y_min = v if ok and v < y_min else y_min
    out[5] = max(abs(y_max), abs(y_min))
    out[6] = y_max - y_min
    return count


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _smooth_all_finite(y: Arr, half: int, s: Arr, block: Arr, other: Arr) -> None:
    """Write the moving average of ``y`` (every sample finite, more than 2·``half`` of them) into ``s``.

    A whole window (2·half + 1 samples) is a sum of blocks of 1, 2, 4 … samples (the binary digits of its
    length), each block length made from the previous one in one pass (``block`` and ``other`` (≥ T,) are
    scratch): about 2·log₂(window) passes over the curve instead of a window's worth.  The windows cut short
    at either end are running sums.
    """
    n_t = y.size
    width = 2 * half + 1
    n_inner = n_t - 2 * half  # whole windows: s[half + k] = Σ y[k … k + 2·half]
    inner = s[half:half + n_inner]
    current = y  # blocks of `length` samples starting at each index (valid up to n_t − length)
    offset = 0
    length = 1
    rest = width
    first = True
    while True:
        if rest & 1:
            part = current[offset:offset + n_inner]
            if first:
                for k in range(n_inner):
                    inner[k] = part[k]
                first = False
            elif rest == 1:  # the last block: add it and divide by the window
                for k in range(n_inner):
                    inner[k] = (inner[k] + part[k]) * (1.0 / width)
            else:
                for k in range(n_inner):
                    inner[k] += part[k]
            offset += length
        rest >>= 1
        if rest == 0:
            break
        later = current[length:]
        for k in range(n_t - 2 * length + 1):  # the blocks of 2·length samples that fit
            block[k] = current[k] + later[k]
        current = block[:n_t]
        block, other = other, block
        length *= 2
    if width == 1:
        return
    head = 0.0
    tail = 0.0
    for j in range(half):
        head += y[j]
        tail += y[n_t - 1 - j]
    for i in range(half):
        head += y[i + half]
        s[i] = head / (i + half + 1)
        tail += y[n_t - 1 - i - half]
        s[n_t - 1 - i] = tail / (i + half + 1)


@njit(cache=True)
def _smooth_with_gaps(y: Arr, half: int, csum: Arr, ccount: Arr, s: Arr) -> None:
    """Write the moving average of the finite samples of ``y`` into ``s`` (NaN where a window has none)."""
    n_t = y.size
    finite_running_sums(y, csum, ccount)
    for i in range(n_t):
        a = max(i - half, 0)
        b = min(i + half + 1, n_t)
        k = ccount[b] - ccount[a]
        s[i] = (csum[b] - csum[a]) / k if k > 0 else np.nan


@njit(cache=True, error_model="numpy")
def _timing(t: Arr, s: Arr, dtw: Arr, out: Arr) -> None:
    """Arrival, peak, centroid, height and baseline of the smoothed curve ``s`` into ``out[0:5]``.

    ``dtw`` holds each sample's share of the time axis (half the distance between its neighbours).
    """
    n_t = t.size
    best = extreme(s, n_t, -1.0)
    peak = 0
    while peak < n_t - 1 and not s[peak] == best:  # the first maximum (NaN windows never win)
        peak += 1
    base = extreme(s, peak + 1, 1.0)
    height = s[peak] - base
    arrival = 0
    for i in range(peak, -1, -1):
        if s[i] < base + 0.1 * height:
            arrival = i
            break
    num, den = _centroid_sums(t, s, dtw, arrival, base)
    out[0] = t[arrival]
    out[1] = t[peak]
    out[2] = num / den if den > 0 else np.nan
    out[3] = height
    out[4] = base


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def extreme(s: Arr, n: int, sign: float) -> float:
    """Return the least of s[:n] (sign 1) or the greatest (sign −1), NaN left out (±inf if all are NaN).

    Four running extremes side by side: one alone would wait on each comparison in turn.

    Parameters
    ----------
    s : (≥ n,) float64.  n : number of leading values to scan.  sign : 1.0 for the least, −1.0 for the greatest.

    Returns
    -------
    float: the extreme value.
    """
    m0 = m1 = m2 = m3 = np.inf
    k = n // 4 * 4
    for i in range(0, k, 4):
        v0, v1, v2, v3 = sign * s[i], sign * s[i + 1], sign * s[i + 2], sign * s[i + 3]
        m0 = v0 if v0 < m0 else m0
        m1 = v1 if v1 < m1 else m1
        m2 = v2 if v2 < m2 else m2
        m3 = v3 if v3 < m3 else m3
    for i in range(k, n):
        v0 = sign * s[i]
        m0 = v0 if v0 < m0 else m0
    m0 = m1 if m1 < m0 else m0
    m2 = m3 if m3 < m2 else m2
    return sign * (m2 if m2 < m0 else m0)


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH)
def _centroid_sums(t: Arr, s: Arr, dtw: Arr, start: int, base: float) -> tuple[float, float]:
    """Σ w·t and Σ w over samples from ``start`` on, w = (s − base)·dtw where s > base (NaN windows left out)."""
    num = 0.0
    den = 0.0
    tv, sv, wv = t[start:], s[start:], dtw[start:]  # loops from 0 compile to SIMD code
    for i in range(tv.size):
        excess = sv[i] - base
        w = excess * wv[i] if excess > 0.0 else 0.0
        num += w * tv[i]
        den += w
    return num, den
