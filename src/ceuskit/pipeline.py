"""One clip, end to end: clip + ROIs → TICs → fits → parameters → phase characterisation → analysis.json.

:func:`analyze` is the single-clip entry point used by the command line, the study runner and the web app.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit import __version__, quality
from ceuskit.errors import AnalysisError, InputError, RoiError
from ceuskit.io import open_clip
from ceuskit.io.clip import Clip
from ceuskit.models import FitResult, fit_curves
from ceuskit.models.parameters import fit_parameters, model_free_parameters
from ceuskit.onset import REASONS, ArrivalOptions, find_arrivals, largest_gap_s
from ceuskit.phases import PhaseOptions, characterise, lirads_category
from ceuskit.preprocess.linearize import DEFAULT_DYNAMIC_RANGE_DB, check_dynamic_range
from ceuskit.preprocess.overlays import detect_overlays
from ceuskit.quality import Flag
from ceuskit.roi import RoiSet, check_reference_frame, load_rois, parse_rois, roi_areas
from ceuskit.tic import TicResult, extract_tics, tic_table
from ceuskit.timeseries import check_injection_time, moving_average, spikes

__all__ = ["MODELS", "Analysis", "AnalysisOptions", "analyze", "write_outputs"]

MODELS = ("auto", "lognormal", "gamma", "ldrw", "fpt")

MAX_GAP_S = 2.0
"""An arrival that falls inside a stretch of missing frames longer than this (or four frame intervals) is unknown."""


@dataclass(frozen=True)
class AnalysisOptions:
    """Every setting that changes a result; hashed into the provenance."""

    injection_time_s: float = 0.0
    dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB
    model: str = "auto"
    motion: bool = True
    overlays: bool = True
    max_shift_mm: float = 8.0
    phases: PhaseOptions = field(default_factory=PhaseOptions)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze`: the analysis.json document and the TIC table (columns → arrays)."""

    document: dict[str, Any]
    tic: dict[str, np.ndarray] = field(repr=False)
    fitted: dict[str, np.ndarray] = field(repr=False)
    relative_db: dict[str, np.ndarray] = field(repr=False)

    def to_json(self) -> str:
        return json.dumps(self.document, indent=2, allow_nan=False)


def _validate_options(clip: Clip, opts: AnalysisOptions) -> None:
    check_dynamic_range(opts.dynamic_range_db)
    if opts.model not in MODELS:
        raise InputError(f"model {opts.model!r} is not one of {', '.join(MODELS)}")
    check_injection_time(opts.injection_time_s, clip.duration_s)
    if clip.n_frames < 8:
        raise AnalysisError(f"{clip.source}: {clip.n_frames} frame(s) is too few for a time–intensity analysis; a "
                            "CEUS cine loop is needed")


def _place_rois(clip: Clip, rois: RoiSet) -> RoiSet:
    """Move ROIs drawn on the B-mode half of a dual display onto the CEUS half (same anatomy)."""
    bmode, ceus = clip.bmode_region, clip.ceus_region
    if bmode is None:
        return rois
    bx0, by0, bx1, by1 = bmode.box
    inside_bmode = all(r.shape != "mask" and bx0 <= r.bounds()[0] and r.bounds()[2] <= bx1
                       and by0 <= r.bounds()[1] and r.bounds()[3] <= by1 for r in rois.rois)
    if inside_bmode:
        return rois.translated(ceus.box[0] - bx0, ceus.box[1] - by0)
    return rois


def _fit_json(result: FitResult, index: int) -> dict[str, Any]:
    model = result.model if isinstance(result.model, str) else str(result.model[index])
    params = {k: _num(v[index], 6) for k, v in result.params.items() if np.isfinite(v[index])}
    return {"model": model, "params": params, "r2": _num(result.r2[index], 5), "aic": _num(result.aic[index], 3),
            "success": bool(result.success[index]), "message": result.message[index]}


def _num(value: Any, digits: int = 4) -> float | None:
    value = float(value)
    return round(value, digits) if np.isfinite(value) else None


def _param_json(params: Mapping[str, np.ndarray], index: int) -> dict[str, float | None]:
    return {k: _num(v[index], 5) for k, v in params.items()}


