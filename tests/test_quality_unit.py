"""Unit tests of :mod:`ceuskit.quality`: every flag at, just inside and just outside its threshold.

The codes, their keys and the thresholds are DESIGN's (analysis.json ``quality``) and the module's documented
constants; each case is built so that the expected answer follows from them by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit import quality
from ceuskit.quality import (
    CODES,
    DISAGREEMENT_MIN_S,
    DISAGREEMENT_RISE_SHARE,
    MOTION_MIN_QUALITY,
    MOTION_REJECTED_FRACTION,
    POOR_FIT_R2,
    SATURATION_FRACTION,
    SATURATION_WINDOW_S,
    Flag,
)

DESIGN_CODES = {"no_baseline", "saturation", "poor_fit", "motion", "late_phase_missing", "low_enhancement",
                "overlay_in_roi", "extrapolated", "gap", "flash", "destruction", "step", "onset_disagreement"}


def _one(flags: list[Flag], code: str, roi: str | None, severity: str) -> str:
    assert len(flags) == 1, flags
    assert (flags[0].code, flags[0].roi, flags[0].severity) == (code, roi, severity)
    assert flags[0].code in CODES
    assert flags[0].message and "\n" not in flags[0].message
    return flags[0].message


def test_every_design_code_is_known_and_a_flag_has_designs_keys():
    assert DESIGN_CODES <= set(CODES)
    assert len(set(CODES)) == len(CODES)
    assert Flag("gap", "lesion", "warning", "m").to_json() == {"code": "gap", "roi": "lesion", "severity": "warning",
                                                                "message": "m"}
    assert Flag("motion", None, "warning", "m").to_json()["roi"] is None


def test_the_documented_thresholds():
    # DESIGN and the module docstrings: 2 % saturated within 2 s of the peak, R² 0.8, 20 % rejected, 0.3 match
    assert (SATURATION_FRACTION, SATURATION_WINDOW_S, POOR_FIT_R2) == (0.02, 2.0, 0.8)
    assert (MOTION_REJECTED_FRACTION, MOTION_MIN_QUALITY) == (0.2, 0.3)
    assert (DISAGREEMENT_MIN_S, DISAGREEMENT_RISE_SHARE) == (3.0, 0.25)


# --- arrival_flags ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("reason", "words"), [
    ("no_baseline", "no pre-contrast baseline"),
    ("no_data", "no frame could be measured"),
    ("gap", "frames are missing over the wash-in"),
    ("low_enhancement", "never rises clearly above its baseline (0.7 dB)"),
])
def test_arrival_flags_say_why_the_onset_is_empty(reason, words):
    message = _one(quality.arrival_flags("lesion", reason, 0.74), reason, "lesion", "warning")
    assert words in message


def test_low_enhancement_without_a_finite_rise_gives_no_number():
    message = _one(quality.arrival_flags("liver", "low_enhancement", float("nan")), "low_enhancement", "liver",
                   "warning")
    assert "dB" not in message and "nan" not in message


@pytest.mark.parametrize("reason", [None, "ok", ""])
def test_a_found_arrival_is_not_flagged(reason):
    assert quality.arrival_flags("lesion", reason, 12.0) == []


# --- saturation_flags ------------------------------------------------------------------------------------------

T = np.arange(0.0, 30.0, 0.5)


def test_saturation_at_two_percent_around_the_peak_is_flagged():
    at = np.full(T.size, SATURATION_FRACTION)
    below = np.full(T.size, 0.019)
    flags = quality.saturation_flags(T, {"lesion": at, "liver": below}, {"lesion": 10.0, "liver": 10.0})
    message = _one(flags, "saturation", "lesion", "warning")
    assert message.startswith("2.0 % of the ROI's pixels are at the display maximum")


def test_saturation_counts_only_frames_within_the_window_of_the_peak():
    fraction = np.zeros(T.size)
    fraction[np.abs(T - 20.0) <= SATURATION_WINDOW_S] = 0.5  # saturated around 20 s only
    assert quality.saturation_flags(T, {"lesion": fraction}, {"lesion": 10.0}) == []
    message = _one(quality.saturation_flags(T, {"lesion": fraction}, {"lesion": 20.0}), "saturation", "lesion",
                   "warning")
    assert message.startswith("50.0 %")
    # no peak: the mean over the whole clip, 9 of 60 frames at 50 %
    whole = quality.saturation_flags(T, {"lesion": fraction}, {"lesion": None})
    assert _one(whole, "saturation", "lesion", "warning").startswith(f"{100 * 0.5 * 9 / 60:.1f} %")


def test_saturation_skips_unmeasured_frames_and_rois_without_any():
    fraction = np.full(T.size, np.nan)
    assert quality.saturation_flags(T, {"lesion": fraction}, {}) == []
    fraction[T == 10.0] = 0.03
    assert len(quality.saturation_flags(T, {"lesion": fraction}, {"lesion": 10.0})) == 1


# --- fit_flags -------------------------------------------------------------------------------------------------

def test_fit_flags_for_failed_and_poor_fits():
    names = ["a", "b", "c", "d"]
    r2 = np.array([0.95, POOR_FIT_R2, 0.79, np.nan])
    success = np.array([True, True, True, False])
    flags = quality.fit_flags(names, r2, success, ["ok", "ok", "ok", "too few samples"])
    assert [(f.code, f.roi) for f in flags] == [("poor_fit", "c"), ("poor_fit", "d")]
    assert "R² 0.79" in flags[0].message and "prefer the model-free parameters" in flags[0].message
    assert "no bolus fit (too few samples)" in flags[1].message


def test_a_successful_fit_with_undefined_r2_is_flagged():
    flags = quality.fit_flags(["a"], np.array([np.nan]), np.array([True]), ["ok"])
    assert "R² nan" in _one(flags, "poor_fit", "a", "warning")


def test_fit_flags_need_one_entry_per_roi():
    with pytest.raises(ValueError):
        quality.fit_flags(["a", "b"], np.array([0.9]), np.array([True]), ["ok"])


# --- motion_flag -----------------------------------------------------------------------------------------------

def _motion(n_rejected: int, match: float, n: int = 20, applied: bool = True):
    tracked = np.ones(n, dtype=bool)
    rejected = np.zeros(n, dtype=bool)
    rejected[:n_rejected] = True
    return quality.motion_flag(tracked, rejected, np.full(n, match), applied)


def test_motion_is_flagged_above_a_fifth_of_frames_rejected():
    assert _motion(4, 0.9) == []  # 20 %: not more than the limit
    assert _one(_motion(5, 0.9), "motion", None, "warning").startswith("25 % of the tracked frames were rejected")


def test_motion_is_flagged_for_poor_matches():
    assert _motion(0, MOTION_MIN_QUALITY) == []
    assert "median correlation 0.29" in _one(_motion(0, 0.29), "motion", None, "warning")
    assert "median correlation nan" in _one(_motion(0, float("nan")), "motion", None, "warning")


def test_motion_not_applied_or_never_tracked_is_not_flagged():
    assert _motion(10, 0.0, applied=False) == []
    n = 10
    assert quality.motion_flag(np.zeros(n, bool), np.ones(n, bool), np.zeros(n), True) == []


def test_motion_counts_only_tracked_frames():
    tracked = np.array([False] * 10 + [True] * 10)
    rejected = np.array([True] * 10 + [False] * 10)  # the untracked frames do not count
    assert quality.motion_flag(tracked, rejected, np.full(20, 0.9), True) == []


# --- late_phase_flag, overlay_flags, display_flag, flash_flag, extrapolated_flag -------------------------------

def test_late_phase_flag_says_whether_the_recording_ended_before_or_inside_it():
    before = _one(quality.late_phase_flag("lesion", 100.0, 120.0, 3.0), "late_phase_missing", "lesion", "info")
    assert before == ("the recording ends 100 s after injection, before the late phase (120 s): "
                      "late enhancement not assessed")
    inside = _one(quality.late_phase_flag("lesion", 121.5, 120.0, 3.0), "late_phase_missing", "lesion", "info")
    assert inside.startswith("less than 3 s of the late phase (from 120 s) was observed")


def test_overlay_flags_count_the_pixels_of_each_touched_roi():
    flags = quality.overlay_flags({"lesion": 7, "liver": 0})
    assert _one(flags, "overlay_in_roi", "lesion", "warning").startswith("7 burned-in overlay pixel(s)")


def test_display_flag_only_with_a_note():
    assert quality.display_flag("") == []
    assert _one(quality.display_flag("colour map unknown"), "display", None, "warning") == "colour map unknown"


def test_flash_flag():
    assert quality.flash_flag("lesion", 0) == [] and quality.flash_flag("lesion", -1) == []
    assert _one(quality.flash_flag("lesion", 3), "flash", "lesion", "info").startswith("3 single-frame flash(es)")


def test_extrapolated_flag_names_the_parameters_sorted_by_kind():
    assert quality.extrapolated_flag("lesion", [], []) == []
    message = _one(quality.extrapolated_flag("lesion", ["wash_out_auc", "fall_time_s"], ["arrival_time_s"]),
                   "extrapolated", "lesion", "warning")
    assert message.endswith("fitted: fall_time_s, wash_out_auc; model-free: arrival_time_s")
    only_free = quality.extrapolated_flag("lesion", iter(()), iter(["fall_time_s"]))
    assert _one(only_free, "extrapolated", "lesion", "warning").endswith(": model-free: fall_time_s")


# --- onset_disagreement_flag -----------------------------------------------------------------------------------

def test_disagreement_allows_three_seconds_for_a_quick_rise():
    # onset 10 s, peak 14 s: a quarter of the rise is 1 s, so 3 s are allowed around the 5 % point (12 s)
    assert quality.onset_disagreement_flag("lesion", 10.0, 14.9, 12.0, 14.0) == []
    message = _one(quality.onset_disagreement_flag("lesion", 10.0, 15.1, 12.0, 14.0), "onset_disagreement",
                   "lesion", "warning")
    assert "fitted arrival (15.1 s) lies +5.1 s from the onset read on the curve (10.0 s)" in message
    assert "+3.1 s from where the curve's own rise puts it (allowed ±3.0 s)" in message


def test_disagreement_allows_a_quarter_of_a_slow_rise():
    # onset 10 s, peak 50 s: a quarter of 40 s is 10 s
    assert quality.onset_disagreement_flag("lesion", 10.0, 21.9, 12.0, 50.0) == []
    assert len(quality.onset_disagreement_flag("lesion", 10.0, 22.1, 12.0, 50.0)) == 1


def test_disagreement_without_the_curves_own_point_measures_from_the_onset():
    assert quality.onset_disagreement_flag("lesion", 10.0, 12.9, None, None) == []
    assert len(quality.onset_disagreement_flag("lesion", 10.0, 13.1, float("nan"), float("nan"))) == 1


def test_a_fitted_arrival_too_far_before_the_onset_is_flagged():
    # within 3 s of the curve's own point (6 s) but more than 3 s before the onset (10 s)
    flags = quality.onset_disagreement_flag("lesion", 10.0, 6.5, 6.0, 12.0)
    assert "lies -3.5 s from the onset" in _one(flags, "onset_disagreement", "lesion", "warning")


@pytest.mark.parametrize(("onset_s", "fitted_s"), [(None, 40.0), (10.0, None), (float("nan"), 40.0),
                                                   (10.0, float("nan"))])
def test_no_disagreement_without_both_times(onset_s, fitted_s):
    assert quality.onset_disagreement_flag("lesion", onset_s, fitted_s, 12.0, 14.0) == []
