"""Breathing periodicity: the period of a track, and the prior one period away."""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.preprocess.motion.breathing import add_periodic_prior, breathing_period


def _breathing(times_s: np.ndarray, period_s: float, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) a cos⁴-like breathing track with 10 % period jitter and 0.5 px noise."""
    phase = 2 * np.pi * np.cumsum(np.diff(times_s, prepend=times_s[0]) / (period_s * rng.uniform(0.9, 1.1)))
    rows = amplitude * np.cos(phase / 2) ** 4 + rng.normal(0, 0.5, times_s.size)
    return np.stack([rows, 0.3 * rows], axis=1)


@pytest.mark.parametrize("period_s", [3.0, 4.5, 6.0])
def test_the_period_of_a_breathing_track_is_its_generating_period(period_s):
    rng = np.random.default_rng(0)
    times = np.arange(0, 90, 0.125)
    track = _breathing(times, period_s, 7.0, rng)
    confident = rng.random(times.size) > 0.2  # a fifth of the frames could not be placed
    assert breathing_period(times, track, confident) == pytest.approx(period_s, abs=0.3)


def test_no_period_without_breathing():
    rng = np.random.default_rng(1)
    times = np.arange(0, 90, 0.125)
    still = rng.normal(0, 0.5, (times.size, 2))
    assert breathing_period(times, still, np.ones(times.size, dtype=bool)) is None
    assert breathing_period(times[:10], still[:10], np.ones(10, dtype=bool)) is None  # too few frames


def test_a_silent_stretch_gets_a_prior_at_the_position_one_period_away():
    rng = np.random.default_rng(2)
    period, radius = 4.0, 10
    times = np.arange(0, 60, 0.125)
    track = np.stack([6.0 * np.sin(2 * np.pi * times / period), np.zeros(times.size)], axis=1)
    confident = np.ones(times.size, dtype=bool)
    silent = (times >= 30) & (times < 32)  # half a breath that the image could not place
    confident[silent] = False
    guessed = track.copy()
    guessed[silent] = 0.0  # what a speed prior alone would draw across it
    ll = np.zeros((times.size, 2 * radius + 1, 2 * radius + 1), dtype=np.float32)
    assert add_periodic_prior(ll, times, guessed + rng.normal(0, 0.1, guessed.shape), confident, radius,
                              2.5) == pytest.approx(period, abs=0.2)
    for k in np.flatnonzero(silent):
        row, column = np.unravel_index(np.argmax(ll[k]), ll[k].shape)
        assert abs(row - radius - track[k, 0]) <= 1.0 and column == radius  # the true position, to a pixel


def test_nothing_is_added_to_a_track_that_does_not_repeat():
    times = np.arange(0, 60, 0.125)
    ll = np.zeros((times.size, 9, 9), dtype=np.float32)
    drift = np.stack([np.linspace(-3, 3, times.size), np.zeros(times.size)], axis=1)
    assert add_periodic_prior(ll, times, drift, np.ones(times.size, dtype=bool), 4, 2.5) is None
    assert not ll.any()
