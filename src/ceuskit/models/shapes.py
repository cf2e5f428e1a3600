"""Bolus models: pure model functions, their first moments and starting values, registered in one place.

Every model is ``f(t) = b + A · g(t − t0)`` with ``g`` a unit-area shape that is zero for ``τ = t − t0 ≤ 0``
(DESIGN "Bolus models"), so ``A`` is the area under the baseline-free curve (linear power · s) and ``b`` the
baseline (linear power).  The two shape parameters of each model:

========== ===================== =========================================================================
model      shape parameters      g(τ), τ > 0
========== ===================== =========================================================================
lognormal  mu (ln s), sigma      1/(√(2π)·σ·τ) · exp(−(ln τ − μ)²/(2σ²))
gamma      alpha, beta (s)       τ^α · e^(−τ/β) / (β^(α+1) · Γ(α+1))
ldrw       mu (s), lam           (e^λ/μ) · √(μλ/(2πτ)) · exp(−(λ/2)(μ/τ + τ/μ))
fpt        mu (s), lam           (e^λ/μ) · √(λ/(2π)) · (μ/τ)^(3/2) · exp(−(λ/2)(μ/τ + τ/μ))
========== ===================== =========================================================================

The LDRW (local density random walk) and FPT (first passage time) forms are those of Strouthos et al.,
"Indicator dilution models for the quantification of microvascular blood flow with bolus administration of
ultrasound contrast agents", IEEE TUFFC 57(6):1296–1310, 2010.  The exponent is evaluated in the stable form
``λ − (λ/2)(μ/τ + τ/μ) = −λ(τ − μ)²/(2μτ)``.

:data:`MODELS` is the registry (name → :class:`ModelSpec`); :func:`evaluate` evaluates any of them for a
batch of parameter sets.  The numba kernels used by the fit engine (:func:`log_shape`) live here too, beside
the numpy definitions they must agree with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit
from scipy.special import gammaln

from ceuskit._fastmath import fast_exp, fast_log
from ceuskit.errors import InputError

__all__ = [
    "MODELS",
    "MODEL_NAMES",
    "ModelSpec",
    "evaluate",
    "fpt",
    "gamma",
    "get_model",
    "ldrw",
    "lognormal",
    "shape",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_EXP_MAX = 700.0  # exp() argument cap: keeps every evaluation finite


# --- numpy definitions ----------------------------------------------------------------------------------------
def _log_g(model: str, tau: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Return ln g(τ) for τ > 0 (garbage elsewhere; callers mask), numpy, broadcasting."""
    log_tau = np.log(tau)
    log_g: np.ndarray
    if model == "lognormal":
        log_g = -_LOG_SQRT_2PI - np.log(p2) - log_tau - (log_tau - p1) ** 2 / (2.0 * p2 * p2)
        return log_g
    if model == "gamma":
        log_g = p1 * log_tau - tau / p2 - (p1 + 1.0) * np.log(p2) - gammaln(p1 + 1.0)
        return log_g
    stable = -p2 * (tau - p1) ** 2 / (2.0 * p1 * tau)
    if model == "ldrw":
        log_g = -np.log(p1) + 0.5 * np.log(p1 * p2 / (2.0 * math.pi)) - 0.5 * log_tau + stable
        return log_g
    if model == "fpt":
        log_g = -np.log(p1) + 0.5 * np.log(p2 / (2.0 * math.pi)) + 1.5 * (np.log(p1) - log_tau) + stable
        return log_g
    raise InputError(f"model {model!r} is not one of {', '.join(MODEL_NAMES)}")


def shape(model: str, tau: Any, p1: Any, p2: Any) -> np.ndarray:
    """Unit-area shape g(τ) of ``model``: 0 for τ ≤ 0, NaN where a shape parameter is invalid.

    Parameters
    ----------
    model : a name in :data:`MODEL_NAMES`.
    tau : time since the model's start t0, s (any shape; broadcast with p1, p2).
    p1, p2 : the model's two shape parameters (see the module table).
    """
    tau, p1, p2 = np.broadcast_arrays(np.asarray(tau, float), np.asarray(p1, float), np.asarray(p2, float))
    ok_params = np.isfinite(p1) & np.isfinite(p2) & (p2 > 0) & ((p1 > 0) | (model == "lognormal"))
    positive = (tau > 0) & np.isfinite(tau)
    with np.errstate(all="ignore"):
        log_g = _log_g(model, np.where(positive, tau, 1.0), np.where(ok_params, p1, 1.0), np.where(ok_params, p2, 1.0))
        g = np.exp(np.minimum(log_g, _EXP_MAX))
    return np.where(ok_params, np.where(positive, g, 0.0), np.nan)


