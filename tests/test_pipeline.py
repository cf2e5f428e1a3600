"""End to end on phantoms: every phase label right and the onset within 1 s of the simulator's truth.

Truth comes from the phantom's own parameters (ceuskit.simulate), never from the analysis.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from ceuskit.pipeline import analyze
from ceuskit.report import write_analysis
from ceuskit.simulate import PATTERNS, Phantom, simulate_clip

BASE = Phantom(fps=3.0, jitter=0.2, lead_in_s=3.0)
CASES = {
    **{f"{p}/static": replace(BASE, pattern=p, seed=10 + i) for i, p in enumerate(sorted(PATTERNS))},
    "hyper-early-hypo/breathing": replace(BASE, pattern="hyper-early-hypo", seed=31, breathing_amplitude_px=(2, 7)),
    "hyper-late-hypo/breathing": replace(BASE, pattern="hyper-late-hypo", seed=32, breathing_amplitude_px=(2, 7)),
    "hypo-none-hypo/breathing": replace(BASE, pattern="hypo-none-hypo", seed=33, breathing_amplitude_px=(2, 6)),
    "hyper-early-hypo/dual": replace(BASE, pattern="hyper-early-hypo", seed=41, dual=True,
                                     breathing_amplitude_px=(2, 7), out_of_plane_fraction=0.01),
    "iso-late-hypo/dual-right": replace(BASE, pattern="iso-late-hypo", seed=42, dual=True, ceus_side="right",
                                        breathing_amplitude_px=(2, 6)),
    "hyper-none-hyper/no-lead-in": replace(BASE, pattern="hyper-none-hyper", seed=43, lead_in_s=0.0, jitter=0.0),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = {}
    root = tmp_path_factory.mktemp("phantoms")
    for key, phantom in CASES.items():
        name = key.replace("/", "_")
        sim = simulate_clip(root, phantom, name=name)
        analysis = analyze(sim.dicom, sim.roi, injection_time_s=phantom.lead_in_s)
        write_analysis(analysis, root / name)
        out[key] = (sim.truth_data, analysis.document, root / name)
    return out


@pytest.mark.parametrize("key", list(CASES))
def test_phase_labels_match_the_phantom(results, key):
    truth, doc, _ = results[key]
    lesion = doc["lesions"][0]
    assert lesion["arterial_phase"]["enhancement"] == truth["pattern"]["arterial"]
    assert lesion["portal_venous_phase"]["washout"] == truth["pattern"]["washout"]
    assert lesion["portal_venous_phase"]["washout_timing"] == truth["pattern"]["washout_timing"]
    assert lesion["portal_venous_phase"]["washout_degree"] == truth["pattern"]["washout_degree"]
    assert lesion["late_phase"]["enhancement"] == truth["pattern"]["late"]
    assert abs(lesion["arterial_phase"]["onset_s"] - truth["onset_s"]) <= 1.0
    if truth["washout_onset_s"] is not None:
        assert abs(lesion["portal_venous_phase"]["washout_onset_s"] - truth["washout_onset_s"]) <= 2.0


def test_median_onset_error_at_most_half_a_second(results):
    errors = [abs(doc["lesions"][0]["arterial_phase"]["onset_s"] - truth["onset_s"]) for truth, doc, _ in results.values()]
    assert np.median(errors) <= 0.5


def test_dual_display_detected_and_tracked_on_bmode(results):
    truth, doc, _ = results["hyper-early-hypo/dual"]
    assert doc["clip"]["layout"] == "dual"
    assert doc["motion"]["applied"] is True
    # out-of-plane frames (lesion absent) are rejected
    assert doc["motion"]["rejected_frames"] >= len(truth["out_of_plane_frames"]) * 0.8


def test_outputs_written(results):
    truth, doc, folder = results["hyper-early-hypo/static"]
    on_disk = json.loads((folder / "analysis.json").read_text())
    assert on_disk["lesions"] == doc["lesions"]
    assert on_disk["clip"]["n_frames"] == len(truth["frame_times_s"])
    assert on_disk["clip"]["injection_time_s"] == 3.0
    header = (folder / "tic.csv").read_text().splitlines()[0].split(",")
    assert {"time_s", "lesion_power", "liver_power", "lesion_db"} <= set(header)
    assert (folder / "tic.png").stat().st_size > 10_000
    for key in ("arrival_time_s", "time_to_peak_s", "rise_time_s", "peak_enhancement", "peak_enhancement_db",
                "mean_transit_time_s", "wash_in_rate", "wash_out_rate", "wash_in_auc", "wash_out_auc",
                "wash_in_wash_out_auc", "wash_in_perfusion_index", "fall_time_s"):
        assert key in on_disk["rois"]["lesion"]["parameters"]
        assert key in on_disk["rois"]["lesion"]["parameters_model_free"]


def _tic_error_db(tmp_path, phantom, motion):
    sim = simulate_clip(tmp_path, phantom, name=f"m{int(motion)}")
    doc = analyze(sim.dicom, sim.roi, injection_time_s=phantom.lead_in_s, motion=motion)
    measured = np.asarray(doc.tic["lesion_power"], dtype=float)
    truth = np.asarray(sim.truth_data["tic_truth"]["lesion"])
    ok = np.isfinite(measured)
    return float(np.mean(np.abs(10 * np.log10(measured[ok] / truth[ok])))), doc.document["motion"]


@pytest.mark.parametrize("dual", [False, True])
def test_motion_compensation_reduces_tic_error(tmp_path, dual):
    phantom = replace(BASE, pattern="hyper-early-hypo", seed=77, dual=dual, breathing_amplitude_px=(2, 8))
    without, _ = _tic_error_db(tmp_path, phantom, motion=False)
    with_motion, motion = _tic_error_db(tmp_path, phantom, motion=True)
    assert motion["applied"] is True
    assert with_motion < 0.7 * without


def test_tracking_never_makes_a_static_clip_worse(tmp_path):
    phantom = replace(BASE, pattern="iso-none-iso", seed=78)
    without, _ = _tic_error_db(tmp_path, phantom, motion=False)
    with_motion, _ = _tic_error_db(tmp_path, phantom, motion=True)
    assert with_motion <= without * 1.05
