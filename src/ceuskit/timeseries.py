"""Time axes and smoothing of sampled time series (TICs, relative enhancement) on irregular times."""

from __future__ import annotations

import numpy as np
from numba import njit

from ceuskit.errors import InputError

__all__ = ["MAX_INJECTION_LEAD_S", "check_injection_time", "finite_running_sums", "interruptions", "moving_average",
           "round_or_none", "running_median", "spikes"]

MAX_INJECTION_LEAD_S = 3600.0
"""An injection may precede a clip's first frame by at most this long (``injection_time_s`` ≥ −this): times
after injection are the clip's times minus the (possibly negative) injection time."""


def check_injection_time(injection_time_s: float, end_s: float) -> float:
    """Validate an injection moment for a recording that ends ``end_s`` seconds after its first frame.

    The moment is in s after the first frame, negative when before it; raise
    :class:`~ceuskit.errors.InputError` saying what is allowed.
    """
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


@njit(cache=True)
def finite_running_sums(x: np.ndarray, csum: np.ndarray, ccount: np.ndarray) -> None:
    """Write the running sum and count of the finite samples of ``x`` into ``csum`` and ``ccount``.

    Compiled loops' form of :func:`moving_average`'s cumulative sums (the same additions in the same order, so
    the same numbers): ``csum[i]`` and ``ccount[i]`` cover ``x[:i]``, so the mean over ``x[a:b]`` is
    ``(csum[b] − csum[a]) / (ccount[b] − ccount[a])``.

    Parameters
    ----------
    x : (T,) samples; NaN and ±inf are skipped.
    csum, ccount : (T + 1,) float64, written.
    """
    total = 0.0
    count = 0.0
    csum[0] = 0.0
    ccount[0] = 0.0
    for i in range(x.size):
        v = x[i]
        ok = np.isfinite(v)
        total += v if ok else 0.0
        count += 1.0 if ok else 0.0
        csum[i + 1] = total
        ccount[i + 1] = count


