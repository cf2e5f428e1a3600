"""Real-world conditions against the simulator's truth: tracking, TIC error, labels, colour maps, flags.

For every case of :mod:`ceuskit.simulate.cases`, the clip is read with and without motion compensation and
scored against its ground truth (:func:`ceuskit.simulate.score.score_analysis`): ROI placement error (px),
the largest applied shift beside the tissue's largest displacement from the reference frame (target: within
+2 px), lesion TIC error against the noiseless curve (dB), the arterial lesion–liver contrast error (dB,
target ±1), out-of-plane frames kept and in-plane frames rejected, sparse late frames kept, labels and onset. The ratios compare tracked with
untracked reading of the same clip in the same process. The colour-map figure reads a gold-mapped copy of
a grey clip and reports the largest relative-dB difference (target ≤ 0.3 dB).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np


def _read(path: Path, roi: Path, ph, motion: bool):  # type: ignore[no-untyped-def]
    from ceuskit.pipeline import analyze

    return analyze(path, roi, injection_time_s=ph.lead_in_s, dynamic_range_db=ph.dynamic_range_db, motion=motion)


def _colour_map_error_db(root: Path) -> float:
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.cases import REAL_WORLD

    gold = REAL_WORLD["gold-map"]
    readings = []
    for name, ph in (("grey", replace(gold, colour_map=None)), ("gold", gold)):
        sim = simulate_clip(root, ph, name=f"colour-{name}")
        readings.append(np.asarray(_read(sim.dicom, sim.roi, ph, True).relative_db["lesion"], dtype=float))
    return float(np.nanmax(np.abs(readings[0] - readings[1])))


def run() -> dict[str, object]:
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.cases import REAL_WORLD
    from ceuskit.simulate.score import score_analysis

    figures: dict[str, object] = {}
    labels_right, onset_errors, ratios = 0, [], []
    within_shift, moving, within_contrast, interrupted = 0, 0, 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, ph in REAL_WORLD.items():
            sim = simulate_clip(root, ph, name=name)
            scores = {}
            for motion in (True, False):
                analysis = _read(sim.dicom, sim.roi, ph, motion)
                scores[motion] = score_analysis(sim.truth_data, analysis.document, analysis.tic)
            tracked, still = scores[True], scores[False]
            labels_right += tracked["labels_right"]
            if tracked["onset_error_s"] is not None:
                onset_errors.append(abs(tracked["onset_error_s"]))
            ratio = tracked["tic_error_db"] / still["tic_error_db"]
            if max(ph.breathing_amplitude_px) >= 6:
                ratios.append(ratio)
            shift, still_shift = tracked["shift_error_px"], still["shift_error_px"]
            contrast = tracked["relative_peak_error_db"]
            if max(ph.breathing_amplitude_px) > 0:
                moving += 1
                within_shift += tracked["max_shift_px"] <= tracked["true_max_shift_px"] + 2.0
            if ph.out_of_plane_period_s > 0:
                interrupted += 1
                within_contrast += contrast is not None and abs(contrast) <= 1.0
            sparse = (f"; sparse late frames kept {tracked['sparse_kept']}/{tracked['sparse_in_plane']}"
                      if tracked["sparse_in_plane"] else "")
            figures[name] = (f"shift error median/p95/max {shift['median']:.1f}/{shift['p95']:.1f}/{shift['max']:.1f} px "
                             f"(still ROIs {still_shift['median']:.1f}/{still_shift['p95']:.1f}/"
                             f"{still_shift['max']:.1f}); max shift {tracked['max_shift_px']:.1f} px (tissue "
                             f"{tracked['true_max_shift_px']:.1f}); TIC error "
                             f"{tracked['tic_error_db']:.2f} dB (still {still['tic_error_db']:.2f}, ratio {ratio:.2f}); "
                             f"arterial contrast error {'—' if contrast is None else f'{contrast:+.2f}'} dB; "
                             f"out of plane kept {tracked['out_of_plane_kept']}/{len(sim.truth_data['out_of_plane_frames'])}, "
                             f"in plane rejected {tracked['in_plane_rejected']}{sparse}; "
                             f"labels {'right' if tracked['labels_right'] else tracked['label_errors']}")
        figures["labels right"] = f"{labels_right}/{len(REAL_WORLD)}"
        figures["moving cases with max shift ≤ tissue's + 2 px"] = f"{within_shift}/{moving}"
        figures["out-of-plane cases with arterial contrast within ±1 dB"] = f"{within_contrast}/{interrupted}"
        figures["onset error median/max (s, target ≤ 0.4/1.0)"] = (f"{np.median(onset_errors):.2f}/"
                                                                  f"{np.max(onset_errors):.2f}")
        figures["TIC error tracked/still, breathing ≥ 6 px (median ratio, target < 1)"] = round(float(np.median(ratios)), 2)
        figures["gold map vs grey, max relative dB difference (target ≤ 0.3)"] = round(_colour_map_error_db(root), 3)
    return figures
