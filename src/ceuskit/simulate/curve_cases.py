"""Measured-looking time–intensity curves with ground truth: curves as researchers hold them, without a clip.

Each case is a lesion curve and its liver reference, sampled like a real recording (10–35 Hz) and built
from closed forms with multiplicative noise. The truth comes from the noiseless curves alone, never from
ceuskit: each ROI's onset as a reader sees it (:func:`ceuskit.simulate.curves.db_onset`: 5 % of the way from
the pre-contrast level to the arterial peak, in dB), VueBox's arrival (5 % of the rise in linear power) and
whether a flat pre-contrast stretch of at least 1 s precedes the contrast.

Cases (:data:`CURVE_CASES`):

* ``real-like-slow``: a real liver lesion's curve on a 60 dB screen — grey 35 at baseline, 97 at its peak at
  34 s, leaving its baseline visibly at about 15 s; its display grey follows x^k·(1 + k(1 − x)), x = (t − 12 s)
  / 22 s, k = 2.5 (a C¹ rise that is flat at its peak), then falls as a Gaussian; 35 Hz, 1 dB noise per frame;
* ``slow-gamma-25s`` and ``slow-lognormal-35s``: slow boluses (time to peak 25 and 35 s) over a bright
  pre-contrast tissue (a 15–18 dB rise), 10 and 15 Hz;
* ``sharp-gamma``: a sharp arterial bolus (time to peak 14 s, a 35 dB rise), 35 Hz;
* ``rising-from-start``: the lesion's contrast arrives 0.3 s after the first sample (no baseline);
* ``two-supplies``: a lesion whose first, smaller supply arrives at 3 s and plateaus at a third of its peak
  before the main bolus (arriving at 14 s) takes it to its peak at 26 s; a single bolus model follows the main
  bolus and misses the early rise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceuskit.errors import InputError
from ceuskit.simulate.curves import db_onset, linear_arrival

__all__ = ["CURVE_CASES", "CurveCase", "curve_case", "grey_to_power_db"]

GRID_STEP_S = 0.001
"""The fine grid the truth is read on, s."""


@dataclass(frozen=True)
class CurveCase:
    """One simulated set of curves and its truth.

    Attributes
    ----------
    name : the case's name.
    times_s : (T,) sample times, s after injection.
    power : ROI name → (T,) measured linear power (1 = display white), lesion first, its reference second.
    noiseless : ROI name → (T,) the same without noise.
    truth : ``onset_s`` (ROI → s, None without a baseline), ``arrival_time_s`` (ROI → s, 5 % of the rise in
        linear power), ``peak_time_s`` (ROI → s), ``baseline_observed`` (ROI → bool), ``dynamic_range_db``.
    dynamic_range_db : the screen's dynamic range the curves were displayed with.
    """

    name: str
    times_s: np.ndarray
    power: dict[str, np.ndarray] = field(repr=False)
    noiseless: dict[str, np.ndarray] = field(repr=False)
    truth: dict[str, Any]
    dynamic_range_db: float = 60.0


def grey_to_power_db(grey: np.ndarray, dynamic_range_db: float) -> np.ndarray:
    """Echo power in dB of display grey on a screen of ``dynamic_range_db`` (grey 255 = 0 dB, grey 0 = −DR)."""
    return (np.asarray(grey, dtype=float) / 255.0 - 1.0) * dynamic_range_db


def _gamma(t: np.ndarray, t0: float, alpha: float, beta: float) -> np.ndarray:
    """Unit-peak gamma variate starting at t0 (peak at t0 + αβ)."""
    tau = np.clip(t - t0, 0.0, None)
    return (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta)


def _lognormal(t: np.ndarray, t0: float, mode_s: float, sigma: float) -> np.ndarray:
    """Unit-peak lognormal bolus starting at t0 with its peak ``mode_s`` later."""
    tau = t - t0
    out = np.zeros_like(tau)
    pos = tau > 0
    mu = math.log(mode_s) + sigma**2
    out[pos] = np.exp(-((np.log(tau[pos]) - mu) ** 2) / (2 * sigma**2)) / tau[pos]
    return out * mode_s * math.exp((math.log(mode_s) - mu) ** 2 / (2 * sigma**2))


def _real_like_grey(t: np.ndarray, start_s: float, peak_s: float, low: float, high: float, k: float = 2.5,
                    fall_s: float = 40.0) -> np.ndarray:
    """Display grey of the real-like slow curve (see the module docstring)."""
    x = np.clip((t - start_s) / (peak_s - start_s), 0.0, 1.0)
    u = x**k * (1.0 + k * (1.0 - x))
    after = t > peak_s
    u[after] = np.exp(-(((t[after] - peak_s) / fall_s) ** 2))
    return low + (high - low) * u


def _db(level_db: float) -> float:
    return float(10.0 ** (level_db / 10.0))


def _db_curve(db: np.ndarray) -> np.ndarray:
    return np.asarray(10.0 ** (np.asarray(db) / 10.0))


_Curve = Callable[[np.ndarray], np.ndarray]


def _cases() -> dict[str, tuple[float, float, float, dict[str, tuple[float, _Curve]]]]:
    """Map each case name to its recipe.

    name → (sample rate Hz, duration s, noise dB per frame, {ROI: (contrast start s, noiseless power of t)}).
    """
    slow_base, bright = _db(-30.0), _db(-27.0)
    two = _db(-28.0)
    return {
        "real-like-slow": (35.0, 60.0, 1.0, {
            "lesion": (12.0, lambda t: _db_curve(grey_to_power_db(_real_like_grey(t, 12.0, 34.0, 35.0, 97.0), 60.0))),
            "liver": (13.0, lambda t: _db_curve(grey_to_power_db(_real_like_grey(t, 13.0, 38.0, 40.0, 88.0), 60.0))),
        }),
        "slow-gamma-25s": (10.0, 90.0, 0.8, {
            "lesion": (10.0, lambda t: slow_base + _db(-15.0) * _gamma(t, 10.0, 3.0, 5.0)),
            "liver": (13.0, lambda t: slow_base + _db(-17.0) * _gamma(t, 13.0, 2.0, 8.5)),
        }),
        "slow-lognormal-35s": (15.0, 100.0, 0.8, {
            "lesion": (12.0, lambda t: bright + _db(-12.0) * _lognormal(t, 12.0, 23.0, 0.5)),
            "liver": (14.0, lambda t: bright + _db(-13.0) * _lognormal(t, 14.0, 24.0, 0.6)),
        }),
        "sharp-gamma": (35.0, 60.0, 1.0, {
            "lesion": (8.0, lambda t: _db(-48.0) + _db(-13.0) * _gamma(t, 8.0, 2.0, 3.0)),
            "liver": (11.0, lambda t: _db(-48.0) + _db(-15.0) * _gamma(t, 11.0, 1.5, 8.0)),
        }),
        "rising-from-start": (20.0, 60.0, 0.8, {
            "lesion": (0.3, lambda t: _db(-40.0) + _db(-15.0) * _gamma(t, 0.3, 1.5, 4.0)),
            "liver": (0.8, lambda t: _db(-40.0) + _db(-17.0) * _gamma(t, 0.8, 1.5, 8.0)),
        }),
        "two-supplies": (15.0, 90.0, 0.6, {
            "lesion": (3.0, lambda t: two + _db(-20.0) * np.clip((t - 3.0) / 3.0, 0.0, 1.0) ** 2
                       + _db(-15.5) * _gamma(t, 14.0, 4.0, 3.0)),
            "liver": (6.0, lambda t: two + _db(-18.0) * _gamma(t, 6.0, 2.0, 8.0)),
        }),
    }


CURVE_CASES: tuple[str, ...] = tuple(_cases())
"""Names of the simulated curve sets (see the module docstring)."""


def curve_case(name: str, *, seed: int = 0) -> CurveCase:
    """Return the curves of a named case with noise from ``seed``, and their truth.

    Parameters
    ----------
    name : one of :data:`CURVE_CASES`.
    seed : noise generator seed.

    Returns
    -------
    CurveCase

    Raises
    ------
    InputError
        An unknown case, naming the known ones.
    """
    cases = _cases()
    if name not in cases:
        raise InputError(f"unknown curve case {name!r}; choose one of {', '.join(cases)}")
    rate_hz, duration_s, noise_db, rois = cases[name]
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    grid = np.arange(0.0, duration_s, GRID_STEP_S)
    power, noiseless = {}, {}
    truth: dict[str, Any] = {"onset_s": {}, "arrival_time_s": {}, "peak_time_s": {}, "baseline_observed": {},
                             "dynamic_range_db": 60.0}
    for roi, (start_s, curve) in rois.items():
        clean = curve(t)
        noiseless[roi] = clean
        power[roi] = clean * 10.0 ** (rng.normal(0.0, noise_db, t.size) / 10.0)
        fine = curve(grid)
        base = float(fine[0])
        observed = start_s - t[0] >= 1.0
        onset = db_onset(grid, fine, base)
        truth["onset_s"][roi] = onset if observed else None
        arrival = linear_arrival(grid, fine, base)
        truth["arrival_time_s"][roi] = arrival if observed else None
        inside = grid <= 45.0
        truth["peak_time_s"][roi] = float(grid[np.argmax(np.where(inside, fine, -np.inf))])
        truth["baseline_observed"][roi] = bool(observed)
    return CurveCase(name, t, power, noiseless, truth)
