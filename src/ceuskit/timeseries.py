"""Time axes and smoothing of sampled time series (TICs, relative enhancement) on irregular times."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ceuskit.errors import InputError

__all__ = ["MAX_INJECTION_LEAD_S", "check_injection_time", "moving_average", "round_or_none", "spikes"]

MAX_INJECTION_LEAD_S = 3600.0
"""An injection may precede a clip's first frame by at most this long (``injection_time_s`` ≥ −this): times
after injection are the clip's times minus the (possibly negative) injection time."""


def check_injection_time(injection_time_s: float, end_s: float) -> float:
    """Validate an injection moment (s after the first frame, negative when before it) for a recording that
    ends ``end_s`` seconds after its first frame; raise :class:`~ceuskit.errors.InputError` saying what is
    allowed."""
    value = float(injection_time_s)
    if not np.isfinite(value) or not -MAX_INJECTION_LEAD_S <= value < end_s:
        raise InputError(f"injection time {injection_time_s!r} s must be before the recording's end ({end_s:.1f} s "
                         f"after its first frame) and at most {MAX_INJECTION_LEAD_S:.0f} s before its first frame "
                         "(negative: the injection came before the recording started)")
    return value


def round_or_none(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded for a JSON document, None when it is missing or not finite."""
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def moving_average(times_s: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving average over ``window_s`` seconds on irregular times, ignoring NaN samples.

    Parameters
    ----------
    times_s : (T,) increasing times, s.
    values : (T,) or (n, T) samples (each row is one series); NaN samples are skipped.
    window_s : full window width, s (a sample at t averages the samples within t ± window_s/2).

    Returns
    -------
    Array of the shape of ``values``; NaN only where a window holds no finite sample.
    """
    times_s = np.asarray(times_s, dtype=float)
    values = np.asarray(values, dtype=float)
    rows = np.atleast_2d(values)
    ok = np.isfinite(rows)
    n, n_t = rows.shape
    csum = np.zeros((n, n_t + 1))
    ccount = np.zeros((n, n_t + 1))
    np.cumsum(np.where(ok, rows, 0.0), axis=1, out=csum[:, 1:])
    np.cumsum(ok, axis=1, out=ccount[:, 1:])
    lo = np.searchsorted(times_s, times_s - window_s / 2, side="left")
    hi = np.searchsorted(times_s, times_s + window_s / 2, side="right")
    count = ccount[:, hi] - ccount[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(count > 0, (csum[:, hi] - csum[:, lo]) / np.maximum(count, 1), np.nan)
    return out.reshape(values.shape)


def spikes(times_s: np.ndarray, values: np.ndarray, *, segments: np.ndarray | None = None, window_s: float = 1.0,
           sigmas: float = 6.0, min_db: float = 3.0, max_samples: int = 2) -> np.ndarray:
    """Single-frame flashes and dropouts: samples far off the curve's running median.

    A destruction flash (or a glitch) lifts one or two frames far above the curve; they must not decide a
    peak or a fit's starting values. A sample is a spike when it lies more than ``sigmas`` local robust
    standard deviations from the median of the samples within ± ``window_s``/2 (the scale: 1.4826 × the
    median absolute residual over three such windows, so noise that grows with the signal is allowed for),
    at least ``min_db`` away from that median in dB, and the run of such samples is at most ``max_samples``
    long (a longer excursion is the curve itself: an arrival, an out-of-plane stretch).

    Parameters
    ----------
    times_s : (T,) s.  values : (n, T) or (T,) linear power, NaN where missing.
    segments : (T,) the clip each sample comes from; each clip is examined on its own, at its own frame
        rate, its window never reaching into another clip. None: one clip.

    Returns
    -------
    bool array of the shape of ``values``.
    """
    times = np.asarray(times_s, dtype=float)
    rows = np.atleast_2d(np.asarray(values, dtype=float))
    out = np.zeros(rows.shape, dtype=bool)
    labels = np.zeros(times.size, dtype=int) if segments is None else np.asarray(segments)
    for segment in np.unique(labels):
        part = labels == segment
        if part.sum() < 5:
            continue
        step = float(np.median(np.diff(times[part])))
        width = max(3, int(round(window_s / step)) | 1)
        for c, row in enumerate(rows):
            out[c, part] = _row_spikes(row[part], width, sigmas, 10 ** (min_db / 10), max_samples)
    return out.reshape(np.shape(values))


def _row_spikes(row: np.ndarray, width: int, sigmas: float, ratio: float, max_samples: int) -> np.ndarray:
    ok = np.isfinite(row)
    if ok.sum() < 5:
        return np.zeros(row.shape, dtype=bool)
    filled = np.interp(np.arange(row.size), np.flatnonzero(ok), row[ok])
    level = ndimage.median_filter(filled, size=width, mode="nearest")
    residual = filled - level
    scale = 1.4826 * ndimage.median_filter(np.abs(residual), size=3 * width, mode="nearest")
    with np.errstate(invalid="ignore", divide="ignore"):
        off = (filled > level * ratio) | (filled < level / ratio)
    far = ok & off & (np.abs(residual) > sigmas * np.maximum(scale, 1e-300))
    labels, count = ndimage.label(far)
    if not count:
        return far
    lengths = np.bincount(labels.ravel())[1:]
    return far & np.isin(labels, 1 + np.flatnonzero(lengths <= max_samples))
