"""Perfusion parameters of time–intensity curves (DESIGN "Parameters"), batched and compiled.

From a baseline-free curve f on a time grid, PE = max f:

* ``arrival_time_s`` (AT): first time f reaches ``threshold``·PE (linear interpolation between samples);
* ``time_to_peak_s`` (TTP): time of max f; ``rise_time_s`` (RT) = TTP − AT;
* ``peak_enhancement`` (PE, linear power) and ``peak_enhancement_db`` = 10·log10 PE;
* ``mean_transit_time_s`` (mTT): the first moment of the curve measured from AT, ∫(t − AT)f / ∫f over t ≥ AT
  (for fitted models: the model's closed-form first moment, t0 + E[τ] − AT);
* ``wash_in_rate`` (WiR): max slope before TTP; ``wash_out_rate`` (WoR): |min slope| after TTP;
* ``wash_in_auc`` = ∫_AT^TTP f; ``wash_out_auc`` = ∫_TTP^TE f, TE = first time after TTP with
  f ≤ ``threshold``·PE (interpolated), else the grid's end; ``wash_in_wash_out_auc`` = their sum;
* ``wash_in_perfusion_index`` = wash_in_auc / RT; ``fall_time_s`` = TE − TTP.

Integrals are trapezoidal.  Every function returns name → (n,) float64 arrays, NaN where a curve has no
positive peak or its fit failed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from ceuskit.errors import InputError
from ceuskit.models.fit import FitResult
from ceuskit.models.shapes import MODELS, log_norm, shape_terms
from ceuskit.onset import REASONS, ArrivalOptions, find_arrivals
from ceuskit.timeseries import moving_average

__all__ = [
    "PARAMETER_NAMES",
    "Parameters",
    "curve_parameters",
    "fit_parameters",
    "lognormal_parameters",
    "model_free_parameters",
    "supported_lognormal_parameters",
]

PARAMETER_NAMES: tuple[str, ...] = (
    "arrival_time_s", "time_to_peak_s", "rise_time_s", "peak_enhancement", "peak_enhancement_db",
    "mean_transit_time_s", "mean_transit_time_t0_s", "wash_in_rate", "wash_out_rate", "wash_in_auc",
    "wash_out_auc", "wash_in_wash_out_auc", "wash_in_perfusion_index", "fall_time_s",
)
"""Keys of every parameter dictionary, in DESIGN's analysis.json order (``mean_transit_time_s`` from the
arrival time, ``mean_transit_time_t0_s`` from the model's start t0 as VueBox and the literature give it)."""

_N = len(PARAMETER_NAMES)
_FLAGS = 3  # after the parameters: arrival observed, peak resolved, tail observed (1.0 / 0.0)
_AT, _TTP, _RT, _PE, _PE_DB, _MTT, _MTT_T0, _WIR, _WOR, _WIAUC, _WOAUC, _WIWO, _WIPI, _FT = range(_N)

RESOLVED_FALL = 0.9
"""A peak counts as observed only if the curve falls below this fraction of it before the data end …"""

PLATEAU_BY = 0.8
"""… or, as a plateau, if it was reached within this fraction of the data's span (and stayed)."""

MAX_GAP_S = 2.0
"""A stretch without samples longer than this (or four sample intervals) is a gap: nothing is read across it."""

MAX_TRANSIT_SPANS = 2.0
"""A transit time longer than this many times the data's span is not supported by the data."""

_NEEDS_ARRIVAL = ("arrival_time_s", "rise_time_s", "mean_transit_time_s", "wash_in_auc", "wash_in_wash_out_auc",
                  "wash_in_perfusion_index")
_NEEDS_TAIL = ("mean_transit_time_s", "mean_transit_time_t0_s", "wash_out_auc", "wash_in_wash_out_auc",
               "fall_time_s")


