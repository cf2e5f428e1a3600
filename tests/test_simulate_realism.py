"""Sparse late frames, fill-in lesions and placed out-of-plane episodes, checked against their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.errors import InputError
from ceuskit.simulate import phantom_with, render_frames, truth_timing
from ceuskit.simulate.realism import roi_fill_fraction

SMALL = {"rows": 100, "columns": 128, "lesion_center_px": (64.0, 50.0), "lesion_radii_px": (16.0, 12.0)}


def test_sparse_late_frames_follow_the_dense_loop_every_few_seconds():
    ph = phantom_with(duration_s=60.0, fps=8.0, sparse_after_s=30.0, sparse_interval_s=5.0, **SMALL)
    times = render_frames(ph)["times"]
    dense, late = times[times <= 30.0], times[times > 30.0]
    assert np.allclose(np.diff(dense), 1 / 8.0, atol=1e-3)  # the loop is unchanged
    assert 5 <= late.size <= 6  # 30 s at one frame every 4.5–5.5 s
    assert np.all((np.diff(np.concatenate([[dense[-1]], late])) >= 4.5 - 1e-9)
                  & (np.diff(np.concatenate([[dense[-1]], late])) <= 5.5 + 1e-9))
    assert late[-1] <= 60.0


def test_an_episode_starts_where_it_is_placed():
    ph = phantom_with(duration_s=40.0, fps=8.0, out_of_plane_period_s=9.0, out_of_plane_duration_s=1.0,
                      out_of_plane_start_s=15.9, lead_in_s=3.0, **SMALL)
    rendered = render_frames(ph)
    t_inj = rendered["times"] - ph.lead_in_s
    out = np.zeros(t_inj.size, dtype=bool)
    out[rendered["truth"]["out_of_plane_frames"]] = True
    expected = np.mod(t_inj - 15.9, 9.0) < 1.0  # periodic, one episode beginning at 15.9 s
    np.testing.assert_array_equal(out, expected)


def test_a_fill_in_lesion_is_dark_then_full_within_its_duration():
    ph = phantom_with(duration_s=20.0, fps=20.0, fill_in_s=12.0, fill_in_duration_s=0.5, liver_arrival_s=8.0,
                      arterial_arrival_s=8.0, **{**SMALL, "lesion_radii_px": (24.0, 20.0)})
    rendered = render_frames(ph)
    t = rendered["times"]
    lesion = np.asarray(rendered["truth"]["tic_truth"]["lesion"])
    before, after = lesion[t < 12.0], lesion[t >= 12.0 + 0.5]
    # before the fill the lesion holds tissue echo only; after it, its full contrast
    np.testing.assert_allclose(before, ph.tissue_power, rtol=1e-9)
    assert after.min() > 100 * ph.tissue_power


def test_roi_fill_fraction_is_the_area_beyond_the_front():
    ph = phantom_with(fill_in_s=12.0, fill_in_duration_s=0.5)
    t = np.array([11.9, 12.0, 12.125, 12.25, 12.375, 12.5, 13.0])
    # the front reaches normalised radius ρ* = 1 − (t − 12)/0.5; inside the ROI (ρ ≤ 0.75) the filled area
    # fraction is 1 − (ρ*/0.75)² once ρ* < 0.75
    expected = [0.0, 0.0, 0.0, 1 - (0.5 / 0.75) ** 2, 1 - (0.25 / 0.75) ** 2, 1.0, 1.0]
    np.testing.assert_allclose(roi_fill_fraction(ph, t), expected)
    assert truth_timing(ph)["arrival_time_s"] >= 12.25  # arrival follows the fill, not the arterial bolus


def test_an_unset_realism_changes_nothing():
    plain = render_frames(phantom_with(duration_s=10.0, **SMALL))
    again = render_frames(phantom_with(duration_s=10.0, sparse_interval_s=3.0, fill_in_duration_s=0.3, **SMALL))
    np.testing.assert_array_equal(plain["frames"], again["frames"])


@pytest.mark.parametrize("changes", [{"sparse_interval_s": 0.0}, {"fill_in_duration_s": -1.0},
                                     {"out_of_plane_start_s": 10.0}])
def test_impossible_settings_are_refused(changes):
    with pytest.raises(InputError):
        phantom_with(**changes).check()
