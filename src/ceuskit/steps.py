"""Level steps: the same abrupt change of level in every ROI at once (gain, depth or plane change).

A gain change moves every ROI's echo by the same number of dB between two frames and leaves the curves'
course alone; a depth or plane change moves them by different amounts, in the same direction. Perfusion
never does that: an arrival or a peak changes the slope of a curve, not its level between two frames, and
never in every ROI at once by the same step. Nor does breathing: it carries the ROIs (tracked) up and down
the image, through its depth attenuation, and their level follows the displacement, back and forth with every
breath (a cos⁴ breath's fast excursions look like jumps within a few seconds). Where the ROIs' displacement is
known (``motion_px``), each curve's part that follows it — its departures from a moving average regressed on
the displacement's, dB per px — is taken off first. The search, per clip (``segments``) on each ROI's curve in
dB:

1. at every boundary between two samples, a straight line is fitted (least squares) to the samples within
   ``window_s`` before it and another to those within ``window_s`` after it (the window widened to
   ``min_samples`` frame intervals at low frame rates), and two parallel lines to both at once: the step is
   the jump between these at the boundary, its standard error from the curve's own noise (the robust spread
   of its sample-to-sample differences);
2. a boundary is a step when the ROIs' mean step is at least ``min_db`` and ``sigmas`` standard errors, and
   in every ROI the step (all of one sign) is at least half that and ``sigmas``/2 standard errors, each line
   explains its side (residual spread at most ``fit_noise`` × the noise: a curve that bends within the
   window — an arrival, a peak — is no step), the two lines are nearly parallel (their slopes differ by at
   most ``parallel`` × the step over half a window, or three standard errors) and the new level holds: at
   least 80 % of the samples on either side lie nearer their own line than the other's;
3. of neighbouring boundaries within a window, the one with the largest smallest step is kept, and its size
   measured again by the two parallel lines over twice the window either side (up to the neighbouring steps).

A step whose ROIs moved by the same amount (within ``gain_tolerance_db``) is a pure gain step: ratios of ROIs
(lesion to liver) are unchanged across it. ``exclude`` keeps samples out (flashes, destructions); a window
never reaches across an excluded stretch or into another clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ceuskit.timeseries import moving_average, round_or_none

__all__ = ["Step", "StepOptions", "find_steps"]


@dataclass(frozen=True)
class StepOptions:
    """Thresholds of :func:`find_steps` (see the module docstring)."""

    min_db: float = 1.5
    window_s: float = 3.0
    min_samples: int = 12
    sigmas: float = 4.0
    fit_noise: float = 2.5
    parallel: float = 0.5
    gain_tolerance_db: float = 1.0


@dataclass(frozen=True)
class Step:
    """One level step: ``index`` is the first sample at the new level, ``time_s`` its time (s)."""

    index: int
    time_s: float
    step_db: tuple[float, ...]
    gain: bool

    def to_json(self, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
        """Return the step as analysis.json lists it (``steps``), ROIs by name."""
        return {"time_s": round(self.time_s, 4), "gain": self.gain,
                "step_db": {n: round_or_none(v, 2) for n, v in zip(names, self.step_db, strict=True)}}


def _sums(u: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cumulative sums (6, T + 1) of 1, u, u², y, u·y, y² over the finite samples."""
    ok = np.isfinite(y)
    y0 = np.where(ok, y, 0.0)
    terms = np.stack([ok * 1.0, ok * u, ok * u * u, y0, u * y0, y0 * y0])
    out = np.zeros((6, u.size + 1))
    np.cumsum(terms, axis=1, out=out[:, 1:])
    return out


