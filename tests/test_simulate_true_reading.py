"""The true-mask reading (issue 24): proposal cases read their designed pattern on their true masks, clear of the
thresholds; the margins checked on closed-form curves."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ceuskit.phases import PhaseOptions
from ceuskit.preprocess.linearize import grey_to_power, power_to_grey
from ceuskit.simulate import Phantom, render_frames
from ceuskit.simulate.anatomy import build_anatomy
from ceuskit.simulate.cases import PROPOSAL_CASES
from ceuskit.simulate.phantom import PATTERNS
from ceuskit.simulate.score_proposals import reading_masks, true_labels, truth_rois
from ceuskit.simulate.true_reading import design_reading, displayed_power, label_margin_db, true_mask_reading

RIMMED = Phantom(lesion_radii_px=(24.0, 18.0), lesion_rim_px=5.0, lesion_heterogeneity=0.5, lesion_irregularity=0.2)


def _own_mean(ph: Phantom) -> float:
    """Mean over the main lesion's mask of its smoothed weight times its contrast modulation."""
    mask, weight, modulation, _pattern = build_anatomy(ph, (ph.rows + 40, ph.columns + 40), 20).lesions[0]
    return float((weight * modulation)[mask].mean())


def test_a_kept_mean_lesion_s_own_contrast_averages_its_pattern_over_its_true_mask():
    # without it the rim's core (15 % of the rim) and the blurred edge pull the mean far below the pattern's
    assert _own_mean(RIMMED) < 0.7
    assert _own_mean(replace(RIMMED, lesion_mean_kept=True)) == pytest.approx(1.0, abs=1e-9)


def test_keeping_the_mean_changes_intensities_only_never_the_true_masks():
    ph = replace(RIMMED, duration_s=20.0, fps=4.0)
    plain, kept = render_frames(ph)["truth"], render_frames(replace(ph, lesion_mean_kept=True))["truth"]
    assert kept["masks"] == plain["masks"] and kept["shifts_px"] == plain["shifts_px"]


def test_the_reading_masks_are_those_of_truth_rois():
    ph = replace(RIMMED, duration_s=20.0, fps=4.0, vessels=2, breathing_amplitude_px=(2.0, 5.0), lead_in_s=2.0)
    rendered = render_frames(ph)
    truth, frame = rendered["truth"], 30
    lesion, parenchyma = reading_masks(true_labels(truth, frame))
    masks = truth_rois(truth, frame).masks(*lesion.shape)
    assert np.array_equal(masks["lesion"], lesion) and np.array_equal(masks["liver"], parenchyma)
    assert parenchyma.sum() > lesion.sum() / 4 and not (parenchyma & lesion).any()


def test_margins_on_closed_form_curves():
    # a lesion at twice the parenchyma's power is +3.01 dB (hyper, 1.51 dB past +1.5), then a step to half of it
    # (−3.01 dB) held from 30 s on: a wash-out 1.51 dB below −1.5, 30 s before the early/late boundary at 60 s
    t = np.arange(0.0, 150.0, 0.125)
    parenchyma = np.where(t < 10, 1e-5, 1e-2)
    bolus = 2.0 * np.exp(-0.5 * ((t - 18.0) / 4.0) ** 2)
    lesion = parenchyma * np.where(t < 30, 2.0, 0.5) * (1 + 0.5 * bolus * (t < 30))
    found = design_reading(t, lesion, parenchyma, peak_tolerance_s=0.0)
    assert (found["arterial"], found["washout"], found["washout_timing"], found["late"]) == ("hyper", True, "early",
                                                                                            "hypo")
    # R at the peak: its median over the times the lesion stands within 1 dB of its peak, |t − 18| ≤ w with
    # 1 + g(w) = 2·10^(−0.1) (g the Gaussian); R falls with |t − 18|, so the median lies at w/2
    w = 4.0 * np.sqrt(2.0 * np.log(1.0 / (2.0 * 10 ** -0.1 - 1.0)))
    assert found["arterial_db"] == pytest.approx(10 * np.log10(2.0 * (1.0 + np.exp(-0.5 * (w / 2 / 4.0) ** 2))), abs=0.05)
    assert found["washout_margin_db"] == pytest.approx(10 * np.log10(2.0) - 1.5, abs=0.05)
    assert found["washout_timing_margin_s"] == pytest.approx(30.0, abs=0.6)  # the 1-s smoothing spreads the step
    assert found["late_margin_db"] == pytest.approx(10 * np.log10(2.0) - 1.5, abs=0.01)
    assert label_margin_db(0.5) == pytest.approx(1.0) and label_margin_db(-2.0, PhaseOptions()) == pytest.approx(0.5)


# designed hyper lesions that read iso or hypo on their true masks before their mean was kept (rim, patches, edge)
MISREAD_BEFORE = ("proposal-06-hyper-early-marked", "proposal-08-hyper-early-iso", "proposal-15-hyper-none-hyper",
                  "proposal-20-hyper-none-iso")


@pytest.mark.parametrize("name", MISREAD_BEFORE)
def test_proposal_cases_read_their_designed_pattern_on_their_true_masks_clear_of_every_threshold(name):
    ph = PROPOSAL_CASES[name]
    spec = PATTERNS[ph.pattern]
    found = true_mask_reading(ph, peak_tolerance_s=0.0)
    assert (found["arterial"], found["washout_timing"], found["late"]) == (
        spec.arterial, spec.washout, spec.late if ph.duration_s >= 150 else "not_assessed")
    # arterial: R at every time the lesion's smoothed curve lies within 0.1 dB of its peak (where a noisy peak may
    # land); the hyper-early patterns' R falls ~5 dB/s there as the liver arrives, so their margin is 0.7–0.9 dB
    assert found["arterial_margin_db"] >= 0.75 and found["washout_margin_db"] >= 1.0
    assert found["washout_timing_margin_s"] is None or found["washout_timing_margin_s"] >= 5.0
    # hyper-none-hyper's late level is 1.8 × the liver's by design (+2.55 dB): ~1 dB clear, less a little partial volume
    assert found["late_margin_db"] is None or found["late_margin_db"] >= 0.75


def test_without_a_kept_mean_a_rim_lesion_reads_another_pattern():
    ph = replace(PROPOSAL_CASES["proposal-06-hyper-early-marked"], lesion_mean_kept=False)
    assert true_mask_reading(ph, peak_tolerance_s=0.0)["arterial"] != "hyper"


@pytest.mark.parametrize("dynamic_range_db", [45.0, 60.0])
def test_the_displayed_power_is_the_mean_of_clipped_speckle_on_the_screen(dynamic_range_db):
    # Monte-Carlo: exponential speckle through the scanner's log compression (8-bit grey) and back
    rng = np.random.default_rng(1)
    for mean_db in (-70.0, -dynamic_range_db - 3, -dynamic_range_db + 3, -30.0, -3.0, 3.0):
        power = 10 ** (mean_db / 10) * rng.exponential(1.0, 400_000)
        shown = grey_to_power(np.round(power_to_grey(power, dynamic_range_db)), dynamic_range_db).mean()
        expected = displayed_power(np.array([10 ** (mean_db / 10)]), dynamic_range_db)[0]
        assert expected == pytest.approx(float(shown), rel=0.02)