@njit(cache=True)
def _one_curve(t: np.ndarray, f: np.ndarray, threshold: float, out: np.ndarray) -> None:
    """Fill ``out`` (_N + _FLAGS,) with the parameters of one curve f (T,) on times t.

    Three coverage flags follow (arrival observed, peak resolved, tail observed); the values stay NaN when
    PE ≤ 0.
    """
    n_t = t.size
    peak = -1
    for i in range(n_t):  # the first of equal maxima: a flat top's rounding noise does not move the peak
        if math.isfinite(f[i]) and (peak < 0 or f[i] > f[peak] + 1e-12 * abs(f[peak])):
            peak = i
    if peak < 0 or not f[peak] > 0.0:
        return
    pe = f[peak]
    level = threshold * pe
    start = 0
    for i in range(peak + 1):
        if f[i] >= level:
            start = i
            break
    at = t[start]
    if start > 0 and f[start - 1] < level:
        w = (level - f[start - 1]) / (f[start] - f[start - 1])
        at = t[start - 1] + w * (t[start] - t[start - 1])
    ttp = t[peak]
    te = t[n_t - 1]
    stop = n_t - 1
    crossed = False
    for i in range(peak + 1, n_t):
        if f[i] <= level:
            stop = i
            crossed = True
            w = (f[i - 1] - level) / (f[i - 1] - f[i])
            te = t[i - 1] + w * (t[i] - t[i - 1])
            break
    resolved = False
    for i in range(peak + 1, n_t):
        if f[i] <= RESOLVED_FALL * pe:
            resolved = True
            break
    wir = np.nan
    for i in range(peak):
        slope = (f[i + 1] - f[i]) / (t[i + 1] - t[i])
        if not (slope <= wir):
            wir = slope
    wor = np.nan
    for i in range(peak, n_t - 1):
        slope = (f[i + 1] - f[i]) / (t[i + 1] - t[i])
        if not (slope >= wor):
            wor = slope
    # wash-in area: the partial segment from AT, then whole segments up to the peak
    wi = 0.0
    if start > 0:
        wi += 0.5 * (level + f[start]) * (t[start] - at)
    for i in range(start, peak):
        wi += 0.5 * (f[i] + f[i + 1]) * (t[i + 1] - t[i])
    wo = 0.0
    for i in range(peak, stop - 1 if crossed else n_t - 1):
        wo += 0.5 * (f[i] + f[i + 1]) * (t[i + 1] - t[i])
    if crossed:
        wo += 0.5 * (f[stop - 1] + level) * (te - t[stop - 1])
    # first moment from AT over the positive part of the curve
    num = 0.0
    den = 0.0
    for i in range(max(start, 1), n_t):
        a, b = max(f[i - 1], 0.0), max(f[i], 0.0)
        t_a, t_b = t[i - 1], t[i]
        if i == start and start > 0:
            a, t_a = level, at
        dt = t_b - t_a
        den += 0.5 * (a + b) * dt
        num += 0.5 * (a * (t_a - at) + b * (t_b - at)) * dt
    rt = ttp - at
    out[_AT] = at
    out[_TTP] = ttp
    out[_RT] = rt
    out[_PE] = pe
    out[_PE_DB] = 10.0 * math.log10(pe)
    out[_MTT] = num / den if den > 0.0 else np.nan
    out[_WIR] = wir
    out[_WOR] = abs(wor) if math.isfinite(wor) else np.nan
    out[_WIAUC] = wi
    out[_WOAUC] = wo
    out[_WIWO] = wi + wo
    out[_WIPI] = wi / rt if rt > 0.0 else np.nan
    out[_FT] = te - ttp
    out[_N] = 1.0 if start > 0 else 0.0
    out[_N + 1] = 1.0 if resolved else 0.0
    out[_N + 2] = 1.0 if crossed else 0.0


@njit(parallel=True, cache=True)
def _curves_kernel(t: np.ndarray, f: np.ndarray, threshold: float) -> np.ndarray:
    n = f.shape[0]
    out = np.full((n, _N + _FLAGS), np.nan)
    for c in prange(n):
        _one_curve(t, f[c], threshold, out[c])
    return out


