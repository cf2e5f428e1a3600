"""Unit tests of the characterisation (:mod:`ceuskit.characterisation`): lesion vs liver per phase, labels, contrast.

The curves are built by hand. The liver is a noise-free gamma variate (DESIGN "Bolus models") on a baseline,
and the lesion is the liver times a chosen lesion-to-liver contrast ``R(t)`` that is constant piece by piece,
so DESIGN's R(t) = 10·log10(L/P) is known at every time: each phase's label and contrast follow from
DESIGN "Phases and characterisation" (±1.5 dB, wash-out ≥ 5 s, early < 60 s, marked ≤ −10 dB before 120 s,
late ≥ 120 s by the median), and the liver's fitted peak time from the gamma variate's closed form t0 + α·β.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special

from ceuskit.characterisation import Reading, read_timeline
from ceuskit.errors import CeusError, InputError
from ceuskit.phases import PhaseOptions
from ceuskit.roi import parse_rois
from ceuskit.timeline import Timeline

ROIS = parse_rois({"reference_frame": 0, "units": "px", "rois": [
    {"name": "lesion", "role": "lesion", "shape": "rectangle", "box": [0, 0, 4, 4], "reference": "liver"},
    {"name": "liver", "role": "parenchyma", "shape": "rectangle", "box": [5, 0, 9, 4]}]})
AREAS = {"lesion": (16, 2.3456), "liver": (25, None)}
T0_S, ALPHA, BETA_S, AMPLITUDE, BASELINE = 8.0, 2.0, 6.0, 10.0, 1e-3
RATE_HZ = 2.0
SMOOTHING_S = PhaseOptions().smoothing_s


def liver_power(t: np.ndarray) -> np.ndarray:
    """DESIGN's gamma variate: b + A·τ^α·e^(−τ/β) / (β^(α+1)·Γ(α+1)), zero for τ ≤ 0."""
    tau = np.clip(np.asarray(t, dtype=float) - T0_S, 0.0, None)
    return BASELINE + AMPLITUDE * tau ** ALPHA * np.exp(-tau / BETA_S) / (BETA_S ** (ALPHA + 1) * math.gamma(ALPHA + 1))


def contrast_db(t: np.ndarray, pieces: list[tuple[float, float]]) -> np.ndarray:
    """R(t): ``pieces`` = [(from_s, dB), …] in time order, the first from the start."""
    out = np.full(np.shape(t), pieces[0][1])
    for start_s, value_db in pieces[1:]:
        out[t >= start_s] = value_db
    return out


def _times(start_s: float, end_s: float) -> np.ndarray:
    return np.round(np.arange(start_s, end_s + 1e-9, 1.0 / RATE_HZ), 6)


def _timeline(t: np.ndarray, pieces: list[tuple[float, float]], segment: np.ndarray | None = None) -> Timeline:
    liver = liver_power(t)
    lesion = liver * 10 ** (contrast_db(t, pieces) / 10)
    power = np.vstack([lesion, liver])
    segment = np.zeros(t.size, dtype=int) if segment is None else segment
    return Timeline(t, ("lesion", "liver"), power, np.zeros_like(power), segment, power)


def _read(timeline: Timeline, **options: object) -> Reading:
    options = {"model": "gamma", "phases": PhaseOptions(), "areas": AREAS, **options}
    return read_timeline(timeline, ROIS, **options)  # type: ignore[arg-type]


def _lesion(reading: Reading) -> dict:
    assert len(reading.lesions) == 1
    lesion = reading.lesions[0]
    assert (lesion["roi"], lesion["reference"]) == ("lesion", "liver")
    return lesion


def _codes(reading: Reading) -> set[tuple[str, str | None]]:
    return {(f.code, f.roi) for f in reading.flags}


DB_6 = 10 * math.log10(4.0)  # a lesion four times as bright as the liver
LIVER_PEAK_S = T0_S + ALPHA * BETA_S  # 20 s: the gamma variate's mode


@pytest.fixture(scope="module")
def early_washout() -> Reading:
    # hyper (+6 dB) through the arterial phase, then −6 dB from 50 s to the end at 150 s
    return _read(_timeline(_times(0.0, 150.0), [(0.0, DB_6), (50.0, -DB_6)]))


