"""Smoothing of sampled time series on irregular times (TICs, relative enhancement), ignoring NaN samples."""

from __future__ import annotations

import numpy as np

__all__ = ["moving_average"]


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
