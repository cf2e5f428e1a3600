"""Phase characterisation on curves built in the test from a prescribed lesion-to-liver ratio R(t).

The expected labels and times follow from DESIGN's definitions applied by hand to the prescribed R(t).
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.phases import characterise, lirads_category, relative_db

T = np.arange(0.0, 180.0, 0.25)
LIVER = 1e-5 + 0.05 * np.exp(-((np.log(np.maximum(T - 10, 1e-3)) - np.log(30)) ** 2) / 1.2) * (T > 10)


def _lesion(r_db: np.ndarray) -> np.ndarray:
    return LIVER * 10 ** (r_db / 10)


def _ratio(peak_db: float, drop_at_s: float | None, portal_db: float, late_db: float) -> np.ndarray:
    """R(t): +peak_db around 20–28 s, then portal_db from drop_at_s, then late_db from 125 s."""
    r = np.zeros_like(T)
    r[(T >= 15) & (T < 30)] = peak_db
    if drop_at_s is not None:
        r[T >= drop_at_s] = portal_db
    r[T >= 125] = late_db
    return r


@pytest.mark.parametrize(
    ("ratio", "arterial", "washout", "timing", "degree", "late", "onset_near"),
    [
        (_ratio(6, 35, -4, -4), "hyper", True, "early", "mild", "hypo", 35),
        (_ratio(6, 35, -14, -14), "hyper", True, "early", "marked", "hypo", 35),
        (_ratio(6, 75, -4, -4), "hyper", True, "late", "mild", "hypo", 75),
        (_ratio(6, None, 0, 0), "hyper", False, "none", "none", "iso", None),
        (_ratio(6, None, 0, 3), "hyper", False, "none", "none", "hyper", None),
        (_ratio(0, 90, -3, -3), "iso", True, "late", "mild", "hypo", 90),
        (_ratio(-4, 30, -4, -4), "hypo", False, "none", "none", "hypo", None),
        (_ratio(6, 35, -4, 0), "hyper", True, "early", "mild", "iso", 35),
    ],
)
def test_labels_follow_the_definitions(ratio, arterial, washout, timing, degree, late, onset_near):
    out = characterise(T, _lesion(ratio), LIVER, onset_s=12.0)
    assert out["arterial_phase"]["enhancement"] == arterial
    assert out["arterial_phase"]["onset_s"] == 12.0
    pv = out["portal_venous_phase"]
    assert (pv["washout"], pv["washout_timing"], pv["washout_degree"]) == (washout, timing, degree)
    assert out["late_phase"]["enhancement"] == late
    if onset_near is not None:
        # a step smoothed over ±0.5 s crosses −1.5 dB within half the smoothing window of the step
        assert abs(pv["washout_onset_s"] - onset_near) <= 0.5
    else:
        assert pv["washout_onset_s"] is None


def test_a_short_dip_is_not_washout_and_rejected_frames_are_skipped():
    ratio = _ratio(6, None, 0, 0)
    ratio[(T >= 50) & (T < 53)] = -4  # 3 s dip: shorter than 5 s
    out = characterise(T, _lesion(ratio), LIVER, onset_s=None)
    assert out["portal_venous_phase"]["washout"] is False
    # a wash-out whose hypo stretch is interrupted only by rejected (NaN) frames still counts
    ratio = _ratio(6, 40, -4, -4)
    lesion = _lesion(ratio)
    lesion[(T > 41) & (T < 43)] = np.nan
    out = characterise(T, lesion, LIVER, onset_s=None)
    assert out["portal_venous_phase"]["washout"] is True
    assert abs(out["portal_venous_phase"]["washout_onset_s"] - 40) <= 0.5


def test_a_lesion_holding_its_peak_while_the_liver_fills_in_reads_the_same_wherever_noise_puts_the_argmax():
    # the lesion rises from 12 s, holds its level from 16 to 24 s while the liver fills in (R falling linearly
    # from +8 to −2 dB across that plateau), then falls 3 dB/s. Bumps of 0.3 dB (below the 1 dB a reader
    # cannot see) put the argmax at 17 s or at 23 s; the label is read at the middle of the flat top (+3 dB)
    # either way, where the argmax alone would read hyper at 17 s and iso at 23 s
    t = np.arange(0.0, 60.0, 0.1)
    level_db = np.interp(t, [0.0, 12.0, 16.0, 24.0, 34.0, 60.0], [-50.0, -50.0, -20.0, -20.0, -50.0, -50.0])
    r_db = np.interp(t, [0.0, 16.0, 24.0, 60.0], [8.0, 8.0, -2.0, -2.0])
    liver = 10 ** ((level_db - r_db) / 10)
    plateau = (t >= 16.0) & (t <= 24.0)
    assert np.interp(17.0, t, r_db) >= 1.5 > np.interp(23.0, t, r_db)
    for bump_s in (17.0, 23.0):
        lesion = 10 ** ((level_db + 0.3 * np.exp(-0.5 * ((t - bump_s) / 0.5) ** 2)) / 10)
        out = characterise(t, lesion, liver, onset_s=None)["arterial_phase"]
        assert abs(out["peak_time_s"] - bump_s) <= 0.5
        # R at the middle of the top, the median R over it, from the curves built here
        assert out["relative_peak_db"] == pytest.approx(float(np.median(10 * np.log10(lesion / liver)[plateau])),
                                                        abs=0.3)
        assert out["enhancement"] == "hyper"


def test_the_peak_is_read_from_the_whole_top_of_the_curve():
    from ceuskit.phases import peak_sample

    t = np.arange(-10.0, 10.01, 0.25)
    usable, segments = np.ones(t.size, dtype=bool), np.zeros(t.size, dtype=int)

    def peak_time(level_db: np.ndarray) -> float:
        return float(t[peak_sample(t, 10 ** (level_db / 10), usable, int(np.argmax(level_db)), segments, 1.0)])

    # a rounded top, 0.04·t² dB below its crest at 0 s, under noise of 0.15 dB: the noisy maximum wanders
    # 0.7 s from the crest on average; the parabola through the top 1 dB stays within a frame or two
    rounded_db = -0.04 * t ** 2
    assert peak_time(rounded_db) == 0.0
    rng = np.random.default_rng(0)
    draws = [rounded_db + rng.normal(0.0, 0.15, t.size) for _ in range(200)]
    assert np.mean([abs(peak_time(d)) for d in draws]) <= 0.2
    assert np.mean([abs(t[np.argmax(d)]) for d in draws]) >= 0.5  # what the maximum alone does
    # a curve falling from the first frame (a recording started after the peak) peaks there
    assert peak_time(-0.2 * (t + 10.0)) == -10.0
    # a top held flat from −4 to +4 s, a bump of 0.3 dB at +2 s: the middle of the top, not the bump
    flat_db = np.where(np.abs(t) <= 4.0, 0.0, -0.5 * (np.abs(t) - 4.0)) + 0.3 * np.exp(-0.5 * ((t - 2.0) / 0.5) ** 2)
    assert abs(peak_time(flat_db)) <= 0.5
    # two humps at −5 and +5 s, the second 0.1 dB lower, a 3 dB dip between: the peak is the first hump's, not
    # a point between the two (a parabola through both tops has its vertex at the dip) …
    humps_db = np.maximum(-0.25 * (t + 5.0) ** 2, -0.1 - 0.25 * (t - 5.0) ** 2)
    humps_db = np.maximum(humps_db, -3.0)
    assert abs(peak_time(humps_db) + 5.0) <= 0.5
    # … and the first pass's top when the second hump is the higher one (by less than the top's 1 dB)
    assert abs(peak_time(humps_db[::-1]) + 5.0) <= 0.5


def test_short_clip_late_phase_not_assessed():
    keep = T < 100
    out = characterise(T[keep], _lesion(_ratio(6, 35, -4, -4))[keep], LIVER[keep], onset_s=None)
    assert out["late_phase"]["enhancement"] == "not_assessed"
    assert out["late_phase"]["relative_db"] is None


def test_relative_db_is_the_log_ratio_of_smoothed_curves():
    r = relative_db(T, _lesion(np.full_like(T, 2.0)), LIVER)
    assert np.allclose(r[np.isfinite(r)], 2.0)


@pytest.mark.parametrize(
    ("arterial", "washout", "timing", "degree", "size", "expected"),
    # CEUS LI-RADS v2017 diagnostic table (ACR): rows no wash-out / late-mild; columns no APHE <20|≥20, APHE <10|≥10
    [
        ("iso", False, "none", "none", 15, "LR-3"), ("iso", False, "none", "none", 25, "LR-3"),
        ("hyper", False, "none", "none", 8, "LR-3"), ("hyper", False, "none", "none", 12, "LR-4"),
        ("iso", True, "late", "mild", 15, "LR-3"), ("iso", True, "late", "mild", 25, "LR-4"),
        ("hyper", True, "late", "mild", 8, "LR-4"), ("hyper", True, "late", "mild", 12, "LR-5"),
        ("hyper", True, "early", "mild", 30, "LR-M"), ("hyper", True, "late", "marked", 30, "LR-M"),
    ],
)
def test_lirads_table(arterial, washout, timing, degree, size, expected):
    reading = {"arterial_phase": {"enhancement": arterial},
               "portal_venous_phase": {"washout": washout, "washout_timing": timing, "washout_degree": degree}}
    assert lirads_category(reading, size_mm=size, at_risk=True)["category"] == expected
    assert lirads_category(reading, size_mm=size, at_risk=None)["category"] is None
    assert lirads_category(reading, size_mm=size, at_risk=False)["applicable"] is False
