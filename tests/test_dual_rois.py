"""ROIs on a dual display (B-mode | CEUS) and on replayed curves: every ROI is measured, or refused — never a
silent ``no_data``.

The phantom's truth gives both halves' boxes (ceuskit.simulate); an ROI drawn on the B-mode half must give
the curve of the same place on the CEUS half, which the same ROI drawn there gives.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ceuskit.errors import RoiError
from ceuskit.pipeline import analyze
from ceuskit.simulate import Phantom, simulate_clip
from ceuskit.simulate.replay import replay_curves


@pytest.fixture(scope="module")
def dual(tmp_path_factory):
    ph = Phantom(pattern="hyper-early-hypo", dual=True, duration_s=40.0, fps=3.0, seed=12)
    return ph, simulate_clip(tmp_path_factory.mktemp("dual"), ph, name="dual")


def _moved(rois: dict, name: str, dx: float, dy: float) -> dict:
    out = json.loads(json.dumps(rois))
    for roi in out["rois"]:
        if roi["name"] != name:
            continue
        if "center" in roi:
            roi["center"] = [roi["center"][0] + dx, roi["center"][1] + dy]
        else:
            roi["points"] = [[x + dx, y + dy] for x, y in roi["points"]]
    return out


def test_an_roi_on_the_b_mode_half_is_measured_on_the_ceus_half(dual):
    ph, sim = dual
    truth = sim.truth_data
    rois = json.loads(sim.roi.read_text())
    dx, dy = (b - c for b, c in zip(truth["bmode_box"][:2], truth["ceus_box"][:2], strict=True))
    on_ceus = analyze(sim.dicom, rois, motion=False)
    mixed = analyze(sim.dicom, _moved(rois, "lesion", dx, dy), motion=False)  # lesion on B-mode, liver on CEUS
    both = analyze(sim.dicom, _moved(_moved(rois, "lesion", dx, dy), "liver", dx, dy), motion=False)
    for result in (mixed, both):
        assert "no_data" not in {f["code"] for f in result.document["quality"]}
        for name in ("lesion", "liver"):
            np.testing.assert_allclose(result.tic[f"{name}_power"], on_ceus.tic[f"{name}_power"], rtol=1e-6)
        assert result.document["lesions"][0]["pattern"] == on_ceus.document["lesions"][0]["pattern"]


def test_an_roi_on_neither_half_is_refused(dual):
    ph, sim = dual
    truth = sim.truth_data
    rois = json.loads(sim.roi.read_text())
    lesion = next(r for r in rois["rois"] if r["name"] == "lesion")
    gap_x = (min(truth["ceus_box"][2], truth["bmode_box"][2]) + max(truth["ceus_box"][0], truth["bmode_box"][0])) / 2
    outside = _moved(rois, "lesion", gap_x - lesion["center"][0], 0.0)  # centred in the dark band between halves
    with pytest.raises(RoiError, match="neither half of the dual display"):
        analyze(sim.dicom, outside, motion=False)


@pytest.mark.parametrize("layout", ["auto", "single"])
def test_replayed_curves_read_as_one_display_with_every_roi(tmp_path, layout):
    t = np.arange(0.0, 40.0, 0.25)
    bolus = 1e-4 + 0.05 * np.clip(t - 8, 0, None) ** 2 * np.exp(-np.clip(t - 8, 0, None) / 3) / 36 * np.e ** 2
    curves = {"lesion": bolus, "liver": 0.6 * bolus + 1e-4, "second": 1.3 * bolus}
    clip, roi = replay_curves(tmp_path, t, curves, dynamic_range_db=60.0)
    result = analyze(clip, roi, motion=False, layout=layout)
    assert result.document["clip"]["layout"] == "single"
    assert "no_data" not in {f["code"] for f in result.document["quality"]}
    for name, power in curves.items():  # each region's grey, linearised: the curve as the screen showed it
        grey = np.round(np.clip(255 * (1 + 10 * np.log10(power) / 60), 0, 255))
        np.testing.assert_allclose(result.tic[f"{name}_power"], 10 ** ((grey / 255 - 1) * 6), rtol=1e-5)
