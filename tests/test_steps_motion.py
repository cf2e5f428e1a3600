"""Level steps under breathing through a depth-attenuation gradient (ceuskit.steps ``motion_px``).

Breathing carries the ROIs up and down the image; with depth attenuation their echo follows the displacement
(a periodic level wobble of 1–2 dB with the cos⁴ breath's fast excursions), which is no level step. The truth
is the phantom's own: its displacement (``ceuskit.simulate.scene``), its attenuation (dB over the image's
rows) and its ``level_steps`` (none, or one gain step of known time and size).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ceuskit.pipeline import analyze
from ceuskit.preprocess.motion.result import MotionResult
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import PROPOSAL_CASES
from ceuskit.simulate.curves import contrast_curves
from ceuskit.simulate.scene import _shifts
from ceuskit.steps import find_steps
from ceuskit.tic import TicResult
from ceuskit.timeline import join

# 10 dB of depth attenuation, cos⁴ breathing of up to 10 px in depth, 150 s: 16 false steps before motion_px
PHANTOM = PROPOSAL_CASES["proposal-18-hyper-late-hypo"]


def breathing_curves(seed: int, gain_steps: tuple[tuple[float, float], ...] = ()
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lesion and liver power of the phantom, dimmed by depth attenuation as breathing moves them, plus noise."""
    ph = replace(PHANTOM, seed=seed)
    t = np.arange(0.0, ph.duration_s, 1 / ph.fps)
    liver, lesion = contrast_curves(ph, t)
    shift = _shifts(ph, t, np.random.default_rng(seed)).astype(float)
    depth_db = -ph.attenuation_db / ph.rows * shift[:, 1]
    gain_db = sum((np.where(t >= at, size, 0.0) for at, size in gain_steps), np.zeros(t.size))
    noise = np.random.default_rng([seed, 3]).lognormal(0.0, 0.08, (2, t.size))
    return t, np.vstack([lesion, liver]) * 10 ** ((depth_db + gain_db) / 10) * noise, shift


@pytest.mark.parametrize("seed", range(4))
def test_a_level_that_follows_breathing_through_depth_attenuation_is_no_step(seed):
    t, power, shift = breathing_curves(seed)
    assert PHANTOM.level_steps == ()
    assert len(find_steps(t, power)) >= 5  # the failing configuration: the wobble read as steps
    assert find_steps(t, power, motion_px=shift) == []


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("gain", [(70.0, -3.0), (55.5, 2.0), (110.0, -2.0)])
def test_a_gain_step_under_the_same_breathing_is_found_at_its_time_and_size(seed, gain):
    t, power, shift = breathing_curves(seed, (gain,))
    found = find_steps(t, power, motion_px=shift)
    assert len(found) == 1
    assert abs(found[0].index - int(np.searchsorted(t, gain[0]))) <= 1
    assert all(abs(v - gain[1]) <= 0.5 for v in found[0].step_db) and found[0].gain


def test_untracked_samples_are_left_as_they_are():
    t, power, shift = breathing_curves(0, ((70.0, -3.0),))
    untracked = shift.copy()
    untracked[t < 20.0] = np.nan  # before the contrast arrives the tracker does not run
    found = find_steps(t, power, motion_px=untracked)
    assert [round(s.time_s) for s in found] == [70]


def test_motion_must_have_one_row_per_sample():
    t, power, shift = breathing_curves(0)
    with pytest.raises(ValueError, match="motion_px"):
        find_steps(t, power, motion_px=shift[:-1])


@pytest.mark.slow
@pytest.mark.parametrize("gain", [None, (70.0, -3.0)])
def test_a_breathing_clip_with_depth_attenuation_reports_its_true_steps(tmp_path: Path, gain):
    ph = PROPOSAL_CASES["proposal-12-hyper-none-iso"]  # 10 dB attenuation, 12 px breathing: 11 false steps before
    ph = ph if gain is None else replace(ph, level_steps=(gain,))
    sim = simulate_clip(tmp_path, ph, name="steps")
    document = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s,
                       dynamic_range_db=ph.dynamic_range_db).document
    steps = document["steps"]
    assert len(steps) == len(ph.level_steps)
    frame_s = 1 / ph.fps
    for step, (at, size) in zip(steps, ph.level_steps, strict=True):
        assert abs(step["time_s"] - at) <= frame_s + 0.05  # the frame times carry the phantom's jitter
        assert all(abs(v - size) <= 0.5 for v in step["step_db"].values()) and step["gain"]


@pytest.mark.parametrize("applied", [True, False])
def test_the_timeline_carries_the_shifts_the_rois_were_measured_at(applied):
    n = 6
    shifts = np.arange(2 * n).reshape(n, 2)
    tracked = np.array([False, True, True, True, True, False])
    motion = MotionResult(shifts, np.ones(n), np.zeros(n, dtype=bool), tracked, applied, "test")
    part = TicResult(np.arange(n, dtype=float), {"lesion": np.ones(n), "liver": np.ones(n)}, motion, {},
                     {"lesion": np.zeros(n), "liver": np.zeros(n)}, {})
    timeline = join([part, TicResult(part.times_s + n, part.power, motion, {}, part.saturated, {})],
                    ["a", "b"])
    assert timeline.motion_px is not None and timeline.motion_px.shape == (2 * n, 2)
    expected = np.where(tracked[:, None] & applied, shifts, np.nan)
    np.testing.assert_array_equal(timeline.motion_px, np.vstack([expected, expected]))
    np.testing.assert_array_equal(timeline.cut(4).motion_px, expected[:4])
