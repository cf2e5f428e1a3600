"""Batched bolus fits (ceuskit.models.fit_curves) vs scipy.optimize.curve_fit one curve at a time.

Curves: 600-sample noisy lognormal TICs as CEUS gives them (t 0–150 s, t0 5–20 s, additive noise 5–10 % of
the peak and 20 % multiplicative speckle).  scipy runs MINPACK Levenberg–Marquardt (method "lm") from the same
data-driven starting values ceuskit uses, on a subset; ceuskit fits many more curves after a warm-up (numba
compile excluded).

Targets: fits/s ratio ≥ 50×, our RSS ≤ 1.02 × scipy's on ≥ 98 % of curves, success ≥ 99.5 %.
For ``model="auto"`` scipy fits all four models per curve and keeps the lowest AIC, as ceuskit does.

The same comparison on curves *not* of the fitted family (issue "Real curves"): a gamma-variate first pass
plus a slow recirculation plateau, with the same noise, fitted with the lognormal model.  Target ≥ 50×; RSS
and success are reported (no model fits these curves exactly, so some are rightly poor fits).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

N_SAMPLES = 600
N_OURS = 20000
N_SCIPY = 200
N_OURS_AUTO = 5000
N_SCIPY_AUTO = 60
ROUNDS = 5


def make_curves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(t (600,), Y (n, 600)) noisy lognormal TICs in linear power."""
    from ceuskit.models.shapes import lognormal

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 150.0, N_SAMPLES)
    t0 = rng.uniform(5, 20, (n, 1))
    mu, sigma = rng.uniform(2.3, 3.4, (n, 1)), rng.uniform(0.35, 0.9, (n, 1))
    area, base = rng.uniform(5, 50, (n, 1)), rng.uniform(0.001, 0.05, (n, 1))
    clean = lognormal(t[None, :], t0, mu, sigma, area, base)
    noise = rng.uniform(0.05, 0.10, (n, 1)) * clean.max(axis=1, keepdims=True)
    return t, clean * rng.gamma(25.0, 1 / 25.0, clean.shape) + noise * rng.standard_normal(clean.shape)


