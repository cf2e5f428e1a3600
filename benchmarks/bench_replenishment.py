"""Replenishment fits (ceuskit.replenishment.fit_refills) vs scipy.optimize.curve_fit one refill at a time,
and A and β recovered from simulated destruction–replenishment clips against their truth.

Speed. Refills as a clip gives them: 240 samples (30 s at 8 Hz), b 0.005–0.02, A 0.05–0.5, β 0.1–2 s⁻¹,
20 % multiplicative noise. The baseline is what a competent user writes: a plain vectorised numpy model
``b + A·(1 − exp(−β·τ))`` fitted by ``curve_fit(method="lm")`` from a sensible start (b = the first sample,
A = the last fifth's median minus b, β = 1/(the time to half of that rise)). The per-evaluation cost of both
is printed: scipy's model call, and ours (one pass over the samples inside the compiled search: one exponential
per sample, or one multiplication per sample when the frame interval is constant; jittered frame
times take a short polynomial per sample for the offset from the regular grid; their speed and RSS are
printed too). Target:
refills/s ratio ≥ 50×, our RSS ≤ 1.001 × scipy's on ≥ 99 % of the refills scipy fits.

Accuracy. Infusion phantoms (the real-world cases' image, ROIs, 45 dB display and jittered frames; a still
probe) with one to three destructions at 2, 8 and 35 Hz, flash lengths 1–10 frames; A and β of both ROIs
read by ``ceuskit.analyze`` against the phantom's truth. Targets: median error ≤ 10 %, worst ≤ 20 %.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

N_OURS = 20000
N_SCIPY = 300
SAMPLES = 240


def make_refills(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(τ (240,), Y (n, 240), β (n,)) noisy refills."""
    from ceuskit.replenishment import refill_model

    rng = np.random.default_rng(seed)
    tau = np.arange(1, SAMPLES + 1) / 8.0
    beta = rng.uniform(0.1, 2.0, n)
    clean = refill_model(tau[None, :], rng.uniform(0.005, 0.02, (n, 1)), rng.uniform(0.05, 0.5, (n, 1)),
                         beta[:, None])
    return tau, clean * rng.gamma(25.0, 1 / 25.0, clean.shape), beta


def _model(tau: np.ndarray, b: float, a: float, beta: float) -> np.ndarray:
    return b + a * (1.0 - np.exp(-beta * tau))


