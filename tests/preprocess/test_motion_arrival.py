"""Tracking through the contrast's arrival (issue 24): vessels beside the lesion lit before it.

Every expected value comes from the simulator's truth (per-frame tissue shifts, the closed-form onset, the
pattern) or, for the building blocks, from a synthetic translation whose shifts are known by construction.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from ceuskit.feed import clip_frames, display_maps
from ceuskit.io import open_clip
from ceuskit.pipeline import analyze
from ceuskit.preprocess.motion import TrackingOptions
from ceuskit.preprocess.motion.arrival import chain_backwards, unreliable_lead
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import PROPOSAL_CASES
from ceuskit.simulate.score import score_analysis
from ceuskit.simulate.score_proposals import click_frame, truth_rois
from ceuskit.tic import extract_tics

VESSEL_LEAD_S = 2.0
"""The simulator's vessels take their arterial bolus this long before the lesion's
(:func:`ceuskit.simulate.curves.vessel_curve`, ``lead_s``)."""

# CEUS only, a hyper lesion with two vessels passing 2–8 px outside it, breathing 3.5 px, 40 s: the vessels are
# the only structure in the image for the two seconds before the lesion enhances
PHANTOM = replace(PROPOSAL_CASES["proposal-07-hyper-none-hyper"], duration_s=40.0)


@pytest.fixture(scope="module")
def arrival(tmp_path_factory):
    sim = simulate_clip(tmp_path_factory.mktemp("arrival"), PHANTOM, name="vessels-first")
    truth = sim.truth_data
    rois = truth_rois(truth, click_frame(truth))
    return sim, truth, rois


def _errors(sim, truth, rois, options):
    with open_clip(sim.dicom) as clip:
        tics = extract_tics(clip_frames(clip, display_maps(clip)), rois, dynamic_range_db=PHANTOM.dynamic_range_db,
                            injection_time_s=PHANTOM.lead_in_s, tracking=options)
    true = np.asarray(truth["shifts_px"], dtype=float)
    true -= true[truth["reference_frame"]]
    t = np.asarray(truth["frame_times_s"]) - truth["injection_time_s"]
    in_plane = np.ones(t.size, dtype=bool)
    in_plane[truth["out_of_plane_frames"]] = False
    # from the vessels' arrival to two seconds after the lesion's onset
    window = (t >= PHANTOM.arterial_arrival_s - VESSEL_LEAD_S) & (t <= truth["onset_s"] + 2.0) & in_plane
    assert tics.motion.applied
    return np.hypot(*(tics.motion.shifts_px - true).T)[window & ~tics.motion.rejected]


def test_the_vessels_lighting_first_are_not_taken_for_the_lesion(arrival):
    errors = _errors(*arrival, TrackingOptions())
    assert errors.size >= 25
    assert np.median(errors) <= 1.0
    assert errors.max() <= 1.5  # one feature pixel on the diagonal: shifts are whole pixels


def test_the_phantom_still_holds_the_trap(arrival):
    # matched against templates of the lit lesion, the vessel frames lay the vessel onto the lesion
    errors = _errors(*arrival, TrackingOptions(chain_arrival=False))
    assert np.median(errors) >= 5.0


def test_the_reading_through_the_arrival_is_the_truth(arrival):
    sim, truth, rois = arrival
    analysis = analyze(sim.dicom, rois, injection_time_s=PHANTOM.lead_in_s, dynamic_range_db=PHANTOM.dynamic_range_db)
    score = score_analysis(truth, analysis.document, analysis.tic)
    assert score["labels_right"], score["label_errors"]
    assert abs(score["onset_error_s"]) <= 0.3


def test_the_lead_ends_at_the_first_frame_matched_like_those_after_it():
    t = np.arange(60) * 0.125
    q = np.r_[np.full(12, 0.6), np.full(48, 0.98)] + 0.005 * np.sin(np.arange(60))
    n_eff = np.full(60, 60.0)
    arriving = np.ones(60, dtype=bool)
    assert unreliable_lead(q, n_eff, t, arriving, window_s=6.0, reject_z=3.0) == 12
    arriving[8:] = False  # only frames whose contrast is still arriving may lead
    assert unreliable_lead(q, n_eff, t, arriving, window_s=6.0, reject_z=3.0) == 8
    steady = 0.9 + 0.02 * np.random.default_rng(3).standard_normal(60)
    assert unreliable_lead(steady, n_eff, t, np.ones(60, dtype=bool), window_s=6.0, reject_z=3.0) == 0


def test_the_chain_recovers_known_shifts_of_a_changing_image():
    # a smooth random texture translated by known sub-pixel shifts, growing brighter in one part over time
    rng = np.random.default_rng(5)
    radius, h, w, n = 6, 24, 28, 20
    scene = ndimage.gaussian_filter(rng.standard_normal((h + 2 * radius + 20, w + 2 * radius + 20)), 2.0)
    path = np.stack([2.5 * np.sin(np.arange(n) / 3.0), 1.5 * np.cos(np.arange(n) / 4.0)], axis=1)
    frames = np.empty((n, h + 2 * radius, w + 2 * radius), dtype=np.float32)
    for k in range(n):
        moved = ndimage.shift(scene, path[k], order=3, mode="nearest")[10:-10, 10:-10]
        gain = np.ones_like(moved)
        gain[:, : moved.shape[1] // 2] = 0.3 + 0.7 * k / n  # the left half lights up
        frames[k] = moved * gain
    valid = np.ones(frames.shape, dtype=bool)
    start = path.copy()
    start[:12] = 0.0  # the first 12 unknown, the rest where they are
    placed, _ = chain_backwards(frames, valid, start, 12, radius=radius, step_sigma=np.full(n, 1.5),
                                effective_area_px=12.0)
    # the tissue at shift s shows the scene's point p at p + s: the patch lies at the frame's own shift; a
    # parabola through a correlation peak is biased towards whole pixels by up to a few tenths
    assert np.abs(placed[:12] - path[:12]).max() <= 0.3
    np.testing.assert_array_equal(placed[12:], path[12:])


def _textured_frames(path, radius=6, h=24, w=28, seed=5):
    rng = np.random.default_rng(seed)
    scene = ndimage.gaussian_filter(rng.standard_normal((h + 2 * radius + 20, w + 2 * radius + 20)), 2.0)
    return np.stack([ndimage.shift(scene, p, order=3, mode="nearest")[10:-10, 10:-10] for p in path]).astype(np.float32)


def test_the_chain_holds_across_frames_that_show_nothing():
    # frames 5–8 out of plane (nothing but faint noise): the frames before them are still placed by those after
    n = 20
    path = np.stack([2.0 * np.sin(np.arange(n) / 3.0), 1.5 * np.cos(np.arange(n) / 4.0)], axis=1)
    frames = _textured_frames(path)
    frames[5:9] = 0.01 * np.random.default_rng(8).standard_normal(frames[5:9].shape)
    start = path.copy()
    start[:12] = 0.0
    placed, linked = chain_backwards(frames, np.ones(frames.shape, dtype=bool), start, 12, radius=6,
                                     step_sigma=np.full(n, 1.5), effective_area_px=12.0)
    assert not linked[5:9].any() and linked[:5].all() and linked[9:12].all()
    assert np.abs(placed[:5] - path[:5]).max() <= 0.3
    np.testing.assert_array_equal(placed[5:9], np.repeat(placed[9:10], 4, axis=0))  # held where frame 9 is


def test_the_chain_does_not_slide_along_a_straight_vessel():
    # a bright straight bar crossing the whole image, moving across itself only: along it nothing tells the
    # position, and the chain keeps what the frame after says
    radius, h, w, n = 6, 24, 28, 16
    rows = np.arange(h + 2 * radius)[:, None] + np.zeros((1, w + 2 * radius))
    across = np.stack([1.5 * np.sin(np.arange(n) / 2.5), np.zeros(n)], axis=1)  # (row, column): the bar is a row
    frames = np.stack([np.exp(-0.5 * ((rows - 18.0 - p[0]) / 1.5) ** 2) for p in across]).astype(np.float32)
    frames += 0.02 * np.random.default_rng(9).standard_normal(frames.shape).astype(np.float32)
    start = across.copy()
    start[:10] = 0.0
    placed, _ = chain_backwards(frames, np.ones(frames.shape, dtype=bool), start, 10, radius=radius,
                                step_sigma=np.full(n, 1.5), effective_area_px=12.0)
    # across the bar: measured (a parabola through the log-likelihood of a smooth bar's peak errs by a few tenths)
    assert np.abs(placed[:10, 0] - across[:10, 0]).max() <= 0.4
    assert np.abs(placed[:10, 1]).max() <= 0.5  # along it: held
