"""One-click proposals against the simulator's truth (issue 24's acceptance figures).

``python -m benchmarks.propose_accuracy [--clicks N] [--cache DIR] [--out FILE] [--only SUBSTRING]``

* **Outline.** Every real-world case and every proposal case (:data:`ceuskit.simulate.cases.REAL_WORLD`,
  :data:`~ceuskit.simulate.cases.PROPOSAL_CASES`): N clicks in the inner half of the lesion (its centroid and
  N − 1 random points at most half-way to its outline) on the frame a reader clicks on
  (:func:`ceuskit.simulate.score_proposals.click_frame`); Dice of each proposed outline with the true mask.
  A clip whose lesion the truth says no pixel shows (iso in every phase on a CEUS-only screen) is expected to be
  refused.
* **Reading.** For the centroid click, the analysis with the proposed ROIs against the analysis with the true
  masks (lesion, and true parenchyma at its depth): every label, and the arterial onset (with R at the arterial
  peak and in the late phase, to tell a knife edge from an outline's fault).
* **Design.** For every proposal case, the noiseless true-mask reading
  (:func:`ceuskit.simulate.true_reading.true_mask_reading`) against its designed pattern, with each phase's
  margin from the threshold that would change its label.
* **Liver reference.** Share of its pixels in the true parenchyma, pixels over a true vessel.
* **Sweeps.** Twelve simulated examinations (lognormal late phase, 60 dB), sweeps at 120, 180 and 240 s with
  the probe moved by up to a lesion's diameter: the loop's ROIs (true, and proposed from the centroid click)
  carried to each sweep; distance of the carried lesion's centre from the true one on the chosen frame.

Prints a summary and writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

EXAMINATION_CASES = ("proposal-01-hyper-early-hypo", "proposal-02-hyper-late-hypo", "proposal-03-hypo-none-hypo",
                     "proposal-04-hyper-none-iso", "proposal-09-hyper-early-hypo", "proposal-14-hyper-early-marked",
                     "proposal-18-hyper-late-hypo", "proposal-19-hypo-none-hypo", "proposal-22-hyper-early-marked",
                     "proposal-27-hypo-none-hypo", "proposal-29-iso-late-hypo", "proposal-24-hyper-early-iso")


def _invisible(truth: dict[str, Any]) -> bool:
    """The lesion differs from the liver in no pixel: iso in every phase, homogeneous, on a CEUS-only screen."""
    ph = truth["phantom"]
    return (truth["pattern"]["arterial"] == "iso" and not truth["pattern"]["washout"]
            and truth["pattern"]["late"] == "iso" and not ph["dual"] and not ph["lesion_heterogeneity"]
            and not ph["lesion_rim_px"])


def _reading(analysis: Any) -> dict[str, Any]:
    lesion = analysis.document["lesions"][0]
    arterial, pv, late = lesion["arterial_phase"], lesion["portal_venous_phase"], lesion["late_phase"]
    return {"arterial": arterial["enhancement"], "washout": pv["washout"], "timing": pv["washout_timing"],
            "late": late["enhancement"], "onset_s": arterial["onset_s"], "arterial_db": arterial["relative_peak_db"],
            "peak_time_s": arterial["peak_time_s"], "washout_onset_s": pv["washout_onset_s"], "late_db": late["relative_db"]}


def design_figures(ph: Any) -> dict[str, Any]:
    """The noiseless true-mask reading of a proposal case against its designed pattern, with each phase's margin."""
    from ceuskit.simulate.phantom import PATTERNS
    from ceuskit.simulate.true_reading import true_mask_reading

    spec = PATTERNS[ph.pattern]
    found = true_mask_reading(ph)
    at_peak = true_mask_reading(ph, peak_tolerance_s=0.0)["arterial_margin_db"]
    designed = (spec.arterial, spec.washout, spec.late)
    read = (found["arterial"], found["washout_timing"], found["late"])
    return {**found, "arterial_margin_at_peak_db": at_peak,
            "as_designed": all(a == b or b == "not_assessed" for a, b in zip(designed, read, strict=True))}


