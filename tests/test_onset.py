"""Arrival on measured-looking curves: backward from the peak, above a robust flat baseline (ceuskit.onset).

Expected arrivals come from the closed form of the curves built here: a gamma-variate bolus
b + A·(τ/αβ)^α·e^(α − τ/β) starting at t0. The onset (``scale="db"``) is where its dB curve has risen 5 % of the
way from 10·log10 b to its peak in dB; the arrival time (``scale="power"``, VueBox) where it has risen 5 % of
A in linear power. Both are solved here by scipy's brentq on the closed form.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from ceuskit.onset import ArrivalOptions, find_arrival, find_arrivals

T0, ALPHA, BETA, BASE, PEAK = 12.0, 4.0, 3.0, 1e-3, 0.03  # a 15 dB rise: the dB and power rules differ by 1.2 s


def _shape(tau: float | np.ndarray) -> np.ndarray:
    tau = np.clip(np.asarray(tau, dtype=float), 0.0, None)
    return (tau / (ALPHA * BETA)) ** ALPHA * np.exp(ALPHA - tau / BETA)


def _bolus(t: np.ndarray) -> np.ndarray:
    return BASE + PEAK * _shape(t - T0)


def _true_onset() -> float:
    """5 % of the rise in dB, from the closed form."""
    top = 10 * math.log10(BASE + PEAK)  # the shape's maximum is 1 at τ = αβ
    level = 10 * math.log10(BASE) + 0.05 * (top - 10 * math.log10(BASE))
    return T0 + brentq(lambda tau: 10 * math.log10(BASE + PEAK * float(_shape(tau))) - level, 1e-9, ALPHA * BETA)


def _true_power_arrival() -> float:
    """5 % of the rise in linear power, from the closed form."""
    return T0 + brentq(lambda tau: float(_shape(tau)) - 0.05, 1e-9, ALPHA * BETA)


@pytest.fixture()
def clip_times() -> np.ndarray:
    return np.arange(0.0, 60.0, 1 / 35)  # 35 Hz, as real recordings


def test_clean_curve_onset_is_the_closed_form_db_point(clip_times):
    found = find_arrival(clip_times, _bolus(clip_times), options=ArrivalOptions(smoothing_s=0.2))
    assert found.reason is None
    assert found.time_s == pytest.approx(_true_onset(), abs=0.1)
    assert found.baseline == pytest.approx(BASE, rel=1e-3)
    assert _true_power_arrival() - _true_onset() > 0.8  # the two conventions are told apart here


def test_the_power_scale_gives_vuebox_arrival(clip_times):
    found = find_arrival(clip_times, _bolus(clip_times), options=ArrivalOptions(smoothing_s=0.2, scale="power"))
    assert found.time_s == pytest.approx(_true_power_arrival(), abs=0.1)


def test_the_onset_does_not_depend_on_the_dynamic_range(clip_times):
    # one display grey curve, linearised as 30, 45 and 60 dB screens: power = 10^((g/255 − 1)·DR/10)
    grey = 255 * (1 + 10 * np.log10(_bolus(clip_times)) / 60.0)
    onsets, arrivals = [], []
    for dr in (30.0, 45.0, 60.0):
        power = 10 ** ((grey / 255 - 1) * dr / 10)
        onsets.append(find_arrival(clip_times, power).time_s)
        arrivals.append(find_arrival(clip_times, power, options=ArrivalOptions(scale="power")).time_s)
    assert max(onsets) - min(onsets) <= 0.05
    assert max(arrivals) - min(arrivals) >= 0.3  # the linear-power rule moves with the dynamic range


def test_a_transient_before_arrival_does_not_count(clip_times):
    curve = _bolus(clip_times)
    early = (clip_times > 2.0) & (clip_times < 5.0)
    curve[early] += 0.5 * PEAK  # a bright transient long before the contrast
    found = find_arrival(clip_times, curve)
    assert found.time_s == pytest.approx(_true_onset(), abs=0.5)


def test_a_short_dip_inside_the_rise_is_walked_past(clip_times):
    curve = _bolus(clip_times)
    dip = (clip_times > T0 + 3.0) & (clip_times < T0 + 4.0)  # one second out of plane during the wash-in
    curve[dip] = BASE
    found = find_arrival(clip_times, curve)
    assert found.time_s == pytest.approx(_true_onset(), abs=0.5)


@pytest.mark.parametrize(("start_s", "gain_db"), [(-1.5, 6.0), (-1.0, 3.0)])
def test_a_short_blip_that_returns_to_baseline_is_not_the_onset(clip_times, start_s, gain_db):
    # a tracked ROI crosses onto enhancing tissue for 0.4 s (+3 or +6 dB), then reads its own flat baseline again
    # for well over a second before the rise: a reader's onset is the rise's, not the blip's
    curve = _bolus(clip_times)
    blip = (clip_times >= T0 + start_s) & (clip_times < T0 + start_s + 0.4)
    curve[blip] *= 10 ** (gain_db / 10)
    assert _true_onset() - (T0 + start_s + 0.4) >= 1.9  # the case is what it says: back at baseline, then the rise
    assert find_arrival(clip_times, curve).time_s == pytest.approx(_true_onset(), abs=0.1)
    rng = np.random.default_rng(5)
    errors = [find_arrival(clip_times, curve * rng.lognormal(0.0, 0.25, clip_times.size)).time_s - _true_onset()
              for _ in range(20)]  # ~1 dB per frame
    assert max(abs(e) for e in errors) <= 1.0 and np.median(np.abs(errors)) <= 0.4


def test_a_recording_started_after_arrival_has_no_baseline(clip_times):
    late = clip_times >= T0 + 2.0  # the clip starts 2 s into the wash-in
    found = find_arrival(clip_times[late], _bolus(clip_times[late]))
    assert found.time_s is None and found.reason == "no_baseline"
    assert found.peak_time_s == pytest.approx(T0 + ALPHA * BETA, abs=0.6)


@pytest.mark.parametrize("start_s", [1 / 35, 0.3, 0.8])
def test_a_curve_rising_from_its_first_frames_has_no_baseline(clip_times, start_s):
    # a steep bolus (α = 1.5) starts in the first second: its dB curve is visibly rising from then on, there
    # is no flat stretch before the rise, so no baseline (an onset here would be the first frames' guess)
    alpha, beta = 1.5, 4.0
    tau = np.clip(clip_times - start_s, 0.0, None)
    curve = BASE + PEAK * (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta)
    rise_db = 10 * np.log10(curve / BASE)
    assert clip_times[np.argmax(rise_db >= 0.05 * rise_db.max())] < start_s + 0.5  # as built: rising at once
    for scale in ("db", "power"):
        found = find_arrival(clip_times, curve, options=ArrivalOptions(scale=scale))
        assert found.time_s is None and found.reason == "no_baseline", (start_s, scale)


def test_a_curve_climbing_steadily_from_the_start_has_no_baseline(clip_times):
    # a slow ramp in dB from the first frame (no flat stretch at all): 20 dB over 40 s, then flat
    ramp_db = -30 + 20 * np.clip(clip_times / 40.0, 0, 1)
    found = find_arrival(clip_times, 10 ** (ramp_db / 10))
    assert found.time_s is None and found.reason == "no_baseline"


def test_a_flat_baseline_of_two_seconds_is_enough(clip_times):
    t0 = 2.0
    curve = BASE + PEAK * _shape(clip_times - t0)
    found = find_arrival(clip_times, curve, options=ArrivalOptions(smoothing_s=0.2))
    assert found.reason is None
    assert found.time_s == pytest.approx(_true_onset() - T0 + t0, abs=0.1)


def test_noise_alone_is_low_enhancement(clip_times):
    rng = np.random.default_rng(0)
    noise = BASE * rng.exponential(1.0, clip_times.size)  # speckle-like noise, no contrast
    found = find_arrival(clip_times, noise)
    assert found.time_s is None and found.reason == "low_enhancement"


def test_noisy_curve_onset_is_near_the_closed_form(clip_times):
    rng = np.random.default_rng(3)
    errors = []
    for _ in range(20):
        noisy = _bolus(clip_times) * rng.lognormal(0.0, 0.25, clip_times.size)  # ~1 dB per frame
        errors.append(find_arrival(clip_times, noisy).time_s - _true_onset())
    assert max(abs(e) for e in errors) <= 1.0 and np.median(np.abs(errors)) <= 0.4


def test_rejected_frames_are_skipped(clip_times):
    curve = _bolus(clip_times)
    curve[::7] = np.nan
    found = find_arrival(clip_times, curve)
    assert found.time_s == pytest.approx(_true_onset(), abs=0.3)  # a 1-s centred window reaches ahead


def test_many_curves_at_once_equal_one_at_a_time(clip_times):
    rng = np.random.default_rng(1)
    curves = np.stack([_bolus(clip_times - shift) * rng.uniform(0.8, 1.2, clip_times.size)
                       for shift in (0.0, 2.0, -3.0)])
    batch = find_arrivals(clip_times, curves, window_s=(0.0, 45.0))
    for i, curve in enumerate(curves):
        single = find_arrival(clip_times, curve, window_s=(0.0, 45.0))
        assert batch["arrival_time_s"][i] == pytest.approx(single.time_s)
    assert np.diff(batch["arrival_time_s"]) == pytest.approx([2.0, -5.0], abs=0.3)


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="scale"):
        ArrivalOptions(scale="grey")
