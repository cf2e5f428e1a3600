"""Closed-form contrast curves of the phantom and the truth timing derived from them."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ceuskit.simulate.phantom import Phantom

__all__ = ["contrast_curves", "truth_timing", "vessel_curve"]


# closed-form curves
def _lognormal_shape(t: np.ndarray, t0: float, mu: float, sigma: float) -> np.ndarray:
    tau = np.asarray(t, dtype=float) - t0
    out = np.zeros_like(tau)
    pos = tau > 0
    out[pos] = np.exp(-((np.log(tau[pos]) - mu) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma * tau[pos])
    return out


def _gamma_shape(t: np.ndarray, t0: float, alpha: float, beta: float) -> np.ndarray:
    tau = np.asarray(t, dtype=float) - t0
    out = np.zeros_like(tau)
    pos = tau > 0
    out[pos] = tau[pos] ** alpha * np.exp(-tau[pos] / beta)
    return out


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


_SHAPES: dict[str, tuple[Callable[..., np.ndarray], tuple[float, float], tuple[float, float]]] = {
    # family: (shape function, liver parameters, arterial parameters); modes ≈ 13.6 s / 6.5 s after arrival
    "lognormal": (_lognormal_shape, (math.log(28.0), 0.85), (math.log(8.0), 0.45)),
    # gamma variates with about the same modes (αβ) and a liver that stays enhanced into the late phase
    "gamma": (_gamma_shape, (1.2, 12.0), (2.0, 3.2)),
}


def _unit_peak(shape: Callable[..., np.ndarray], t: np.ndarray, t0: float, params: tuple[float, float]) -> np.ndarray:
    grid = np.linspace(1e-3, 300, 30001)
    return shape(t, t0, *params) / float(shape(grid, 0.0, *params).max())


def contrast_curves(ph: Phantom, t_inj_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless contrast power (above tissue) of liver and lesion at times after injection."""
    spec = ph.pattern_spec()
    shape, liver_params, arterial_params = _SHAPES[ph.curve_family]
    liver = ph.peak_power * _unit_peak(shape, t_inj_s, ph.liver_arrival_s, liver_params)
    arterial = spec.arterial_gain * ph.peak_power * _unit_peak(shape, t_inj_s, ph.arterial_arrival_s, arterial_params)
    c = (spec.c_early
         + (spec.c_portal - spec.c_early) * _logistic((t_inj_s - spec.washout_step_s) / 3.0)
         + (spec.c_late - spec.c_portal) * _logistic((t_inj_s - spec.late_step_s) / 3.0))
    return liver, arterial + c * liver


def vessel_curve(ph: Phantom, t_inj_s: np.ndarray, *, gain: float, lead_s: float = 2.0, level: float = 2.0
                 ) -> np.ndarray:
    """Noiseless contrast power of a vessel: an arterial bolus ``lead_s`` before the lesion's, peaking ``gain``
    times the liver's peak, on ``level`` times the liver's curve (a portal branch stays enhanced)."""
    shape, liver_params, arterial_params = _SHAPES[ph.curve_family]
    liver = ph.peak_power * _unit_peak(shape, t_inj_s, ph.liver_arrival_s, liver_params)
    bolus = _unit_peak(shape, t_inj_s, ph.arterial_arrival_s - lead_s, arterial_params)
    return np.asarray(gain * ph.peak_power * bolus + level * liver)


def truth_timing(ph: Phantom, *, threshold: float = 0.05, step_s: float = 0.01) -> dict[str, float | None]:
    """Lesion arrival (5 % of its peak enhancement), peak time and wash-out onset from the noiseless curves.

    Wash-out onset: first time after the lesion's arterial peak (within 0–45 s) at which the noiseless
    lesion-to-liver ratio of total power is ≤ −1.5 dB and stays so for 5 s; None when it never does or when
    the lesion was already hypo-enhancing at its peak.
    """
    t = np.arange(0.0, ph.duration_s - ph.lead_in_s + step_s, step_s)
    liver, lesion = contrast_curves(ph, t)
    arrival = float(t[np.argmax(lesion >= threshold * lesion.max())])
    arterial = t <= 45.0
    peak = float(t[np.argmax(np.where(arterial, lesion, -np.inf))])
    ratio_db = 10 * np.log10((lesion + ph.tissue_power) / (liver + ph.tissue_power))
    hypo = (ratio_db <= -1.5) & (t >= peak)
    onset = None
    if ratio_db[int(round(peak / step_s))] <= -1.5:  # hypo at its arterial peak: no wash-out by definition
        hypo[:] = False
    run = int(round(5.0 / step_s))
    idx = np.flatnonzero(hypo)
    for i in idx:
        if i + run < hypo.size and hypo[i:i + run + 1].all():
            onset = float(t[i])
            break
    return {"arrival_time_s": arrival, "peak_time_s": peak, "washout_onset_s": onset}

