"""Results back to PACS: an analysis as a DICOM Structured Report (TID 1500) and its ROIs as DICOM SEG.

Both reference the source clip (a DICOM ultrasound file): same patient and study, the clip's SOP instance
and the ROIs' reference frame.  Built with highdicom.

Codes: real ones where DICOM/SNOMED define them (Imaging Measurement Report, Tracking Identifier, Neoplasm,
Liver, UCUM units); ceuskit's CEUS quantities and labels have no standard codes, so they use the private
coding scheme ``99CEUSKIT`` (PS3.16 8.2: a private scheme's designator starts with "99"), listed in
:data:`CEUS_CODES` — a reader maps them by value.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from ceuskit._atomic import atomic_path
from ceuskit.errors import ClipError, InputError
from ceuskit.roi import RoiSet

__all__ = ["CEUS_CODES", "PRIVATE_SCHEME", "PARAMETER_UNITS", "write_seg", "write_sr"]

PRIVATE_SCHEME = "99CEUSKIT"

CEUS_CODES: dict[str, str] = {
    # measurements (per lesion ROI)
    "arrival_time_s": "Arrival time after injection",
    "time_to_peak_s": "Time to peak after injection",
    "rise_time_s": "Rise time",
    "peak_enhancement_db": "Peak enhancement",
    "mean_transit_time_s": "Mean transit time",
    "wash_in_rate": "Wash-in rate",
    "wash_out_rate": "Wash-out rate",
    "wash_in_auc": "Wash-in area under the curve",
    "fall_time_s": "Fall time",
    "onset_s": "Arterial enhancement onset after injection",
    "relative_peak_db": "Arterial peak enhancement relative to liver",
    "washout_onset_s": "Wash-out onset after injection",
    "late_relative_db": "Late phase enhancement relative to liver",
    # qualitative evaluations and their values
    "arterial_enhancement": "Arterial phase enhancement",
    "washout": "Portal venous wash-out",
    "washout_timing": "Wash-out timing",
    "washout_degree": "Wash-out degree",
    "late_enhancement": "Late phase enhancement",
    "lirads": "CEUS LI-RADS category",
    "hyper": "Hyperenhancing", "iso": "Isoenhancing", "hypo": "Hypoenhancing",
    "early": "Early wash-out", "late": "Late wash-out", "none": "No wash-out",
    "mild": "Mild wash-out", "marked": "Marked wash-out",
    "yes": "Present", "no": "Absent",
    "procedure": "Contrast-enhanced ultrasound of the liver",
}
"""Value → meaning of the private ``99CEUSKIT`` codes."""

PARAMETER_UNITS: dict[str, tuple[str, str]] = {
    "arrival_time_s": ("s", "second"), "time_to_peak_s": ("s", "second"), "rise_time_s": ("s", "second"),
    "peak_enhancement_db": ("dB", "decibel"), "mean_transit_time_s": ("s", "second"),
    "wash_in_rate": ("/s", "per second"), "wash_out_rate": ("/s", "per second"),
    "wash_in_auc": ("s", "second"), "fall_time_s": ("s", "second"),
    "onset_s": ("s", "second"), "relative_peak_db": ("dB", "decibel"), "washout_onset_s": ("s", "second"),
    "late_relative_db": ("dB", "decibel"),
}
"""UCUM unit (code, meaning) of each measurement (power is relative, so rates are per second)."""


def _code(value: str) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=PRIVATE_SCHEME, meaning=CEUS_CODES[value])


def _ucum(name: str) -> Any:
    from highdicom.sr import CodedConcept

    unit, meaning = PARAMETER_UNITS[name]
    return CodedConcept(value=unit, scheme_designator="UCUM", meaning=meaning)


def read_source(path: str | Path) -> Dataset:
    """The clip's DICOM header (SR and SEG reference it); ClipError for anything that is not DICOM."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise ClipError(f"{path.name}: SR and SEG reference a DICOM clip; this is not one ({type(exc).__name__}). "
                        "Export from an analysis of the DICOM file instead") from None
    missing = [k for k in ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID") if k not in ds]
    if missing:
        raise ClipError(f"{path.name}: not a DICOM image that can be referenced (no {', '.join(missing)})")
    _fill_type2(ds)
    return ds


_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyID", "StudyDate", "StudyTime",
          "ReferringPhysicianName", "AccessionNumber")
"""Patient and study attributes a referencing object copies; empty (allowed: Type 2) where the clip lacks them."""