def make_off_family_curves(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(t (600,), Y (n, 600)) gamma-variate first pass + slow plateau, noisy as :func:`make_curves`."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 150.0, N_SAMPLES)
    t0 = rng.uniform(5, 20, (n, 1))
    alpha, beta = rng.uniform(1.5, 4.0, (n, 1)), rng.uniform(2.0, 6.0, (n, 1))
    tau = np.maximum(t[None, :] - t0, 0.0)
    first_pass = (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta)  # peak 1 at τ = αβ
    plateau = rng.uniform(0.1, 0.35, (n, 1)) * (1.0 - np.exp(-tau / rng.uniform(15, 40, (n, 1))))
    clean = rng.uniform(0.001, 0.05, (n, 1)) + rng.uniform(0.5, 5.0, (n, 1)) * (first_pass + plateau)
    noise = rng.uniform(0.05, 0.10, (n, 1)) * clean.max(axis=1, keepdims=True)
    return t, clean * rng.gamma(25.0, 1 / 25.0, clean.shape) + noise * rng.standard_normal(clean.shape)


def _scipy_p0(name: str, t: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Starting values from ceuskit's data-driven guess (first start), A and b by linear least squares."""
    from ceuskit.models.fit import _starts, curve_features
    from ceuskit.models.shapes import MODELS

    theta = _starts(name, t, curve_features(t, y))[:, 0, :]
    p0 = np.empty((y.shape[0], 5))
    for i, (t0, p1, p2) in enumerate(theta):
        g = MODELS[name].function(t, t0, p1, p2, 1.0, 0.0)
        area, base = np.linalg.lstsq(np.column_stack([g, np.ones_like(g)]), y[i], rcond=None)[0]
        p0[i] = (t0, p1, p2, max(area, 1e-6), base)
    return p0


def _scipy_fits(name: str, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(rss, success, seconds) of curve_fit(method="lm") per curve."""
    from scipy.optimize import OptimizeWarning, curve_fit

    from ceuskit.models.shapes import MODELS

    func = MODELS[name].function
    p0 = _scipy_p0(name, t, y)
    rss = np.full(y.shape[0], np.inf)
    start = time.perf_counter()
    for i in range(y.shape[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                popt, _ = curve_fit(func, t, y[i], p0=p0[i], method="lm", maxfev=4000)
            except RuntimeError:
                continue
        rss[i] = float(np.sum((y[i] - func(t, *popt)) ** 2))
    return rss, np.isfinite(rss), time.perf_counter() - start


def _timed_fit(t: np.ndarray, y: np.ndarray, model: str) -> tuple[Any, float]:
    from ceuskit.models import fit_curves

    fit_curves(t, y[:50], model=model)  # warm-up: load the compiled kernels
    start = time.perf_counter()
    res = fit_curves(t, y, model=model)
    return res, time.perf_counter() - start


def _lognormal_vs_scipy(t: np.ndarray, y: np.ndarray, prefix: str) -> dict[str, object]:
    """Fits/s of ours and scipy's lognormal fit, their ratio (single and median of interleaved rounds), RSS."""
    res, ours_s = _timed_fit(t, y, "lognormal")
    scipy_rss, _, scipy_s = _scipy_fits("lognormal", t, y[:N_SCIPY])
    # The same comparison in interleaved rounds (ours, scipy, ours, scipy, …): a burst of load from another
    # process then hits both sides of a round, and the median round ratio is the steadier figure.
    ratios = []
    for k in range(ROUNDS):
        _, seconds_ours = _timed_fit(t, y, "lognormal")
        _, _, seconds_scipy = _scipy_fits("lognormal", t, y[k:N_SCIPY:ROUNDS])
        ratios.append((y.shape[0] / seconds_ours) / (len(y[k:N_SCIPY:ROUNDS]) / seconds_scipy))
    return {
        f"{prefix}curves_ours": y.shape[0], f"{prefix}curves_scipy": N_SCIPY,
        f"{prefix}fits_per_s_ours": round(y.shape[0] / ours_s), f"{prefix}fits_per_s_scipy": round(N_SCIPY / scipy_s, 1),
        f"{prefix}speedup_x": round((y.shape[0] / ours_s) / (N_SCIPY / scipy_s), 1),
        f"{prefix}speedup_x_median_of_interleaved_rounds": round(float(np.median(ratios)), 1),
        f"{prefix}rss_within_2pct_of_scipy": round(float(np.mean(res.rss[:N_SCIPY] <= 1.02 * scipy_rss)), 4),
        f"{prefix}success_rate": round(float(res.success.mean()), 5),
    }


def run() -> dict[str, object]:
    from ceuskit.models.shapes import MODEL_NAMES

    t, y = make_curves(N_OURS)
    figures = _lognormal_vs_scipy(t, y, "")
    t_off, y_off = make_off_family_curves(N_OURS)
    figures.update(_lognormal_vs_scipy(t_off, y_off, "off_family_"))
    # model="auto": four models per curve, lowest AIC.
    y_auto = y[:N_OURS_AUTO]
    res_auto, auto_s = _timed_fit(t, y_auto, "auto")
    m = t.size
    best_rss = np.full(N_SCIPY_AUTO, np.inf)
    best_aic = np.full(N_SCIPY_AUTO, np.inf)
    scipy_auto_s = 0.0
    for name in MODEL_NAMES:
        rss, ok, seconds = _scipy_fits(name, t, y_auto[:N_SCIPY_AUTO])
        scipy_auto_s += seconds
        with np.errstate(divide="ignore"):
            aic = np.where(ok, m * np.log(rss / m) + 10, np.inf)
        better = aic < best_aic
        best_aic, best_rss = np.where(better, aic, best_aic), np.where(better, rss, best_rss)
    figures.update({
        "auto_curves_ours": N_OURS_AUTO, "auto_curves_scipy": N_SCIPY_AUTO,
        "auto_fits_per_s_ours": round(N_OURS_AUTO / auto_s), "auto_fits_per_s_scipy": round(N_SCIPY_AUTO / scipy_auto_s, 1),
        "auto_speedup_x": round((N_OURS_AUTO / auto_s) / (N_SCIPY_AUTO / scipy_auto_s), 1),
        "auto_rss_within_2pct_of_scipy": round(float(np.mean(res_auto.rss[:N_SCIPY_AUTO] <= 1.02 * best_rss)), 4),
        "auto_success_rate": round(float(res_auto.success.mean()), 5),
    })
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value}")
