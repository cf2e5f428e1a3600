"""A fitted curve as it may be drawn over its data on the display's scale (dB).

A bolus fit minimises residuals in linear power, where the pre-contrast level and a slowly falling tail are
tiny numbers: the fitted baseline may lie 10 dB from the measured one, and a tail the model cannot follow
(a lesion that keeps the liver's contrast) dives far below the data in dB, although the fit is good in
linear power. A reader sees such a curve as a wrong fit. :func:`drawn_fit` therefore gives the curve to
draw: the fitted enhancement above the **measured** baseline (not the fitted one), only where it lies within
``tolerance_db`` of the data in dB (both smoothed alike), and only over the observed span — never across a stretch without
samples or beyond the last frame.
"""

from __future__ import annotations

import numpy as np

from ceuskit.timeseries import moving_average

__all__ = ["MAX_STEP_S", "TOLERANCE_DB", "drawn_fit", "max_step_s"]

TOLERANCE_DB = 3.0
"""The drawn fit departs from the smoothed data by at most this much in dB; elsewhere it is not drawn."""

MIN_DRAWN_S = 1.0
"""Stretches shorter than this where the fit happens to meet the data are not drawn (no flickering line)."""

MAX_STEP_S = 2.0
"""A stretch without samples longer than this (or four sample intervals) is a gap: no line crosses it."""


def max_step_s(times_s: np.ndarray) -> float:
    """Longest step between samples that still counts as continuous recording, s (see :data:`MAX_STEP_S`)."""
    t = np.asarray(times_s, dtype=float)
    return max(MAX_STEP_S, 4.0 * float(np.median(np.diff(t)))) if t.size > 1 else MAX_STEP_S


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) index ranges of the True runs of a 1-D bool array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def drawn_fit(times_s: np.ndarray, power: np.ndarray, fitted: np.ndarray, *, fitted_baseline: float,
              measured_baseline: float, segments: np.ndarray | None = None, smoothing_s: float = 1.0,
              tolerance_db: float = TOLERANCE_DB) -> np.ndarray:
    """Return the fitted curve to draw over the measured one, in linear power.

    NaN where it is not to be drawn.

    Parameters
    ----------
    times_s : (T,) increasing sample times, s.
    power : (T,) the measured curve, linear power (NaN for rejected frames).
    fitted : (T,) the fitted model at ``times_s``, linear power, its baseline included (NaN: no fit).
    fitted_baseline : the model's baseline b (linear power).
    measured_baseline : the curve's robust pre-arrival level (linear power), NaN or ≤ 0 when it has none
        (the model's baseline then stays, if positive).
    segments : (T,) the clip each sample comes from; no line joins two clips. None: one clip.
    smoothing_s : the data are compared smoothed over this window, s.
    tolerance_db : largest departure from the smoothed data in dB where the fit is drawn.

    Returns
    -------
    numpy.ndarray
        (T,) linear power: the fitted enhancement above the measured baseline where it describes the data,
        NaN elsewhere (departing by more than ``tolerance_db``, over gaps and missing stretches, at a clip's
        last sample before the next clip, stretches shorter than :data:`MIN_DRAWN_S`).
    """
    t = np.asarray(times_s, dtype=float)
    y = np.asarray(power, dtype=float)
    f = np.asarray(fitted, dtype=float)
    if not np.isfinite(f).any():
        return np.full(t.shape, np.nan)
    base = measured_baseline if np.isfinite(measured_baseline) and measured_baseline > 0 else fitted_baseline
    drawn = base + (f - (fitted_baseline if np.isfinite(fitted_baseline) else 0.0))
    # both smoothed alike, so a steep rise is compared with itself rather than with its own blur
    smooth = moving_average(t, y, smoothing_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        departs = np.abs(10.0 * np.log10(moving_average(t, np.where(np.isfinite(y), drawn, np.nan), smoothing_s)
                                         / smooth))
    keep = np.isfinite(departs) & (departs <= tolerance_db)
    # no line across a stretch without samples: a time step too long, a run of missing frames, a new clip
    allowed = max_step_s(t)
    steps = np.diff(t)
    cut = np.zeros(t.size, dtype=bool)
    cut[:-1] |= steps > allowed
    if segments is not None:
        cut[:-1] |= np.diff(np.asarray(segments)) != 0
    for start, stop in _runs(~np.isfinite(y)):
        before, after = t[max(start - 1, 0)], t[min(stop, t.size - 1)]
        if after - before > allowed:
            cut[start:stop] = True
    keep &= ~cut
    for start, stop in _runs(keep):
        if t[stop - 1] - t[start] < MIN_DRAWN_S:
            keep[start:stop] = False
    return np.where(keep, drawn, np.nan)
