"""Closed-form contrast curves of the phantom and the truth timing derived from them."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ceuskit.simulate.phantom import Phantom
from ceuskit.simulate.realism import roi_fill_fraction

__all__ = ["contrast_curves", "db_onset", "linear_arrival", "truth_timing", "vessel_curve"]


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
    scale = ph.arterial_time_scale  # a slow arterial bolus: its time after arrival stretched
    t_arterial = t_inj_s if scale == 1.0 else ph.arterial_arrival_s + (t_inj_s - ph.arterial_arrival_s) / scale
    arterial = spec.arterial_gain * ph.peak_power * _unit_peak(shape, t_arterial, ph.arterial_arrival_s, arterial_params)
    c = (spec.c_early
         + (spec.c_portal - spec.c_early) * _logistic((t_inj_s - spec.washout_step_s) / 3.0)
         + (spec.c_late - spec.c_portal) * _logistic((t_inj_s - spec.late_step_s) / 3.0))
    return liver, arterial + c * liver


def vessel_curve(ph: Phantom, t_inj_s: np.ndarray, *, gain: float, lead_s: float = 2.0, level: float = 2.0
                 ) -> np.ndarray:
    """Noiseless contrast power of a vessel.

    An arterial bolus ``lead_s`` before the lesion's, peaking ``gain`` times the liver's peak, on ``level``
    times the liver's curve (a portal branch stays enhanced).
    """
    shape, liver_params, arterial_params = _SHAPES[ph.curve_family]
    liver = ph.peak_power * _unit_peak(shape, t_inj_s, ph.liver_arrival_s, liver_params)
    bolus = _unit_peak(shape, t_inj_s, ph.arterial_arrival_s - lead_s, arterial_params)
    return np.asarray(gain * ph.peak_power * bolus + level * liver)


def db_onset(times_s: np.ndarray, power: np.ndarray, baseline: float, *, window_s: tuple[float, float] = (0.0, 45.0),
             threshold: float = 0.05) -> float | None:
    """Where a noiseless curve, in dB, has risen ``threshold`` of its way from ``baseline`` to its peak.

    The onset as a reader sees it, for the simulator's truth (independent of :mod:`ceuskit.onset`): the first
    time the curve reaches 10·log10(baseline) + threshold × (peak dB − baseline dB), the peak being its
    largest value within ``window_s``; linear interpolation between the grid's samples.

    Parameters
    ----------
    times_s : (T,) a fine, increasing time grid, s.
    power : (T,) the noiseless total power (pre-contrast level plus contrast), linear.
    baseline : the pre-contrast level, linear power (> 0).
    window_s : where the peak is sought, s.
    threshold : fraction of the rise in dB.

    Returns
    -------
    The time (s), or None when the curve is already above the level at the grid's first sample (the
    recording starts after the contrast arrived) or never rises above the baseline.
    """
    return _first_crossing(times_s, 10.0 * np.log10(power), 10.0 * math.log10(baseline), window_s, threshold)


def linear_arrival(times_s: np.ndarray, power: np.ndarray, baseline: float, *,
                   window_s: tuple[float, float] = (0.0, 45.0), threshold: float = 0.05) -> float | None:
    """:func:`db_onset` on linear power: VueBox's arrival-time convention (5 % of the rise in power)."""
    return _first_crossing(times_s, np.asarray(power, dtype=float), float(baseline), window_s, threshold)


def _first_crossing(t: np.ndarray, y: np.ndarray, base: float, window_s: tuple[float, float],
                    threshold: float) -> float | None:
    inside = (t >= window_s[0]) & (t <= window_s[1])
    peak = float(np.max(y[inside]))
    if not peak > base:
        return None
    level = base + threshold * (peak - base)
    if y[0] >= level:
        return None
    k = int(np.argmax(y >= level))
    w = (level - y[k - 1]) / (y[k] - y[k - 1])
    return float(t[k - 1] + w * (t[k] - t[k - 1]))


def truth_timing(ph: Phantom, *, threshold: float = 0.05, step_s: float = 0.01) -> dict[str, float | None]:
    """Lesion onset and arrival, peak time and wash-out onset from the noiseless curves.

    ``onset_s`` is the onset as a reader sees it: where the lesion's noiseless total power (pre-contrast tissue
    plus contrast, after the receive gain), in dB, has risen 5 % of its way from the pre-contrast level to
    its arterial peak (:func:`db_onset`); ``liver_onset_s`` the same for the liver. ``arrival_time_s`` is
    VueBox's arrival (5 % of the lesion's peak enhancement in linear power), what a fitted curve's arrival
    time estimates. Times are s after injection, on a grid starting at the injection: physiology, whether or
    not the recording saw it (the caller compares them with the recording's start).

    Wash-out onset: first time after the lesion's arterial peak (within 0–45 s) at which the noiseless
    lesion-to-liver ratio of total power is ≤ −1.5 dB and stays so for 5 s; None when it never does or when
    the lesion was already hypo-enhancing at its peak.
    """
    t = np.arange(0.0, ph.duration_s - ph.lead_in_s + step_s, step_s)
    liver, lesion = contrast_curves(ph, t)
    lesion = lesion * roi_fill_fraction(ph, t)  # a lesion that fills in at once arrives when its ROI fills
    arrival = float(t[np.argmax(lesion >= threshold * lesion.max())])
    onset = db_onset(t, ph.tissue_power + lesion, ph.tissue_power, threshold=threshold)
    liver_onset = db_onset(t, ph.tissue_power + liver, ph.tissue_power, threshold=threshold)
    arterial = t <= 45.0
    peak = float(t[np.argmax(np.where(arterial, lesion, -np.inf))])
    ratio_db = 10 * np.log10((lesion + ph.tissue_power) / (liver + ph.tissue_power))
    hypo = (ratio_db <= -1.5) & (t >= peak)
    washout = None
    if ratio_db[int(round(peak / step_s))] <= -1.5:  # hypo at its arterial peak: no wash-out by definition
        hypo[:] = False
    run = int(round(5.0 / step_s))
    idx = np.flatnonzero(hypo)
    for i in idx:
        if i + run < hypo.size and hypo[i:i + run + 1].all():
            washout = float(t[i])
            break
    return {"onset_s": onset, "liver_onset_s": liver_onset, "arrival_time_s": arrival, "peak_time_s": peak,
            "washout_onset_s": washout}
