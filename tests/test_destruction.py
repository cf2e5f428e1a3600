"""Destructions and level steps in curves, and the reading around them (ceuskit.destruction, steps, kinetics).

Expected values come from the simulator's construction (ceuskit.simulate.destruction: flash frames, refill
A and β, step times and sizes) and from closed forms; the bolus reading of a recording with a destruction is
compared with the reading of the same curves cut before it.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.characterisation import read_timeline
from ceuskit.destruction import DestructionOptions, find_destructions
from ceuskit.errors import InputError
from ceuskit.kinetics import check_kinetics
from ceuskit.phases import PhaseOptions
from ceuskit.roi import parse_rois
from ceuskit.simulate import PATTERNS, Phantom
from ceuskit.simulate.curves import contrast_curves
from ceuskit.simulate.destruction import real_case_curves, replenishment_curves
from ceuskit.steps import find_steps
from ceuskit.timeline import Timeline

ROIS = parse_rois({"reference_frame": 0, "units": "px", "rois": [
    {"name": "lesion", "role": "lesion", "shape": "rectangle", "box": [0, 0, 4, 4], "reference": "liver"},
    {"name": "liver", "role": "parenchyma", "shape": "rectangle", "box": [5, 0, 9, 4]}]})
FLOOR = 10 ** (-48 / 10)


def read(t, curves, **options):
    power = np.vstack([curves["lesion"], curves["liver"]])
    timeline = Timeline(t, ("lesion", "liver"), power, np.zeros_like(power), np.zeros(t.size, dtype=int), power)
    return read_timeline(timeline, ROIS, model="auto", phases=PhaseOptions(),
                         areas={"lesion": (16, None), "liver": (16, None)}, **options)


def bolus(t, pattern="hyper-early-hypo", **kwargs):
    liver, lesion = contrast_curves(Phantom(pattern=pattern), t)
    return replenishment_curves(t, {"lesion": lesion, "liver": liver}, {"lesion": 0.9, "liver": 0.35},
                                floor=FLOOR, **kwargs)


def noisy(curves, seed, relative=0.08):
    rng = np.random.default_rng(seed)
    return {name: curve * rng.lognormal(0.0, relative, curve.size) for name, curve in curves.items()}


def codes(reading):
    return [flag.code for flag in reading.flags]


@pytest.mark.parametrize("rate_hz", [2.0, 8.0, 35.0])
@pytest.mark.parametrize("frames", [1, 3, 10])
def test_a_destruction_of_1_to_10_frames_is_found_where_it_was_fired(rate_hz, frames):
    t = np.arange(0.0, 140.0, 1 / rate_hz)
    curves, truth = bolus(t, destructions_s=(120.0,), flash_frame_count=frames)
    found = find_destructions(t, np.vstack(list(noisy(curves, frames).values())))
    assert len(found) == 1
    expected = truth["destructions"][0]["flash_frames"]
    assert (found[0].start, found[0].stop - 1) == (expected[0], expected[-1])
    assert found[0].t_d_s == pytest.approx(truth["destructions"][0]["t_d_s"])
    assert found[0].refill


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("rate_hz", [2.0, 8.0, 35.0])
def test_no_destruction_and_no_step_in_a_plain_bolus(pattern, rate_hz):
    t = np.arange(0.0, 150.0, 1 / rate_hz)
    curves, _ = bolus(t, pattern)
    power = np.vstack(list(noisy(curves, 3, 0.1).values()))
    assert find_destructions(t, power) == []
    assert find_steps(t, power) == []


def test_a_bright_frame_without_a_fall_is_a_flash_not_a_destruction():
    t = np.arange(0.0, 100.0, 1 / 8.0)
    curves, _ = bolus(t)
    power = np.vstack(list(noisy(curves, 4).values()))
    power[:, 600] *= 30.0  # one bright frame, the level after it unchanged
    assert find_destructions(t, power) == []


def test_a_burst_longer_than_ten_frames_is_no_destruction():
    t = np.arange(0.0, 100.0, 1 / 8.0)
    curves, _ = bolus(t, destructions_s=(80.0,), flash_frame_count=10)
    power = np.vstack(list(curves.values()))
    assert len(find_destructions(t, power)) == 1
    assert find_destructions(t, power, options=DestructionOptions(max_frames=8)) == []


@pytest.mark.parametrize("rate_hz", [2.0, 8.0, 35.0])
@pytest.mark.parametrize("frames", [1, 4, 10])
def test_a_bolus_with_a_destruction_near_its_end_reads_as_the_recording_cut_before_it(rate_hz, frames):
    t = np.arange(0.0, 140.0, 1 / rate_hz)
    curves, truth = bolus(t, "hyper-late-hypo", destructions_s=(126.0,), flash_frame_count=frames)
    curves = noisy(curves, 5)
    whole = read(t, curves)
    first = truth["destructions"][0]["flash_frames"][0]
    cut = read(t[:first], {name: curve[:first] for name, curve in curves.items()})
    assert whole.lesions[0]["pattern"] == cut.lesions[0]["pattern"]
    assert whole.lesions[0]["arterial_phase"]["onset_s"] == cut.lesions[0]["arterial_phase"]["onset_s"]
    for name in ("lesion", "liver"):
        for kind in ("fit", "parameters"):
            got = whole.rois[name][kind]["params"] if kind == "fit" else whole.rois[name][kind]
            expected = cut.rois[name][kind]["params"] if kind == "fit" else cut.rois[name][kind]
            for key, value in expected.items():
                assert got[key] == (None if value is None else pytest.approx(value, rel=0.02)), (name, key)
    assert "destruction" in codes(whole) and "destruction" not in codes(cut)


def test_the_issues_real_recording_is_no_longer_fitted_as_the_bolus():
    t, curves, truth = real_case_curves()
    reading = read(t, curves)
    for name in ("lesion", "liver"):
        parameters = reading.rois[name]["parameters"]
        assert parameters["arrival_time_s"] < 15.0  # the rise at ~6 s, not the pulse at 94 s
        assert parameters["time_to_peak_s"] is None or parameters["time_to_peak_s"] < 67.0
    # the onset's definition (DESIGN): 5 % of the way from the flat baseline to the arterial peak, in dB, on the
    # noise-free curve (the tanh rise from ~6 s leaves a −45 dB floor seconds before it is visible in linear power)
    clean_t, clean, _ = real_case_curves(noise=0.0)
    clean_db = 10 * np.log10(clean["lesion"])
    base_db, peak_db = clean_db[0], clean_db[clean_t <= 45.0].max()
    level = base_db + 0.05 * (peak_db - base_db)
    k = int(np.argmax(clean_db >= level))
    expected = np.interp(level, clean_db[k - 1:k + 1], clean_t[k - 1:k + 1])
    assert abs(reading.lesions[0]["arterial_phase"]["onset_s"] - expected) < 1.0
    late = reading.lesions[0]["late_phase"]
    assert late["enhancement"] == "not_assessed" and "destruction" in late["reason"]
    assert codes(reading).count("destruction") == 1 and codes(reading).count("step") == 2
    steps = reading.kinetics["steps"]
    assert [round(s["time_s"]) for s in steps] == [67, 80]
    for step, size in zip(steps, (-3.0, -9.0), strict=True):
        assert all(abs(v - size) < 1.0 for v in step["step_db"].values()) and step["gain"]
    for name, cycles in truth["refills"].items():
        got = reading.kinetics["replenishment"][name]
        assert len(got) == 1 and got[0]["success"]
        assert got[0]["blood_volume"] == pytest.approx(cycles[0]["blood_volume"], rel=0.1)
        assert got[0]["beta_per_s"] == pytest.approx(cycles[0]["beta_per_s"], rel=0.1)
        assert got[0]["flow"] == pytest.approx(got[0]["blood_volume"] * got[0]["beta_per_s"], rel=1e-3)
        assert got[0]["refill_90_s"] == pytest.approx(np.log(10) / got[0]["beta_per_s"], rel=1e-3)
    ratio = reading.lesions[0]["replenishment"][0]
    truth_ratio = truth["refills"]["lesion"][0]["blood_volume"] / truth["refills"]["liver"][0]["blood_volume"]
    assert ratio["blood_volume_ratio"] == pytest.approx(truth_ratio, rel=0.1)


def test_kinetics_bolus_fits_no_refill_and_replenishment_without_destruction_says_so():
    t, curves, _ = real_case_curves()
    assert read(t, curves, kinetics="bolus").kinetics["replenishment"] == {}
    plain, _ = bolus(np.arange(0.0, 100.0, 0.25))
    reading = read(np.arange(0.0, 100.0, 0.25), plain, kinetics="replenishment")
    assert reading.kinetics["replenishment"] == {} and "destruction" in codes(reading)
    with pytest.raises(InputError, match="kinetics"):
        check_kinetics("infusion")


@pytest.mark.parametrize("rate_hz", [2.0, 8.0, 35.0])
def test_several_cycles_give_their_spread(rate_hz):
    t = np.arange(0.0, 100.0, 1 / rate_hz)
    steady = 0.5 * (1 + np.tanh((t - 8.0) / 1.5))
    blood = {"lesion": 0.08 * steady, "liver": 0.05 * steady}
    curves, truth = replenishment_curves(t, blood, {"lesion": 0.8, "liver": 0.3},
                                         destructions_s=(30.0, 52.0, 74.0), floor=FLOOR)
    reading = read(t, noisy(curves, 6, 0.05))
    for name, cycles in truth["refills"].items():
        got = reading.kinetics["replenishment"][name]
        assert [round(c["destruction_s"], 2) for c in got] == [round(c["destruction_s"], 2) for c in cycles]
        values = [c["beta_per_s"] for c in got]
        spread = reading.kinetics["replenishment_repeatability"][name]
        assert spread["cycles"] == 3
        assert spread["beta_cv"] == pytest.approx(np.std(values, ddof=1) / np.mean(values), abs=1e-3)
        errors = [abs(g["beta_per_s"] / c["beta_per_s"] - 1) for g, c in zip(got, cycles, strict=True)]
        assert max(errors) <= 0.2


@pytest.mark.parametrize("rate_hz", [8.0, 35.0])
@pytest.mark.parametrize("step", [(30.0, 2.0), (70.0, -2.0), (120.0, -3.0)])
def test_a_gain_step_of_2_db_or_more_is_found_and_the_fits_stop_there(rate_hz, step):
    t = np.arange(0.0, 140.0, 1 / rate_hz)
    curves, _ = bolus(t, steps=(step,))
    reading = read(t, noisy(curves, 7, 0.1))
    steps = reading.kinetics["steps"]
    assert len(steps) == 1 and abs(steps[0]["time_s"] - step[0]) < 0.5 and steps[0]["gain"]
    assert "step" in codes(reading)
    fitted = reading.fitted["lesion"]
    assert np.all(np.isnan(fitted[t >= step[0] + 0.5]))  # the fit does not cross the step
    if step[0] >= 120.0:  # a pure gain step: the ratios are read across it, the late phase too
        assert reading.lesions[0]["late_phase"]["enhancement"] == "hypo"


def test_an_unequal_step_stops_the_phase_reading():
    t = np.arange(0.0, 150.0, 1 / 8.0)
    liver, lesion = contrast_curves(Phantom(pattern="hyper-early-hypo"), t)
    curves, _ = replenishment_curves(t, {"lesion": lesion, "liver": liver}, {"lesion": 1.0, "liver": 1.0}, floor=FLOOR)
    curves["lesion"] = curves["lesion"] * np.where(t >= 100.0, 10 ** (-2 / 10), 1.0)
    curves["liver"] = curves["liver"] * np.where(t >= 100.0, 10 ** (-6 / 10), 1.0)  # a plane change
    reading = read(t, noisy(curves, 8, 0.05))
    assert len(reading.kinetics["steps"]) == 1 and not reading.kinetics["steps"][0]["gain"]
    late = reading.lesions[0]["late_phase"]
    assert late["enhancement"] == "not_assessed" and "plane" in late["reason"]
