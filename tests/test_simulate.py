"""The phantom generator is the tests' source of truth, so it is checked against closed forms itself."""

from __future__ import annotations

import math

import numpy as np
import pydicom
import pytest
from scipy import optimize

from ceuskit.simulate import PATTERNS, Phantom, contrast_curves, simulate_clip, truth_timing


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_noiseless_patterns_have_margins_around_every_threshold(name):
    """Each pattern's noiseless lesion/liver ratio clears DESIGN's ±1.5 dB thresholds by ≥ 1.5 dB."""
    ph = Phantom(pattern=name)
    spec = PATTERNS[name]
    t = np.arange(0, ph.duration_s, 0.05)
    liver, lesion = contrast_curves(ph, t)
    r = 10 * np.log10((lesion + ph.tissue_power) / (liver + ph.tissue_power))
    peak = np.argmax(np.where(t <= 45, lesion, -np.inf))
    expected_sign = {"hyper": 1, "iso": 0, "hypo": -1}
    if spec.arterial == "iso":
        assert abs(r[peak]) <= 0.5
    else:
        assert expected_sign[spec.arterial] * r[peak] >= 3.0
    late = np.median(r[t >= 120])
    if spec.late == "iso":
        assert abs(late) <= 0.5
    else:
        assert expected_sign[spec.late] * late >= 2.0
    onset = truth_timing(ph)["washout_onset_s"]
    if spec.washout == "none":
        assert onset is None
    else:
        assert onset is not None and (onset < 50 if spec.washout == "early" else onset > 70)
        marked = np.min(r[(t >= onset) & (t < 120)]) <= -10
        assert marked == (spec.degree == "marked")


def test_truth_arrival_and_onset_are_the_lognormal_five_percent_points():
    """For a lesion that is a scaled liver curve, its arrival time (VueBox) is the liver lognormal's 5 % point in
    linear power, its onset the 5 % point of tissue + contrast in dB (both root-found here)."""
    ph = Phantom(pattern="iso-none-iso", liver_arrival_s=16.0)
    mu, sigma = math.log(28.0), 0.85

    def density(tau):
        return math.exp(-((math.log(tau) - mu) ** 2) / (2 * sigma**2)) / tau

    mode = math.exp(mu - sigma**2)
    tau5 = optimize.brentq(lambda x: density(x) - 0.05 * density(mode), 1e-3, mode)
    timing = truth_timing(ph)
    assert timing["arrival_time_s"] == pytest.approx(16.0 + tau5, abs=0.011)

    peak = ph.pattern_spec().c_early * ph.peak_power  # the lesion: c × the liver curve, whose peak is peak_power

    def db(tau):
        return 10 * math.log10(ph.tissue_power + peak * density(tau) / density(mode))

    level = db(1e-9) + 0.05 * (db(mode) - db(1e-9))
    assert timing["onset_s"] == pytest.approx(16.0 + optimize.brentq(lambda x: db(x) - level, 1e-3, mode), abs=0.011)
    assert timing["onset_s"] < timing["arrival_time_s"] - 0.3  # a 36 dB rise: 5 % in dB comes first


def test_dicom_header_states_the_phantom(tmp_path):
    ph = Phantom(duration_s=20.0, fps=5.0, jitter=0.3, dual=True, seed=3, spacing_mm=0.25)
    sim = simulate_clip(tmp_path, ph)
    ds = pydicom.dcmread(sim.dicom)
    times = np.concatenate([[0.0], np.cumsum([float(v) for v in ds.FrameTimeVector][1:])]) / 1000
    assert int(ds.NumberOfFrames) == len(sim.truth_data["frame_times_s"]) == 101
    assert np.allclose(times, sim.truth_data["frame_times_s"], atol=1e-9)
    intervals = np.diff(times)
    assert intervals.min() >= 0.2 * 0.7 - 1e-3 and intervals.max() <= 0.2 * 1.3 + 1e-3
    assert len(ds.SequenceOfUltrasoundRegions) == 2
    region = ds.SequenceOfUltrasoundRegions[0]
    assert float(region.PhysicalDeltaX) * 10 == pytest.approx(0.25)
    ceus = sim.truth_data["ceus_box"]
    assert [region.RegionLocationMinX0, region.RegionLocationMinY0] == ceus[:2]
    assert ds.pixel_array.shape == (101, ds.Rows, ds.Columns)
    # burned-in text outside the regions, black elsewhere outside them
    assert ds.pixel_array[0, :ceus[1]].max() > 200


def test_same_seed_same_clip(tmp_path):
    a = simulate_clip(tmp_path / "a", Phantom(duration_s=10, seed=5))
    b = simulate_clip(tmp_path / "b", Phantom(duration_s=10, seed=5))
    assert np.array_equal(pydicom.dcmread(a.dicom).pixel_array, pydicom.dcmread(b.dicom).pixel_array)


def test_seed_like_cohort_has_the_published_pattern_counts():
    """Massironi et al. 2010 (n = 18): arterial hyper 15, wash-out 14, late hypo 12 / iso 5 / hyper 1."""
    from collections import Counter

    from ceuskit.simulate import SEED_PATTERNS

    specs = [PATTERNS[name] for name in SEED_PATTERNS]
    assert len(specs) == 18
    assert Counter(s.arterial for s in specs)["hyper"] == 15
    assert sum(s.washout != "none" for s in specs) == 14
    assert Counter(s.late for s in specs) == {"hypo": 12, "iso": 5, "hyper": 1}