@njit(parallel=True, cache=True)
def _model_kernel(code: int, grid: np.ndarray, t0: np.ndarray, p1: np.ndarray, p2: np.ndarray, area: np.ndarray,
                  threshold: float) -> np.ndarray:
    """Parameters of the baseline-free model curves A·g(grid − t0) (rows with a NaN parameter are skipped)."""
    n = t0.size
    out = np.full((n, _N + _FLAGS), np.nan)
    for c in prange(n):
        if not (math.isfinite(t0[c]) and math.isfinite(p1[c]) and math.isfinite(p2[c]) and math.isfinite(area[c])):
            continue
        f = np.zeros(grid.size)
        lnorm = log_norm(code, p1[c], p2[c])
        for i in range(grid.size):
            tau = grid[i] - t0[c]
            if tau > 0.0:
                f[i] = area[c] * shape_terms(code, tau, p1[c], p2[c], lnorm)[0]
        _one_curve(grid, f, threshold, out[c])
    return out


@dataclass(frozen=True)
class Parameters(Mapping[str, np.ndarray]):
    """Parameters of n curves.

    A mapping name → (n,) float64 (NaN where unknown), and which values were left out because the data do not
    cover them (``extrapolated``: name → (n,) bool).

    A value is left out (NaN) when it would come from outside the data: anything tied to the arrival when the
    curve already started above 5 % of its peak (or had no baseline) or its wash-in spans a gap between
    samples (the time between clips, dropped frames); when the peak is not resolved (the curve never falls below
    90 % of it before the data end) everything but — for a plateau reached in the first 80 % of the data —
    the arrival, the peak enhancement and the wash-in rate; the transit times, fall time and wash-out areas
    when the tail never falls to 5 % within the data or falls across a gap; a transit time of more than two
    spans of the data.
    """

    table: dict[str, np.ndarray]
    extrapolated: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.table[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)

    def left_out(self, index: int) -> list[str]:
        """Names of the values of curve ``index`` left out as unsupported by the data."""
        return [name for name, mask in self.extrapolated.items() if mask[index]]


def _gaps(t: np.ndarray) -> np.ndarray:
    """Return the gaps in the sampling as (k, 2) start and end times.

    A gap is every stretch without samples longer than :data:`MAX_GAP_S` (or four median sample intervals):
    the time between the clips of an examination, or a block of dropped frames.
    """
    if t.size < 2:
        return np.zeros((0, 2))
    steps = np.diff(t)
    wide = np.flatnonzero(steps > max(MAX_GAP_S, 4.0 * float(np.median(steps))))
    return np.stack([t[wide], t[wide + 1]], axis=1)


