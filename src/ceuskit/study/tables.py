"""The cohort table: the newest analysis of every lesion flattened into one row per lesion."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ceuskit.models.parameters import PARAMETER_NAMES
from ceuskit.store import Store, cohort_records, reader_reads

__all__ = ["ROI_PARAMETERS", "cohort_frame"]

ROI_PARAMETERS = PARAMETER_NAMES
"""The lesion ROI's fitted parameters (analysis.json ``rois.NAME.parameters``) that become columns."""


def _lesion_result(document: dict[str, Any] | None, roi_name: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if not document:
        return {}, {}
    lesions = document.get("lesions") or []
    chosen = next((item for item in lesions if roi_name and item.get("roi") == roi_name), None)
    if chosen is None and lesions:
        chosen = lesions[0]
    if chosen is None:
        return {}, {}
    roi = (document.get("rois") or {}).get(chosen.get("roi"), {})
    return chosen, roi


def _quality_cell(document: dict[str, Any] | None) -> str | None:
    """Return the analysis's quality flags in one cell, ``code (roi); …`` (warnings first).

    None when there are none.
    """
    flags = (document or {}).get("quality") or []
    ordered = sorted(flags, key=lambda flag: flag.get("severity") != "warning")
    cell = "; ".join(f"{f['code']} ({f['roi']})" if f.get("roi") else f["code"] for f in ordered)
    return cell or None


def _roi_sources(document: dict[str, Any] | None, lesion: str | None, reference: str | None) -> dict[str, Any]:
    """How the analysed lesion and reference ROIs came to be.

    ``proposed``, ``accepted``, ``edited`` (after a one-click proposal) or ``drawn``, from the analysis's ROI
    set; None without an analysis.
    """
    if not document:
        return {"roi_source": None, "reference_source": None}
    marks = {item.get("name"): item.get("source") or "drawn" for item in (document.get("roi_set") or {}).get("rois", [])}
    return {"roi_source": marks.get(lesion), "reference_source": marks.get(reference)}


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    analysis = record.get("analysis") or {}
    document = analysis.get("document") if analysis.get("status") == "ok" else None
    lesion, roi = _lesion_result(document, record.get("roi_name"))
    arterial = lesion.get("arterial_phase") or {}
    portal = lesion.get("portal_venous_phase") or {}
    late = lesion.get("late_phase") or {}
    fit = roi.get("fit") or {}
    parameters = roi.get("parameters") or {}
    lirads = lesion.get("lirads")
    row: dict[str, Any] = {
        "lesion_db_id": record["id"], "patient_id": record["patient"], "lesion_id": record["lesion"],
        "primary_site": record["primary_site"], "ki67": record["ki67_percent"], "who_grade": record["who_grade"],
        "size_mm": record["size_mm"], "injection_time_s": record["injection_time_s"],
        "dynamic_range_db": record["dynamic_range_db"], "clip_sha256": record.get("clip_sha256"),
        "n_clips": record.get("n_clips"),
        "analysis_id": analysis.get("id"), "analysis_status": analysis.get("status"),
        "analysis_error": analysis.get("error"), "software_version": analysis.get("software_version"),
        "roi": lesion.get("roi"), "reference": lesion.get("reference"),
        "arterial_enhancement": arterial.get("enhancement"), "arterial_onset_s": arterial.get("onset_s"),
        "arterial_relative_peak_db": arterial.get("relative_peak_db"),
        "washout": portal.get("washout"), "washout_onset_s": portal.get("washout_onset_s"),
        "washout_interval_start_s": (portal.get("washout_onset_interval_s") or [None, None])[0],
        "washout_interval_end_s": (portal.get("washout_onset_interval_s") or [None, None])[1],
        "washout_timing": portal.get("washout_timing"), "washout_degree": portal.get("washout_degree"),
        "late_enhancement": late.get("enhancement"), "late_relative_db": late.get("relative_db"),
        "pattern": lesion.get("pattern"),
        "lirads": lirads.get("category") if isinstance(lirads, dict) else lirads,
        "fit_model": fit.get("model"), "fit_r2": fit.get("r2"), "fit_success": fit.get("success"),
        "area_mm2": roi.get("area_mm2"),
        "quality": _quality_cell(document),
        **_roi_sources(document, lesion.get("roi"), lesion.get("reference")),
    }
    for name in ROI_PARAMETERS:
        row[name] = parameters.get(name)
    return row


def cohort_frame(store: Store, study: int | str | None = None, *, reads: bool = True) -> pd.DataFrame:
    """One row per lesion: ids, clinical fields, analysis status and every parameter and label.

    Columns include ``patient_id``, ``lesion_id``, ``primary_site``, ``ki67`` (%), ``who_grade``,
    ``size_mm``, ``n_clips`` (clips of the lesion's examination; ``clip_sha256`` is the first's),
    ``arterial_enhancement``, ``arterial_onset_s``, ``washout``, ``washout_onset_s`` (or, for a wash-out that
    began between two clips, ``washout_interval_start_s`` … ``washout_interval_end_s``), ``late_enhancement``,
    the lesion ROI's fitted parameters (``time_to_peak_s``, …), ``quality`` (the analysis's quality flags, ``code (roi); …``),
    ``roi_source`` and ``reference_source`` (``drawn``, or ``proposed``/``accepted``/``edited`` after a one-click
    proposal) and, when reader reads exist, ``read_<reader>_arterial`` /
    ``_washout`` / ``_late`` and ``read_<reader>_onset_s`` (the onset a reader marked in a blinded reading
    session, s after injection).
    """
    records = cohort_records(store, study)
    frame = pd.DataFrame([_flatten(r) for r in records])
    if frame.empty:
        frame = pd.DataFrame(columns=list(_flatten({"id": 0, "patient": "", "lesion": "", "primary_site": None,
                                                    "ki67_percent": None, "who_grade": None, "size_mm": None,
                                                    "injection_time_s": 0.0, "dynamic_range_db": 60.0})))
    numeric = ["ki67", "size_mm", "arterial_onset_s", "arterial_relative_peak_db", "washout_onset_s",
               "washout_interval_start_s", "washout_interval_end_s",
               "late_relative_db", "fit_r2", "area_mm2", *ROI_PARAMETERS]
    for column in numeric:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if reads and not frame.empty:
        for read in reader_reads(store, study):
            for phase in ("arterial", "washout", "late"):
                column = f"read_{read['reader']}_{phase}"
                if column not in frame:
                    frame[column] = None
                frame.loc[frame["lesion_db_id"] == read["lesion_id"], column] = read[phase]
            column = f"read_{read['reader']}_onset_s"
            if column not in frame:
                frame[column] = float("nan")
            if read.get("onset_s") is not None:
                frame.loc[frame["lesion_db_id"] == read["lesion_id"], column] = float(read["onset_s"])
    return frame
