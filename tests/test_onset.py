"""Arrival on measured-looking curves: backward from the peak, above a robust baseline (ceuskit.onset).

Expected arrivals come from the closed form of the curves built here: a gamma-variate bolus
A·τ^α·e^(−τ/β) starting at t0 reaches 5 % of its peak where (τ/αβ)^α·e^(α − τ/β) = 0.05, solved by scipy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from ceuskit.onset import ArrivalOptions, find_arrival, find_arrivals

T0, ALPHA, BETA, BASE, PEAK = 12.0, 2.0, 3.0, 1e-4, 0.1


def _bolus(t: np.ndarray) -> np.ndarray:
    tau = np.clip(t - T0, 0.0, None)
    shape = (tau / (ALPHA * BETA)) ** ALPHA * np.exp(ALPHA - tau / BETA)
    return BASE + PEAK * shape


def _true_arrival() -> float:
    def excess(tau: float) -> float:
        return (tau / (ALPHA * BETA)) ** ALPHA * np.exp(ALPHA - tau / BETA) - 0.05

    return T0 + brentq(excess, 1e-6, ALPHA * BETA)


@pytest.fixture()
def clip_times() -> np.ndarray:
    return np.arange(0.0, 60.0, 1 / 35)  # 35 Hz, as real recordings


def test_clean_curve_arrives_at_the_closed_form_time(clip_times):
    found = find_arrival(clip_times, _bolus(clip_times), options=ArrivalOptions(smoothing_s=0.2))
    assert found.reason is None
    assert found.time_s == pytest.approx(_true_arrival(), abs=0.15)
    assert found.baseline == pytest.approx(BASE, rel=1e-3)


def test_a_transient_before_arrival_does_not_count(clip_times):
    curve = _bolus(clip_times)
    early = (clip_times > 2.0) & (clip_times < 5.0)
    curve[early] += 0.5 * PEAK  # a bright transient long before the contrast
    found = find_arrival(clip_times, curve)
    assert found.time_s == pytest.approx(_true_arrival(), abs=0.5)


def test_a_short_dip_inside_the_rise_is_walked_past(clip_times):
    curve = _bolus(clip_times)
    dip = (clip_times > T0 + 3.0) & (clip_times < T0 + 4.0)  # one second out of plane during the wash-in
    curve[dip] = BASE
    found = find_arrival(clip_times, curve)
    assert found.time_s == pytest.approx(_true_arrival(), abs=0.5)


def test_a_recording_started_after_arrival_has_no_baseline(clip_times):
    late = clip_times >= T0 + 2.0  # the clip starts 2 s into the wash-in
    found = find_arrival(clip_times[late], _bolus(clip_times[late]))
    assert found.time_s is None and found.reason == "no_baseline"
    assert found.peak_time_s == pytest.approx(T0 + ALPHA * BETA, abs=0.6)


def test_noise_alone_is_low_enhancement(clip_times):
    rng = np.random.default_rng(0)
    noise = BASE * rng.exponential(1.0, clip_times.size)  # speckle-like noise, no contrast
    found = find_arrival(clip_times, noise)
    assert found.time_s is None and found.reason == "low_enhancement"


def test_rejected_frames_are_skipped(clip_times):
    curve = _bolus(clip_times)
    curve[::7] = np.nan
    found = find_arrival(clip_times, curve)
    assert found.time_s == pytest.approx(_true_arrival(), abs=0.2)


def test_many_curves_at_once_equal_one_at_a_time(clip_times):
    rng = np.random.default_rng(1)
    curves = np.stack([_bolus(clip_times - shift) * rng.uniform(0.8, 1.2, clip_times.size)
                       for shift in (0.0, 2.0, -3.0)])
    batch = find_arrivals(clip_times, curves, window_s=(0.0, 45.0))
    for i, curve in enumerate(curves):
        single = find_arrival(clip_times, curve, window_s=(0.0, 45.0))
        assert batch["arrival_time_s"][i] == pytest.approx(single.time_s)
    assert np.diff(batch["arrival_time_s"]) == pytest.approx([2.0, -5.0], abs=0.3)