def _fill_type2(ds: Dataset) -> None:
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")


def _lesion_values(document: Mapping[str, Any], lesion: Mapping[str, Any]) -> dict[str, float]:
    """Measurements of one lesion: its ROI's parameters and its phase reading's numbers."""
    values: dict[str, float] = {}
    parameters = document["rois"][lesion["roi"]].get("parameters", {})
    for name in ("arrival_time_s", "time_to_peak_s", "rise_time_s", "peak_enhancement_db", "mean_transit_time_s",
                 "wash_in_rate", "wash_out_rate", "wash_in_auc", "fall_time_s"):
        values[name] = parameters.get(name)
    values["onset_s"] = lesion["arterial_phase"].get("onset_s")
    values["relative_peak_db"] = lesion["arterial_phase"].get("relative_peak_db")
    values["washout_onset_s"] = lesion["portal_venous_phase"].get("washout_onset_s")
    values["late_relative_db"] = lesion["late_phase"].get("relative_db")
    return {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


def _lesion_labels(lesion: Mapping[str, Any]) -> dict[str, str]:
    """Qualitative evaluations of one lesion: name → value code (both in :data:`CEUS_CODES`)."""
    pv = lesion["portal_venous_phase"]
    labels = {"arterial_enhancement": lesion["arterial_phase"].get("enhancement"),
              "washout": None if pv.get("washout") is None else ("yes" if pv["washout"] else "no"),
              "washout_timing": pv.get("washout_timing"),
              "washout_degree": pv.get("washout_degree"),
              "late_enhancement": lesion["late_phase"].get("enhancement")}
    return {k: v for k, v in labels.items() if v in CEUS_CODES}


def _region(roi: Any, source: Dataset, frame_number: int) -> Any:
    """The ROI as an SR image region (SCOORD) on the reference frame of the source."""
    from highdicom.sr import GraphicTypeValues, ImageRegion, SourceImageForRegion

    g = roi.geometry
    if roi.shape == "ellipse":
        (cx, cy), (rx, ry) = g["center"], g["radii"]
        if rx >= ry:
            points = [[cx - rx, cy], [cx + rx, cy], [cx, cy - ry], [cx, cy + ry]]
        else:
            points = [[cx, cy - ry], [cx, cy + ry], [cx - rx, cy], [cx + rx, cy]]
        graphic = GraphicTypeValues.ELLIPSE
    else:
        if roi.shape == "rectangle":
            x0, y0, x1, y1 = g["box"]
            points = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        elif roi.shape == "polygon":
            points = [list(p) for p in g["points"]]
        else:  # a label-mask ROI: its bounding box
            x0, y0, x1, y1 = roi.bounds()
            points = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        points = points + [points[0]]  # a closed polyline
        graphic = GraphicTypeValues.POLYLINE
    frames = [frame_number] if int(source.get("NumberOfFrames", 1) or 1) > 1 else None
    return ImageRegion(graphic_type=graphic, graphic_data=np.asarray(points, dtype=float) + 0.5,  # pixel centres
                       source_image=SourceImageForRegion.from_source_image(source, referenced_frame_numbers=frames))


def write_sr(path: str | Path, document: Mapping[str, Any], source: Dataset, rois: RoiSet, *,
             series_number: int = 901) -> Path:
    """Write ``document`` (an analysis.json) as a Comprehensive 3D SR with a TID 1500 measurement report.

    One measurement group per lesion: tracking identifier (ROI name + UID), the ROI as an image region on
    the reference frame, finding type Neoplasm, finding site Liver, every numeric result with its UCUM unit
    and the phase labels as coded qualitative evaluations.
    """
    import highdicom as hd
    from highdicom.sr import (
        Comprehensive3DSR,
        DeviceObserverIdentifyingAttributes,
        FindingSite,
        Measurement,
        MeasurementReport,
        ObservationContext,
        ObserverContext,
        PlanarROIMeasurementsAndQualitativeEvaluations,
        QualitativeEvaluation,
        TrackingIdentifier,
    )

    by_name = {r.name: r for r in rois.rois}
    groups = []
    for lesion in document.get("lesions", []):
        roi = by_name.get(lesion["roi"])
        if roi is None:
            raise InputError(f"analysis lesion {lesion['roi']!r} is not in the ROI file; export with the ROI "
                             "file the analysis used")
        measurements = [Measurement(name=_code(name), value=value, unit=_ucum(name))
                        for name, value in _lesion_values(document, lesion).items()]
        evaluations = [QualitativeEvaluation(name=_code(name), value=_code(value))
                       for name, value in _lesion_labels(lesion).items()]
        groups.append(PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=lesion["roi"]),
            referenced_region=_region(roi, source, rois.reference_frame + 1),
            finding_type=codes.SCT.Neoplasm, finding_sites=[FindingSite(codes.SCT.Liver)],
            measurements=measurements or None, qualitative_evaluations=evaluations or None))
    if not groups:
        raise InputError("the analysis has no lesion to report; analyse a clip with a lesion ROI first")
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="ceuskit", model_name=str(document.get("ceuskit_version", "ceuskit"))))
    report = MeasurementReport(observation_context=ObservationContext(observer_device_context=observer),
                               procedure_reported=_code("procedure"), imaging_measurements=groups)
    sr = Comprehensive3DSR(evidence=[source], content=report[0], series_number=series_number,
                           series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(), instance_number=1,
                           manufacturer="ceuskit", series_description="ceuskit CEUS measurements",
                           is_complete=True, is_final=False, is_verified=False)
    return _save(sr, path)