def outline_figures(name: str, ph: Any, root: Path, clicks: int) -> dict[str, Any]:
    from ceuskit.errors import ProposalError
    from ceuskit.io import open_clip
    from ceuskit.pipeline import analyze
    from ceuskit.propose import propose_rois
    from ceuskit.roi import parse_rois
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.score_proposals import click_frame, dice, inner_half_clicks, true_mask, truth_rois

    path = root / f"{name}.dcm"
    if not path.exists():
        simulate_clip(root, ph, name=name)
    truth = json.loads((root / f"{name}.truth.json").read_text())
    frame = click_frame(truth)
    lesion = true_mask(truth, "lesion", frame)
    out: dict[str, Any] = {"frame": frame, "invisible": _invisible(truth), "clicks": []}
    first = None
    with open_clip(path) as clip:
        for k, (x, y) in enumerate(inner_half_clicks(lesion, clicks, seed=len(name))):
            start = time.perf_counter()
            try:
                proposal = propose_rois(clip, (x, y), frame=frame, dynamic_range_db=ph.dynamic_range_db,
                                        injection_time_s=ph.lead_in_s)
            except ProposalError as exc:
                out["clicks"].append({"click": [round(x, 1), round(y, 1)], "refused": str(exc)})
                continue
            masks = parse_rois(proposal.document).masks(clip.rows, clip.columns)
            out["clicks"].append({"click": [round(x, 1), round(y, 1)], "dice": round(dice(masks["lesion"], lesion), 4),
                                  "confidence": proposal.confidence, "seconds": round(time.perf_counter() - start, 2)})
            if k == 0:
                first = (proposal, masks)
    if first is None:
        return out
    proposal, masks = first
    if "liver" in masks:
        liver = masks["liver"]
        out["liver_in_parenchyma"] = round(float((liver & true_mask(truth, "parenchyma", frame)).sum() / liver.sum()), 4)
        out["liver_over_vessel_px"] = int((liver & true_mask(truth, "vessel", frame)).sum())
        readings = {}
        for label, rois in (("proposed", parse_rois(proposal.document)), ("truth", truth_rois(truth, frame))):
            readings[label] = _reading(analyze(path, rois, injection_time_s=ph.lead_in_s,
                                               dynamic_range_db=ph.dynamic_range_db))
        out["reading"] = readings
        same = all(readings["proposed"][k] == readings["truth"][k] for k in ("arterial", "washout", "timing", "late"))
        onsets = readings["proposed"]["onset_s"], readings["truth"]["onset_s"]
        out["labels_same"] = same
        out["onset_difference_s"] = None if None in onsets else round(abs(onsets[0] - onsets[1]), 3)
    return out