def lognormal(t: Any, t0: Any, mu: Any, sigma: Any, A: Any, b: Any) -> np.ndarray:  # noqa: N803
    """Lognormal bolus ``b + A/(√(2π)σ τ) exp(−(ln τ − μ)²/(2σ²))``, τ = t − t0 (s), b for τ ≤ 0."""
    curve: np.ndarray = (np.asarray(b, float)
                         + np.asarray(A, float) * shape("lognormal", np.asarray(t, float) - t0, mu, sigma))
    return curve


def gamma(t: Any, t0: Any, alpha: Any, beta: Any, A: Any, b: Any) -> np.ndarray:  # noqa: N803
    """Gamma variate ``b + A τ^α e^(−τ/β) / (β^(α+1) Γ(α+1))``, τ = t − t0 (s), b for τ ≤ 0."""
    curve: np.ndarray = (np.asarray(b, float)
                         + np.asarray(A, float) * shape("gamma", np.asarray(t, float) - t0, alpha, beta))
    return curve


def ldrw(t: Any, t0: Any, mu: Any, lam: Any, A: Any, b: Any) -> np.ndarray:  # noqa: N803
    """Local density random walk ``b + A (e^λ/μ) √(μλ/(2πτ)) exp(−(λ/2)(μ/τ + τ/μ))``, τ = t − t0 (s)."""
    curve: np.ndarray = (np.asarray(b, float)
                         + np.asarray(A, float) * shape("ldrw", np.asarray(t, float) - t0, mu, lam))
    return curve


def fpt(t: Any, t0: Any, mu: Any, lam: Any, A: Any, b: Any) -> np.ndarray:  # noqa: N803
    """First passage time ``b + A (e^λ/μ) √(λ/(2π)) (μ/τ)^(3/2) exp(−(λ/2)(μ/τ + τ/μ))``, τ = t − t0 (s)."""
    curve: np.ndarray = (np.asarray(b, float)
                         + np.asarray(A, float) * shape("fpt", np.asarray(t, float) - t0, mu, lam))
    return curve