def write_seg(path: str | Path, source_path: str | Path, rois: RoiSet, *, series_number: int = 902) -> Path:
    """Write the ROIs as a BINARY DICOM Segmentation of the source clip's reference frame.

    Segment numbers follow the ROI order; lesions are typed Neoplasm, parenchyma ROIs Liver, labelled with
    the ROI names.  An ultrasound multi-frame image has no frame of reference, so the segmentation holds one
    frame per source frame; only the reference frame is non-empty and only it is stored.
    """
    import highdicom as hd
    from highdicom.seg import (
        SegmentAlgorithmTypeValues,
        Segmentation,
        SegmentationTypeValues,
        SegmentDescription,
    )

    source = read_source(source_path)  # header only: the segmentation needs no source pixels
    rows, columns = int(source.Rows), int(source.Columns)
    n_frames = int(source.get("NumberOfFrames", 1) or 1)
    if not 0 <= rois.reference_frame < n_frames:
        raise InputError(f"ROI reference frame {rois.reference_frame} is outside the clip's {n_frames} frames")
    labels = np.zeros((rows, columns), dtype=np.uint8)
    descriptions = []
    for number, roi in enumerate(rois.rois, 1):
        mask = roi.mask(rows, columns)
        if (mask & (labels > 0)).any():
            raise InputError(f"ROI {roi.name!r} overlaps an earlier ROI; a DICOM SEG label map needs them apart")
        labels[mask] = number
        lesion = roi.role == "lesion"
        descriptions.append(SegmentDescription(
            segment_number=number, segment_label=roi.name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure if lesion else codes.SCT.Organ,
            segmented_property_type=codes.SCT.Neoplasm if lesion else codes.SCT.Liver,
            algorithm_type=SegmentAlgorithmTypeValues.MANUAL))
    # highdicom segments a multi-frame image only within a frame of reference, which ultrasound lacks: it is
    # given the reference frame as a single-frame ultrasound image, and the references are put right after.
    view = Dataset(source)
    for keyword in ("NumberOfFrames", "FrameIncrementPointer"):
        if keyword in view:
            delattr(view, keyword)
    view.SOPClassUID = _US_IMAGE_STORAGE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = Segmentation(source_images=[view], pixel_array=labels,
                           segmentation_type=SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
                           series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(),
                           instance_number=1, manufacturer="ceuskit", manufacturer_model_name="ceuskit",
                           software_versions=_version(), device_serial_number="0",
                           series_description="ceuskit ROIs")
    _restore_references(seg, source, frame_number=rois.reference_frame + 1 if n_frames > 1 else None)
    return _save(seg, path)


_US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"


def _restore_references(ds: Dataset, source: Dataset, *, frame_number: int | None) -> None:
    """Point every reference to the source at its real SOP class and, when multi-frame, its frame."""
    for element in list(ds):
        if element.VR != "SQ":
            continue
        for item in element.value:
            if item.get("ReferencedSOPInstanceUID") == source.SOPInstanceUID:
                item.ReferencedSOPClassUID = source.SOPClassUID
                if frame_number is not None and element.keyword == "SourceImageSequence":
                    item.ReferencedFrameNumber = frame_number
            _restore_references(item, source, frame_number=frame_number)


def _version() -> str:
    from ceuskit import __version__

    return str(__version__)


def _save(dataset: Dataset, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.save_as(tmp, enforce_file_format=True)
    return path