def carry_figures(name: str, ph: Any, root: Path) -> list[dict[str, Any]]:
    from ceuskit.errors import ProposalError
    from ceuskit.io import open_clip
    from ceuskit.propose import carry_rois, loop_template, propose_rois
    from ceuskit.roi import parse_rois, rois_from_label_mask
    from ceuskit.simulate.examination import probe_moves_within, simulate_examination
    from ceuskit.simulate.score_proposals import click_frame, true_mask

    ph = replace(ph, curve_family="lognormal", dynamic_range_db=60.0)
    folder = root / f"exam-{name}"
    if not (folder / "exam.truth.json").exists():
        moves = probe_moves_within(2 * max(ph.lesion_radii_px), 3, seed=len(name), phantom=ph)
        simulate_examination(folder, ph, probe_moves_px=moves)
    exam = json.loads((folder / "exam.truth.json").read_text())
    loop_truth = {**exam["clips"][0], "pattern": exam["pattern"], "washout_onset_s": exam["washout_onset_s"],
                  "injection_time_s": exam["injection_time_s"], "reference_frame": exam["clips"][0]["reference_frame"]}

    def centre(mask: np.ndarray) -> np.ndarray:
        rows, cols = np.nonzero(mask)
        return np.array([cols.mean(), rows.mean()])

    results = []
    with open_clip(folder / exam["clips"][0]["dicom"]) as loop:
        frame = click_frame(loop_truth)
        lesion = true_mask(loop_truth, "lesion", frame)
        sources = {"true": rois_from_label_mask(lesion.astype(np.uint8), reference_frame=frame)}
        try:
            proposal = propose_rois(loop, tuple(centre(lesion)), frame=frame, dynamic_range_db=60.0,
                                    injection_time_s=ph.lead_in_s)
            sources["proposed"] = parse_rois(proposal.document)
        except ProposalError as exc:
            results.append({"case": name, "source": "proposed", "refused": str(exc)})
        templates = {key: (loop_template(loop, rois, dynamic_range_db=60.0),
                           centre(rois.masks(loop.rows, loop.columns)["lesion"]))
                     for key, rois in sources.items()}
    for k, clip_truth in enumerate(exam["clips"][1:], start=1):
        with open_clip(folder / clip_truth["dicom"]) as sweep:
            for key, (template, start_centre) in templates.items():
                carried = carry_rois(template, sweep, dynamic_range_db=60.0)
                truth_centre = centre(true_mask(clip_truth, "lesion", carried.frame))
                error = float(np.hypot(*(start_centre + np.array(carried.offset_px) - truth_centre)))
                # the carry's own part: the found offset against the true lesion's move (loop frame → sweep frame)
                offset = float(np.hypot(*(np.array(carried.offset_px) - truth_centre + centre(lesion))))
                results.append({"case": name, "sweep": k, "source": key, "error_px": round(error, 2),
                                "offset_error_px": round(offset, 2), "frame": carried.frame,
                                "loop_error_px": round(float(np.hypot(*(start_centre - centre(lesion)))), 2),
                                "confidence": carried.confidence, "move_px": clip_truth["probe_move_px"]})
    return results


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    dices = [c["dice"] for item in report["outlines"].values() if not item["invisible"] for c in item["clicks"]
             if "dice" in c]
    refused = [n for n, item in report["outlines"].items() if not item["invisible"]
               for c in item["clicks"] if "refused" in c]
    invisible_refused = [n for n, item in report["outlines"].items() if item["invisible"]
                         and all("refused" in c for c in item["clicks"])]
    readings = [item for item in report["outlines"].values() if "labels_same" in item]
    onsets = [item["onset_difference_s"] for item in readings if item["onset_difference_s"] is not None]
    livers = [item for item in report["outlines"].values() if "liver_in_parenchyma" in item]
    designs = [item["design"] for item in report["outlines"].values() if "design" in item]

    def least(key: str) -> float | None:
        values = [d[key] for d in designs if d.get(key) is not None]
        return round(min(values), 3) if values else None
    carried = report["carried"]
    summary = {
        "clips": len(report["outlines"]), "outlines": len(dices), "refused_visible": len(refused),
        "invisible_refused": invisible_refused,
        "dice_median": round(float(np.median(dices)), 4) if dices else None,
        "dice_worst": round(float(np.min(dices)), 4) if dices else None,
        "dice_below_0.85": int(sum(d < 0.85 for d in dices)),
        "readings_labels_same": f"{sum(item['labels_same'] for item in readings)}/{len(readings)}",
        "onset_difference_max_s": round(max(onsets), 3) if onsets else None,
        "onset_within_0.3s": f"{sum(o <= 0.3 for o in onsets)}/{len(onsets)}",
        "liver_in_parenchyma_min": round(min(item["liver_in_parenchyma"] for item in livers), 4) if livers else None,
        "liver_over_vessel_px_max": max(item["liver_over_vessel_px"] for item in livers) if livers else None,
        "true_mask_as_designed": f"{sum(d['as_designed'] for d in designs)}/{len(designs)}",
        "design_margin_min": {"arterial_at_peak_db": least("arterial_margin_at_peak_db"),
                              "arterial_near_peak_db": least("arterial_margin_db"), "washout_db": least("washout_margin_db"),
                              "washout_timing_s": least("washout_timing_margin_s"), "late_db": least("late_margin_db")},
    }
    for source in ("true", "proposed"):
        errors = [c["error_px"] for c in carried if c.get("source") == source and "error_px" in c]
        if errors:
            summary[f"carry_{source}_median_px"] = round(float(np.median(errors)), 2)
            summary[f"carry_{source}_worst_px"] = round(float(np.max(errors)), 2)
            summary[f"carry_{source}_n"] = len(errors)
    return summary


def main(argv: list[str] | None = None) -> int:
    from ceuskit.simulate.cases import PROPOSAL_CASES, REAL_WORLD

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=None, help="keep the simulated clips here")
    parser.add_argument("--out", type=Path, default=Path("propose-accuracy.json"))
    parser.add_argument("--only", default="")
    parser.add_argument("--no-sweeps", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.cache or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = {"outlines": {}, "carried": []}
        for name, ph in {**REAL_WORLD, **PROPOSAL_CASES}.items():
            if args.only in name:
                report["outlines"][name] = outline_figures(name, ph, root, args.clicks)
                if name in PROPOSAL_CASES:
                    report["outlines"][name]["design"] = design_figures(ph)
                print(name, json.dumps(report["outlines"][name]["clicks"]), flush=True)
        if not args.no_sweeps:
            for name in EXAMINATION_CASES:
                if args.only in name:
                    report["carried"] += carry_figures(name, PROPOSAL_CASES[name], root)
                    print(name, json.dumps(report["carried"][-3:]), flush=True)
    report["summary"] = summarise(report)
    args.out.write_text(json.dumps(report, indent=1))
    for key, value in report["summary"].items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
