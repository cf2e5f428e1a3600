"""Batched bolus-model fits: thousands of time–intensity curves in one compiled call.

:func:`fit_curves` fits one model (or all of them, keeping the lowest AIC per curve) to every row of a curve
matrix by bounded variable-projection Levenberg–Marquardt (see :mod:`ceuskit.models._kernel`), started from
the smoothed curve's arrival, peak time and centroid.  A curve that cannot be fitted is a result with
``success`` False and a message, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceuskit.errors import InputError
from ceuskit.models._features import features_kernel
from ceuskit.models._kernel import (
    CONVERGED,
    FLAT,
    MAX_ITER,
    NO_ENHANCEMENT,
    NO_START,
    NOT_FINITE,
    POOR_FIT,
    STATUS_MESSAGES,
    TOO_FEW,
    fit_kernel,
)
from ceuskit.models.shapes import MODEL_NAMES, MODELS, get_model

__all__ = ["FitResult", "fit_curves", "PARAM_NAMES"]

PARAM_NAMES: tuple[str, ...] = ("t0", "mu", "sigma", "alpha", "beta", "lam", "A", "b")
"""Every parameter name of every model; ``model="auto"`` results carry all of them (NaN where unused)."""

_N_PARAMS = 5  # t0, two shape parameters, A, b
FTOL = 0.01
"""The fit stops when the Gauss–Newton step would lower the RSS by at most this many residual variances
(RSS/(m − 5)): the parameters then lie within √FTOL = 0.1 standard errors of the optimum, and more digits would
be noise (it also stops when progress stalls, below 10⁻⁶ of the RSS per step)."""

_XTOL = 1e-8  # … or when a step moves every parameter by less than this fraction
_START_FRACTIONS = (0.3, 1.0)  # t0 = arrival − f·(peak − arrival), one start per f
_RETRY_MODE_RATIO = 0.7
"""A fit that fails (R² below :data:`MIN_R2` or no convergence) is retried once from a first-pass shape: t0 from
the first start, the mode at the smoothed peak, and the mean at mode/0.7 after t0 instead of at the curve's
centroid (a recirculation plateau pulls the centroid late, and that start can lead to a broad optimum that fits
the plateau and misses the peak).  The retry is kept where its RSS is lower."""

MIN_R2 = 0.5
"""A converged fit with a lower coefficient of determination is not a success ("poor fit")."""

MIN_RISE_SIGMAS = 3.0
"""… nor one whose fitted rise above its baseline is below this many residual standard deviations."""


@dataclass(frozen=True)
class FitResult:
    """Fits of n curves.

    Attributes
    ----------
    model : the model name, or for ``model="auto"`` an (n,) array of the chosen model per curve.
    params : parameter name → (n,) float64 (``t0`` s, ``A`` linear power·s, ``b`` linear power, shape
        parameters as in :mod:`ceuskit.models.shapes`); NaN where a fit failed or the model lacks it.
    fitted : (n, T) model curves on the input times (NaN rows where the fit failed).
    success : (n,) bool: a converged, finite fit with R² ≥ :data:`MIN_R2` whose fitted rise above its
        baseline clears :data:`MIN_RISE_SIGMAS` residual standard deviations (else ``message`` says which).
    rss : (n,) residual sum of squares over valid samples (linear power²).
    r2 : (n,) coefficient of determination, 1 − RSS/TSS.
    aic : (n,) m·ln(RSS/m) + 2k, m valid samples, k = 5 parameters.
    message : per curve, "converged", "max iterations", "too few samples", "flat curve", …
    n_valid : (n,) number of finite samples used.
    """

    model: str | np.ndarray
    params: dict[str, np.ndarray]
    fitted: np.ndarray = field(repr=False)
    success: np.ndarray
    rss: np.ndarray
    r2: np.ndarray
    aic: np.ndarray
    message: list[str]
    n_valid: np.ndarray = field(repr=False)

    def model_of(self, index: int) -> str:
        """Return the model fitted to curve ``index``."""
        return self.model if isinstance(self.model, str) else str(self.model[index])


def _check_inputs(t: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise InputError(f"t must be a one-dimensional array of frame times (s), got shape {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise InputError("t must be finite and strictly increasing (frame times in seconds)")
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] != t.size:
        raise InputError(f"Y must have shape (n_curves, {t.size}) to match t, got {y.shape}")
    return t, y


def curve_features(t: np.ndarray, y: np.ndarray, *, smoothing_s: float = 2.0) -> dict[str, np.ndarray]:
    """Arrival (10 % rise), peak time, centroid and peak height of each smoothed curve (data-driven guesses).

    Parameters
    ----------
    t : (T,) s.  y : (n, T), NaN samples ignored.  smoothing_s : moving-average window, s.

    Returns
    -------
    name → (n,) arrays: ``arrival_s``, ``peak_s``, ``centroid_s``, ``height``, ``baseline`` (NaN for curves
    without a finite sample), and ``abs_max``, ``spread`` (max − min), ``n_valid`` of the raw samples.
    """
    dt = float(np.median(np.diff(t)))
    width = max(3, int(round(smoothing_s / dt)) | 1)
    out = features_kernel(np.ascontiguousarray(t, dtype=float), np.ascontiguousarray(y, dtype=float), width)
    names = ("arrival_s", "peak_s", "centroid_s", "height", "baseline", "abs_max", "spread", "n_valid")
    return {name: np.ascontiguousarray(out[:, k]) for k, name in enumerate(names)}


def _starts(spec_name: str, t: np.ndarray, feats: dict[str, np.ndarray], n_starts: int = len(_START_FRACTIONS),
            mode_ratio: float | None = None) -> np.ndarray:
    """(n, S, 3) starting θ = (t0, p1, p2) for each curve, one per t0 candidate (the first ``n_starts``).

    The shape parameters match the smoothed curve's mode (peak − t0) and mean (centroid − t0), or with
    ``mode_ratio`` the mean at mode/``mode_ratio`` after t0.
    """
    spec = MODELS[spec_name]
    dt = float(np.median(np.diff(t)))
    arrival, peak = feats["arrival_s"], feats["peak_s"]
    rise = np.maximum(peak - arrival, dt)
    out = np.full((arrival.size, n_starts, 3), np.nan)
    (lo1, hi1), (lo2, hi2) = spec.bounds
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, frac in enumerate(_START_FRACTIONS[:n_starts]):
            t0 = arrival - frac * rise - dt
            mode = peak - t0
            if mode_ratio is None:
                ratio = np.clip(mode / (feats["centroid_s"] - t0), 0.1, 0.9)
                ratio = np.where(np.isfinite(ratio), ratio, 0.5)
            else:
                ratio = np.full_like(mode, mode_ratio)
            p1, p2 = spec.initial_guess(mode, mode / ratio)
            out[:, k, 0] = t0
            out[:, k, 1] = np.clip(p1, lo1, hi1)
            out[:, k, 2] = np.clip(p2, lo2, hi2)
    return out


def _fit_one_model(name: str, t: np.ndarray, y: np.ndarray, scale: np.ndarray, feats: dict[str, np.ndarray],
                   status_in: np.ndarray, max_iter: int, coarse_samples: int, n_starts: int) -> dict[str, Any]:
    """Fit ``name`` to the scaled curves ``y`` and return its parameters, curves and statistics in caller units."""
    spec = MODELS[name]
    n = y.shape[0]
    starts = _starts(name, t, feats, n_starts)
    starts[status_in >= 0] = np.nan
    span = t[-1] - t[0]
    (lo1, hi1), (lo2, hi2) = spec.bounds
    lo = np.tile([t[0] - 0.5 * span, lo1, lo2], (n, 1))
    hi = np.tile([t[-1] - 3 * (t[-1] - t[-2]), hi1, hi2], (n, 1))
    theta, lin, fitted, rss, tss, status, _, top = fit_kernel(t, y, scale, spec.code, starts, lo, hi, int(max_iter),
                                                              int(coarse_samples), FTOL, _XTOL, np.empty_like(y))
    with np.errstate(invalid="ignore", divide="ignore"):
        retry = np.flatnonzero((status == MAX_ITER) | ((status == CONVERGED) & ~(1.0 - rss / tss >= MIN_R2)))
    if retry.size:
        again = _starts(name, t, {k: v[retry] for k, v in feats.items()}, 1, _RETRY_MODE_RATIO)
        out = fit_kernel(t, y[retry], scale[retry], spec.code, again, lo[retry], hi[retry], int(max_iter),
                         int(coarse_samples), FTOL, _XTOL, np.empty((retry.size, t.size)))
        keep = (out[5] != NO_START) & (out[3] < rss[retry])
        rows = retry[keep]
        for old, new in zip((theta, lin, fitted, rss, tss, status, top), out[:6] + out[7:], strict=True):
            old[rows] = new[keep]
    status = np.where(status_in >= 0, status_in, status)
    params = {spec.params[0]: theta[:, 0], spec.params[1]: theta[:, 1], spec.params[2]: theta[:, 2],
              "A": lin[:, 0], "b": lin[:, 1]}
    m = feats["n_valid"]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r2 = 1.0 - rss / tss
        aic = m * np.log(np.maximum(rss, np.finfo(float).tiny) / np.maximum(m, 1)) + 2 * _N_PARAMS
    finite = (np.isfinite(theta).all(axis=1) & np.isfinite(lin).all(axis=1) & np.isfinite(rss) & np.isfinite(r2)
              & np.isfinite(aic) & np.isfinite(top))
    status = np.where((status <= 1) & ~finite, NOT_FINITE, status)
    # a fit stands only for a real enhancement: the fitted rise clears the residual noise, and R² is adequate
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = np.sqrt(rss / np.maximum(m, 1))
        rise = top - lin[:, 1]
    enhanced = (params["A"] > 0) & (rise >= MIN_RISE_SIGMAS * noise)
    status = np.where((status == CONVERGED) & finite & ~enhanced, NO_ENHANCEMENT, status)
    status = np.where((status == CONVERGED) & finite & ~(r2 >= MIN_R2), POOR_FIT, status)
    success = (status == CONVERGED) & finite
    bad = ~np.isin(status, (CONVERGED, MAX_ITER, POOR_FIT, NO_ENHANCEMENT)) | ~finite
    if bad.any():
        for key in params:
            params[key][bad] = np.nan
        fitted[bad] = np.nan
        for arr in (rss, r2, aic):
            arr[bad] = np.nan
    return {"params": params, "fitted": fitted, "success": success, "rss": rss, "r2": r2, "aic": aic,
            "status": status}


def fit_curves(t: Any, Y: Any, *, model: str = "auto", max_iter: int = 200,  # noqa: N803
               coarse_samples: int = 60, n_starts: int = 2, smoothing_s: float = 2.0) -> FitResult:
    """Fit a bolus model to every curve.

    Parameters
    ----------
    t : (T,) frame times, s, strictly increasing.
    Y : (n_curves, T) linear power (a single (T,) curve is taken as n = 1); NaN/inf samples (rejected frames)
        are ignored.
    model : "auto" (fit all of :data:`~ceuskit.models.shapes.MODEL_NAMES`, keep the lowest AIC per curve) or
        one model name.
    max_iter : Levenberg–Marquardt iterations allowed per stage.
    coarse_samples : number of block means of the curve used to choose among the starting values before the
        full fit.
    n_starts : starting values tried per curve (1 or 2): t0 at 30 % and at 100 % of the smoothed curve's
        rise time before its 10 % arrival; each is run on the block means and the better one refined.  The
        second is tried only when the first leaves the block means more than 1.5 times their own noise
        (estimated from successive differences of the samples): a model that already fits down to the noise
        has no better optimum to find.
    smoothing_s : moving-average window for the data-driven starting values, s.

    Returns
    -------
    FitResult

    Raises
    ------
    InputError
        ``t`` and ``Y`` do not match, ``t`` is not increasing, or the model name is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from ceuskit.models import fit_curves
    >>> from ceuskit.models.shapes import lognormal
    >>> t = np.arange(0, 120, 0.5)
    >>> y = lognormal(t, 8.0, 2.5, 0.6, 40.0, 0.01)
    >>> res = fit_curves(t, y[None, :], model="lognormal")
    >>> bool(res.success[0]), round(float(res.params["t0"][0]), 3)
    (True, 8.0)
    """
    if model != "auto":
        get_model(model)
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InputError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not isinstance(coarse_samples, (int, np.integer)) or coarse_samples < 6:
        raise InputError(f"coarse_samples must be an integer ≥ 6, got {coarse_samples!r}")
    if n_starts not in range(1, len(_START_FRACTIONS) + 1):
        raise InputError(f"n_starts must be 1 or {len(_START_FRACTIONS)}, got {n_starts!r}")
    t, y = _check_inputs(t, Y)
    y = np.ascontiguousarray(y)
    feats = curve_features(t, y, smoothing_s=smoothing_s)
    n_valid = feats["n_valid"].astype(int)
    scale = np.where(feats["abs_max"] > 0, feats["abs_max"], 1.0)
    status_in = np.full(y.shape[0], -1)
    with np.errstate(invalid="ignore", over="ignore"):
        status_in[~(feats["spread"] > 1e-12 * scale)] = FLAT
    status_in[n_valid < 6] = TOO_FEW
    if model != "auto":
        res = _fit_one_model(model, t, y, scale, feats, status_in, max_iter, coarse_samples, n_starts)
        return FitResult(model, res["params"], res["fitted"], res["success"], res["rss"], res["r2"], res["aic"],
                         [STATUS_MESSAGES[int(s)] for s in res["status"]], n_valid)
    return _auto(t, y, scale, feats, status_in, max_iter, coarse_samples, n_starts, n_valid)


def _auto(t: np.ndarray, y: np.ndarray, scale: np.ndarray, feats: dict[str, np.ndarray], status_in: np.ndarray,
          max_iter: int, coarse_samples: int, n_starts: int, n_valid: np.ndarray) -> FitResult:
    """Fit every model and keep, per curve, the successful one with the lowest AIC (else the first model)."""
    n = y.shape[0]
    best: dict[str, Any] = {}
    chosen = np.zeros(n, dtype=int)
    params = {p: np.full(n, np.nan) for p in PARAM_NAMES}
    for k, name in enumerate(MODEL_NAMES):
        res = _fit_one_model(name, t, y, scale, feats, status_in, max_iter, coarse_samples, n_starts)
        score = np.where(res["success"], res["aic"], np.inf)
        if k == 0:
            best, better = res, np.ones(n, dtype=bool)
            best["score"] = score
        else:
            better = score < best["score"]
            best["score"] = np.where(better, score, best["score"])
            best["fitted"][better] = res["fitted"][better]
            for key in ("success", "rss", "r2", "aic", "status"):
                best[key] = np.where(better, res[key], best[key])
            for p in params:
                params[p][better] = np.nan
        chosen[better] = k
        for p, v in res["params"].items():
            params[p][better] = v[better]
    model = np.asarray(MODEL_NAMES)[chosen]
    return FitResult(model, params, best["fitted"], best["success"], best["rss"], best["r2"], best["aic"],
                     [STATUS_MESSAGES[int(s)] for s in best["status"]], n_valid)
