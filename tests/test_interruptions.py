"""Running medians, spikes and interruptions on irregular times, against brute force and built curves."""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.timeseries import interruptions, running_median, spikes


def _curve(t: np.ndarray) -> np.ndarray:
    """A gamma-variate bolus (α = 2, β = 4 s, arrival 10 s) above a floor, linear power."""
    tau = np.clip(t - 10.0, 0.0, None)
    return 1e-4 + (tau / 8.0) ** 2 * np.exp(2.0 - tau / 4.0)


def _noisy(t: np.ndarray, seed: int = 0, sd_db: float = 0.3) -> np.ndarray:
    return _curve(t) * 10 ** (np.random.default_rng(seed).normal(0.0, sd_db, t.size) / 10)


def test_running_median_equals_the_median_of_each_time_window():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.05, 2.0, 200))
    y = rng.normal(size=200)
    y[rng.random(200) < 0.1] = np.nan
    got = running_median(t, y, 3.0)
    for k in range(200):
        window = y[(t >= t[k] - 1.5) & (t <= t[k] + 1.5)]
        window = window[np.isfinite(window)]
        assert got[k] == (np.median(window) if window.size else pytest.approx(np.nan, nan_ok=True))


def test_a_one_frame_flash_is_a_spike_and_the_bolus_is_not():
    t = np.arange(0.0, 60.0, 0.125)
    y = _noisy(t)
    y[200] *= 30.0
    found = spikes(t, y)
    assert found[200] and found.sum() == 1


def test_a_second_out_of_the_curve_is_an_interruption():
    t = np.arange(0.0, 60.0, 0.125)
    y = _noisy(t, seed=2)
    run = (t >= 16.0) & (t < 17.0)  # eight frames at a tenth of the level, on the bolus's rise to its peak
    y[run] *= 0.1
    found = interruptions(t, np.vstack([y, _noisy(t, seed=3)]))
    np.testing.assert_array_equal(found, run)


@pytest.mark.parametrize("duration_s", [0.5, 1.0, 2.0])
def test_interruptions_up_to_two_seconds_upwards_too(duration_s):
    t = np.arange(0.0, 80.0, 0.125)
    y = _noisy(t, seed=4)
    run = (t >= 40.0) & (t < 40.0 + duration_s)
    y[run] *= 8.0  # a hypo lesion read at liver level
    np.testing.assert_array_equal(interruptions(t, y), run)


def test_longer_excursions_steps_and_destructions_are_not_interruptions():
    t = np.arange(0.0, 90.0, 0.125)
    longer = _noisy(t, seed=5)
    longer[(t >= 40.0) & (t < 44.0)] *= 0.1  # four seconds: not a short interruption
    step = _noisy(t, seed=6)
    step[t >= 40.0] *= 0.5  # a gain step that stays
    destroyed = _noisy(t, seed=7)
    flash = (t >= 40.0) & (t < 40.5)
    destroyed[flash] *= 10.0  # a burst, then the level falls far below and refills over seconds
    after = t >= 40.5
    destroyed[after] *= 1.0 - 0.95 * np.exp(-(t[after] - 40.5) / 6.0)
    for curve in (longer, step, destroyed):
        assert not interruptions(t, curve).any()


def test_a_dip_the_contrast_s_arrival_ends_is_not_an_interruption():
    # three frames 5 dB below a still baseline (a vessel's glow breathing out of the outline), then the contrast
    # arrives, 10 dB up within a frame: the curve does not resume where it was
    t = np.arange(0.0, 60.0, 0.125)
    y = _noisy(t, seed=9) + np.where(t >= 10.0, 1e-3, 0.0)
    dip = (t >= 9.625) & (t < 10.0)
    y[dip] *= 10 ** (-5.0 / 10)
    assert not interruptions(t, y).any()
    y[t >= 10.0] = _noisy(t, seed=9)[t >= 10.0]  # the same dip, the baseline resuming after it
    np.testing.assert_array_equal(interruptions(t, y), dip)


def test_sparse_frames_are_never_interruptions():
    t = np.concatenate([np.arange(0.0, 100.0, 0.125), np.arange(105.0, 150.0, 5.0)])
    y = _noisy(t, seed=8)
    assert not interruptions(t, y).any()
    assert not spikes(t, y).any()
