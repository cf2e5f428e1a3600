"""A small fake cohort for the study/store/report tests, and stand-ins for ceuskit.pipeline.analyze(_examination).

Each fake "clip" is a JSON file holding the labels and times the fake analysis must report, so every
expected value in a test is known before the code under test runs.  The stand-in returns documents in
DESIGN's analysis.json schema (and the TIC arrays of ``pipeline.Analysis``).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit.errors import AnalysisError

# (patient, ki67 %, primary, arterial, washout timing, late, onset s)
COHORT = [
    ("P01", 1.0, "ileum", "hyper", "early", "hypo", 9.5),
    ("P02", 2.0, "ileum", "hyper", "early", "hypo", 11.0),
    ("P03", 2.5, "pancreas", "hyper", "none", "iso", 10.2),
    ("P04", 4.0, "pancreas", "hyper", "early", "hypo", 12.5),
    ("P05", 5.0, "ileum", "iso", "late", "hypo", 12.0),
    ("P06", 8.0, "pancreas", "hyper", "early", "iso", 14.1),
    ("P07", 12.0, "stomach", "hypo", "none", "hypo", 13.0),
    ("P08", 15.0, "pancreas", "hyper", "late", "hypo", 16.8),
    ("P09", 25.0, "ileum", "hyper", "early", "hyper", 15.5),
    ("P10", 40.0, "pancreas", "hyper", "none", "iso", 19.0),
]


@dataclass(frozen=True)
class FakeAnalysis:
    document: dict[str, Any]
    tic: dict[str, np.ndarray] = field(repr=False)
    fitted: dict[str, np.ndarray] = field(repr=False)
    relative_db: dict[str, np.ndarray] = field(repr=False)


def roi_document(lesion_name: str = "lesion") -> dict[str, Any]:
    return {"reference_frame": 3, "units": "px",
            "rois": [{"name": lesion_name, "role": "lesion", "shape": "ellipse", "center": [40, 40], "radii": [8, 6]},
                     {"name": "liver", "role": "parenchyma", "shape": "rectangle", "box": [60, 20, 90, 60]}]}


def fake_analyze(clip: Any, rois: Any, *, out_dir: Any = None, injection_time_s: float = 0.0,
                 dynamic_range_db: float = 60.0, model: str = "auto", motion: bool = True, fps: float | None = None,
                 progress: Any = None) -> FakeAnalysis:
    """Stand-in for ceuskit.pipeline.analyze: reads the planned result from the fake clip file."""
    plan = json.loads(Path(clip).read_text())
    if plan.get("sleep_s"):
        time.sleep(plan["sleep_s"])
    if plan.get("fail"):
        raise AnalysisError("no parenchyma reference could be tracked (planned failure)")
    name = rois["rois"][0]["name"] if isinstance(rois, dict) else "lesion"
    onset = plan["onset_s"] + injection_time_s * 0.0
    washout = plan["washout"] != "none"
    t = np.linspace(0.0, 150.0, 76)
    tau = np.clip(t - onset, 1e-6, None)
    lesion_curve = np.where(t > onset, np.exp(-((np.log(tau) - 2.5) ** 2) / 0.8) / tau, 0.0) + 1e-4
    liver_curve = np.where(t > onset + 4, np.exp(-((np.log(np.clip(t - onset - 4, 1e-6, None)) - 2.8) ** 2) / 1.0)
                           / np.clip(t - onset - 4, 1e-6, None), 0.0) + 1e-4
    parameters = {"arrival_time_s": onset, "time_to_peak_s": onset + 8.0 + plan["ki67"] / 10.0,
                  "rise_time_s": 8.0 + plan["ki67"] / 10.0, "peak_enhancement": 0.2 + plan["ki67"] / 100.0,
                  "peak_enhancement_db": -7.0 + plan["ki67"] / 20.0, "mean_transit_time_s": 30.0 - plan["ki67"] / 5.0,
                  "wash_in_rate": 0.05, "wash_out_rate": 0.01, "wash_in_auc": 1.0, "wash_out_auc": 2.0,
                  "wash_in_wash_out_auc": 3.0, "wash_in_perfusion_index": 0.1, "fall_time_s": float("nan")}
    fit = {"model": model if model != "auto" else "lognormal", "params": {"t0": onset}, "r2": 0.93, "aic": -120.0,
           "success": True, "message": "ok"}
    document = {
        "ceuskit_version": "test",
        "clip": {"source": str(clip), "sha256": "0" * 64, "n_frames": 76, "duration_s": 150.0, "frame_rate_hz": 0.5,
                 "pixel_spacing_mm": [0.2, 0.2], "injection_time_s": injection_time_s,
                 "dynamic_range_db": dynamic_range_db},
        "motion": {"applied": motion, "rejected_frames": 0, "max_shift_px": 1.0},
        "rois": {name: {"role": "lesion", "area_px": 150, "area_mm2": 6.0, "fit": fit, "parameters": parameters},
                 "liver": {"role": "parenchyma", "area_px": 1200, "area_mm2": 48.0, "fit": fit,
                           "parameters": dict(parameters)}},
        "lesions": [{"roi": name, "reference": "liver",
                     "arterial_phase": {"enhancement": plan["arterial"], "onset_s": onset,
                                        "relative_peak_db": {"hyper": 4.0, "iso": 0.3, "hypo": -3.0}[plan["arterial"]]},
                     "portal_venous_phase": {"washout": washout, "washout_onset_s": 50.0 if plan["washout"] == "early"
                                             else 75.0 if washout else None, "washout_timing": plan["washout"],
                                             "washout_degree": "mild" if washout else "none"},
                     "late_phase": {"enhancement": plan["late"],
                                    "relative_db": {"hyper": 2.0, "iso": 0.1, "hypo": -4.0}[plan["late"]]},
                     "pattern": f"arterial {plan['arterial']}, {plan['washout']} wash-out, late {plan['late']}",
                     "lirads": {"category": None}}],
        "quality": [{"code": code, "roi": name, "severity": "warning", "message": f"planned {code}"}
                    for code in plan.get("quality", [])],
    }
    tic = {"time_s": t, f"{name}_power": lesion_curve, "liver_power": liver_curve,
           f"{name}_power_smoothed": lesion_curve, "liver_power_smoothed": liver_curve}
    rel = 10 * np.log10(lesion_curve / liver_curve)
    return FakeAnalysis(document, tic, {name: lesion_curve, "liver": liver_curve}, {name: rel})


def write_cohort(folder: Path, *, rows: list[tuple] | None = None, fail: set[str] = frozenset(),
                 sleep_s: float = 0.0, extra_columns: dict[str, str] | None = None,
                 flags: dict[str, list[str]] | None = None) -> Path:
    """Fake clips, ROI files and ``manifest.csv`` (and ``reads.csv``) for ``rows`` (default COHORT); ``flags``
    maps a patient to the quality flag codes its planned analysis carries (on its lesion ROI)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clips").mkdir(exist_ok=True)
    lines = []
    reads = []
    for pid, ki67, primary, arterial, washout, late, onset in rows or COHORT:
        plan = {"ki67": ki67, "arterial": arterial, "washout": washout, "late": late, "onset_s": onset,
                "fail": pid in fail, "sleep_s": sleep_s, "quality": (flags or {}).get(pid, [])}
        (folder / "clips" / f"{pid}.dcm").write_text(json.dumps(plan))
        (folder / "clips" / f"{pid}.roi.json").write_text(json.dumps(roi_document()))
        lines.append({"patient_id": pid, "lesion_id": "L1", "clip": f"clips/{pid}.dcm", "roi": f"clips/{pid}.roi.json",
                      "ki67": ki67, "primary_site": primary, "injection_time_s": 2.0, "size_mm": 14.0,
                      **(extra_columns or {})})
        reads.append({"patient_id": pid, "lesion_id": "L1", "reader": "reader1", "arterial": arterial,
                      "washout": washout, "late": late})
        reads.append({"patient_id": pid, "lesion_id": "L1", "reader": "reader2", "arterial": arterial,
                      "washout": "none" if pid in ("P01", "P02") else washout, "late": "iso" if pid == "P07" else late})
    with open(folder / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    with open(folder / "reads.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(reads[0]))
        writer.writeheader()
        writer.writerows(reads)
    return folder / "manifest.csv"


def rewrite_line(manifest: Path, line: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` on 1-based ``line`` of a manifest (which must contain ``old``)."""
    lines = manifest.read_text().splitlines()
    assert old in lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    manifest.write_text("\n".join(lines) + "\n")


def fake_analyze_examination(clips: list[Any], rois: list[Any], options: Any = None, *,
                             clip_offsets_s: list[float | None] | None = None, progress: Any = None) -> FakeAnalysis:
    """Stand-in for ceuskit.pipeline.analyze_examination: the first clip's planned result, the late phase from
    the last sweep's plan, and what it was given (clips, ROI names, offsets) in ``document["given"]``.

    An examination of one clip is that clip's planned result (:func:`fake_analyze`), as the pipeline's
    single-clip ``analyze`` is ``analyze_examination`` of one clip."""
    settings = {name: getattr(options, name) for name in ("injection_time_s", "dynamic_range_db", "model", "motion",
                                                            "fps")} if options is not None else {}
    if len(clips) == 1:
        return fake_analyze(clips[0], rois[0], **settings)
    first = fake_analyze(clips[0], rois[0], **settings)
    sweeps = [json.loads(Path(c).read_text()) for c in clips[1:]]
    document = json.loads(json.dumps(first.document))
    document["lesions"][0]["late_phase"]["enhancement"] = sweeps[-1]["late"]
    document["clips"] = [{"source": str(c), "sha256": "0" * 64, "offset_s": 120.0 * k, "acquired": None,
                          "n_frames": 76} for k, c in enumerate(clips)]
    document["given"] = {"clips": [Path(c).name for c in clips],
                         "rois": [r["rois"][0]["name"] for r in rois], "clip_offsets_s": clip_offsets_s}
    tic = dict(first.tic)
    tic["clip"] = np.zeros(len(tic["time_s"]))
    return FakeAnalysis(document, tic, first.fitted, first.relative_db)


def write_examination_cohort(folder: Path, *, sweeps: int = 2, rows: list[tuple] | None = None) -> Path:
    """The fake cohort as examinations: per patient a loop (the COHORT plan, but late "iso") and ``sweeps``
    sweep files whose plans give the COHORT's late phase; ``manifest.csv`` lists them ``;``-separated, each with its own ROI file (the
    lesion ROI of sweep k is named ``lesion`` too, drawn elsewhere)."""
    manifest = write_cohort(folder, rows=rows)
    with open(manifest, newline="") as fh:
        lines = list(csv.DictReader(fh))
    for line, (pid, *_rest, late, _onset) in zip(lines, rows or COHORT, strict=True):
        loop = folder / "clips" / f"{pid}.dcm"
        loop.write_text(json.dumps({**json.loads(loop.read_text()), "late": "iso"}))  # the loop alone: not the truth
        clips, roi_files = [line["clip"]], [line["roi"]]
        for k in range(1, sweeps + 1):
            (folder / "clips" / f"{pid}_s{k}.dcm").write_text(json.dumps({"late": late, "sweep": k}))
            document = roi_document()
            document["rois"][0]["center"] = [40 + 5 * k, 40 - 3 * k]
            (folder / "clips" / f"{pid}_s{k}.roi.json").write_text(json.dumps(document))
            clips.append(f"clips/{pid}_s{k}.dcm")
            roi_files.append(f"clips/{pid}_s{k}.roi.json")
        line["clip"], line["roi"] = ";".join(clips), ";".join(roi_files)
    with open(manifest, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    return manifest
