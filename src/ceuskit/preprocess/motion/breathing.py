"""Breathing periodicity: where the image cannot place a frame, one breath earlier and later can.

While a lesion turns from hyper- to iso-enhancing (or stays iso), a frame may hold no structure to match, and
a speed prior alone can only draw a straight line between the frames around it, half a breath away.
Breathing, though, repeats: the tissue is roughly where it was one breathing period before and will be one
period later. From the frames placed confidently in the previous pass the period is the lag (2–8 s) at
which the track, having moved away, best correlates with itself again; each frame then gets a Gaussian
prior around the mean of the confident positions one period before and after it. The prior is weak (a
few feature pixels wide), so a frame's own clear match always wins, and it is only given where the track
is periodic and confident frames lie at those times. Irregular breathing blurs it, it does not mislead it:
the period and the positions come from the clip itself.
"""

from __future__ import annotations

import numpy as np

__all__ = ["breathing_period", "add_periodic_prior"]

GRID_S = 0.1  # resolution of the resampled track, s
NEAR_S = 0.3  # a resampled position counts only this close to a confidently placed frame


def _resampled(times_s: np.ndarray, track: np.ndarray, confident: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (grid times, (G, 2) positions interpolated from the confident frames, (G,) near a confident frame).

    The grid lies on whole multiples of :data:`GRID_S` of the clip's time, not on the first confident frame's
    time: which frame happens to be the first confident one does not move it.
    """
    known_t = times_s[confident]
    grid = GRID_S * np.arange(np.ceil(known_t[0] / GRID_S - 1e-6), np.floor(known_t[-1] / GRID_S + 1e-6) + 1)
    positions = np.stack([np.interp(grid, known_t, track[confident, axis]) for axis in (0, 1)], axis=1)
    return grid, positions, _near(known_t, grid)


def _near(known_t: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """Return which times ``at_s`` lie within :data:`NEAR_S` of a confident frame (times ``known_t``, sorted)."""
    after = np.clip(np.searchsorted(known_t, at_s), 1, known_t.size - 1)
    gap = np.minimum(np.abs(known_t[after] - at_s), np.abs(at_s - known_t[after - 1]))
    near: np.ndarray = gap <= NEAR_S
    return near


def breathing_period(times_s: np.ndarray, track: np.ndarray, confident: np.ndarray, *, min_s: float = 2.0,
                     max_s: float = 8.0, min_correlation: float = 0.5, min_dip: float = 0.5) -> float | None:
    """Return the breathing period (s) of the confident frames' track, or None when it has no clear one.

    The period is the lag in [min_s, max_s] where the track's autocorrelation has a local maximum of at least
    ``min_correlation`` that stands ``min_dip`` above the lowest correlation at shorter lags: the track moved
    away and came back. A drift or a still probe correlates best at the shortest lag and has no such dip.
    """
    if confident.sum() < 20:
        return None
    grid, positions, near = _resampled(times_s, track, confident)
    centred = positions - positions[near].mean(axis=0)
    last = min(int(round(max_s / GRID_S)) + 1, grid.size // 2)
    correlation = np.full(last + 1, np.nan)
    for lag in range(1, last + 1):
        both = near[lag:] & near[:-lag]
        if both.sum() < 20:
            continue
        a, b = centred[lag:][both], centred[:-lag][both]
        denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
        correlation[lag] = float((a * b).sum()) / denominator if denominator > 0 else 0.0
    best, period = min_correlation, None
    for lag in range(max(int(round(min_s / GRID_S)), 2), last):
        r = correlation[lag]
        if not (r >= best and r >= correlation[lag - 1] and r >= correlation[lag + 1]):
            continue
        shorter = correlation[1:lag][np.isfinite(correlation[1:lag])]
        if shorter.size and shorter.min() <= r - min_dip:
            best, period = r, lag * GRID_S
    return period


def add_periodic_prior(ll: np.ndarray, times_s: np.ndarray, track: np.ndarray, confident: np.ndarray,
                       radius: int, sigma_px: float) -> float | None:
    """Add, in place, a breathing-period prior to each frame's log-likelihood map.

    To ``ll`` (n, 2r+1, 2r+1) it adds a Gaussian (``sigma_px``) around the mean confident position one
    breathing period before and after each frame.

    ``track`` (n, 2) are the previous pass's positions (state offsets), ``confident`` (n,) the frames placed
    confidently. Returns the period used (s), or None when the track is not periodic (nothing added).
    """
    period = breathing_period(times_s, track, confident)
    if period is None:
        return None
    known_t = times_s[confident]
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    total = np.zeros((times_s.size, 2))
    count = np.zeros(times_s.size)
    for t_other in (times_s - period, times_s + period):  # at the very times, not at the nearest grid point
        ok = (t_other >= known_t[0]) & (t_other <= known_t[-1]) & _near(known_t, t_other)
        total[ok] += np.stack([np.interp(t_other[ok], known_t, track[confident, axis]) for axis in (0, 1)], axis=1)
        count[ok] += 1
    for k in np.flatnonzero(count):
        centre = total[k] / count[k]
        row = (offsets - centre[0]) ** 2
        column = (offsets - centre[1]) ** 2
        ll[k] -= ((row[:, None] + column[None, :]) / (2.0 * sigma_px**2)).astype(ll.dtype)
    return period