def _lines(sums: np.ndarray, lo: np.ndarray, hi: np.ndarray, at: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares lines over samples [lo, hi): (count, level at ``at``, slope, residual variance)."""
    s = sums[:, hi] - sums[:, lo]
    n = s[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mu, my = s[1] / n, s[3] / n
        var_u = s[2] / n - mu * mu
        slope = (s[4] / n - mu * my) / var_u
        residual = np.maximum(s[5] / n - my * my - slope * slope * var_u, 0.0) * n / np.maximum(n - 2, 1)
        level = my + slope * (at - mu)
    return n, level, slope, residual


def _joint(sums: np.ndarray, lo: np.ndarray, b: np.ndarray, hi: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Two parallel lines, one either side of each boundary (one slope, a jump between them), by least squares.

    Returns (jump, its variance over the noise variance, Σ(u − ū)² before, Σ(u − ū)² after).
    """
    before, after = sums[:, b] - sums[:, lo], sums[:, hi] - sums[:, b]
    total = before + after
    normal = np.empty((b.size, 3, 3))
    normal[:, 0, 0], normal[:, 0, 1], normal[:, 0, 2] = total[0], total[1], after[0]
    normal[:, 1, 1], normal[:, 1, 2], normal[:, 2, 2] = total[2], after[1], after[0]
    normal[:, 1, 0], normal[:, 2, 0], normal[:, 2, 1] = normal[:, 0, 1], normal[:, 0, 2], normal[:, 1, 2]
    rhs = np.stack([total[3], total[4], after[3]], axis=1)
    jump = np.full(b.size, np.nan)
    variance = np.full(b.size, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread_b = before[2] - before[1] ** 2 / before[0]
        spread_a = after[2] - after[1] ** 2 / after[0]
        good = (before[0] >= 2) & (after[0] >= 2) & (spread_b > 0) & (spread_a > 0)
        if good.any():
            inverse = np.linalg.inv(normal[good])
            jump[good] = np.einsum("kj,kj->k", inverse[:, 2, :], rhs[good])
            variance[good] = inverse[:, 2, 2]
    return jump, variance, spread_b, spread_a


def _noise(row: np.ndarray) -> float:
    """Robust noise of one curve (dB): the spread of its sample-to-sample differences about their median."""
    steps = np.diff(row[np.isfinite(row)])
    if steps.size < 3:
        return float("nan")
    return float(1.4826 * np.median(np.abs(steps - np.median(steps))) / np.sqrt(2.0))


def _holds(u: np.ndarray, y: np.ndarray, lo: int, b: int, hi: int, before: tuple[float, float],
           after: tuple[float, float], at: float) -> bool:
    """At least 80 % of the samples on each side of ``b`` lie nearer their own line than the other side's."""
    def near(idx: np.ndarray, own: tuple[float, float], other: tuple[float, float]) -> float:
        values = y[idx]
        ok = np.isfinite(values)
        mine = np.abs(values[ok] - (own[0] + own[1] * (u[idx][ok] - at)))
        theirs = np.abs(values[ok] - (other[0] + other[1] * (u[idx][ok] - at)))
        return float(np.mean(mine < theirs)) if ok.any() else 0.0

    return near(np.arange(lo, b), before, after) >= 0.8 and near(np.arange(b, hi), after, before) >= 0.8


def _piece_steps(t: np.ndarray, d: np.ndarray, opts: StepOptions) -> list[tuple[int, tuple[float, ...], float]]:
    """Return the steps inside one stretch of samples: (boundary index, per-ROI step dB, smallest |step|)."""
    if t.size < 2 * opts.min_samples:
        return []
    u = t - t[0]
    window_s = max(opts.window_s, opts.min_samples * float(np.median(np.diff(t))))
    lo = np.searchsorted(t, t - window_s, side="left")
    hi = np.searchsorted(t, t + window_s, side="left")
    b = np.arange(t.size)
    passed = np.ones(t.size, dtype=bool)
    passed[0] = False
    steps = np.zeros((d.shape[0], t.size))
    errors = np.zeros((d.shape[0], t.size))
    fits = []
    for r, row in enumerate(d):
        sums = _sums(u, row)
        n_b, level_b, slope_b, var_b = _lines(sums, lo, b, u)
        n_a, level_a, slope_a, var_a = _lines(sums, b, hi, u)
        jump, jump_var, spread_b, spread_a = _joint(sums, lo, b, hi)
        noise = _noise(row)
        with np.errstate(invalid="ignore", divide="ignore"):
            error = noise * np.sqrt(jump_var)
            bend = noise * np.sqrt(1 / spread_b + 1 / spread_a)  # standard error of the slopes' difference
            ok = ((n_b >= opts.min_samples) & (n_a >= opts.min_samples) & (np.abs(jump) >= opts.min_db / 2)
                  & (np.abs(jump) >= opts.sigmas / 2 * error)
                  & (np.sqrt(var_b) <= opts.fit_noise * noise) & (np.sqrt(var_a) <= opts.fit_noise * noise)
                  & (np.abs(slope_a - slope_b) <= np.maximum(opts.parallel * np.abs(jump) / (window_s / 2), 3 * bend)))
        passed &= ok
        steps[r] = jump
        errors[r] = error
        fits.append((level_b, slope_b, level_a, slope_a))
    mean_step = np.abs(steps.mean(axis=0))
    with np.errstate(invalid="ignore"):
        passed &= (np.all(np.sign(steps) == np.sign(steps[:1]), axis=0) & (mean_step >= opts.min_db)
                   & (mean_step >= opts.sigmas * np.sqrt(np.sum(errors**2, axis=0)) / d.shape[0]))
    candidates = []
    for k in np.flatnonzero(passed):
        if all(_holds(u, d[r], int(lo[k]), int(k), int(hi[k]), (fits[r][0][k], fits[r][1][k]),
                      (fits[r][2][k], fits[r][3][k]), u[k]) for r in range(d.shape[0])):
            candidates.append((int(k), tuple(float(v) for v in steps[:, k]), float(np.min(np.abs(steps[:, k])))))
    kept: list[tuple[int, tuple[float, ...], float]] = []
    for item in sorted(candidates, key=lambda c: -c[2]):
        if all(abs(t[item[0]] - t[other[0]]) > window_s for other in kept):
            kept.append(item)
    return _sized(u, d, sorted(kept), 2 * window_s)


def _sized(u: np.ndarray, d: np.ndarray, kept: list[tuple[int, tuple[float, ...], float]], window_s: float
           ) -> list[tuple[int, tuple[float, ...], float]]:
    """Measure each found step again over ``window_s`` either side (up to its neighbours): it holds that long.

    Two parallel lines over the longer span average more noise and more breaths than the search's windows.
    """
    at = np.array([k for k, _, _ in kept], dtype=int)
    lo = np.maximum(np.searchsorted(u, u[at] - window_s, side="left"), np.concatenate([[0], at[:-1]]))
    hi = np.minimum(np.searchsorted(u, u[at] + window_s, side="left"), np.concatenate([at[1:], [u.size]]))
    sizes = np.vstack([_joint(_sums(u, row), lo, at, hi)[0] for row in d]) if at.size else np.zeros((0, 0))
    return [(k, tuple(float(v) for v in sizes[:, i]), float(np.min(np.abs(sizes[:, i]))))
            for i, (k, _, _) in enumerate(kept)]


def _without_motion(t: np.ndarray, d: np.ndarray, motion_px: np.ndarray, window_s: float) -> np.ndarray:
    """Return the curves (dB) less the part of their level that follows the tissue motion.

    Per ROI, the level's departures from its moving average over ``window_s`` are regressed (least squares) on
    the displacement's departures from its own: the dB per pixel that moving through the image's depth
    attenuation (or across an edge) costs. That much times the displacement is taken off every tracked sample;
    untracked samples (NaN displacement) sat at the reference position and are left alone.
    """
    tracked = np.all(np.isfinite(motion_px), axis=1)
    out = d.copy()
    for r, row in enumerate(d):
        ok = tracked & np.isfinite(row)
        if ok.sum() < 3 * motion_px.shape[1]:
            continue
        level = row[ok] - moving_average(t[ok], row[ok], window_s)
        moved = motion_px[ok] - moving_average(t[ok], motion_px[ok].T, window_s).T
        db_per_px = np.linalg.lstsq(moved, level, rcond=None)[0]
        out[r, tracked] = row[tracked] - motion_px[tracked] @ db_per_px
    return out


def find_steps(times_s: np.ndarray, power: np.ndarray, *, segments: np.ndarray | None = None,
               exclude: np.ndarray | None = None, options: StepOptions | None = None,
               motion_px: np.ndarray | None = None) -> list[Step]:
    """Level steps in every ROI at once (see the module docstring).

    Parameters
    ----------
    times_s : (T,) increasing sample times, s.
    power : (n_rois, T) or (T,) linear power per ROI, NaN where a frame is missing.
    segments : (T,) the clip each sample comes from; None: one clip.
    exclude : (T,) bool, samples to leave out and never to look across (flash frames, destructions).
    options : thresholds (:class:`StepOptions`).
    motion_px : (T, 2) the displacement (dx, dy) the ROIs were measured at in each sample (the applied tracked
        shift), px, NaN where they stayed where drawn; the part of each curve's level that follows it (breathing
        through depth attenuation) is taken off before the search. None: no motion known.

    Returns
    -------
    The steps in time order.

    Raises
    ------
    ValueError
        ``power`` or ``exclude`` does not have ``times_s``'s length.
    """
    opts = options or StepOptions()
    t = np.asarray(times_s, dtype=float)
    rows = np.atleast_2d(np.asarray(power, dtype=float))
    if rows.shape[1] != t.size or (exclude is not None and np.shape(exclude) != t.shape):
        raise ValueError(f"power and exclude must have {t.size} samples, as times_s")
    if motion_px is not None and np.shape(motion_px)[0] != t.size:
        raise ValueError(f"motion_px must have {t.size} rows, as times_s")
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(rows > 0, 10.0 * np.log10(np.where(rows > 0, rows, 1.0)), np.nan)
    labels = np.zeros(t.size, dtype=int) if segments is None else np.asarray(segments)
    skip = np.zeros(t.size, dtype=bool) if exclude is None else np.asarray(exclude, dtype=bool)
    # stretches: within one clip, between excluded samples
    piece = np.cumsum(np.concatenate([[0], (np.diff(labels) != 0) | skip[1:] | skip[:-1]]))
    out = []
    for p in np.unique(piece[~skip]):
        idx = np.flatnonzero((piece == p) & ~skip)
        level = d[:, idx] if motion_px is None else _without_motion(
            t[idx], d[:, idx], np.asarray(motion_px, dtype=float)[idx], 2 * opts.window_s)
        for k, step_db, _ in _piece_steps(t[idx], level, opts):
            gain = float(np.ptp(step_db)) <= opts.gain_tolerance_db
            out.append(Step(int(idx[k]), float(t[idx[k]]), step_db, gain))
    return sorted(out, key=lambda s: s.index)
