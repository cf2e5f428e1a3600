"""The replenishment fit (ceuskit.replenishment) against the closed form and scipy.optimize.curve_fit, and
destruction–replenishment phantom clips read against their truth (A and β at 2, 8 and 35 Hz, 1–3 cycles).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeWarning, curve_fit

from ceuskit.cli import main
from ceuskit.pipeline import analyze
from ceuskit.replenishment import fit_refills, refill_model
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import BOLUS_DESTRUCTION, LEVEL_STEPS, REPLENISHMENT


@pytest.mark.parametrize("beta", [0.05, 0.3, 1.0, 4.0])
@pytest.mark.parametrize("jitter", [0.0, 0.2])
def test_a_noiseless_refill_is_recovered_exactly(beta, jitter):
    rng = np.random.default_rng(1)
    tau = np.cumsum(0.125 * (1 + rng.uniform(-jitter, jitter, 400)))  # regular or irregular frame times
    fit = fit_refills([tau], [refill_model(tau, 0.02, 0.3, beta)])
    assert fit.success[0]
    assert fit.beta_per_s[0] == pytest.approx(beta, rel=1e-4)
    assert fit.blood_volume[0] == pytest.approx(0.3, rel=1e-4) and fit.baseline[0] == pytest.approx(0.02, abs=1e-5)
    assert fit.refill_90_s[0] == pytest.approx(np.log(10) / beta, rel=1e-4)  # ln 10 / β: 1 − e^(−βt) = 0.9


def test_the_fit_matches_scipy_on_noisy_refills():
    rng = np.random.default_rng(2)
    tau = np.arange(1, 241) / 8.0
    betas = rng.uniform(0.1, 2.0, 40)
    y = refill_model(tau[None, :], 0.01, rng.uniform(0.05, 0.5, (40, 1)), betas[:, None])
    y = y * rng.gamma(25.0, 1 / 25.0, y.shape)
    ours = fit_refills(tau, y)
    as_lists = fit_refills([tau] * 40, list(y))  # the same refills given one by one
    np.testing.assert_allclose(as_lists.beta_per_s, ours.beta_per_s, rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        for i in range(40):
            p, _ = curve_fit(lambda x, b, a, k: b + a * (1 - np.exp(-k * x)), tau, y[i], p0=[y[i, 0], y[i, -1], 1.0],
                             method="lm", maxfev=5000)
            rss_scipy = float(np.sum((y[i] - refill_model(tau, *p)) ** 2))
            assert ours.rss[i] <= rss_scipy * (1 + 1e-6) + 1e-15
            assert ours.beta_per_s[i] == pytest.approx(p[2], rel=1e-3)


def test_a_flat_curve_or_a_fall_is_no_refill():
    tau = np.arange(1, 100) / 4.0
    rng = np.random.default_rng(3)
    fit = fit_refills([tau, tau, tau[:3]], [0.1 * rng.lognormal(0, 0.05, tau.size), 0.3 - 0.002 * tau,
                                            np.ones(3)])
    assert not fit.success.any()
    assert fit.message[2] == "too few samples"
    with pytest.raises(ValueError, match="times"):
        fit_refills([tau], [tau[:5]])


@pytest.fixture(scope="module")
def replenishment_readings(tmp_path_factory):
    root = tmp_path_factory.mktemp("replenishment")
    out = {}
    for name, ph in REPLENISHMENT.items():
        sim = simulate_clip(root, ph, name=name)
        result = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, motion=False,
                         dynamic_range_db=ph.dynamic_range_db, kinetics="replenishment")
        out[name] = (ph, sim.truth_data, result.document)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("rate_hz", [2.0, 8.0, 35.0])
def test_a_and_beta_of_replenishment_clips_within_10_percent(replenishment_readings, rate_hz):
    errors: dict[str, list[float]] = {"blood_volume": [], "beta_per_s": []}
    for ph, truth, document in replenishment_readings.values():
        if ph.fps != rate_hz:
            continue
        assert len(document["destructions"]) == len(ph.destruction_times_s)
        assert [d["frames"] for d in document["destructions"]] == [ph.flash_frames] * len(ph.destruction_times_s)
        for roi, cycles in truth["refills"].items():
            got = document["replenishment"][roi]
            assert len(got) == len(cycles) and all(c["success"] for c in got)
            for fit, true in zip(got, cycles, strict=True):
                assert fit["destruction_s"] == pytest.approx(true["destruction_s"], abs=1e-3)
                for key in errors:
                    errors[key].append(abs(fit[key] / true[key] - 1))
    for key, values in errors.items():
        assert np.median(values) <= 0.10, (key, values)
        assert max(values) <= 0.20, (key, values)


@pytest.mark.slow
def test_lesion_over_liver_ratios_and_repeatability(replenishment_readings):
    for ph, truth, document in replenishment_readings.values():
        ratios = document["lesions"][0]["replenishment"]
        true = [les["blood_volume"] / liv["blood_volume"] for les, liv in
                zip(truth["refills"]["lesion"], truth["refills"]["liver"], strict=True)]
        for ratio, expected in zip(ratios, true, strict=True):
            assert ratio["blood_volume_ratio"] == pytest.approx(expected, rel=0.25)
            assert ratio["beta_ratio"] == pytest.approx(ph.refill_beta_per_s[1] / ph.refill_beta_per_s[0], rel=0.3)
        if len(ph.destruction_times_s) >= 2:
            spread = document["replenishment_repeatability"]["liver"]
            values = [c["beta_per_s"] for c in document["replenishment"]["liver"]]
            assert spread["cycles"] == len(values)
            assert spread["beta_cv"] == pytest.approx(np.std(values, ddof=1) / np.mean(values), abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BOLUS_DESTRUCTION))
def test_a_bolus_clip_with_a_destruction_reads_as_the_clip_cut_before_it(tmp_path, name):
    from dataclasses import replace

    ph = BOLUS_DESTRUCTION[name]
    whole = simulate_clip(tmp_path, ph, name="whole")
    first = whole.truth_data["destructions"][0]["flash_frames"][0]
    cut = simulate_clip(tmp_path, replace(ph, destruction_times_s=(), duration_s=(first - 0.5) / ph.fps),
                        name="cut")  # the same phantom's first frames, up to the destruction's first frame
    assert len(cut.truth_data["frame_times_s"]) == first
    options = {"injection_time_s": ph.lead_in_s, "motion": False, "dynamic_range_db": ph.dynamic_range_db}
    a, b = analyze(whole.dicom, whole.roi, **options).document, analyze(cut.dicom, cut.roi, **options).document
    assert a["lesions"][0]["pattern"] == b["lesions"][0]["pattern"] == "arterial hyper, early mild wash-out, late " \
        "not_assessed"
    assert a["lesions"][0]["arterial_phase"]["onset_s"] == b["lesions"][0]["arterial_phase"]["onset_s"]
    for roi in ("lesion", "liver"):
        for key, value in b["rois"][roi]["fit"]["params"].items():
            assert a["rois"][roi]["fit"]["params"][key] == pytest.approx(value, rel=0.02)
    assert "destruction" in {f["code"] for f in a["quality"]} and "destruction" not in {f["code"] for f in b["quality"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(LEVEL_STEPS))
def test_level_steps_of_2_db_or_more_are_flagged_on_clips(tmp_path, name):
    ph = LEVEL_STEPS[name]
    sim = simulate_clip(tmp_path, ph, name=name)
    document = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, dynamic_range_db=ph.dynamic_range_db).document
    found = [round(step["time_s"]) for step in document["steps"]]
    assert found == [round(at) for at, _ in ph.level_steps]
    assert all(step["gain"] for step in document["steps"])
    assert "step" in {f["code"] for f in document["quality"]}
    labels = document["lesions"][0]
    assert labels["arterial_phase"]["enhancement"] == sim.truth_data["pattern"]["arterial"]


def _clip(path, t, lesion, liver):
    """A clip of one image region: liver everywhere, the lesion in a square (grey by the 60 dB display law)."""
    from ceuskit.preprocess.linearize import power_to_grey

    frames = np.zeros((t.size, 72, 96), dtype=np.uint8)
    frames[:, 8:64, 8:88] = np.round(power_to_grey(liver[:, None, None] * np.ones((1, 56, 80)), 60.0))
    frames[:, 16:40, 16:40] = np.round(power_to_grey(lesion[:, None, None] * np.ones((1, 24, 24)), 60.0))
    np.savez(path / "clip.npz", frames=frames, times_s=t)
    rois = {"reference_frame": 0, "units": "px", "rois": [
        {"name": "lesion", "role": "lesion", "shape": "rectangle", "box": [18, 18, 38, 38], "reference": "liver"},
        {"name": "liver", "role": "parenchyma", "shape": "rectangle", "box": [50, 20, 80, 56]}]}
    (path / "rois.json").write_text(json.dumps(rois))
    return path / "clip.npz", path / "rois.json"


def test_the_command_line_takes_kinetics(tmp_path, capsys):
    from ceuskit.simulate.destruction import replenishment_curves

    t = np.arange(0.0, 60.0, 0.25)
    steady = 0.5 * (1 + np.tanh((t - 8.0) / 1.5))
    curves, truth = replenishment_curves(t, {"lesion": 0.08 * steady, "liver": 0.03 * steady},
                                         {"lesion": 0.8, "liver": 0.3}, destructions_s=(30.0,), floor=1e-5)
    clip, roi = _clip(tmp_path, t, curves["lesion"], curves["liver"])
    out = tmp_path / "out"
    assert main(["analyze", str(clip), "--roi", str(roi), "--no-motion", "--kinetics", "replenishment",
                 "--out", str(out)]) == 0
    assert "replenishment lesion after" in capsys.readouterr().out
    document = json.loads((out / "analysis.json").read_text())
    assert document["replenishment"]["liver"][0]["beta_per_s"] == pytest.approx(0.3, rel=0.1)
    assert document["replenishment"]["lesion"][0]["beta_per_s"] == pytest.approx(0.8, rel=0.1)
    assert document["provenance"]["options"]["kinetics"] == "replenishment"
    assert (out / "tic.png").stat().st_size > 0 and "lesion_refill_fit" in (out / "tic.csv").read_text()
    assert main(["analyze", str(clip), "--roi", str(roi), "--kinetics", "sometimes"]) == 2
    assert "kinetics 'sometimes' is not one of" in capsys.readouterr().err
