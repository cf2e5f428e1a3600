"""Characterisation of an examination's curves: flashes left out, fits, parameters, arrivals, each lesion's phases.

The step after the TICs, for one clip or a whole examination alike (:class:`ceuskit.timeline.Timeline`):
everything here works on the gapped curves and never bridges a gap between clips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ceuskit import quality
from ceuskit.kinetics import Events, explain_cut_phases, find_events, read_refills
from ceuskit.models import FitResult, fit_curves
from ceuskit.models.drawn import drawn_fit
from ceuskit.models.parameters import Parameters, fit_parameters, model_free_parameters
from ceuskit.onset import REASONS, ArrivalOptions, find_arrivals, largest_gap_s
from ceuskit.phases import PhaseOptions, characterise, lirads_category
from ceuskit.quality import Flag
from ceuskit.roi import RoiSet
from ceuskit.timeline import Timeline
from ceuskit.timeseries import round_or_none, spikes

__all__ = ["MAX_GAP_S", "Reading", "read_timeline"]

MAX_GAP_S = 2.0
"""An arrival that falls inside a stretch of missing frames longer than this (or four frame intervals) is unknown."""


@dataclass(frozen=True)
class Reading:
    """What :func:`read_timeline` found.

    From analysis.json: its ``rois`` and ``lesions``, the flags, and arrays (``fitted``: each ROI's fit as
    drawn over its data, :func:`ceuskit.models.drawn.drawn_fit`).
    """

    rois: dict[str, Any]
    lesions: list[dict[str, Any]]
    flags: list[Flag]
    fitted: dict[str, np.ndarray] = field(repr=False)
    relative_db: dict[str, np.ndarray] = field(repr=False)
    kinetics: dict[str, Any] = field(default_factory=dict)  # replenishment, destructions, steps (analysis.json)
    refill_fitted: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def _fit_json(result: FitResult, index: int) -> dict[str, Any]:
    params = {k: round_or_none(v[index], 6) for k, v in result.params.items() if np.isfinite(v[index])}
    return {"model": result.model_of(index), "params": params, "r2": round_or_none(result.r2[index], 5),
            "aic": round_or_none(result.aic[index], 3), "success": bool(result.success[index]),
            "message": result.message[index]}


def _param_json(params: Mapping[str, np.ndarray], index: int) -> dict[str, float | None]:
    return {k: round_or_none(v[index], 5) for k, v in params.items()}


def _arrivals(t: np.ndarray, curves: np.ndarray, phases: PhaseOptions) -> dict[str, np.ndarray]:
    """Each curve's arrival (backward from its arterial peak).

    An arrival that falls inside a block of missing frames is unknown (reason "gap"): where in the gap the
    contrast came cannot be told.
    """
    arrivals = find_arrivals(t, curves, window_s=(0.0, phases.arterial_end_s),
                             options=ArrivalOptions(smoothing_s=phases.smoothing_s))
    allowed = max(MAX_GAP_S, 4.0 * float(np.median(np.diff(t))))
    for i, arrival in enumerate(arrivals["arrival_time_s"]):
        if np.isfinite(arrival) and largest_gap_s(t, curves[i], arrival, arrival) > allowed:
            arrivals["arrival_time_s"][i] = np.nan
            arrivals["reason"][i] = REASONS.index("gap")
    return arrivals


def _flags(timeline: Timeline, lesions: list[dict[str, Any]], fit: FitResult, arrivals: Mapping[str, np.ndarray],
           flashes: np.ndarray, fitted: Parameters, free: Parameters, phases: PhaseOptions) -> list[Flag]:
    t, names = timeline.times_s, timeline.names
    flags: list[Flag] = []
    for i, name in enumerate(names):
        flags += quality.arrival_flags(name, REASONS[int(arrivals["reason"][i])], float(arrivals["enhancement_db"][i]))
        flags += quality.flash_flag(name, int(flashes[i].sum()))
        flags += quality.extrapolated_flag(name, fitted.left_out(i), free.left_out(i))
    peaks = {name: (float(arrivals["peak_time_s"][i]) if np.isfinite(arrivals["peak_time_s"][i]) else None)
             for i, name in enumerate(names)}
    flags += quality.saturation_flags(t, dict(zip(names, timeline.saturated, strict=True)), peaks)
    flags += quality.fit_flags(names, fit.r2, fit.success, fit.message)
    for lesion in lesions:  # the reading says whether its late phase was observed long enough
        if lesion["late_phase"]["enhancement"] == "not_assessed":
            flags += quality.late_phase_flag(lesion["roi"], float(t[-1]), phases.late_start_s,
                                             phases.min_late_duration_s)
    for lesion in lesions:  # the fit's arrival against where the curve itself puts it
        i = names.index(lesion["roi"])
        flags += quality.onset_disagreement_flag(lesion["roi"], lesion["arterial_phase"]["onset_s"],
                                                 float(fitted["arrival_time_s"][i]), float(free["arrival_time_s"][i]),
                                                 lesion["arterial_phase"]["peak_time_s"])
    return flags


def read_timeline(timeline: Timeline, rois: RoiSet, *, model: str, phases: PhaseOptions,
                  areas: Mapping[str, tuple[int | None, float | None]], size_mm: float | None = None,
                  at_risk: bool | None = None, kinetics: str = "auto") -> Reading:
    """Fits, parameters and each lesion's phase reading from an examination's curves.

    Destructions and level steps are found first (:mod:`ceuskit.kinetics`): the bolus reading uses the
    recording before the first destruction (its fits also stop at a level step), and the refills after the
    destructions are fitted with the replenishment model as ``kinetics`` says.

    Parameters
    ----------
    timeline : the curves on the examination's time axis (s after injection), gaps kept.
    rois : the ROI set (names and roles; lesions name their reference).
    model : "auto" or a bolus model name.
    phases : thresholds and windows of the reading.
    areas : ROI name → (area px, area mm²), either None when unknown (curves read from a table).
    size_mm, at_risk : for the CEUS LI-RADS decision support.
    kinetics : "auto", "bolus" or "replenishment" (:data:`ceuskit.kinetics.KINETICS`).

    Returns
    -------
    :class:`Reading`; its arrays span the whole timeline (NaN where a reading did not reach).
    """
    events = find_events(timeline)
    bolus = _read_bolus(timeline.cut(max(events.phase_end, 2)), rois, events, model=model, phases=phases, areas=areas,
                        size_mm=size_mm, at_risk=at_risk)
    explain_cut_phases(bolus.lesions, timeline, events, phases.late_start_s, phases.arterial_end_s)
    reasons = {lesion["roi"]: lesion["late_phase"].get("reason") for lesion in bolus.lesions}
    flags = [Flag(f.code, f.roi, f.severity, f"{reasons[f.roi]}: late enhancement not assessed")
             if f.code == "late_phase_missing" and reasons.get(f.roi) else f for f in bolus.flags]
    pairs = [(lesion["roi"], lesion["reference"]) for lesion in bolus.lesions]
    refills = read_refills(timeline, events, pairs, kinetics)
    for lesion in bolus.lesions:
        if refills.document:
            lesion["replenishment"] = refills.ratios.get(lesion["roi"], [])
    n = timeline.times_s.size

    def padded(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: np.concatenate([v, np.full(n - v.size, np.nan)]) for k, v in arrays.items()}

    document = {"kinetics": kinetics, "replenishment": refills.document,
                "replenishment_repeatability": refills.repeatability, **events.to_json(timeline.names)}
    return Reading(bolus.rois, bolus.lesions, flags + events.flags(timeline.times_s) + refills.flags,
                   padded(bolus.fitted), padded(bolus.relative_db), document, refills.fitted)


def _read_bolus(timeline: Timeline, rois: RoiSet, events: Events, *, model: str, phases: PhaseOptions,
                areas: Mapping[str, tuple[int | None, float | None]], size_mm: float | None, at_risk: bool | None
                ) -> Reading:
    """Return the bolus reading of the curves before the first destruction.

    Fits and parameters stop at ``events.fit_end``.
    """
    t, names = timeline.times_s, list(timeline.names)
    # single-frame flashes and dropouts decide neither peaks nor fits
    flashes = spikes(t, timeline.power, segments=timeline.segment)
    curves = np.where(flashes, np.nan, timeline.power)
    # the onset as the reader sees it: on the ROI's display level (the median of its pixels' dB), which a minority
    # of earlier-arriving pixels (a ring of liver, a vessel's glow, a vessel inside the outline) does not move,
    # where the mean power and the mean of the pixels' dB rise with them
    shown = np.where(flashes, np.nan, timeline.display_power)
    end = max(min(events.fit_end, t.size), 2)
    fit = fit_curves(t[:end], curves[:, :end], model=model)
    fitted_params = fit_parameters(fit, t[:end])
    free_params = model_free_parameters(t[:end], curves[:, :end], smoothing_s=phases.smoothing_s)
    roles = {roi.name: roi.role for roi in rois.rois}
    roi_docs: dict[str, Any] = {}
    for i, name in enumerate(names):
        area_px, area_mm2 = areas[name]
        roi_docs[name] = {
            "role": roles[name], "area_px": area_px, "area_mm2": round_or_none(area_mm2 or np.nan, 2),
            "valid_frames": int(np.isfinite(curves[i]).sum()), "spikes": int(flashes[i].sum()),
            "fit": _fit_json(fit, i), "parameters": _param_json(fitted_params, i),
            "parameters_model_free": _param_json(free_params, i),
        }
    arrivals = _arrivals(t[:end], shown[:, :end], phases)
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
                               onset_s=float(onset) if np.isfinite(onset) else None, options=phases,
                               segments=timeline.segment)
        relative[roi.name] = reading.pop("relative_db")
        reading["arterial_phase"]["onset_source"] = source if np.isfinite(onset) else None
        reading["arterial_phase"]["onset_reason"] = reason
        lesion_docs.append({"roi": roi.name, "reference": reference.name, **reading,
                            "lirads": lirads_category(reading, size_mm=size_mm, at_risk=at_risk)})
    flags = _flags(timeline, lesion_docs, fit, arrivals, flashes, fitted_params, free_params, phases)
    # the fits as drawn over the data in dB: above the measured baseline, where they describe the data a reader
    # sees — the TIC table's, spikes included (a sample mid-way up a fill-in step or a dropped frame is on the
    # screen, though left out of the fit) — over the fitted span only (fits stop at a level step)
    drawn = {n: np.full(t.shape, np.nan) for n in names}
    for i, n in enumerate(names):
        if fit.success[i]:
            drawn[n][:end] = drawn_fit(t[:end], timeline.power[i, :end], fit.fitted[i],
                                       fitted_baseline=float(fit.params["b"][i]),
                                       measured_baseline=float(arrivals["baseline"][i]),
                                       segments=timeline.segment[:end], smoothing_s=phases.smoothing_s)
    return Reading(roi_docs, lesion_docs, flags, drawn, relative)
