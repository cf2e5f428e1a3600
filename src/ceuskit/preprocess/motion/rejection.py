"""Which frames to leave out: a match far below what the neighbours on *both* sides reach, in time.

A frame out of the lesion's plane (or caught in a deep breath) matches its template much worse than the
frames around it. The level a frame is held to is the 80th percentile of its neighbours' correlations within
± ``window_s``/2, taken on each side separately, and the *lower* side counts: while the contrast arrives
(each frame fainter than the next) or after an abrupt change of the image, a frame is measured against the
side it resembles, never against frames that were simply better lit. A frame with a side missing (the first
and last frames) is held to its few nearest neighbours on the other. The uncertainty of the level is the
larger of the sampling error of a correlation ρ over N independent samples, (1 − ρ²)/√(N − 3), and the
neighbours' frame-to-frame scatter (robust, from successive differences, so a trend does not count).

A frame with too few neighbours in time on either side (a sparse late frame, one every few seconds) has no
level to be held to: it is judged by its own match, and left out only when that match is not significantly
positive (its Fisher z below ``isolated_z`` standard errors).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["level_uncertainty", "rejected_frames"]


def rejected_frames(quality: np.ndarray, n_eff: np.ndarray, times_s: np.ndarray, *, window_s: float,
                    reject_z: float, reject_ratio: float, isolated_z: float, min_side: int = 3,
                    lower_side: bool = True) -> np.ndarray:
    """Frames whose match (``quality``, a correlation per frame) falls far below their neighbours'.

    Parameters
    ----------
    quality : (n,) correlation of each frame with its template at its estimated shift (NaN: no match).
    n_eff : (n,) independent samples behind each correlation.
    times_s : (n,) frame times, s.
    window_s : neighbours within ± window_s/2 set the level.
    reject_z, reject_ratio : a frame is rejected ``reject_z`` uncertainties below the level *and* below
        ``reject_ratio`` of it.
    isolated_z : a frame with fewer than ``min_side`` neighbours on both sides is rejected when its Fisher z
        lies below this many standard errors.

    Returns
    -------
    (n,) bool.
    """
    t = np.asarray(times_s, dtype=np.float64)
    before = np.searchsorted(t, t - window_s / 2, side="left")
    after = np.searchsorted(t, t + window_s / 2, side="right")
    return _kernel(np.asarray(quality, dtype=np.float64), before, after, np.asarray(n_eff, dtype=np.float64),
                   reject_z, reject_ratio, isolated_z, min_side, lower_side)


@njit(cache=True)
def _level(values: np.ndarray, min_side: int) -> float:
    finite = values[np.isfinite(values)]
    if finite.size < min_side:
        return np.nan
    p80: float = np.percentile(finite, 80.0)
    return p80


@njit(cache=True)
def level_uncertainty(level: float, samples: float, around: np.ndarray) -> float:
    """Return the uncertainty of a correlation level (module docstring).

    The larger of the sampling error of a correlation ``level`` over ``samples`` independent samples,
    (1 − ρ²)/√(N − 3), and the robust frame-to-frame scatter of the finite correlations ``around`` it (from
    successive differences: 1.4826 · median |Δ| / √2; 0 with fewer than three).
    """
    sampling = (1.0 - min(level * level, 1.0)) / np.sqrt(max(samples - 3.0, 1.0))
    scatter = 1.4826 * np.median(np.abs(np.diff(around))) / np.sqrt(2.0) if around.size > 2 else 0.0
    uncertainty: float = max(sampling, scatter)
    return uncertainty


@njit(cache=True)
def _kernel(q: np.ndarray, before: np.ndarray, after: np.ndarray, samples: np.ndarray, reject_z: float,
            reject_ratio: float, isolated_z: float, min_side: int, lower_side: bool) -> np.ndarray:
    n = q.size
    out = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        if not np.isfinite(q[k]):
            out[k] = True
            continue
        past = _level(q[before[k]:k], min_side)
        future = _level(q[k + 1:after[k]], min_side)
        if np.isnan(past) and np.isnan(future):  # isolated in time: its own match decides
            z = np.arctanh(min(max(q[k], -0.999), 0.999)) * np.sqrt(max(samples[k] - 3.0, 1.0))
            out[k] = z < isolated_z
            continue
        if np.isnan(past):  # the first frames: held to the nearest few after them, not to the whole side
            level = _level(q[k + 1:min(k + 1 + min_side, after[k])], min_side)
        elif np.isnan(future):
            level = _level(q[max(k - min_side, before[k]):k], min_side)
        elif lower_side:
            level = min(past, future)
        else:
            level = _level(np.concatenate((q[before[k]:k], q[k + 1:after[k]])), min_side)
        around = np.concatenate((q[before[k]:k], q[k + 1:after[k]]))
        around = around[np.isfinite(around)]
        out[k] = q[k] < level - reject_z * level_uncertainty(level, samples[k], around) and q[k] < reject_ratio * level
    return out