def _crosses_gap(gaps: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Per curve, whether [start, stop] overlaps a gap (NaN bounds: False)."""
    if gaps.size == 0:
        return np.zeros(start.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return np.asarray(((gaps[None, :, 0] < stop[:, None]) & (gaps[None, :, 1] > start[:, None])).any(axis=1))


def _supported(out: np.ndarray, t: np.ndarray) -> Parameters:
    """Build :class:`Parameters` from kernel rows (values + coverage flags).

    The values the data sampled at ``t`` do not support are set to NaN: besides the kernel's flags, a wash-in
    (arrival to peak) or a tail (peak to 5 %) that spans a gap between samples was not observed, and a peak
    inside one was not resolved.
    """
    t_first, t_last = float(t[0]), float(t[-1])
    span_s = t_last - t_first
    values = {name: np.array(out[:, k]) for k, name in enumerate(PARAMETER_NAMES)}
    has = np.isfinite(out[:, _PE])
    arrival_seen, peak_resolved, tail_seen = (out[:, _N + i] == 1.0 for i in range(_FLAGS))
    gaps = _gaps(t)
    peak = out[:, _TTP]
    peak_resolved = peak_resolved & ~_crosses_gap(gaps, peak, peak)
    arrival_seen = arrival_seen & ~_crosses_gap(gaps, out[:, _AT], peak)
    tail_seen = tail_seen & ~_crosses_gap(gaps, peak, peak + out[:, _FT])
    drop = {name: np.zeros(out.shape[0], dtype=bool) for name in PARAMETER_NAMES}
    with np.errstate(invalid="ignore"):
        plateau = ~peak_resolved & (peak <= t_first + PLATEAU_BY * span_s)
    kept_on_plateau = ("arrival_time_s", "peak_enhancement", "peak_enhancement_db", "wash_in_rate")
    for name in PARAMETER_NAMES:
        drop[name] |= has & ~peak_resolved & ~(plateau & (name in kept_on_plateau))
    for name in _NEEDS_ARRIVAL:
        drop[name] |= has & ~arrival_seen
    for name in _NEEDS_TAIL:
        drop[name] |= has & ~tail_seen
    for name in ("mean_transit_time_s", "mean_transit_time_t0_s"):
        with np.errstate(invalid="ignore"):
            drop[name] |= values[name] > MAX_TRANSIT_SPANS * span_s
    extrapolated = {}
    for name, mask in drop.items():
        mask &= np.isfinite(values[name])
        values[name][mask] = np.nan
        extrapolated[name] = mask
    return Parameters(values, extrapolated)


def _check_threshold(threshold: float) -> float:
    if not 0.0 < float(threshold) < 1.0:
        raise InputError(f"threshold must lie between 0 and 1 (a fraction of the peak), got {threshold!r}")
    return float(threshold)


def _check_curves(t_s: Any, curves: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t_s, dtype=float)
    y = np.asarray(curves, dtype=float)
    if y.ndim == 1:
        y = y[None, :]
    if t.ndim != 1 or y.ndim != 2 or y.shape[1] != t.size or t.size < 2:
        raise InputError(f"{name} must have shape (n_curves, {t.size}) to match t_s, got {np.shape(curves)}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise InputError("t_s must be finite and strictly increasing (seconds)")
    return t, np.ascontiguousarray(y)


def curve_parameters(t_s: Any, F: Any, *, threshold: float = 0.05) -> Parameters:  # noqa: N803
    """Parameters of baseline-free curves sampled on a (fine) time grid.

    Parameters
    ----------
    t_s : (T,) s, strictly increasing.
    F : (n, T) baseline-free linear power; no NaN expected (a NaN sample is skipped only when finding the peak).
    threshold : AT/TE level as a fraction of PE (DESIGN: 5 %).

    Returns
    -------
    :class:`Parameters` for every name in :data:`PARAMETER_NAMES`; ``mean_transit_time_s`` is the curve's
    first moment from AT, ``mean_transit_time_t0_s`` NaN (no model, no t0). Values the grid does not cover
    are left out (see :class:`Parameters`).
    """
    t, f = _check_curves(t_s, F, "F")
    return _supported(_curves_kernel(t, f, _check_threshold(threshold)), t)


def fit_parameters(result: FitResult, t_s: Any, *, grid_step_s: float = 0.05,
                   threshold: float = 0.05) -> Parameters:
    """Parameters of fitted bolus models, evaluated without baseline on a fine grid over the clip's span.

    Parameters
    ----------
    result : the :func:`~ceuskit.models.fit_curves` result.
    t_s : (T,) the times the curves were sampled at, s (the grid spans t_s[0] … t_s[-1]).
    grid_step_s : grid step, s.
    threshold : AT/TE level as a fraction of PE.

    Returns
    -------
    :class:`Parameters`: ``mean_transit_time_s`` = t0 + E[τ] − AT and ``mean_transit_time_t0_s`` = E[τ]
    from the model's closed-form first moment. NaN for curves whose fit did not succeed, and — the model
    being no evidence where there are no data — for values the clip does not cover (see :class:`Parameters`).
    """
    t = np.asarray(t_s, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)):
        raise InputError("t_s must be a one-dimensional array of finite times (s)")
    if not (np.isfinite(grid_step_s) and grid_step_s > 0):
        raise InputError(f"grid_step_s must be a positive number of seconds, got {grid_step_s!r}")
    thr = _check_threshold(threshold)
    n = result.success.size
    grid = np.arange(t[0], t[-1] + 0.5 * grid_step_s, grid_step_s)
    models = np.full(n, result.model) if isinstance(result.model, str) else np.asarray(result.model)
    out = np.full((n, _N + _FLAGS), np.nan)
    for name, spec in MODELS.items():
        sel = (models == name) & result.success
        if not sel.any():
            continue
        t0 = result.params["t0"][sel]
        p1, p2 = (result.params[p][sel] for p in spec.shape_params)
        part = _model_kernel(spec.code, grid, t0, p1, p2, result.params["A"][sel], thr)
        moment = spec.first_moment(p1, p2)
        part[:, _MTT] = t0 + moment - part[:, _AT]
        part[:, _MTT_T0] = moment
        out[sel] = part
    return _supported(out, t)


def lognormal_parameters(t0: Any, mu: Any, sigma: Any, area: Any, *,
                         threshold: float = 0.05) -> dict[str, np.ndarray]:
    """Closed-form parameters of baseline-free lognormal boluses A·g(t − t0) (no time grid, no clip end).

    With u = ln τ, ln g = −ln(√(2π)σ) − u − (u − μ)²/(2σ²) is a parabola in u, so:

    * mode u_m = μ − σ² (TTP = t0 + e^u_m) and ln g(u) − ln g(u_m) = −(u − u_m)²/(2σ²), hence the
      ``threshold`` crossings (AT, TE) lie at u_m ∓ σ·√(−2 ln threshold);
    * areas are lognormal CDF differences: ∫ g = Φ((u − μ)/σ), Φ the standard normal CDF;
    * slopes g' = −g·w/τ with w = 1 + (u − μ)/σ²; the inflections (g'' = 0) solve w² + w − 1/σ² = 0, the
      rising one (max slope, WiR) at w = (−1 − √(1 + 4/σ²))/2, the falling one (WoR) at the + root;
    * mTT = t0 + e^(μ+σ²/2) − AT from the arrival time, e^(μ+σ²/2) from t0.

    Parameters
    ----------
    t0 : s.  mu, sigma : shape parameters (ln s, dimensionless).  area : A, linear power·s.  (n,) or scalars.
    threshold : AT/TE level as a fraction of PE.

    Returns
    -------
    dict name → (n,) for every name in :data:`PARAMETER_NAMES` (fall time and wash-out area to TE, which
    may lie after the clip's end).
    """
    from scipy.special import ndtr

    thr = _check_threshold(threshold)
    t0, mu, sigma, area = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (t0, mu, sigma, area))
    half = np.sqrt(-2.0 * math.log(thr))
    with np.errstate(all="ignore"):
        ok = np.isfinite(t0) & np.isfinite(mu) & (sigma > 0) & (area > 0)
        log_c = -0.5 * math.log(2 * math.pi) - np.log(sigma)
        u_m = mu - sigma**2
        ttp = t0 + np.exp(u_m)
        pe = area * np.exp(log_c - mu + 0.5 * sigma**2)
        at = t0 + np.exp(u_m - sigma * half)
        te = t0 + np.exp(u_m + sigma * half)
        wi = area * (ndtr(-sigma) - ndtr(-sigma - half))
        wo = area * (ndtr(-sigma + half) - ndtr(-sigma))
        root = np.sqrt(1.0 + 4.0 / sigma**2)
        slopes = []
        for w in ((-1.0 - root) / 2.0, (-1.0 + root) / 2.0):
            u = mu + sigma**2 * (w - 1.0)
            g = np.exp(log_c - u - 0.5 * ((u - mu) / sigma) ** 2)
            slopes.append(-area * g * w / np.exp(u))
        values = {
            "arrival_time_s": at, "time_to_peak_s": ttp, "rise_time_s": ttp - at, "peak_enhancement": pe,
            "peak_enhancement_db": 10.0 * np.log10(pe), "mean_transit_time_s": t0 + np.exp(mu + 0.5 * sigma**2) - at,
            "mean_transit_time_t0_s": np.exp(mu + 0.5 * sigma**2),
            "wash_in_rate": slopes[0], "wash_out_rate": np.abs(slopes[1]), "wash_in_auc": wi, "wash_out_auc": wo,
            "wash_in_wash_out_auc": wi + wo, "wash_in_perfusion_index": wi / (ttp - at), "fall_time_s": te - ttp,
        }
    return {k: np.where(ok, np.broadcast_to(v, ok.shape), np.nan) for k, v in values.items()}


def supported_lognormal_parameters(t_s: Any, t0: Any, mu: Any, sigma: Any, area: Any, *,
                                   threshold: float = 0.05) -> Parameters:
    """:func:`lognormal_parameters` with the values that data sampled at ``t_s`` do not support left out.

    The rules of :func:`fit_parameters` (see :class:`Parameters`), with the curve's crossings in closed form
    instead of on a grid: the arrival is observed when AT lies after the first sample; the peak is resolved
    when the curve falls below 90 % of it (at t0 + e^(u_m + σ·√(−2 ln 0.9))) before the last sample; the tail
    is observed when TE lies within the samples; a peak before the first sample leaves no value, and a
    steepest rise (WiR's inflection) before it no wash-in rate.  Gaps between samples and transit times beyond
    two spans of the data count as there.

    Parameters
    ----------
    t_s : (T,) the times the curves were sampled at, s, strictly increasing.
    t0, mu, sigma, area : as for :func:`lognormal_parameters`.
    threshold : AT/TE level as a fraction of PE.

    Returns
    -------
    :class:`Parameters`.
    """
    t = np.asarray(t_s, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise InputError("t_s must be a one-dimensional, strictly increasing array of finite times (s)")
    values = lognormal_parameters(t0, mu, sigma, area, threshold=threshold)
    out = np.full((values["arrival_time_s"].size, _N + _FLAGS), np.nan)
    for k, name in enumerate(PARAMETER_NAMES):
        out[:, k] = values[name]
    t0, mu, sigma = (np.broadcast_to(np.asarray(v, dtype=float), out.shape[:1]) for v in (t0, mu, sigma))
    with np.errstate(all="ignore"):
        fall_90 = t0 + np.exp(mu - sigma**2 + sigma * math.sqrt(-2.0 * math.log(RESOLVED_FALL)))
        ttp, end = out[:, _TTP], out[:, _TTP] + out[:, _FT]
        out[:, _N] = out[:, _AT] > t[0]
        out[:, _N + 1] = fall_90 <= t[-1]
        out[:, _N + 2] = end <= t[-1]
        before = ttp < t[0]  # a peak before the first sample: nothing of the bolus was seen but its tail
        w = -0.5 * (1.0 + np.sqrt(1.0 + 4.0 / sigma**2))  # the rising inflection: the steepest slope (WiR)
        steepest_unseen = t0 + np.exp(mu + sigma**2 * (w - 1.0)) < t[0]
    supported = _supported(out, t)
    for name in PARAMETER_NAMES:
        dropped = (before | (steepest_unseen if name == "wash_in_rate" else False)) & np.isfinite(supported.table[name])
        supported.table[name][dropped] = np.nan
        supported.extrapolated[name] |= dropped
    return supported


def _chord_slopes(t: np.ndarray, s: np.ndarray, window_s: float) -> np.ndarray:
    """Slope of each curve at every sample over the chord ± window_s/2 (one-sided at the ends), per s."""
    lo = np.searchsorted(t, t - window_s / 2, side="left")
    hi = np.minimum(np.searchsorted(t, t + window_s / 2, side="right") - 1, t.size - 1)
    span = t[hi] - t[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(span > 0, (s[:, hi] - s[:, lo]) / np.where(span > 0, span, 1.0), np.nan)


def model_free_parameters(t_s: Any, Y: Any, *, smoothing_s: float = 1.0,  # noqa: N803
                          threshold: float = 0.05, slope_window_s: float = 2.0) -> Parameters:
    """Return the same parameters from the smoothed TICs, without a model.

    Each curve is smoothed by a centred ``smoothing_s`` moving average (NaN samples ignored, gaps bridged
    linearly). Its baseline and arrival come from :func:`ceuskit.onset.find_arrivals` (a robust, flat pre-arrival
    window, the rise found backward from the peak), so a transient before the contrast counts neither as the
    arrival nor in the wash-in area; a curve without a baseline has no arrival, one without clear enhancement
    no parameters. The wash-in and wash-out rates are the steepest slopes over chords of ``slope_window_s``
    seconds (sample-to-sample slopes at 10–35 frames/s measure noise, not perfusion).

    Parameters
    ----------
    t_s : (T,) s.  Y : (n, T) linear power, NaN for rejected frames.  smoothing_s : window, s.
    threshold : AT/TE level as a fraction of PE.  slope_window_s : chord for the rates, s.

    Returns
    -------
    :class:`Parameters`; ``mean_transit_time_s`` is the smoothed curve's first moment from AT,
    ``mean_transit_time_t0_s`` NaN (t0 is a model's).
    """
    t, y = _check_curves(t_s, Y, "Y")
    if not (np.isfinite(smoothing_s) and smoothing_s >= 0):
        raise InputError(f"smoothing_s must be a non-negative number of seconds, got {smoothing_s!r}")
    if not (np.isfinite(slope_window_s) and slope_window_s > 0):
        raise InputError(f"slope_window_s must be a positive number of seconds, got {slope_window_s!r}")
    thr = _check_threshold(threshold)
    s = moving_average(t, y, float(smoothing_s)) if smoothing_s > 0 else np.where(np.isfinite(y), y, np.nan)
    has = np.isfinite(s)
    f = np.full_like(s, np.nan)
    for c in np.nonzero(has.sum(axis=1) >= 2)[0]:
        f[c] = np.interp(t, t[has[c]], s[c, has[c]])
    # the arrival time's convention is VueBox's (5 % of the rise in linear power), as for a fitted curve
    arrivals = find_arrivals(t, y, options=ArrivalOptions(smoothing_s=max(float(smoothing_s), 1e-9), threshold=thr,
                                                          scale="power"))
    reason = arrivals["reason"]
    low = np.nanmin(np.where(np.isfinite(f), f, np.inf), axis=1)
    baseline = np.where(np.isfinite(arrivals["baseline"]), arrivals["baseline"], low)
    g = f - baseline[:, None]
    at = arrivals["arrival_time_s"]
    # before the arrival the curve is baseline: a transient there is neither an arrival nor wash-in area
    before = t[None, :] < np.where(np.isfinite(at), at, -np.inf)[:, None]
    g = np.where(before, np.minimum(g, 0.0), g)
    out = _curves_kernel(t, np.ascontiguousarray(np.where(np.isfinite(g), g, 0.0)), thr)
    out[~np.isfinite(f[:, 0]) | (reason == REASONS.index("low_enhancement")) | (reason == REASONS.index("no_data"))] = np.nan
    out[reason == REASONS.index("no_baseline"), _N] = 0.0  # no baseline, no arrival: the curve started risen
    slopes = _chord_slopes(t, np.where(np.isfinite(g), g, np.nan), float(slope_window_s))
    peak_time = out[:, _TTP]
    rising = t[None, :] < peak_time[:, None]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # curves without a peak: NaN rates
        out[:, _WIR] = np.nanmax(np.where(rising, slopes, np.nan), axis=1)
        out[:, _WOR] = np.abs(np.nanmin(np.where(~rising, slopes, np.nan), axis=1))
    out[~np.isfinite(out[:, _PE]), _WIR] = np.nan
    out[~np.isfinite(out[:, _PE]), _WOR] = np.nan
    return _supported(out, t)