def _start(tau: np.ndarray, y: np.ndarray) -> list[float]:
    b = float(y[0])
    a = float(np.median(y[-y.size // 5:])) - b
    half = int(np.argmax(y >= b + a / 2))
    return [b, max(a, 1e-6), 1.0 / max(float(tau[half]), float(tau[0]))]


def _scipy(tau: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:  # noqa: N803
    from scipy.optimize import OptimizeWarning, curve_fit

    rss, ok = np.full(Y.shape[0], np.nan), np.zeros(Y.shape[0], dtype=bool)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        for i, y in enumerate(Y):
            try:
                p, _ = curve_fit(_model, tau, y, p0=_start(tau, y), method="lm", maxfev=2000)
            except RuntimeError:
                continue
            rss[i], ok[i] = float(np.sum((y - _model(tau, *p)) ** 2)), True
    return rss, ok, time.perf_counter() - start


def _per_evaluation(tau: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Seconds per model evaluation: scipy's numpy model called from Python; our compiled cost (b, A and the
    RSS at one β) inside compiled code, on jittered frame times (a short polynomial per sample for its offset
    from the regular grid) and on a constant frame interval (one multiplication per sample)."""
    from numba import njit

    from ceuskit.replenishment import _cost

    @njit(cache=False)
    def repeat(tau: np.ndarray, y: np.ndarray, stats: np.ndarray, offsets: np.ndarray, reps: int) -> float:
        linear = np.empty(2)
        total = 0.0
        for k in range(reps):
            total += _cost(tau, y, 0.5 + 1e-6 * k, stats, offsets, linear)
        return total

    reps = 20000
    start = time.perf_counter()
    for _ in range(reps):
        _model(tau, 0.01, 0.2, 0.5)
    numpy_s = (time.perf_counter() - start) / reps
    out = []
    interval = float(tau[1] - tau[0])
    for times in (_jittered(tau), tau):
        offsets = times - (times[0] + np.arange(times.size) * (times[-1] - times[0]) / (times.size - 1))
        stats = np.array([y.sum(), float(np.sum((y - y.mean()) ** 2)), interval, float(np.abs(offsets).max())])
        repeat(times, y, stats, offsets, 10)
        start = time.perf_counter()
        repeat(times, y, stats, offsets, reps)
        out.append((time.perf_counter() - start) / reps)
    return numpy_s, out[0], out[1]


def _jittered(tau: np.ndarray) -> np.ndarray:
    """Irregular frame times: ±20 ms of jitter on each frame."""
    return tau + np.random.default_rng(1).uniform(-0.02, 0.02, tau.size)


def _best_of_three(fit: Any, tau: np.ndarray, Y: np.ndarray) -> tuple[Any, float]:  # noqa: N803
    """The fit's result and its shortest wall time of three runs, s."""
    best, result = np.inf, None
    for _ in range(3):
        start = time.perf_counter()
        result = fit(tau, Y)
        best = min(best, time.perf_counter() - start)
    return result, best


def speed() -> dict[str, Any]:
    from ceuskit.replenishment import fit_refills

    tau, Y, _ = make_refills(N_OURS)
    fit_refills(tau, Y[:4])  # compile
    ours, best = _best_of_three(fit_refills, tau, Y)
    rss_scipy, ok_scipy, scipy_s = _scipy(tau, Y[:N_SCIPY])
    both = ok_scipy & ours.success[:N_SCIPY]
    numpy_eval, ours_eval, ours_uniform_eval = _per_evaluation(tau, Y[0])
    jittered = _jittered(tau)
    jittered_fit, jittered_s = _best_of_three(fit_refills, jittered, Y)
    rss_jittered, ok_jittered, _ = _scipy(jittered, Y[:N_SCIPY])
    both_jittered = ok_jittered & jittered_fit.success[:N_SCIPY]
    ratio = (N_OURS / best) / (N_SCIPY / scipy_s)
    return {"refills_per_s_ours": round(N_OURS / best), "refills_per_s_scipy": round(N_SCIPY / scipy_s),
            "speed_ratio": round(ratio, 1), "target_speed_ratio": 50,
            "per_evaluation_us_scipy_numpy_model": round(numpy_eval * 1e6, 2),
            "per_evaluation_us_ours": round(ours_eval * 1e6, 3),
            "per_evaluation_us_ours_constant_interval": round(ours_uniform_eval * 1e6, 3),
            "speed_ratio_irregular_frame_times": round((N_OURS / jittered_s) / (N_SCIPY / scipy_s), 1),
            "rss_within_0.1pct_of_scipy": round(float(np.mean(ours.rss[:N_SCIPY][both]
                                                              <= 1.001 * rss_scipy[both] + 1e-15)), 4),
            "rss_within_0.1pct_of_scipy_irregular": round(float(np.mean(
                jittered_fit.rss[:N_SCIPY][both_jittered] <= 1.001 * rss_jittered[both_jittered] + 1e-15)), 4),
            "success_ours": round(float(ours.success.mean()), 4), "success_scipy": round(float(ok_scipy.mean()), 4)}


def accuracy(rates_hz: tuple[float, ...] = (2.0, 8.0, 35.0)) -> dict[str, Any]:
    """A and β of simulated replenishment clips against their truth, per frame rate."""
    from ceuskit.pipeline import analyze
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.cases import REPLENISHMENT

    out: dict[str, Any] = {}
    errors: dict[float, dict[str, list[float]]] = {r: {"A": [], "beta": []} for r in rates_hz}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ph in REPLENISHMENT.items():
            if ph.fps not in rates_hz:
                continue
            sim = simulate_clip(Path(tmp), ph, name=name)
            result = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, motion=False,
                             dynamic_range_db=ph.dynamic_range_db, kinetics="replenishment")
            found = result.document["replenishment"]
            for roi, cycles in sim.truth_data["refills"].items():
                for truth, got in zip(cycles, found.get(roi, []), strict=False):
                    if got["success"]:
                        errors[ph.fps]["A"].append(abs(got["blood_volume"] / truth["blood_volume"] - 1))
                        errors[ph.fps]["beta"].append(abs(got["beta_per_s"] / truth["beta_per_s"] - 1))
                    else:
                        errors[ph.fps]["A"].append(np.inf)
                        errors[ph.fps]["beta"].append(np.inf)
                missing = len(cycles) - len(found.get(roi, []))
                errors[ph.fps]["A"] += [np.inf] * max(missing, 0)
                errors[ph.fps]["beta"] += [np.inf] * max(missing, 0)
    for rate, kinds in errors.items():
        for kind, values in kinds.items():
            out[f"{kind}_error_{rate:g}hz_median_pct"] = round(100 * float(np.median(values)), 1)
            out[f"{kind}_error_{rate:g}hz_worst_pct"] = round(100 * float(np.max(values)), 1)
        out[f"refills_{rate:g}hz"] = len(kinds["A"])
    return out


def run() -> dict[str, Any]:
    return {**speed(), **accuracy()}
