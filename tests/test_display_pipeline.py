"""End to end through the DICOM reader: a colour-mapped screen reads like its grey original, and overlays
left out of the ROIs do not change the TICs.

Truth: the same rendered phantom written once as grey and once through ``simulate.display`` (gold map, bar,
overlays); the comparison is between analyses, never against numbers the analysis produced itself.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ceuskit.io import open_clip
from ceuskit.pipeline import Analysis, analyze
from ceuskit.pixels import to_grey
from ceuskit.preprocess.overlays import detect_overlays
from ceuskit.roi import RoiSet, parse_rois, rois_from_label_mask
from ceuskit.simulate import Phantom, render_frames, write_dicom
from ceuskit.simulate.display import Overlay, apply_display

BASE = Phantom(fps=3.0, lead_in_s=3.0)


def _lesion(analysis: Analysis) -> tuple[float, float, np.ndarray]:
    lesion = analysis.document["lesions"][0]
    return (lesion["arterial_phase"]["relative_peak_db"], lesion["late_phase"]["relative_db"],
            analysis.relative_db["lesion"])


@pytest.mark.parametrize(("pattern", "seed", "bar"), [("hyper-early-hypo", 51, False), ("hypo-none-hypo", 52, True),
                                                     ("hyper-none-hyper", 53, False)])
def test_gold_copy_reads_like_the_grey_clip(tmp_path, pattern, seed, bar):
    ph = replace(BASE, pattern=pattern, seed=seed, breathing_amplitude_px=(2, 6))
    rendered = render_frames(ph)
    gold, _ = apply_display(rendered["frames"], rendered["times"], rendered["layout"].ceus_box, colour_map="gold",
                            colour_bar=bar)
    luminance = np.round(np.stack([to_grey(frame) for frame in gold])).astype(np.uint8)  # read the old way
    results = {}
    for name, frames in (("grey", rendered["frames"]), ("gold", gold), ("luminance", luminance)):
        write_dicom(tmp_path / f"{name}.dcm", frames, rendered["times"], ph, rendered["layout"])
        results[name] = _lesion(analyze(tmp_path / f"{name}.dcm", rendered["roi"], injection_time_s=ph.lead_in_s))
    grey, gold_read, by_luminance = results["grey"], results["gold"], results["luminance"]
    assert abs(gold_read[0] - grey[0]) <= 0.3 and abs(gold_read[1] - grey[1]) <= 0.3
    assert np.nanmax(np.abs(gold_read[2] - grey[2])) <= 0.3
    # the control: read by luminance, the gold screen misses the 0.3 dB criterion by far
    assert max(abs(by_luminance[0] - grey[0]), abs(by_luminance[1] - grey[1])) > 0.6


def _roi_overlays(roi_document: dict) -> tuple[Overlay, ...]:
    """Markers, a calliper and the timer drawn across the lesion and liver ROIs."""
    lesion, liver = roi_document["rois"]
    cx, cy = (int(round(v)) for v in lesion["center"])
    rx = int(lesion["radii"][0])
    points = np.array(liver["points"])
    lx, ly = (int(v) for v in points.mean(axis=0))
    return (Overlay("plus", (cx, cy), colour=(255, 255, 0)), Overlay("calliper", (cx - rx, cy + 4), (cx + rx, cy + 4)),
            Overlay("cross", (lx, ly + 8), colour=(0, 255, 255)), Overlay("timer", (lx - 9, ly - 14)))


def _without(rois: RoiSet, mask: np.ndarray, rows: int, columns: int) -> RoiSet:
    masks = rois.masks(rows, columns)
    labels = np.zeros((rows, columns), dtype=np.int32)
    labels[masks["lesion"] & ~mask] = 1
    labels[masks["liver"] & ~mask] = 2
    return rois_from_label_mask(labels)


@pytest.mark.parametrize("colour_map", [None, "gold"])
def test_overlays_left_out_of_the_rois_do_not_change_the_tics(tmp_path, colour_map):
    ph = replace(BASE, pattern="hyper-early-hypo", seed=61)
    rendered = render_frames(ph)
    layout, times = rendered["layout"], rendered["times"]
    overlays = _roi_overlays(rendered["roi"])
    decorated, truth = apply_display(rendered["frames"], times, layout.ceus_box, colour_map=colour_map,
                                     overlays=overlays)
    rois = parse_rois(rendered["roi"])
    masks = rois.masks(layout.rows, layout.columns)
    assert (truth & masks["lesion"]).sum() >= 20 and (truth & masks["liver"]).sum() >= 20  # overlays in both ROIs
    write_dicom(tmp_path / "clean.dcm", rendered["frames"], times, ph, layout)
    write_dicom(tmp_path / "decorated.dcm", decorated, times, ph, layout)
    with open_clip(tmp_path / "decorated.dcm") as clip:
        found = detect_overlays(clip)
    kept = _without(rois, found, layout.rows, layout.columns)

    def analysed(name: str, roi_set: RoiSet, **options: bool) -> Analysis:
        return analyze(tmp_path / f"{name}.dcm", roi_set, injection_time_s=ph.lead_in_s, motion=False, **options)

    def run(name: str, roi_set: RoiSet, **options: bool) -> tuple[float, float, np.ndarray]:
        return _lesion(analysed(name, roi_set, **options))

    clean_full, clean_kept, decorated_kept = run("clean", rois), run("clean", kept), run("decorated", kept)
    # every overlay pixel left the ROIs: the decorated clip reads as the clean one on the same pixels
    tolerance = 1e-6 if colour_map is None else 0.3
    assert np.nanmax(np.abs(decorated_kept[2] - clean_kept[2])) <= tolerance
    # the analysis finds them itself: the whole ROIs on the decorated clip read the same, and say so
    automatic = analysed("decorated", rois)
    assert np.nanmax(np.abs(_lesion(automatic)[2] - clean_kept[2])) <= tolerance
    flagged = {flag["roi"] for flag in automatic.document["quality"] if flag["code"] == "overlay_in_roi"}
    assert flagged == {"lesion", "liver"}
    # and leaving those pixels out changes the reading by less than the noise of the ROI's sampling
    assert abs(clean_kept[0] - clean_full[0]) <= 0.3 and abs(clean_kept[1] - clean_full[1]) <= 0.3
    if colour_map is None:  # the control: white overlays inside the ROIs do change a grey clip's relative dB
        white = tuple(replace(o, colour=(255, 255, 255)) for o in overlays)
        frames, _ = apply_display(rendered["frames"], times, layout.ceus_box, overlays=white)
        write_dicom(tmp_path / "white.dcm", frames, times, ph, layout)
        assert np.nanmax(np.abs(run("white", rois, overlays=False)[2] - clean_full[2])) > 1.0