def running_median(times_s: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Return the centred running median over ``window_s`` seconds on irregular times.

    Each sample's window holds the samples within t ± window_s/2, in time, however many; NaN samples are
    skipped, NaN where a window holds none.

    Parameters
    ----------
    times_s : (T,) increasing, s.  values : (T,).  window_s : full window width, s.
    """
    return _running_median(np.asarray(times_s, dtype=np.float64), np.asarray(values, dtype=np.float64),
                           float(window_s))


@njit(cache=True)
def _running_median(t: np.ndarray, y: np.ndarray, window_s: float) -> np.ndarray:
    n = t.size
    out = np.full(n, np.nan)
    first = 0
    last = 0
    for k in range(n):
        while t[first] < t[k] - window_s / 2:
            first += 1
        while last < n and t[last] <= t[k] + window_s / 2:
            last += 1
        part = y[first:last]
        part = part[np.isfinite(part)]
        if part.size:
            out[k] = np.median(part)
    return out


def _robust_scale(times_s: np.ndarray, residual: np.ndarray, window_s: float) -> np.ndarray:
    """1.4826 × the running median absolute residual: the local noise, growing with the signal if it does."""
    return 1.4826 * running_median(times_s, np.abs(residual), window_s)


def spikes(times_s: np.ndarray, values: np.ndarray, *, segments: np.ndarray | None = None, window_s: float = 1.0,
           sigmas: float = 6.0, min_db: float = 3.0, max_samples: int = 2, max_run_s: float | None = None
           ) -> np.ndarray:
    """Flashes and dropouts: short runs of samples far off the curve's running median.

    A destruction flash (or a glitch) lifts one or two frames far above the curve; they must not decide a
    peak or a fit's starting values. A sample is a spike when it lies more than ``sigmas`` local robust
    standard deviations from the median of the samples within ± ``window_s``/2 *in time* (the scale: 1.4826
    × the median absolute residual over three such windows, so noise that grows with the signal is allowed
    for), at least ``min_db`` away from that median in dB, and the run of such samples is short: at most
    ``max_samples`` samples, or, when ``max_run_s`` is given, lasting at most that long (first to last
    sample) instead. A longer excursion is the curve itself: an arrival, a refill. For runs of up to
    ``max_run_s`` the window must be wider than twice that, or the run becomes the median.

    Parameters
    ----------
    times_s : (T,) s.  values : (n, T) or (T,) linear power, NaN where missing.
    segments : (T,) the clip each sample comes from; each clip is examined on its own, its window never
        reaching into another clip. None: one clip.

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
        for c, row in enumerate(rows):
            far, _ = _far_off(times[part], row[part], window_s, sigmas, min_db)
            out[c, part] = far & _short_runs(times[part], far, max_samples, max_run_s)
    return out.reshape(np.shape(values))


def _far_off(times: np.ndarray, row: np.ndarray, window_s: float, sigmas: float, min_db: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """(far, residual dB): samples ``sigmas`` robust SDs and ``min_db`` off the running median (NaN never far)."""
    ok = np.isfinite(row) & (row > 0)
    far = np.zeros(row.shape, dtype=bool)
    residual = np.full(row.shape, np.nan)
    if ok.sum() < 5:
        return far, residual
    t, level_db = times[ok], 10.0 * np.log10(row[ok])
    course = running_median(t, level_db, window_s)
    off = level_db - course
    scale = _robust_scale(t, off, 3.0 * window_s)
    far[ok] = (np.abs(off) >= min_db) & (np.abs(off) > sigmas * np.maximum(scale, 1e-12))
    residual[ok] = off
    return far, residual


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def _short_runs(times: np.ndarray, far: np.ndarray, max_samples: int, max_run_s: float | None) -> np.ndarray:
    """Return the samples in runs of ``far`` short enough to be a spike.

    Runs are of consecutive frames; a missing one ends a run.
    """
    out = np.zeros(far.shape, dtype=bool)
    for first, last in _runs(far):
        short = times[last] - times[first] <= max_run_s if max_run_s is not None else last - first < max_samples
        out[first:last + 1] = short
    return out


def interruptions(times_s: np.ndarray, values: np.ndarray, *, max_run_s: float = 2.0, min_samples: int = 3,
                  sigmas: float = 6.0, min_db: float = 3.0) -> np.ndarray:
    """Frames where some curve leaves its own course abruptly for a while and comes back: an interruption.

    The probe leaving the lesion's plane for a second, or a deep breath, makes an ROI read something else — the
    lesion at liver level — for a run of frames, then the curve resumes where it was. Such a run is not
    perfusion. In each row (one clip's curve, NaN where not measured) a run is an interruption when its measured
    samples — at least ``min_samples`` of them, lasting at most ``max_run_s`` — all lie on the same side of the
    curve's running median (a window of 2·``max_run_s`` + 1 s, so the run cannot become the median), each
    ``sigmas`` robust SDs and ``min_db`` dB off it, and the curve is on its course just before and just after,
    with a jump of at least ``min_db`` into and out of the run, and resumes where it was: the levels just before
    and just after the run differ by less than half the run's departure (a dip while a vessel's glow breathes
    out of a lesion's outline, the contrast arriving right after it, is no interruption: three in-plane frames
    at proposal-13's onset were rejected and moved it 0.38 s early). A step that stays (a gain step, a lesion
    filling in) or a fall below the earlier level that refills slowly (a destruction) does not come back, and is
    not an interruption; one or two frames are left to :func:`spikes`.

    Parameters
    ----------
    times_s : (T,) s, one clip.  values : (n, T) or (T,) linear power.

    Returns
    -------
    (T,) bool: interrupted in any row.
    """
    times = np.asarray(times_s, dtype=float)
    rows = np.atleast_2d(np.asarray(values, dtype=float))
    out = np.zeros(times.size, dtype=bool)
    window_s = 2.0 * max_run_s + 1.0
    for row in rows:
        far, residual = _far_off(times, row, window_s, sigmas, min_db)
        measured = np.flatnonzero(np.isfinite(residual))
        if measured.size < 2 * min_samples:
            continue
        off, level = residual[measured], 10.0 * np.log10(row[measured])
        for first, last in _runs(far[measured]):
            members = measured[first:last + 1]
            if (first == 0 or last == measured.size - 1 or members.size < min_samples
                    or times[members[-1]] - times[members[0]] > max_run_s
                    or np.any(np.sign(off[first:last + 1]) != np.sign(off[first]))):
                continue
            before, after = level[first - 1], level[last + 1]
            if (abs(level[first] - before) >= min_db and abs(level[last] - after) >= min_db
                    and abs(after - before) < 0.5 * abs(float(np.median(level[first:last + 1])) - before)):
                out[members] = True
    return out