# --- first moments (mean of τ under the unit-area shape) -----------------------------------------------------
def _moment_lognormal(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """E[τ] = exp(μ + σ²/2) (lognormal distribution mean)."""
    moment: np.ndarray = np.exp(np.minimum(mu + 0.5 * sigma * sigma, _EXP_MAX))
    return moment


def _moment_gamma(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """E[τ] = β(α + 1) (gamma distribution with shape α + 1 and scale β)."""
    return beta * (alpha + 1.0)


def _moment_ldrw(mu: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """E[τ] = μ(1 + 1/λ).

    The FPT shape is the inverse Gaussian density with mean μ and shape λμ (variance μ²/λ), and the LDRW shape
    equals (τ/μ) times it, so E_LDRW[τ] = E_FPT[τ²]/μ = (μ²/λ + μ²)/μ.  Equivalently, with τ = μs and
    ∫ s^(ν−1) exp(−(λ/2)(s + 1/s)) ds = 2K_ν(λ) (Gradshteyn & Ryzhik 3.471.9): E[τ] = μ K_{3/2}(λ)/K_{1/2}(λ)
    = μ(1 + 1/λ).  The tests check it by numerical integration.
    """
    return mu * (1.0 + 1.0 / lam)


def _moment_fpt(mu: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """E[τ] = μ: the FPT shape is the inverse Gaussian density with mean μ and shape λμ (Strouthos 2010)."""
    moment: np.ndarray = np.asarray(mu, float) * np.ones_like(lam, dtype=float)
    return moment


# --- starting values from the curve's mode and mean (s after t0) ---------------------------------------------
def _guess_lognormal(mode_s: np.ndarray, mean_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode e^(μ−σ²), mean e^(μ+σ²/2) ⇒ σ² = (2/3)·ln(mean/mode), μ = ln(mode) + σ²."""
    var = (2.0 / 3.0) * np.log(mean_s / mode_s)
    return np.log(mode_s) + var, np.sqrt(var)


def _guess_gamma(mode_s: np.ndarray, mean_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode αβ, mean (α+1)β ⇒ β = mean − mode, α = mode/β."""
    beta = mean_s - mode_s
    return mode_s / beta, beta


def _guess_fpt(mode_s: np.ndarray, mean_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse Gaussian: mode/mean = r = √(1 + x²) − x with x = 3/(2λ) ⇒ λ = 3r/(1 − r²), μ = mean."""
    r = mode_s / mean_s
    return mean_s, 3.0 * r / (1.0 - r * r)


def _guess_ldrw(mode_s: np.ndarray, mean_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode μ(√(1+4λ²) − 1)/(2λ), mean μ(1 + 1/λ): their ratio rises with λ; solve it by bisection."""
    r = mode_s / mean_s
    lo, hi = np.full_like(r, -6.0), np.full_like(r, 6.0)  # log10 λ
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lam = 10.0**mid
        ratio = (np.sqrt(1.0 + 4.0 * lam * lam) - 1.0) / (2.0 * (lam + 1.0))
        below = ratio < r
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    lam = 10.0 ** (0.5 * (lo + hi))
    return mean_s / (1.0 + 1.0 / lam), lam


# --- the registry ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """One bolus model.

    Attributes
    ----------
    name : registry key.
    code : integer id used inside the compiled fit kernel.
    params : parameter names in order: ``t0``, the two shape parameters, ``A``, ``b``.
    bounds : (low, high) of each shape parameter (t0 is bounded by the data, A ≥ 0, b free).
    function : ``function(t, t0, p1, p2, A, b)``, the numpy model.
    first_moment : ``first_moment(p1, p2)``, mean of τ (s) under the unit-area shape.
    initial_guess : ``initial_guess(mode_s, mean_s) -> (p1, p2)``, the shape whose mode and mean (s after t0)
        match the data's.
    """

    name: str
    code: int
    params: tuple[str, ...]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    function: Callable[..., np.ndarray]
    first_moment: Callable[[np.ndarray, np.ndarray], np.ndarray]
    initial_guess: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

    @property
    def shape_params(self) -> tuple[str, str]:
        """The names of the model's two shape parameters (``params[1]`` and ``params[2]``)."""
        return self.params[1], self.params[2]


MODELS: dict[str, ModelSpec] = {
    "lognormal": ModelSpec("lognormal", 0, ("t0", "mu", "sigma", "A", "b"), ((-3.0, 8.0), (0.03, 3.0)),
                           lognormal, _moment_lognormal, _guess_lognormal),
    "gamma": ModelSpec("gamma", 1, ("t0", "alpha", "beta", "A", "b"), ((0.05, 100.0), (0.02, 500.0)),
                       gamma, _moment_gamma, _guess_gamma),
    "ldrw": ModelSpec("ldrw", 2, ("t0", "mu", "lam", "A", "b"), ((0.05, 2000.0), (0.01, 500.0)),
                      ldrw, _moment_ldrw, _guess_ldrw),
    "fpt": ModelSpec("fpt", 3, ("t0", "mu", "lam", "A", "b"), ((0.05, 2000.0), (0.01, 500.0)),
                     fpt, _moment_fpt, _guess_fpt),
}
"""Every bolus model, by name."""

MODEL_NAMES: tuple[str, ...] = tuple(MODELS)


def get_model(name: str) -> ModelSpec:
    """Return the :class:`ModelSpec` called ``name``.

    Raise :class:`~ceuskit.errors.InputError` for an unknown name.
    """
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise InputError(f"model {name!r} is not one of {', '.join(MODEL_NAMES)}") from None


def evaluate(model: str, t: Any, params: Mapping[str, Any], *, baseline: bool = True) -> np.ndarray:
    """Evaluate ``model`` on the time grid ``t`` for a batch of parameter sets.

    Parameters
    ----------
    model : a name in :data:`MODEL_NAMES`.
    t : (T,) times, s.
    params : name → scalar or (n,) array for every name in the model's ``params``.
    baseline : include ``b`` (False gives the baseline-free curve ``A·g``).

    Returns
    -------
    (n, T) float64 array, or (T,) when every parameter is a scalar.  NaN rows for invalid parameters.
    """
    spec = get_model(model)
    missing = [p for p in spec.params if p not in params]
    if missing:
        raise InputError(f"params is missing {', '.join(missing)} for model {model!r}")
    t = np.asarray(t, dtype=float)
    if t.ndim != 1:
        raise InputError(f"t must be one-dimensional, got shape {t.shape}")
    values = [np.asarray(params[p], dtype=float) for p in spec.params]
    scalar = all(v.ndim == 0 for v in values)
    t0, p1, p2, area, base = (np.atleast_1d(v).reshape(-1, 1) for v in values)
    out = area * shape(model, t[None, :] - t0, p1, p2)
    if baseline:
        out = out + base
    result: np.ndarray = out[0] if scalar else out
    return result


# --- compiled scalar kernels for the fit engine ----------------------------------------------------------------
@njit(cache=True)
def log_norm(code: int, p1: float, p2: float) -> float:
    """Return the τ-independent part of ln g for model ``code``.

    Compiled; hoisted out of the per-sample loop.
    """
    if code == 0:  # lognormal: p1 = mu, p2 = sigma
        return -_LOG_SQRT_2PI - math.log(p2)
    if code == 1:  # gamma: p1 = alpha, p2 = beta
        return -(p1 + 1.0) * math.log(p2) - math.lgamma(p1 + 1.0)
    if code == 2:  # ldrw: p1 = mu, p2 = lam
        return -math.log(p1) + 0.5 * math.log(p1 * p2 / (2.0 * math.pi))
    return 0.5 * math.log(p1 * p2 / (2.0 * math.pi))  # fpt: (e^λ/μ)·√(λ/2π)·μ^(3/2) = e^λ·√(μλ/2π)


@njit(cache=True, error_model="numpy", inline="always")
def shape_terms(code: int, tau: float, p1: float, p2: float, lnorm: float) -> tuple[float, float, float, float]:
    """g(τ) for τ > 0 and the τ-dependent parts of ∂ln g/∂(t0, p1, p2) (compiled).

    ``lnorm`` is :func:`log_norm` of the same parameters.  Terms of ∂ln g that do not depend on τ are left
    out: they scale g as a whole, and the fit engine projects such directions out (A is solved linearly).
    Written with the exp and log of :mod:`ceuskit._fastmath` and without division checks, so a loop
    over samples that calls it compiles to SIMD code.
    """
    if code == 0:
        lt = fast_log(tau)
        inv_sigma = 1.0 / p2
        z = (lt - p1) * inv_sigma
        zs = z * inv_sigma
        g = fast_exp(min(lnorm - lt - 0.5 * z * z, _EXP_MAX))
        return g, (1.0 + zs) / tau, zs, z * zs
    if code == 1:
        lt = fast_log(tau)
        g = fast_exp(min(lnorm + p1 * lt - tau / p2, _EXP_MAX))
        return g, -p1 / tau + 1.0 / p2, lt, tau / (p2 * p2)
    stable = fast_exp(min(lnorm - p2 * (tau - p1) * (tau - p1) / (2.0 * p1 * tau), _EXP_MAX))
    d_t0 = 0.5 * p2 * (1.0 / p1 - p1 / (tau * tau))
    d_mu = -0.5 * p2 * (1.0 / tau - tau / (p1 * p1))
    d_lam = -0.5 * (p1 / tau + tau / p1)
    root = math.sqrt(tau)
    if code == 2:
        return stable / root, 0.5 / tau + d_t0, d_mu, d_lam
    return stable / (tau * root), 1.5 / tau + d_t0, d_mu, d_lam
