"""Real-like time–intensity curves replayed as clips through the whole reading (ceuskit.simulate.replay).

Each curve is built here from a closed form (gamma variate, lognormal), with what real recordings add: a
pre-contrast transient, noise at 10–35 Hz, a recording cut before the tail or started after the arrival,
missing frames over the wash-in, a one-frame destruction flash. Expected values come from the closed forms
(scipy root finding) and from the curve's construction — never from another ceuskit result. The onset is
the closed form's 5 % point on the dB scale, the arrival time (fitted and model-free) its 5 % point in linear
power (VueBox's convention).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.optimize import brentq

from ceuskit.cli import main
from ceuskit.errors import ClipError
from ceuskit.io import open_clip
from ceuskit.pipeline import analyze
from ceuskit.simulate.replay import replay_curves

RATE_HZ = 35.0
FLOOR = 10 ** (-50 / 10)  # pre-contrast echo power, −50 dB


def gamma_bolus(t: np.ndarray, t0: float, alpha: float, beta: float, peak: float) -> np.ndarray:
    tau = np.clip(t - t0, 0.0, None)
    return FLOOR + peak * (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta)


def gamma_arrival(t0: float, alpha: float, beta: float) -> float:
    """5 % of the rise above the floor, from the closed form (scipy brentq)."""
    return t0 + brentq(lambda tau: (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta) - 0.05,
                       1e-9, alpha * beta)


def gamma_onset_db(t0: float, alpha: float, beta: float, peak: float) -> float:
    """5 % of the rise above the floor in dB, from the closed form (scipy brentq)."""
    def excess_db(tau: float) -> float:
        return 10 * np.log10(FLOOR + peak * (tau / (alpha * beta)) ** alpha * np.exp(alpha - tau / beta))

    level = 10 * np.log10(FLOOR) + 0.05 * (10 * np.log10(FLOOR + peak) - 10 * np.log10(FLOOR))
    return t0 + brentq(lambda tau: excess_db(tau) - level, 1e-12, alpha * beta)


LESION, LIVER = (8.0, 2.5, 2.4, 0.12), (11.0, 2.2, 5.0, 0.06)


def noisy(curve: np.ndarray, rng: np.random.Generator, relative: float = 0.08) -> np.ndarray:
    return curve * rng.lognormal(0.0, relative, curve.size)


def read(tmp_path, times, lesion, liver, **options):
    clip, roi = replay_curves(tmp_path, times, {"lesion": lesion, "liver": liver}, dynamic_range_db=60.0)
    analysis = analyze(clip, roi, dynamic_range_db=60.0, motion=False, **options)
    return analysis.document


def flags(document, roi="lesion"):
    return {flag["code"] for flag in document["quality"] if flag["roi"] in (roi, None)}


@pytest.mark.parametrize("rate_hz", [10.0, 35.0])
def test_onset_after_a_pre_contrast_transient(tmp_path, rate_hz):
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 60.0, 1 / rate_hz)
    transient = 10 * FLOOR * np.exp(-t / 1.0)  # the first seconds are 10 dB bright (gain settling), then baseline
    lesion = noisy(gamma_bolus(t, *LESION) + transient, rng)
    liver = noisy(gamma_bolus(t, *LIVER) + transient, rng)
    document = read(tmp_path, t, lesion, liver)
    onset = document["lesions"][0]["arterial_phase"]["onset_s"]
    assert onset == pytest.approx(gamma_onset_db(*LESION), abs=0.5)  # not the transient at 0 s
    free = document["rois"]["lesion"]["parameters_model_free"]["arrival_time_s"]
    assert free == pytest.approx(gamma_arrival(*LESION[:3]), abs=0.5)


def test_a_recording_started_after_the_arrival_has_no_onset(tmp_path):
    t = np.arange(12.0, 70.0, 1 / RATE_HZ)  # starts 4 s after the lesion's contrast arrived
    rng = np.random.default_rng(2)
    document = read(tmp_path, t - t[0], noisy(gamma_bolus(t, *LESION), rng), noisy(gamma_bolus(t, *LIVER), rng),
                    injection_time_s=-12.0)
    arterial = document["lesions"][0]["arterial_phase"]
    assert arterial["onset_s"] is None and arterial["onset_reason"] == "no_baseline"
    assert "no_baseline" in flags(document)
    assert document["rois"]["lesion"]["parameters"]["arrival_time_s"] is None  # fitted: not clamped to 0 s
    assert document["rois"]["lesion"]["parameters_model_free"]["arrival_time_s"] is None  # nor model-free


def test_a_curve_cut_before_its_tail_has_no_transit_time(tmp_path):
    t = np.arange(0.0, 24.0, 1 / RATE_HZ)  # peak at ~14 s, cut while still high
    rng = np.random.default_rng(3)
    document = read(tmp_path, t, noisy(gamma_bolus(t, *LESION), rng, 0.03), noisy(gamma_bolus(t, *LIVER), rng, 0.03))
    for key in ("parameters", "parameters_model_free"):
        parameters = document["rois"]["lesion"][key]
        assert parameters["mean_transit_time_s"] is None and parameters["mean_transit_time_t0_s"] is None
        assert parameters["fall_time_s"] is None and parameters["wash_out_auc"] is None
    assert "extrapolated" in flags(document)


@pytest.mark.parametrize("spread", [0.3, 1e-4])  # speckle-like noise; a flat line with tiny noise
def test_baseline_noise_is_no_fit_and_no_enhancement(tmp_path, spread):
    t = np.arange(0.0, 40.0, 1 / RATE_HZ)
    rng = np.random.default_rng(4)
    document = read(tmp_path, t, noisy(np.full(t.size, 1e-3), rng, spread), noisy(np.full(t.size, 1e-3), rng, spread))
    fit = document["rois"]["lesion"]["fit"]
    assert fit["success"] is False
    assert document["rois"]["lesion"]["parameters"]["time_to_peak_s"] is None
    assert document["lesions"][0]["arterial_phase"]["onset_s"] is None
    assert {"low_enhancement", "poor_fit"} <= flags(document)


def test_missing_frames_over_the_wash_in_leave_the_onset_unknown(tmp_path):
    t = np.arange(0.0, 60.0, 1 / RATE_HZ)
    arrival = gamma_arrival(*LESION[:3])
    kept = (t < arrival - 1.5) | (t > arrival + 1.5)  # three seconds lost, the arrival inside them
    rng = np.random.default_rng(5)
    lesion, liver = noisy(gamma_bolus(t, *LESION), rng), noisy(gamma_bolus(t, *LIVER), rng)
    document = read(tmp_path, t[kept], lesion[kept], liver[kept])
    arterial = document["lesions"][0]["arterial_phase"]
    assert arterial["onset_s"] is None and arterial["onset_reason"] == "gap"
    assert "gap" in flags(document)


def test_a_destruction_flash_decides_neither_peak_nor_fit(tmp_path):
    t = np.arange(0.0, 60.0, 1 / RATE_HZ)
    rng = np.random.default_rng(6)
    lesion, liver = noisy(gamma_bolus(t, *LESION), rng, 0.03), noisy(gamma_bolus(t, *LIVER), rng, 0.03)
    clean = read(tmp_path / "clean", t, lesion, liver)
    flash = int(np.searchsorted(t, 9.0))  # one bright frame early in the wash-in
    lesion[flash] = liver[flash] = 0.9
    flashed = read(tmp_path / "flash", t, lesion, liver)
    assert "flash" in flags(flashed)
    for key in ("time_to_peak_s", "arrival_time_s", "peak_enhancement"):
        assert flashed["rois"]["lesion"]["parameters"][key] == pytest.approx(
            clean["rois"]["lesion"]["parameters"][key], rel=0.02), key
    assert flashed["rois"]["lesion"]["fit"]["r2"] == pytest.approx(clean["rois"]["lesion"]["fit"]["r2"], abs=0.02)
    truth_ttp = LESION[0] + LESION[1] * LESION[2]  # gamma variate mode: t0 + αβ
    assert flashed["rois"]["lesion"]["parameters_model_free"]["time_to_peak_s"] == pytest.approx(truth_ttp, abs=0.5)


def test_a_plateau_is_read_not_refused(tmp_path):
    t = np.arange(0.0, 60.0, 1 / RATE_HZ)
    rise = 1 / (1 + np.exp(-(t - 20.0) / 2.0))
    lesion = 10 ** ((-40 + 25 * rise) / 10)  # rises by 25 dB and stays: no wash-out in the recording
    document = read(tmp_path, t, lesion, lesion * 0.8)
    parameters = document["rois"]["lesion"]["parameters_model_free"]
    power_rise = lesion - lesion[0]  # 5 % of the rise in linear power, from the curve as built
    expected = float(t[np.argmax(power_rise >= 0.05 * power_rise.max())])
    assert parameters["arrival_time_s"] == pytest.approx(expected, abs=0.5)
    assert parameters["time_to_peak_s"] is None  # a plateau has no peak time
    assert "no_baseline" not in flags(document) and "low_enhancement" not in flags(document)


def test_transit_time_in_both_conventions():
    from ceuskit.models import fit_curves
    from ceuskit.models.parameters import fit_parameters
    from ceuskit.models.shapes import MODELS

    t = np.arange(0.0, 150.0, 0.25)
    t0, mu, sigma = 6.0, 2.9, 0.55
    y = MODELS["lognormal"].function(t, t0, mu, sigma, 40.0, 0.01)[None, :]
    parameters = fit_parameters(fit_curves(t, y, model="lognormal"), t, grid_step_s=0.01)
    from_t0 = np.exp(mu + sigma**2 / 2)  # the lognormal's mean (VueBox, Dietrich et al.)
    assert parameters["mean_transit_time_t0_s"][0] == pytest.approx(from_t0, rel=1e-3)
    assert parameters["mean_transit_time_s"][0] == pytest.approx(t0 + from_t0 - parameters["arrival_time_s"][0],
                                                                 rel=1e-3)


def test_model_free_rates_follow_the_fitted_ones_at_35_hz(tmp_path):
    t = np.arange(0.0, 60.0, 1 / RATE_HZ)
    rng = np.random.default_rng(7)
    document = read(tmp_path, t, noisy(gamma_bolus(t, *LESION), rng), noisy(gamma_bolus(t, *LIVER), rng))
    fitted, free = document["rois"]["lesion"]["parameters"], document["rois"]["lesion"]["parameters_model_free"]
    for key in ("wash_in_rate", "wash_out_rate"):
        assert 0.6 <= free[key] / fitted[key] <= 1.4, key  # sample-to-sample slopes were 2–10× off


def test_a_few_samples_past_120_s_are_no_late_phase(tmp_path):
    t = np.arange(0.0, 121.0, 1 / RATE_HZ)  # 1 s of late phase: 35 samples, not enough time
    rng = np.random.default_rng(8)
    document = read(tmp_path, t, noisy(gamma_bolus(t, *LESION), rng), noisy(gamma_bolus(t, *LIVER), rng))
    assert document["lesions"][0]["late_phase"]["enhancement"] == "not_assessed"


def test_intensities_normalised_to_0_1_are_refused(tmp_path, capsys):
    frames = np.random.default_rng(9).random((20, 16, 16)).astype(np.float32)  # 0–1, not display grey
    path = tmp_path / "normalised.npz"
    np.savez(path, frames=frames, times_s=np.arange(20) / 10.0)
    with pytest.raises(ClipError, match="normalised to 0–1"):
        open_clip(path)
    assert main(["info", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("ceuskit: error: ") and "multiply them by 255" in error and "\n" not in error


def test_the_replayed_clip_holds_the_curves(tmp_path):
    t = np.arange(0.0, 30.0, 0.5)
    lesion = gamma_bolus(t, *LESION)
    clip, roi = replay_curves(tmp_path, t, {"lesion": lesion, "liver": gamma_bolus(t, *LIVER)}, dynamic_range_db=60.0)
    box = json.loads(roi.read_text())["rois"][0]["box"]
    with open_clip(clip) as opened:
        grey = np.array([opened.frame(k)[box[1], box[0]] for k in range(opened.n_frames)])
        np.testing.assert_allclose(opened.times, t)
    expected = np.round(np.clip(255 * (1 + 10 * np.log10(lesion) / 60.0), 0, 255))
    np.testing.assert_array_equal(grey, expected)


def test_nothing_is_read_across_the_time_between_clips():
    from ceuskit.models.parameters import model_free_parameters

    # a loop to 40 s (the curve still at 30 % of its peak) and a sweep at 120 s (near baseline): where the
    # tail fell to 5 % lies in the gap, so fall time, wash-out area and transit times are not observed
    t = np.concatenate([np.arange(0.0, 40.0, 0.25), np.arange(120.0, 128.0, 0.25)])
    curve = gamma_bolus(t, *LIVER)
    parameters = model_free_parameters(t, curve[None, :])
    assert curve[t < 40][-1] > 0.05 * curve.max() and curve[t >= 120][0] < 0.05 * curve.max()  # as built
    for name in ("fall_time_s", "wash_out_auc", "mean_transit_time_s"):
        assert np.isnan(parameters[name][0]) and name in parameters.left_out(0)
    assert parameters["time_to_peak_s"][0] == pytest.approx(LIVER[0] + LIVER[1] * LIVER[2], abs=0.5)