def test_hyper_then_early_mild_washout_then_late_hypo(early_washout):
    lesion = _lesion(early_washout)
    arterial, portal, late = lesion["arterial_phase"], lesion["portal_venous_phase"], lesion["late_phase"]
    assert arterial["enhancement"] == "hyper"
    assert arterial["relative_peak_db"] == pytest.approx(DB_6, abs=1e-3)
    assert arterial["peak_time_s"] == pytest.approx(LIVER_PEAK_S)  # L ∝ P there: the same peak
    assert portal["washout"] is True
    # the first time the ~1 s smoothed R is ≤ −1.5 dB: within half a window after the step at 50 s
    assert 50.0 <= portal["washout_onset_s"] <= 50.0 + SMOOTHING_S / 2
    assert (portal["washout_timing"], portal["washout_degree"]) == ("early", "mild")
    assert late == {"enhancement": "hypo", "relative_db": pytest.approx(-DB_6, abs=1e-3)}
    assert lesion["pattern"] == "arterial hyper, early mild wash-out, late hypo"


def test_relative_db_is_the_lesion_to_liver_contrast_away_from_the_step(early_washout):
    t = _times(0.0, 150.0)
    relative = early_washout.relative_db["lesion"]
    assert relative.shape == t.shape
    away = np.abs(t - 50.0) > SMOOTHING_S
    assert relative[away] == pytest.approx(contrast_db(t, [(0.0, DB_6), (50.0, -DB_6)])[away], abs=1e-6)


def test_the_onset_is_where_the_lesions_db_curve_has_risen_five_percent(early_washout):
    # DESIGN: onset on the lesion's curve in dB, 5 % of the way from its flat baseline to its arterial peak
    lesion_db = lambda t: 10 * math.log10(4.0 * float(liver_power(np.array([t]))[0]))  # noqa: E731
    base_db, peak_db = lesion_db(0.0), lesion_db(LIVER_PEAK_S)
    expected = optimize.brentq(lambda t: lesion_db(t) - (base_db + 0.05 * (peak_db - base_db)), T0_S + 1e-6,
                               LIVER_PEAK_S)
    arterial = _lesion(early_washout)["arterial_phase"]
    assert arterial["onset_s"] == pytest.approx(expected, abs=1.0 / RATE_HZ)
    assert (arterial["onset_source"], arterial["onset_reason"]) == ("model_free", None)


def test_the_livers_gamma_fit_recovers_the_closed_form_times(early_washout):
    liver = early_washout.rois["liver"]
    assert liver["fit"]["model"] == "gamma" and liver["fit"]["success"] and liver["fit"]["r2"] > 0.999
    # DESIGN "Parameters": TTP = argmax f = t0 + α·β; AT = first t with f ≥ 5 % of PE
    shape = lambda tau: tau ** ALPHA * math.exp(-tau / BETA_S)  # noqa: E731
    arrival = T0_S + optimize.brentq(lambda tau: shape(tau) - 0.05 * shape(ALPHA * BETA_S), 1e-9, ALPHA * BETA_S)
    parameters = liver["parameters"]
    assert parameters["time_to_peak_s"] == pytest.approx(LIVER_PEAK_S, abs=0.1)
    assert parameters["arrival_time_s"] == pytest.approx(arrival, abs=0.1)
    peak = AMPLITUDE * shape(ALPHA * BETA_S) / (BETA_S ** (ALPHA + 1) * special.gamma(ALPHA + 1))
    assert parameters["peak_enhancement"] == pytest.approx(peak, rel=1e-3)
    assert liver["fit"]["params"]["t0"] == pytest.approx(T0_S, abs=0.05)


def test_the_roi_documents_carry_role_area_and_frame_counts(early_washout):
    t = _times(0.0, 150.0)
    rois = early_washout.rois
    assert (rois["lesion"]["role"], rois["liver"]["role"]) == ("lesion", "parenchyma")
    assert (rois["lesion"]["area_px"], rois["lesion"]["area_mm2"]) == (16, 2.35)
    assert (rois["liver"]["area_px"], rois["liver"]["area_mm2"]) == (25, None)
    assert rois["lesion"]["valid_frames"] == rois["liver"]["valid_frames"] == t.size
    assert rois["lesion"]["spikes"] == rois["liver"]["spikes"] == 0
    assert early_washout.fitted["liver"].shape == t.shape
    assert _codes(early_washout).isdisjoint({("poor_fit", "liver"), ("late_phase_missing", "lesion")})


