"""Slow arterial rises on phantom clips: onsets and arrival maps against the simulator's truth.

The phantoms are ceuskit.simulate.cases.SLOW_RISES (times to peak 25–35 s over bright pre-contrast tissue).
Their truth onset is where the noiseless ROI curve, in dB, has risen 5 % of its way from the pre-contrast
level to its arterial peak (ceuskit.simulate.curves.truth_timing), from the phantom's parameters alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.feed import clip_frames
from ceuskit.io import open_clip
from ceuskit.io.rois import load_rois
from ceuskit.maps import parametric_maps
from ceuskit.pipeline import analyze
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import SLOW_RISES
from ceuskit.simulate.score import score_analysis

pytestmark = pytest.mark.slow

RANGES_DB = (30.0, 60.0)


@pytest.fixture(scope="module")
def readings(tmp_path_factory):
    root = tmp_path_factory.mktemp("slow-rises")
    out = {}
    for name, ph in SLOW_RISES.items():
        sim = simulate_clip(root, ph, name=name)
        runs = {dr: analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, dynamic_range_db=dr)
                for dr in RANGES_DB}
        out[name] = (ph, sim, runs)
    return out


def test_the_cases_are_slow_rises(readings):
    for _ph, sim, _ in readings.values():
        assert 20.0 <= sim.truth_data["lesion_peak_time_s"] <= 35.0
        assert sim.truth_data["arrival_time_s"] - sim.truth_data["onset_s"] >= 0.8  # the conventions differ


def test_onsets_of_slow_rises_match_the_truth(readings):
    errors = []
    for _ph, sim, runs in readings.values():
        for analysis in runs.values():
            errors.append(analysis.document["lesions"][0]["arterial_phase"]["onset_s"] - sim.truth_data["onset_s"])
    assert max(abs(e) for e in errors) <= 1.0
    assert np.median(np.abs(errors)) <= 0.4


def test_onsets_of_slow_rises_do_not_move_with_the_dynamic_range(readings):
    for name, (_ph, _sim, runs) in readings.items():
        onsets = [a.document["lesions"][0]["arterial_phase"]["onset_s"] for a in runs.values()]
        assert max(onsets) - min(onsets) <= 0.2, (name, onsets)


def test_slow_rises_are_read_right(readings):
    for name, (ph, sim, runs) in readings.items():
        analysis = runs[60.0 if ph.dynamic_range_db == 60.0 else 30.0]
        if ph.dynamic_range_db != 60.0:
            analysis = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, dynamic_range_db=ph.dynamic_range_db)
        score = score_analysis(sim.truth_data, analysis.document, analysis.tic)
        assert score["labels_right"], (name, score["label_errors"])
        assert not {f["code"] for f in analysis.document["quality"]} & {"onset_disagreement", "no_baseline"}


@pytest.mark.parametrize("name", list(SLOW_RISES))
def test_the_arrival_map_follows_the_onset(readings, name):
    ph, sim, _ = readings[name]
    truth = sim.truth_data
    medians = {}
    with open_clip(sim.dicom) as clip:
        rois = load_rois(sim.roi, pixel_spacing_mm=clip.pixel_spacing_mm)
        masks = rois.masks(clip.rows, clip.columns)
        for dr in RANGES_DB:
            maps = parametric_maps(clip_frames(clip), rois, block_px=4, injection_time_s=ph.lead_in_s, dynamic_range_db=dr)
            medians[dr] = {roi: float(np.nanmedian(maps["arrival_time_s"][masks[roi]])) for roi in ("lesion", "liver")}
    for dr in RANGES_DB:
        assert abs(medians[dr]["lesion"] - truth["onset_s"]) <= 1.0, (dr, medians)
        assert abs(medians[dr]["liver"] - truth["liver_onset_s"]) <= 1.0, (dr, medians)
    for roi in ("lesion", "liver"):
        assert abs(medians[30.0][roi] - medians[60.0][roi]) <= 0.2, medians
