"""Real-world conditions, read against the simulator's ground truth (ceuskit.simulate.cases).

Every expected value comes from the phantom: its pattern labels, its closed-form arrival time, its per-frame
tissue shifts and noiseless TICs, its out-of-plane frames, whether its recording holds a pre-contrast
baseline, its saturated and overlay pixels. Nothing is compared with another ceuskit output.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.pipeline import analyze
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import REAL_WORLD
from ceuskit.simulate.score import score_analysis

pytestmark = pytest.mark.slow

MOVING = [name for name, ph in REAL_WORLD.items() if max(ph.breathing_amplitude_px) >= 6]
BREATHING = [name for name, ph in REAL_WORLD.items() if max(ph.breathing_amplitude_px) > 0]
OUT_OF_PLANE = [name for name, ph in REAL_WORLD.items() if ph.out_of_plane_period_s > 0]
FILL_IN = [name for name, ph in REAL_WORLD.items() if ph.fill_in_s > 0]
FEATURE_RICH = ["ceus-breathing-10px", "ceus-breathing-15px", "ceus-breathing-8px-hypo", "dual-breathing-14px"]
"""Lesions that stay distinct from the liver through the clip (no long iso stretch): out-of-plane frames can be
told from in-plane ones there."""


@pytest.fixture(scope="module")
def readings(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-world")
    out = {}
    for name, ph in REAL_WORLD.items():
        sim = simulate_clip(root, ph, name=name)
        runs = {}
        for motion in (True, False) if name in MOVING + FILL_IN else (True,):
            analysis = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, motion=motion,
                               dynamic_range_db=ph.dynamic_range_db)
            runs[motion] = (analysis, score_analysis(sim.truth_data, analysis.document, analysis.tic))
        out[name] = (sim.truth_data, runs)
    return out


def _flagged(document, code):
    return {flag["roi"] for flag in document["quality"] if flag["code"] == code}


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_every_label_is_read_right(readings, name):
    _, runs = readings[name]
    score = runs[True][1]
    assert score["labels_right"], score["label_errors"]


def test_onsets_where_a_baseline_exists(readings):
    errors = [runs[True][1]["onset_error_s"] for truth, runs in readings.values() if truth["baseline_observed"]]
    assert None not in errors
    assert max(abs(e) for e in errors) <= 1.0
    assert np.median(np.abs(errors)) <= 0.4


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_no_baseline_is_flagged_exactly_when_the_recording_lacks_one(readings, name):
    truth, runs = readings[name]
    document = runs[True][0].document
    lesion = document["lesions"][0]["arterial_phase"]
    if truth["baseline_observed"]:
        assert "lesion" not in _flagged(document, "no_baseline")
        assert lesion["onset_s"] is not None
    else:
        assert "lesion" in _flagged(document, "no_baseline")
        assert lesion["onset_s"] is None and lesion["onset_reason"] == "no_baseline"


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_saturation_is_flagged_exactly_where_the_truth_clips(readings, name):
    truth, runs = readings[name]
    expected = {roi for roi, fraction in truth["saturated_fraction"].items() if fraction >= 0.02}
    assert _flagged(runs[True][0].document, "saturation") == expected


def test_a_saturated_lesion_is_flagged(readings):
    truth, runs = readings["saturated"]
    assert truth["saturated_fraction"]["lesion"] >= 0.1  # the case is what it says
    assert "lesion" in _flagged(runs[True][0].document, "saturation")


def test_a_saturated_lesion_keeps_its_contrast_to_the_liver(readings):
    # The gain clips a fifth of both ROIs' pixels at white around the peak; read as censored speckle, the
    # arterial lesion-to-liver contrast stays within 0.5 dB of the noiseless truth (plain means: −0.8 dB).
    truth, runs = readings["saturated"]
    assert min(truth["saturated_fraction"].values()) >= 0.1
    assert abs(runs[True][1]["relative_peak_error_db"]) <= 0.5


def test_overlays_touching_an_roi_are_flagged_and_left_out(readings):
    truth, runs = readings["burned-in-timer"]
    document = runs[True][0].document
    assert _flagged(document, "overlay_in_roi") == {roi for roi, n in truth["overlay_in_roi"].items() if n > 0}
    assert document["clip"]["overlay_pixels"] >= truth["overlay_pixels"] * 0.95
    assert runs[True][1]["tic_error_db"] <= 0.45  # the marker on the lesion does not enter its TIC


@pytest.mark.parametrize("name", MOVING)
def test_tracking_stays_inside_the_breathing_envelope(readings, name):
    truth, runs = readings[name]
    shifts = np.asarray(truth["shifts_px"], dtype=float)
    envelope = np.hypot(*(shifts - shifts[truth["reference_frame"]]).T).max()
    assert runs[True][0].document["motion"]["max_shift_px"] <= 1.25 * envelope + 2.0


@pytest.mark.parametrize("name", [name for name in MOVING if name != "saturated"])  # clipping is not motion's
def test_tracked_tics_are_closer_to_the_truth(readings, name):
    _, runs = readings[name]
    tracked, still = runs[True][1], runs[False][1]
    assert runs[True][0].document["motion"]["applied"]
    assert tracked["tic_error_db"] <= 0.45
    assert tracked["tic_error_db"] < still["tic_error_db"]
    if name != "late-start":  # its ROIs are drawn at the end of the arterial phase, on a faint lesion: every
        # shift is measured from that frame's own uncertain position (its figure is in make bench)
        assert tracked["shift_error_px"]["median"] <= 3.5
    assert tracked["shift_error_px"]["p95"] < still["shift_error_px"]["p95"]


@pytest.mark.parametrize("name", FEATURE_RICH)
def test_out_of_plane_frames_are_rejected(readings, name):
    truth, runs = readings[name]
    analysis, score = runs[True]
    n_out = len(truth["out_of_plane_frames"])
    assert score["out_of_plane_kept"] <= 0.1 * n_out
    assert score["shift_error_px"]["p95"] <= 8.0
    out_of_plane = np.zeros(len(truth["frame_times_s"]), dtype=bool)
    out_of_plane[truth["out_of_plane_frames"]] = True
    in_plane_rejected = int((np.asarray(analysis.tic["rejected"], dtype=bool) & ~out_of_plane).sum())
    assert in_plane_rejected <= 0.05 * (~out_of_plane).sum()


def test_a_still_clip_is_left_still(readings):
    _, runs = readings["ceus-still-iso"]
    assert runs[True][0].document["motion"]["applied"] is False


def test_out_of_plane_frames_are_rejected_on_a_still_probe_too(tmp_path):
    from dataclasses import replace

    phantom = replace(REAL_WORLD["ceus-still-iso"], pattern="hyper-early-hypo", out_of_plane_period_s=9.0)
    sim = simulate_clip(tmp_path, phantom, name="still")
    analysis = analyze(sim.dicom, sim.roi, injection_time_s=phantom.lead_in_s,
                       dynamic_range_db=phantom.dynamic_range_db)
    score = score_analysis(sim.truth_data, analysis.document, analysis.tic)
    assert analysis.document["motion"]["applied"] is False  # nothing moves: the ROIs stay still …
    # … and out of plane stays out (but during the wash-in, where faint frames are never rejected)
    assert score["out_of_plane_kept"] <= 0.15 * len(sim.truth_data["out_of_plane_frames"])
    assert score["tic_error_db"] <= 0.45


@pytest.mark.parametrize("name", BREATHING)
def test_applied_shifts_never_exceed_the_tissue_s_own_displacement(readings, name):
    # issue 19: within the largest true displacement from the reference frame + 2 px
    _, runs = readings[name]
    score = runs[True][1]
    assert score["max_shift_px"] <= score["true_max_shift_px"] + 2.0


@pytest.mark.parametrize("name", OUT_OF_PLANE)
def test_out_of_plane_seconds_leave_the_arterial_contrast_right(readings, name):
    # one of them falls on the lesion's arterial peak (the ceus/dual-peak-out-of-plane cases): left in, the
    # lesion reads at liver level there, 20 dB below its neighbours
    truth, runs = readings[name]
    if name.startswith(("ceus-peak", "dual-peak")):
        t = np.asarray(truth["frame_times_s"]) - truth["injection_time_s"]
        out = np.asarray(truth["out_of_plane_frames"])
        assert np.any(np.abs(t[out] - truth["lesion_peak_time_s"]) <= 0.5)  # the case is what it says
    assert abs(runs[True][1]["relative_peak_error_db"]) <= 1.0


def test_sparse_late_frames_are_kept_and_read(readings):
    truth, runs = readings["sparse-late-frames"]
    score = runs[True][1]
    assert score["sparse_in_plane"] >= 7  # the case holds a sparse late tail, one frame every ~5 s
    assert score["sparse_kept"] == score["sparse_in_plane"]
    late = runs[True][0].document["lesions"][0]["late_phase"]
    assert late["enhancement"] == truth["pattern"]["late"]


@pytest.mark.parametrize("name", FILL_IN)
def test_a_lesion_filling_in_does_not_move_the_rois(readings, name):
    # the lesion turns from dark to bright within half a second; the tissue does not move with it
    truth, runs = readings[name]
    score = runs[True][1]
    if max(REAL_WORLD[name].breathing_amplitude_px) == 0:
        assert score["max_shift_px"] <= 2.0
    else:
        assert score["shift_error_px"]["median"] <= 3.0
        assert score["max_shift_px"] <= score["true_max_shift_px"] + 2.0
    assert score["tic_error_db"] <= 0.5
    assert score["labels_right"], score["label_errors"]


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_nothing_is_rejected_in_plane_where_tracking_is_not_applied(readings, name):
    _, runs = readings[name]
    analysis, score = runs[True]
    if not analysis.document["motion"]["applied"]:
        assert score["in_plane_rejected"] == 0


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_no_destruction_and_no_level_step_where_the_recording_has_none(readings, name):
    _, runs = readings[name]
    for analysis, _ in runs.values():
        assert analysis.document["destructions"] == [] and analysis.document["steps"] == []
        assert not {"destruction", "step"} & {flag["code"] for flag in analysis.document["quality"]}


def _smoothed_db(t, power, window_s=1.0):
    from ceuskit.timeseries import moving_average

    with np.errstate(divide="ignore", invalid="ignore"):
        return 10 * np.log10(moving_average(t, power, window_s))


@pytest.mark.parametrize("name", list(REAL_WORLD))
def test_fits_drawn_in_db_do_not_contradict_the_data(readings, name):
    # issue 18/21: a fit drawn in dB lies within 3 dB of the data wherever it is drawn, its pre-arrival level
    # within 3 dB of the measured baseline (the frames before the truth's onset), never past the last frame
    truth, runs = readings[name]
    analysis = runs[True][0]
    t = np.asarray(analysis.tic["time_s"], dtype=float)
    for roi in ("lesion", "liver"):
        drawn = np.asarray(analysis.fitted[roi], dtype=float)
        assert drawn.shape == t.shape
        power = np.asarray(analysis.tic[f"{roi}_power"], dtype=float)
        data_db = _smoothed_db(t, power)
        shown = np.isfinite(drawn)
        # compared as a reader sees both, smoothed alike over 1 s, away from the drawn stretches' ends
        inside = np.array([shown[np.abs(t - x) <= 0.5].all() for x in t]) & np.isfinite(power)
        drawn_db = _smoothed_db(t, np.where(np.isfinite(power), drawn, np.nan))
        assert np.all(np.abs(drawn_db[inside] - data_db[inside]) <= 3.0 + 1e-6), roi
        if roi == "lesion" and truth["baseline_observed"] and shown.any():
            before = shown & (t < truth["onset_s"] - 1.0) & (t > t[0] + 1.0)
            if before.any():
                baseline_db = float(np.nanmedian(data_db[t < truth["onset_s"] - 1.0]))
                assert np.all(np.abs(10 * np.log10(drawn[before]) - baseline_db) <= 3.0), roi


def test_the_late_start_fit_does_not_dive_below_its_tail(readings):
    # issue 21: the lesion's fit dove to −55 dB at 92 s where the data sit near −42 dB (R² 0.98 in power)
    _, runs = readings["late-start"]
    analysis = runs[True][0]
    t = np.asarray(analysis.tic["time_s"], dtype=float)
    drawn = np.asarray(analysis.fitted["lesion"], dtype=float)
    data_db = _smoothed_db(t, np.asarray(analysis.tic["lesion_power"], dtype=float))
    late = (t > 80.0) & np.isfinite(data_db)
    assert late.sum() > 100
    with np.errstate(divide="ignore", invalid="ignore"):
        gap_db = data_db[late] - 10 * np.log10(drawn[late])
    assert not np.any(gap_db > 3.0 + 1.5)  # drawn nowhere far below the data (NaN: not drawn)
    assert np.isfinite(drawn[(t > 20.0) & (t < 40.0)]).mean() > 0.5  # the wash-out it describes is drawn
