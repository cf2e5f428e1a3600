"""The honest baseline of ``bench_fit``: the four bolus models as a competent numpy user writes them.

Each model is ``b + A·g(t − t0)`` with ``g`` the unit-area shape of :mod:`ceuskit.models.shapes` (the same
formulas, independently written): one vectorised numpy expression per model, no argument checking, no
broadcasting of parameter batches, and its analytic Jacobian (∂f/∂θ = A·g·∂ln g/∂θ, ∂f/∂A = g, ∂f/∂b = 1)
so that ``scipy.optimize.curve_fit(method="lm")`` needs no finite differences.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from scipy.special import digamma, gammaln

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

Model = Callable[..., np.ndarray]


def _log_tau(t: np.ndarray, t0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tau = t - t0
    pos = tau > 0
    tau = np.where(pos, tau, 1.0)
    return tau, np.log(tau), pos


def lognormal(t: np.ndarray, t0: float, mu: float, sigma: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    tau, lt, pos = _log_tau(t, t0)
    return b + A * np.where(pos, np.exp(-0.5 * ((lt - mu) / sigma) ** 2 - lt - _LOG_SQRT_2PI) / sigma, 0.0)


def lognormal_jac(t: np.ndarray, t0: float, mu: float, sigma: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    tau, lt, pos = _log_tau(t, t0)
    z = (lt - mu) / sigma
    g = np.where(pos, np.exp(-0.5 * z * z - lt - _LOG_SQRT_2PI) / sigma, 0.0)
    ag = A * g
    return np.column_stack([ag * (1.0 + z / sigma) / tau, ag * z / sigma, ag * (z * z - 1.0) / sigma, g,
                            np.ones_like(t)])


def gamma(t: np.ndarray, t0: float, alpha: float, beta: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    tau, lt, pos = _log_tau(t, t0)
    return b + A * np.where(pos, np.exp(alpha * lt - tau / beta - (alpha + 1.0) * math.log(beta)
                                        - gammaln(alpha + 1.0)), 0.0)


def gamma_jac(t: np.ndarray, t0: float, alpha: float, beta: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    tau, lt, pos = _log_tau(t, t0)
    g = np.where(pos, np.exp(alpha * lt - tau / beta - (alpha + 1.0) * math.log(beta) - gammaln(alpha + 1.0)), 0.0)
    ag = A * g
    return np.column_stack([ag * (1.0 / beta - alpha / tau), ag * (lt - math.log(beta) - digamma(alpha + 1.0)),
                            ag * (tau / beta**2 - (alpha + 1.0) / beta), g, np.ones_like(t)])


def _walk(t: np.ndarray, t0: float, mu: float, lam: float, power: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(g, tau, pos) of LDRW (power 0.5) or FPT (power 1.5): ln g = c − power·ln τ − λ(τ − μ)²/(2μτ)."""
    tau, lt, pos = _log_tau(t, t0)
    c = 0.5 * math.log(mu * lam / (2.0 * math.pi)) - (math.log(mu) if power == 0.5 else 0.0)
    g = np.where(pos, np.exp(c - power * lt - lam * (tau - mu) ** 2 / (2.0 * mu * tau)), 0.0)
    return g, tau, pos


def ldrw(t: np.ndarray, t0: float, mu: float, lam: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    return b + A * _walk(t, t0, mu, lam, 0.5)[0]


def fpt(t: np.ndarray, t0: float, mu: float, lam: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    return b + A * _walk(t, t0, mu, lam, 1.5)[0]


def _walk_jac(t: np.ndarray, t0: float, mu: float, lam: float, A: float, power: float) -> np.ndarray:  # noqa: N803
    g, tau, _ = _walk(t, t0, mu, lam, power)
    ag = A * g
    d_t0 = power / tau + 0.5 * lam * (1.0 / mu - mu / tau**2)
    d_mu = (power - 1.0) / mu + 0.5 * lam * (tau / mu**2 - 1.0 / tau)
    d_lam = 0.5 / lam - 0.5 * (tau / mu - 2.0 + mu / tau)
    return np.column_stack([ag * d_t0, ag * d_mu, ag * d_lam, g, np.ones_like(t)])


def ldrw_jac(t: np.ndarray, t0: float, mu: float, lam: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    return _walk_jac(t, t0, mu, lam, A, 0.5)


def fpt_jac(t: np.ndarray, t0: float, mu: float, lam: float, A: float, b: float) -> np.ndarray:  # noqa: N803
    return _walk_jac(t, t0, mu, lam, A, 1.5)


MODELS: dict[str, tuple[Model, Model]] = {
    "lognormal": (lognormal, lognormal_jac), "gamma": (gamma, gamma_jac), "ldrw": (ldrw, ldrw_jac),
    "fpt": (fpt, fpt_jac),
}
"""name → (model, Jacobian), both ``f(t, t0, p1, p2, A, b)``."""


def fit(name: str, t: np.ndarray, y: np.ndarray, p0: np.ndarray) -> float:
    """RSS of ``curve_fit(method="lm")`` with the analytic Jacobian from ``p0``; inf when it fails."""
    from scipy.optimize import OptimizeWarning, curve_fit

    func, jac = MODELS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            popt, _ = curve_fit(func, t, y, p0=p0, jac=jac, method="lm", maxfev=4000)
        except (RuntimeError, ValueError):
            return math.inf
    rss = float(np.sum((y - func(t, *popt)) ** 2))
    return rss if math.isfinite(rss) else math.inf