def analyze(clip: str | Path | Clip, rois: str | Path | RoiSet | Mapping[str, Any], *,
            out_dir: str | Path | None = None, injection_time_s: float = 0.0,
            dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB, model: str = "auto", motion: bool = True,
            overlays: bool = True, fps: float | None = None, layout: str = "auto", size_mm: float | None = None,
            at_risk: bool | None = None, phase_options: PhaseOptions | None = None,
            progress: Callable[[int, int], None] | None = None) -> Analysis:
    """Analyse one clip: TICs per ROI, bolus fits, parameters and each lesion's phase characterisation.

    Parameters
    ----------
    clip : a path (DICOM, video, frame folder, .npy/.npz) or an open :class:`Clip`.
    rois : an ROI file path (JSON, PNG/NIfTI label mask), a parsed ROI document or a :class:`RoiSet`.
    out_dir : when given, ``analysis.json`` and ``tic.csv`` are written there atomically (the figure is the
        report layer's: :func:`ceuskit.report.write_analysis` writes all three).
    injection_time_s : injection moment, seconds after the clip's first frame (negative: before it).
    dynamic_range_db : the display dynamic range used to linearise grey values.
    model : "auto" (lowest AIC per curve) or one of "lognormal", "gamma", "ldrw", "fpt".
    motion : motion compensation with frame rejection.
    overlays : find burned-in overlays (timer, markers, callipers) and leave them out of tracking and TICs.
    fps, layout : passed to :func:`ceuskit.io.open_clip` when ``clip`` is a path.
    size_mm, at_risk : lesion size and HCC-risk status, for the CEUS LI-RADS decision support.
    progress : called with (frames done, total frames).
    """
    opened = clip if isinstance(clip, Clip) else open_clip(clip, fps=fps, layout=layout)
    try:
        return _analyze_open(opened, rois, out_dir=out_dir, size_mm=size_mm, at_risk=at_risk, progress=progress,
                             opts=AnalysisOptions(float(injection_time_s), float(dynamic_range_db), model, motion,
                                                  overlays, phases=phase_options or PhaseOptions()))
    finally:
        if not isinstance(clip, Clip):
            opened.close()


def _load_roi_set(rois: str | Path | RoiSet | Mapping[str, Any], clip: Clip) -> RoiSet:
    if isinstance(rois, RoiSet):
        return rois
    if isinstance(rois, Mapping):
        return parse_rois(rois, pixel_spacing_mm=clip.pixel_spacing_mm)
    return load_rois(rois, pixel_spacing_mm=clip.pixel_spacing_mm)