@pytest.mark.parametrize(("pieces", "expected"), [
    ([(0.0, 0.0)], ("iso", False, "none", "none", "iso", "arterial iso, no wash-out, late iso")),
    ([(0.0, -3.0)], ("hypo", False, "none", "none", "hypo", "arterial hypo, no wash-out, late hypo")),
    ([(0.0, 1.4)], ("iso", False, "none", "none", "iso", "arterial iso, no wash-out, late iso")),
    ([(0.0, 1.6)], ("hyper", False, "none", "none", "hyper", "arterial hyper, no wash-out, late hyper")),
    ([(0.0, DB_6), (70.0, -12.0)], ("hyper", True, "late", "marked", "hypo",
                                    "arterial hyper, late marked wash-out, late hypo")),
    ([(0.0, DB_6), (50.0, -3.0), (53.0, 0.0)], ("hyper", False, "none", "none", "iso",  # hypo 3 s only
                                                "arterial hyper, no wash-out, late iso")),
    ([(0.0, 0.0), (40.0, -3.0)], ("iso", True, "early", "mild", "hypo", "arterial iso, early mild wash-out, late hypo")),
])
def test_phase_labels_follow_designs_thresholds(pieces, expected):
    lesion = _lesion(_read(_timeline(_times(0.0, 130.0), pieces)))
    got = (lesion["arterial_phase"]["enhancement"], lesion["portal_venous_phase"]["washout"],
           lesion["portal_venous_phase"]["washout_timing"], lesion["portal_venous_phase"]["washout_degree"],
           lesion["late_phase"]["enhancement"], lesion["pattern"])
    assert got == expected
    arterial_db = contrast_db(np.array([LIVER_PEAK_S]), pieces)[0]
    assert lesion["arterial_phase"]["relative_peak_db"] == pytest.approx(arterial_db, abs=1e-3)


def test_a_recording_ending_before_120_s_leaves_the_late_phase_unassessed_and_says_so():
    reading = _read(_timeline(_times(0.0, 100.0), [(0.0, DB_6)]))
    assert _lesion(reading)["late_phase"] == {"enhancement": "not_assessed", "relative_db": None}
    flag = next(f for f in reading.flags if f.code == "late_phase_missing")
    assert (flag.roi, flag.severity) == ("lesion", "info")
    assert flag.message == ("the recording ends 100 s after injection, before the late phase (120 s): "
                            "late enhancement not assessed")


def test_a_recording_that_starts_during_the_rise_has_no_onset():
    reading = _read(_timeline(_times(14.0, 130.0), [(0.0, DB_6)]))
    arterial = _lesion(reading)["arterial_phase"]
    assert arterial["onset_s"] is None and arterial["onset_reason"] == "no_baseline"
    assert ("no_baseline", "lesion") in _codes(reading)
    assert arterial["enhancement"] == "hyper"  # the contrast is still read


def test_a_one_frame_flash_is_counted_and_decides_nothing():
    t = _times(0.0, 130.0)
    timeline = _timeline(t, [(0.0, DB_6)])
    flashed = timeline.power.copy()
    flashed[:, t == 30.0] *= 30.0  # every ROI at once, as a flash does
    reading = _read(Timeline(t, timeline.names, flashed, timeline.saturated, timeline.segment, flashed))
    assert reading.rois["liver"]["spikes"] == reading.rois["lesion"]["spikes"] == 1
    assert {("flash", "lesion"), ("flash", "liver")} <= _codes(reading)
    assert _lesion(reading)["arterial_phase"]["peak_time_s"] == pytest.approx(LIVER_PEAK_S)
    assert reading.rois["liver"]["parameters"]["time_to_peak_s"] == pytest.approx(LIVER_PEAK_S, abs=0.1)


