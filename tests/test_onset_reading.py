"""The onset as a reader sees it, through the whole reading, on curves with a known truth.

The curves come from ceuskit.simulate.curve_cases: closed forms with noise, their truth (the noiseless curve's
5 % point in dB, VueBox's 5 % point in linear power, whether a flat baseline precedes the contrast) computed
from the construction alone. They are replayed as clips (ceuskit.simulate.replay) and read at the dynamic
ranges a user might give.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.pipeline import analyze
from ceuskit.quality import onset_disagreement_flag
from ceuskit.simulate.curve_cases import CURVE_CASES, curve_case
from ceuskit.simulate.replay import replay_curves

RANGES_DB = (30.0, 45.0, 60.0)
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def readings(tmp_path_factory):
    root = tmp_path_factory.mktemp("curve-cases")
    out = {}
    for name in CURVE_CASES:
        for seed in SEEDS:
            case = curve_case(name, seed=seed)
            clip, roi = replay_curves(root / f"{name}-{seed}", case.times_s, case.power, dynamic_range_db=60.0)
            out[name, seed] = (case, {dr: analyze(clip, roi, dynamic_range_db=dr, motion=False).document
                                      for dr in RANGES_DB})
    return out


def _onset(document):
    return document["lesions"][0]["arterial_phase"]["onset_s"]


def _codes(document, roi="lesion"):
    return {flag["code"] for flag in document["quality"] if flag["roi"] == roi}


def test_onsets_lie_where_the_noiseless_db_curve_rose_five_percent(readings):
    errors = []
    for (_name, _seed), (case, documents) in readings.items():
        truth = case.truth["onset_s"]["lesion"]
        if truth is None:
            continue
        for document in documents.values():
            errors.append(_onset(document) - truth)
    assert len(errors) == len(RANGES_DB) * len(SEEDS) * (len(CURVE_CASES) - 1)
    assert max(abs(e) for e in errors) <= 1.0
    assert np.median(np.abs(errors)) <= 0.4


def test_the_onset_does_not_move_with_the_dynamic_range(readings):
    for (name, seed), (_case, documents) in readings.items():
        onsets = [_onset(d) for d in documents.values()]
        if None in onsets:
            assert onsets == [None] * len(onsets), (name, seed)
            continue
        assert max(onsets) - min(onsets) <= 0.2, (name, seed, onsets)


def test_a_real_like_slow_curve_has_its_onset_where_it_leaves_its_baseline(readings):
    # grey 35 → 97 on a 60 dB screen, visibly rising from about 15 s, peak at 34 s, 35 Hz noise
    for seed in SEEDS:
        case, documents = readings["real-like-slow", seed]
        assert 14.0 <= case.truth["onset_s"]["lesion"] <= 18.0  # as built
        for document in documents.values():
            assert 14.0 <= _onset(document) <= 18.0
            fitted = document["rois"]["lesion"]["parameters"]["arrival_time_s"]
            assert fitted > _onset(document) + 2.0  # VueBox's 5 % in linear power lies seconds later
        arrivals = [d["rois"]["lesion"]["parameters_model_free"]["arrival_time_s"] for d in documents.values()]
        assert arrivals == sorted(arrivals) and arrivals[-1] - arrivals[0] >= 1.5  # and moves with the range


def test_a_curve_rising_from_its_first_frames_has_no_baseline(readings):
    for seed in SEEDS:
        case, documents = readings["rising-from-start", seed]
        assert case.truth["baseline_observed"]["lesion"] is False  # as built: contrast from 0.3 s
        for document in documents.values():
            arterial = document["lesions"][0]["arterial_phase"]
            assert arterial["onset_s"] is None and arterial["onset_reason"] == "no_baseline"
            assert "no_baseline" in _codes(document)


def test_a_fit_that_misses_the_wash_in_is_flagged_with_the_difference(readings):
    for seed in SEEDS:
        case, documents = readings["two-supplies", seed]
        for document in documents.values():
            flags = [f for f in document["quality"] if f["code"] == "onset_disagreement"]
            assert [f["roi"] for f in flags] == ["lesion"]
            fitted = document["rois"]["lesion"]["parameters"]["arrival_time_s"]
            onset = _onset(document)
            assert fitted - onset > 8.0  # the fit followed the main bolus (arriving at 14 s), not the first supply
            assert f"{fitted - onset:+.1f} s" in flags[0]["message"]


def test_fits_that_describe_the_wash_in_are_not_flagged(readings):
    for (name, seed), (_case, documents) in readings.items():
        if name == "two-supplies":
            continue
        for document in documents.values():
            assert "onset_disagreement" not in _codes(document), (name, seed)


@pytest.mark.parametrize(("onset", "fitted", "free", "peak", "flagged"), [
    (12.0, 12.8, 12.5, 18.0, False),  # a sharp rise: within 3 s of the curve's own 5 % point
    (12.0, 16.0, 12.5, 18.0, True),  # 3.5 s after it on a 6-s rise
    (15.0, 22.0, 20.0, 34.0, False),  # a slow rise: its linear 5 % point lies 5 s after the onset
    (2.7, 13.7, 2.9, 20.0, True),  # the diaphragm curve: 11 s apart
    (12.0, 7.0, None, 18.0, True),  # a fitted arrival 5 s before the onset
    (None, 13.0, 12.0, 18.0, False),  # no onset: nothing to compare
])
def test_the_disagreement_rule(onset, fitted, free, peak, flagged):
    flags = onset_disagreement_flag("lesion", onset, fitted, free, peak)
    assert bool(flags) is flagged
    if flags:
        assert flags[0].code == "onset_disagreement" and f"{fitted - onset:+.1f} s" in flags[0].message