def _analyze_open(clip: Clip, rois_in: str | Path | RoiSet | Mapping[str, Any], *, out_dir: str | Path | None,
                  size_mm: float | None, at_risk: bool | None, opts: AnalysisOptions,
                  progress: Callable[[int, int], None] | None) -> Analysis:
    _validate_options(clip, opts)
    if size_mm is not None and (not np.isfinite(size_mm) or size_mm <= 0):
        raise InputError(f"lesion size {size_mm!r} mm must be a positive number")
    rois = _place_rois(clip, _load_roi_set(rois_in, clip))
    check_reference_frame(rois, clip.n_frames)
    for lesion in rois.lesions:
        if rois.reference_of(lesion) is None:
            raise RoiError("no parenchyma ROI: add a liver ROI with role 'parenchyma' to compare the lesion with")
    overlays = detect_overlays(clip) if opts.overlays else np.zeros((clip.rows, clip.columns), dtype=bool)
    tics = extract_tics(clip, rois, dynamic_range_db=opts.dynamic_range_db, motion=opts.motion,
                        max_shift_mm=opts.max_shift_mm, injection_time_s=opts.injection_time_s,
                        exclude=overlays if overlays.any() else None, progress=progress)
    names = [r.name for r in rois.rois]
    t = tics.times_s
    raw = np.vstack([tics.power[n] for n in names])
    flashes = spikes(t, raw)  # single-frame flashes and dropouts decide neither peaks nor fits
    curves = np.where(flashes, np.nan, raw)
    fit = fit_curves(t, curves, model=opts.model)
    fitted_params = fit_parameters(fit, t)
    free_params = model_free_parameters(t, curves, smoothing_s=opts.phases.smoothing_s)
    areas = roi_areas(rois, tics.masks, clip.pixel_spacing_mm)
    roi_docs: dict[str, Any] = {}
    for i, roi in enumerate(rois.rois):
        roi_docs[roi.name] = {
            "role": roi.role, "area_px": areas[roi.name][0], "area_mm2": _num(areas[roi.name][1] or np.nan, 2),
            "valid_frames": int(np.isfinite(curves[i]).sum()), "spikes": int(flashes[i].sum()),
            "fit": _fit_json(fit, i), "parameters": _param_json(fitted_params, i),
            "parameters_model_free": _param_json(free_params, i),
        }
    arrivals = _arrivals(t, curves, opts)
    flags = quality.display_flag(clip.display_map().note) + _quality(
        rois, names, tics, fit, arrivals, t, opts, flashes=flashes.sum(axis=1),
        left_out={name: (fitted_params.left_out(i), free_params.left_out(i)) for i, name in enumerate(names)})
    lesion_docs, relative = [], {}
    for roi in rois.lesions:
        i = names.index(roi.name)
        reference = rois.reference_of(roi)
        assert reference is not None
        # The onset is the arrival of the measured curve itself (backward from its arterial peak, above a
        # robust baseline); a bolus model fitted to a lesion fed by two supplies shifts its 5 % point, so the
        # fit only stands in when the curve has no samples to search.
        onset, source, reason = arrivals["arrival_time_s"][i], "model_free", REASONS[int(arrivals["reason"][i])]
        if reason == "no_data" and fit.success[i]:
            onset, source, reason = fitted_params["arrival_time_s"][i], "fit", None
        reading = characterise(t, curves[i], curves[names.index(reference.name)],
                               onset_s=float(onset) if np.isfinite(onset) else None, options=opts.phases)
        relative[roi.name] = reading.pop("relative_db")
        reading["arterial_phase"]["onset_source"] = source if np.isfinite(onset) else None
        reading["arterial_phase"]["onset_reason"] = reason
        lesion_docs.append({"roi": roi.name, "reference": reference.name, **reading,
                            "lirads": lirads_category(reading, size_mm=size_mm, at_risk=at_risk)})
    document = {
        "ceuskit_version": __version__,
        "clip": {"source": str(clip.source), "sha256": clip.sha256(), "n_frames": clip.n_frames,
                 "duration_s": round(clip.duration_s, 4), "frame_rate_hz": round(clip.frame_rate_hz, 4),
                 "pixel_spacing_mm": None if clip.pixel_spacing_mm is None else [round(v, 6) for v in clip.pixel_spacing_mm],
                 "injection_time_s": opts.injection_time_s, "dynamic_range_db": opts.dynamic_range_db,
                 "layout": clip.layout, "display": clip.display_map().to_json(),
                 "overlay_pixels": int(overlays.sum())},
        "motion": tics.motion.to_json(),
        "rois": roi_docs,
        "roi_set": rois.to_json(),
        "lesions": lesion_docs,
        "quality": [flag.to_json() for flag in flags],
        "provenance": {"software": f"ceuskit {__version__}", "options": opts.to_json(),
                       "options_hash": opts.digest(), "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "python": platform.python_version()},
    }
    smoothed = {n: moving_average(t, tics.power[n], opts.phases.smoothing_s) for n in names}
    analysis = Analysis(document, tic_table(tics, smoothed), {n: fit.fitted[i] for i, n in enumerate(names)}, relative)
    if out_dir is not None:
        write_outputs(analysis, out_dir)
    return analysis


def _arrivals(t: np.ndarray, curves: np.ndarray, opts: AnalysisOptions) -> dict[str, np.ndarray]:
    """Each curve's arrival (backward from its arterial peak); an arrival that falls inside a block of missing
    frames is unknown (reason "gap"): where in the gap the contrast came cannot be told."""
    arrivals = find_arrivals(t, curves, window_s=(0.0, opts.phases.arterial_end_s),
                             options=ArrivalOptions(smoothing_s=opts.phases.smoothing_s))
    allowed = max(MAX_GAP_S, 4.0 * float(np.median(np.diff(t))))
    for i, arrival in enumerate(arrivals["arrival_time_s"]):
        if np.isfinite(arrival) and largest_gap_s(t, curves[i], arrival, arrival) > allowed:
            arrivals["arrival_time_s"][i] = np.nan
            arrivals["reason"][i] = REASONS.index("gap")
    return arrivals


def _quality(rois: RoiSet, names: list[str], tics: TicResult, fit: FitResult, arrivals: Mapping[str, np.ndarray],
             t: np.ndarray, opts: AnalysisOptions, *, flashes: np.ndarray,
             left_out: Mapping[str, tuple[list[str], list[str]]]) -> list[Flag]:
    """Every quality flag of one analysis (DESIGN: analysis.json ``quality``)."""
    flags = quality.motion_flag(tics.motion.tracked, tics.motion.rejected, tics.motion.quality, tics.motion.applied)
    for i, name in enumerate(names):
        flags += quality.arrival_flags(name, REASONS[int(arrivals["reason"][i])], float(arrivals["enhancement_db"][i]))
        flags += quality.flash_flag(name, int(flashes[i]))
        flags += quality.extrapolated_flag(name, *left_out[name])
    peaks = {name: (float(arrivals["peak_time_s"][i]) if np.isfinite(arrivals["peak_time_s"][i]) else None)
             for i, name in enumerate(names)}
    flags += quality.saturation_flags(t, tics.saturated, peaks)
    flags += quality.fit_flags(names, fit.r2, fit.success, fit.message)
    flags += quality.overlay_flags(tics.overlay_pixels)
    for roi in rois.lesions:
        flags += quality.late_phase_flag(roi.name, float(t[-1]), opts.phases.late_start_s)
    return flags


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_outputs(analysis: Analysis, out_dir: str | Path, *,
                  figures: Mapping[str, Callable[[Path], object]] | None = None) -> Path:
    """Write analysis.json and tic.csv into ``out_dir`` atomically; returns the analysis.json path.

    ``figures`` maps further file names to functions that write them (the report layer passes its plots);
    everything goes into a temporary folder first and is moved in afterwards, analysis.json last, so an
    interrupted or failed run never leaves a partial analysis.json.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ceuskit-", dir=out))
    try:
        _write_tic_csv(analysis.tic, tmp / "tic.csv")
        for name, draw in (figures or {}).items():
            draw(tmp / name)
        (tmp / "analysis.json").write_text(json.dumps(analysis.document, indent=2, default=_json_default, allow_nan=False))
        for name in ("tic.csv", *(figures or {}), "analysis.json"):
            os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "analysis.json"


def _write_tic_csv(columns: Mapping[str, np.ndarray], path: Path) -> None:
    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    with open(path, "w") as fh:
        fh.write(",".join(names) + "\n")
        for row in data:
            fh.write(",".join("" if not np.isfinite(v) else (str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.6g}")
                              for v in row) + "\n")
