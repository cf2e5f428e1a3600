"""Time axes and smoothing of sampled time series (TICs, relative enhancement) on irregular times."""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_INJECTION_LEAD_S", "check_injection_time", "moving_average"]

MAX_INJECTION_LEAD_S = 3600.0
"""An injection may precede a clip's first frame by at most this long (``injection_time_s`` ≥ −this): times
after injection are the clip's times minus the (possibly negative) injection time."""


def check_injection_time(injection_time_s: float, duration_s: float) -> float:
    """Validate an injection moment (s after a clip's first frame, negative when before it) for a clip of
    ``duration_s`` seconds; raise :class:`~ceuskit.errors.InputError` saying what is allowed."""
    from ceuskit.errors import InputError

    value = float(injection_time_s)
    if not np.isfinite(value) or not -MAX_INJECTION_LEAD_S <= value < duration_s:
        raise InputError(f"injection time {injection_time_s!r} s must be before the clip's end ({duration_s:.1f} s "
                         f"after its first frame) and at most {MAX_INJECTION_LEAD_S:.0f} s before its first frame "
                         "(negative: the injection came before the recording started)")
    return value


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