def test_fits_are_drawn_only_where_they_meet_the_data_as_shown_flash_included():
    # the flash is left out of the fit but stays in the TIC table and on the screen: within ±0.5 s of it the
    # 1-s mean of what a reader sees lies ~9 dB above the fit (three samples a window at 2 Hz, one 30× bright),
    # so the fit is not drawn there; elsewhere it is, within 3 dB of that mean (both means plain numpy here)
    t = _times(0.0, 130.0)
    timeline = _timeline(t, [(0.0, DB_6)])
    flashed = timeline.power.copy()
    flashed[:, t == 30.0] *= 30.0
    reading = _read(Timeline(t, timeline.names, flashed, timeline.saturated, timeline.segment, flashed))
    windows = np.abs(t[:, None] - t[None, :]) <= SMOOTHING_S / 2
    for i, name in enumerate(timeline.names):
        drawn = reading.fitted[name]
        shown = np.isfinite(drawn)
        inside = np.array([shown[w].all() for w in windows])
        data_db = 10 * np.log10(windows @ flashed[i] / windows.sum(axis=1))
        drawn_db = 10 * np.log10(np.array([drawn[w].mean() if shown[w].all() else np.nan for w in windows]))
        assert np.all(np.abs(drawn_db[inside] - data_db[inside]) <= 3.0), name
        assert not shown[np.abs(t - 30.0) <= 0.5].any(), name
        assert shown[(t > 40.0) & (t < 100.0)].all(), name  # the wash-out it describes is drawn


def test_rejected_frames_are_skipped_not_counted_as_breaks():
    t = _times(0.0, 130.0)
    timeline = _timeline(t, [(0.0, DB_6), (50.0, -DB_6)])
    power = timeline.power.copy()
    power[:, (t > 52.0) & (t < 54.0)] = np.nan  # three rejected frames inside the wash-out run
    reading = _read(Timeline(t, timeline.names, power, timeline.saturated, timeline.segment, power))
    assert reading.rois["lesion"]["valid_frames"] == t.size - 3
    portal = _lesion(reading)["portal_venous_phase"]
    assert portal["washout"] and portal["washout_timing"] == "early"


@pytest.mark.parametrize(("clips", "timing"), [
    (((0.0, 50.0), (55.0, 130.0)), "early"),  # it began in (50, 55]: before 60 s either way
    (((0.0, 60.0), (90.0, 130.0)), "late"),  # in (60, 90]
    (((0.0, 55.0), (65.0, 130.0)), "indeterminate"),  # in (55, 65]: either side of 60 s
])
def test_a_washout_that_begins_between_clips_is_the_interval_and_never_bridged(clips, timing):
    parts = [_times(a, b) for a, b in clips]
    t = np.concatenate(parts)
    segment = np.concatenate([np.full(p.size, k) for k, p in enumerate(parts)])
    step_s = (clips[0][1] + clips[1][0]) / 2  # the contrast falls while no clip records
    reading = _read(_timeline(t, [(0.0, DB_6), (step_s, -DB_6)], segment))
    portal = _lesion(reading)["portal_venous_phase"]
    assert portal["washout"] is True and portal["washout_onset_s"] is None
    assert portal["washout_onset_interval_s"] == pytest.approx([clips[0][1], clips[1][0]])
    assert portal["washout_timing"] == timing
    assert reading.fitted["lesion"].shape == reading.relative_db["lesion"].shape == t.shape


def test_lirads_decision_support_needs_size_and_risk():
    timeline = _timeline(_times(0.0, 130.0), [(0.0, DB_6), (70.0, -3.0)])  # APHE, late mild wash-out
    absent = _lesion(_read(timeline))["lirads"]
    assert absent["category"] is None and absent["applicable"] is False
    # ACR CEUS LI-RADS v2017: APHE with late and mild wash-out, ≥ 10 mm → LR-5
    assert _lesion(_read(timeline, size_mm=25.0, at_risk=True))["lirads"]["category"] == "LR-5"


def test_an_unknown_model_is_an_input_error():
    with pytest.raises(InputError, match="model 'spline' is not one of") as info:
        _read(_timeline(_times(0.0, 60.0), [(0.0, DB_6)]), model="spline")
    assert isinstance(info.value, CeusError)
