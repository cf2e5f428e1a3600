"""Unit tests of :mod:`ceuskit.timeseries`: injection time, rounding, smoothing, spikes and interruptions.

Expected values come from the definitions written out in the test (a window mean or median computed sample
by sample with NumPy, a spike placed by hand in a curve of known noise), never from the function itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from ceuskit.errors import CeusError, InputError
from ceuskit.timeseries import (
    MAX_INJECTION_LEAD_S,
    check_injection_time,
    interruptions,
    moving_average,
    round_or_none,
    running_median,
    spikes,
)

IRREGULAR_S = np.array([0.0, 0.1, 0.15, 0.6, 0.65, 0.7, 1.4, 2.9, 3.0, 3.05, 4.5, 4.6])


def _window_reduce(times_s, values, window_s, reduce):
    """The definition sample by sample: ``reduce`` of the finite samples within t ± window_s/2 (NaN if none)."""
    out = np.full(times_s.size, np.nan)
    for k, t in enumerate(times_s):
        inside = (times_s >= t - window_s / 2) & (times_s <= t + window_s / 2) & np.isfinite(values)
        if inside.any():
            out[k] = reduce(values[inside])
    return out


def _noisy_level(times_s, level_db=-20.0, noise_db=0.3, seed=0):
    rng = np.random.default_rng(seed)
    return 10.0 ** ((level_db + noise_db * rng.standard_normal(times_s.size)) / 10.0)


# --- check_injection_time --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, 5.5, -MAX_INJECTION_LEAD_S, 29.99])
def test_an_injection_within_the_allowed_span_is_returned_as_float(value):
    out = check_injection_time(value, 30.0)
    assert out == value and isinstance(out, float)


@pytest.mark.parametrize("value", [30.0, 45.0, -MAX_INJECTION_LEAD_S - 0.1, math.nan, math.inf])
def test_an_injection_outside_the_recording_is_an_input_error(value):
    with pytest.raises(InputError, match=r"injection time .* must be before the recording's end \(30\.0 s") as info:
        check_injection_time(value, 30.0)
    assert isinstance(info.value, CeusError)
    assert "3600 s before its first frame" in str(info.value) and "\n" not in str(info.value)


# --- round_or_none ---------------------------------------------------------------------------------------------

def test_round_or_none():
    assert round_or_none(1.234567) == 1.2346
    assert round_or_none(1.234567, 2) == 1.23
    assert round_or_none(np.float32(2.5), 1) == 2.5 and type(round_or_none(np.float32(2.5))) is float
    assert round_or_none(None) is None
    assert round_or_none(math.nan) is None and round_or_none(math.inf) is None and round_or_none(-math.inf) is None


# --- moving_average --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("window_s", [0.05, 0.5, 1.0, 3.0])
def test_moving_average_is_the_mean_of_each_time_window(window_s):
    values = np.sin(IRREGULAR_S) + IRREGULAR_S
    values[[3, 9]] = np.nan
    expected = _window_reduce(IRREGULAR_S, values, window_s, np.mean)
    assert moving_average(IRREGULAR_S, values, window_s) == pytest.approx(expected, nan_ok=True)


def test_moving_average_of_a_line_on_a_regular_grid_is_the_line_inside():
    t = np.arange(0.0, 10.0, 0.25)
    out = moving_average(t, 3.0 * t + 1.0, 1.0)  # a symmetric window keeps a line where it is whole
    inside = (t >= 0.5) & (t <= 9.25)
    assert out[inside] == pytest.approx(3.0 * t[inside] + 1.0)
    assert out[0] == pytest.approx(3.0 * 0.25 + 1.0)  # the first window holds 0, 0.25, 0.5 only


def test_moving_average_rows_are_independent_and_the_shape_is_kept():
    values = np.vstack([np.arange(12.0), np.full(12, np.nan), np.where(np.arange(12) % 2, 1.0, np.nan)])
    out = moving_average(IRREGULAR_S, values, 0.6)
    assert out.shape == values.shape
    assert out[0] == pytest.approx(_window_reduce(IRREGULAR_S, values[0], 0.6, np.mean))
    assert np.isnan(out[1]).all()  # no finite sample anywhere
    assert out[2] == pytest.approx(_window_reduce(IRREGULAR_S, values[2], 0.6, np.mean), nan_ok=True)


def test_moving_average_edges():
    assert moving_average(np.array([]), np.array([]), 1.0).shape == (0,)
    assert moving_average(np.array([4.0]), np.array([7.0]), 1.0) == pytest.approx([7.0])
    assert np.isnan(moving_average(np.array([4.0]), np.array([np.nan]), 1.0)).all()


# --- running_median --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("window_s", [0.05, 0.5, 1.0, 3.0])
def test_running_median_is_the_median_of_each_time_window(window_s):
    values = np.cos(3 * IRREGULAR_S) * 10
    values[[0, 5]] = np.nan
    expected = _window_reduce(IRREGULAR_S, values, window_s, np.median)
    assert running_median(IRREGULAR_S, values, window_s) == pytest.approx(expected, nan_ok=True)


def test_running_median_ignores_one_outlier_the_mean_follows():
    t = np.arange(11.0)
    values = np.ones(11)
    values[5] = 100.0
    assert running_median(t, values, 3.0) == pytest.approx(np.ones(11))
    assert moving_average(t, values, 3.0)[5] == pytest.approx(34.0)  # (1 + 100 + 1) / 3


def test_running_median_edges():
    assert running_median(np.array([]), np.array([]), 1.0).shape == (0,)
    assert running_median(np.array([2.0]), np.array([5.0]), 1.0) == pytest.approx([5.0])
    assert np.isnan(running_median(np.arange(3.0), np.full(3, np.nan), 1.0)).all()


# --- spikes ----------------------------------------------------------------------------------------------------

T_10HZ = np.arange(0.0, 20.0, 0.1)


@pytest.mark.parametrize("jump_db", [10.0, -10.0])
def test_a_one_frame_flash_or_dropout_is_a_spike(jump_db):
    values = _noisy_level(T_10HZ)
    values[100] *= 10 ** (jump_db / 10)
    assert np.flatnonzero(spikes(T_10HZ, values)).tolist() == [100]


def test_runs_of_up_to_max_samples_are_spikes_longer_ones_are_the_curve():
    two, three = _noisy_level(T_10HZ), _noisy_level(T_10HZ)
    two[100:102] *= 10.0
    three[100:103] *= 10.0
    assert np.flatnonzero(spikes(T_10HZ, two)).tolist() == [100, 101]
    assert not spikes(T_10HZ, three).any()
    assert np.flatnonzero(spikes(T_10HZ, three, max_samples=3)).tolist() == [100, 101, 102]


def test_max_run_s_measures_a_run_in_seconds():
    values = _noisy_level(T_10HZ)
    values[100:105] *= 10.0  # five frames over 0.4 s
    flagged = spikes(T_10HZ, values, window_s=2.0, max_run_s=0.5)
    assert np.flatnonzero(flagged).tolist() == [100, 101, 102, 103, 104]
    assert not spikes(T_10HZ, values, window_s=2.0, max_run_s=0.3).any()


def test_a_jump_smaller_than_min_db_is_no_spike_however_quiet_the_curve():
    values = _noisy_level(T_10HZ, noise_db=0.01)
    values[100] *= 10 ** (2.5 / 10)  # 250 noise SDs, but 2.5 dB
    assert not spikes(T_10HZ, values).any()
    assert np.flatnonzero(spikes(T_10HZ, values, min_db=2.0)).tolist() == [100]


def test_missing_samples_are_never_spikes_and_do_not_hide_one():
    values = _noisy_level(T_10HZ)
    values[[50, 51, 99, 120]] = np.nan
    values[100] *= 10.0
    assert np.flatnonzero(spikes(T_10HZ, values)).tolist() == [100]


def test_spikes_are_found_per_row_and_per_segment():
    values = np.vstack([_noisy_level(T_10HZ, seed=1), _noisy_level(T_10HZ, seed=2)])
    values[0, 30] *= 10.0
    values[1, 150] *= 10.0
    values[1, 197] *= 10.0  # in a last clip of 4 samples: too few to judge
    segments = np.zeros(T_10HZ.size, dtype=int)
    segments[-4:] = 1
    flagged = spikes(T_10HZ, values, segments=segments)
    assert flagged.shape == values.shape
    assert np.flatnonzero(flagged[0]).tolist() == [30]
    assert np.flatnonzero(flagged[1]).tolist() == [150]


def test_spikes_edges():
    assert spikes(np.array([]), np.array([])).shape == (0,)
    assert not spikes(np.arange(4.0), np.array([1.0, 1.0, 100.0, 1.0])).any()  # fewer than 5 samples
    assert spikes(np.array([0.0]), np.array([[1.0], [2.0]])).shape == (2, 1)


# --- interruptions ---------------------------------------------------------------------------------------------

T_5HZ = np.arange(0.0, 30.0, 0.2)


def test_a_second_at_another_level_is_an_interruption_in_every_row():
    clean, interrupted = _noisy_level(T_5HZ, seed=3), _noisy_level(T_5HZ, seed=4)
    run = (T_5HZ >= 10.0 - 1e-9) & (T_5HZ <= 11.0 + 1e-9)  # six frames, 10 dB down
    interrupted[run] /= 10.0
    out = interruptions(T_5HZ, np.vstack([clean, interrupted]))
    assert out.shape == T_5HZ.shape
    assert np.flatnonzero(out).tolist() == np.flatnonzero(run).tolist()
    assert np.flatnonzero(interruptions(T_5HZ, interrupted)).tolist() == np.flatnonzero(run).tolist()
    assert not interruptions(T_5HZ, clean).any()


def test_a_run_at_the_start_a_short_run_or_a_lasting_step_is_no_interruption():
    start, short, step = (_noisy_level(T_5HZ, seed=s) for s in (5, 6, 7))
    start[:6] /= 10.0  # begins the recording: no course before it to come back to
    short[50:52] /= 10.0  # two frames: left to spikes
    step[75:] *= 10.0  # stays
    for values in (start, short, step):
        assert not interruptions(T_5HZ, values).any()


def test_interruptions_edges():
    assert interruptions(np.array([]), np.array([])).shape == (0,)
    t = np.arange(5.0)
    assert not interruptions(t, np.array([1.0, 0.1, 0.1, 0.1, 1.0])).any()  # fewer than 2·min_samples
