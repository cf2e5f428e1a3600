"""Results back to PACS: an analysis as a DICOM Structured Report (TID 1500) and its ROIs as DICOM SEG.

Both reference the source clip (a DICOM ultrasound file): same patient and study, the clip's SOP instance
and the ROIs' reference frame.  Built with highdicom.

Codes: real ones where DICOM/SNOMED CT define them (Imaging Measurement Report, Tracking Identifier,
Neoplasm, Liver, Bolus Arrival Time, Time To Peak, Mean Transit Time, Maximum Slope, Yes/No, UCUM units;
:data:`STANDARD_CODES`, all from pydicom's code dictionary); the other CEUS quantities and labels have no
standard code, so they use the private coding scheme ``99CEUSKIT`` (PS3.16 8.2: a private scheme's
designator starts with "99"), listed in :data:`CEUS_CODES` — a reader maps them by code value.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from ceuskit._atomic import atomic_path
from ceuskit._version import __version__
from ceuskit.errors import ClipError, InputError
from ceuskit.models.parameters import PARAMETER_NAMES
from ceuskit.roi import RoiSet

__all__ = ["CEUS_CODES", "MEASUREMENT_UNITS", "PRIVATE_SCHEME", "ROI_PARAMETERS", "STANDARD_CODES", "build_seg",
           "build_sr", "concept", "lesion_labels", "lesion_values", "read_source", "save", "write_seg", "write_sr"]

PRIVATE_SCHEME = "99CEUSKIT"

CEUS_CODES: dict[str, tuple[str, str]] = {
    # measurements without a standard code (per lesion ROI and its phase reading)
    "rise_time_s": ("RT", "Rise time"),
    "peak_enhancement": ("PE", "Peak enhancement, linear power"),
    "peak_enhancement_db": ("PE-DB", "Peak enhancement, dB"),
    "wash_out_rate": ("WOR", "Wash-out rate"),
    "wash_in_auc": ("WIAUC", "Wash-in area under the curve"),
    "wash_out_auc": ("WOAUC", "Wash-out area under the curve"),
    "wash_in_wash_out_auc": ("WIWOAUC", "Wash-in and wash-out area under the curve"),
    "wash_in_perfusion_index": ("WIPI", "Wash-in perfusion index"),
    "fall_time_s": ("FT", "Fall time"),
    "mean_transit_time_t0_s": ("MTT-T0", "Mean transit time from the bolus model's start t0"),
    "onset_s": ("ART-ONSET", "Arterial enhancement onset after injection"),
    "relative_peak_db": ("ART-REL-DB", "Arterial peak enhancement relative to liver"),
    "washout_onset_s": ("WO-ONSET", "Wash-out onset after injection"),
    "late_relative_db": ("LATE-REL-DB", "Late phase enhancement relative to liver"),
    # qualitative evaluations (concept names) ...
    "arterial_enhancement": ("ART-ENH", "Arterial phase enhancement"),
    "washout": ("WO", "Wash-out"),
    "washout_timing": ("WO-TIMING", "Wash-out timing"),
    "washout_degree": ("WO-DEGREE", "Wash-out degree"),
    "late_enhancement": ("LATE-ENH", "Late phase enhancement"),
    "lirads": ("CEUS-LIRADS", "CEUS LI-RADS v2017 category"),
    # ... and their values
    "hyper": ("HYPER", "Hyperenhancement"), "iso": ("ISO", "Isoenhancement"), "hypo": ("HYPO", "Hypoenhancement"),
    "not_assessed": ("NOT-ASSESSED", "Not assessed"),
    "early": ("WO-EARLY", "Early wash-out"), "late": ("WO-LATE", "Late wash-out"), "none": ("WO-NONE", "No wash-out"),
    "mild": ("WO-MILD", "Mild wash-out"), "marked": ("WO-MARKED", "Marked wash-out"),
    "LR-3": ("LR-3", "LR-3 intermediate probability of HCC"), "LR-4": ("LR-4", "LR-4 probably HCC"),
    "LR-5": ("LR-5", "LR-5 definitely HCC"), "LR-M": ("LR-M", "LR-M probably or definitely malignant, not HCC"),
    # the procedure reported
    "procedure": ("CEUS-LIVER", "Contrast-enhanced ultrasound of the liver"),
}
"""ceuskit name → (code value, code meaning) in the private scheme ``99CEUSKIT`` (values at most 16 characters)."""

STANDARD_CODES: dict[str, Code] = {
    "arrival_time_s": codes.DCM.BolusArrivalTime,  # DCM 126371
    "time_to_peak_s": codes.DCM.TimeToPeak,  # DCM 113069
    "mean_transit_time_s": codes.DCM.MeanTransitTime,  # DCM 113052
    "wash_in_rate": codes.DCM.MaximumSlope,  # DCM 126375: WiR is the curve's maximum slope before its peak
    "yes": codes.SCT.Yes, "no": codes.SCT.No,  # wash-out present or not
}
"""ceuskit names that DICOM or SNOMED CT already code (taken from pydicom's code dictionary, never invented)."""

MEASUREMENT_UNITS: dict[str, Code] = {
    "arrival_time_s": codes.UCUM.Second, "time_to_peak_s": codes.UCUM.Second, "rise_time_s": codes.UCUM.Second,
    "peak_enhancement": codes.UCUM.NoUnits, "peak_enhancement_db": codes.UCUM.Decibel,
    "mean_transit_time_s": codes.UCUM.Second, "mean_transit_time_t0_s": codes.UCUM.Second,
    "wash_in_rate": codes.UCUM.PerSecond, "wash_out_rate": codes.UCUM.PerSecond, "wash_in_auc": codes.UCUM.Second, "wash_out_auc": codes.UCUM.Second,
    "wash_in_wash_out_auc": codes.UCUM.Second, "wash_in_perfusion_index": codes.UCUM.NoUnits,
    "fall_time_s": codes.UCUM.Second,
    "onset_s": codes.UCUM.Second, "relative_peak_db": codes.UCUM.Decibel,
    "washout_onset_s": codes.UCUM.Second, "late_relative_db": codes.UCUM.Decibel,
}
"""UCUM unit of each measurement, in SR order.  Echo power is relative (dimensionless, unit 1), so a rate of
power is per second, an area under the power curve is in seconds and the perfusion index (area / rise time)
has no unit; times are seconds after injection, dB values are 10·log10 of power ratios."""

ROI_PARAMETERS = PARAMETER_NAMES
"""The lesion ROI's parameters (analysis.json ``rois.NAME.parameters``) that the SR carries: all of them."""


def concept(name: str) -> Code:
    """Return the code of a ceuskit name: the standard one of :data:`STANDARD_CODES`, else the private one."""
    if name in STANDARD_CODES:
        return STANDARD_CODES[name]
    value, meaning = CEUS_CODES[name]
    return Code(value=value, scheme_designator=PRIVATE_SCHEME, meaning=meaning)


def read_source(path: str | Path) -> Dataset:
    """Return the clip's DICOM header (SR and SEG reference it); ClipError for anything that is not DICOM."""
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


def lesion_values(document: Mapping[str, Any], lesion: Mapping[str, Any]) -> dict[str, float]:
    """Measurements of one analysis.json lesion: its ROI's parameters and its phase reading's numbers.

    Keys are those of :data:`MEASUREMENT_UNITS`, in its order; missing or non-finite values are left out.
    """
    parameters = document["rois"][lesion["roi"]].get("parameters")
    found: dict[str, Any] = {name: parameters.get(name) if isinstance(parameters, Mapping) else None
                             for name in ROI_PARAMETERS}
    found["onset_s"] = (lesion.get("arterial_phase") or {}).get("onset_s")
    found["relative_peak_db"] = (lesion.get("arterial_phase") or {}).get("relative_peak_db")
    found["washout_onset_s"] = (lesion.get("portal_venous_phase") or {}).get("washout_onset_s")
    found["late_relative_db"] = (lesion.get("late_phase") or {}).get("relative_db")
    return {k: float(found[k]) for k in MEASUREMENT_UNITS
            if isinstance(found.get(k), int | float) and not isinstance(found[k], bool) and math.isfinite(found[k])}


def lesion_labels(lesion: Mapping[str, Any]) -> dict[str, str]:
    """Return the qualitative evaluations of one analysis.json lesion.

    Concept name → value name (both coded by :func:`concept`); labels the analysis did not give are left out.
    """
    pv = lesion.get("portal_venous_phase") or {}
    washout = pv.get("washout")
    labels = {"arterial_enhancement": (lesion.get("arterial_phase") or {}).get("enhancement"),
              "washout": None if washout is None else ("yes" if washout else "no"),
              "washout_timing": pv.get("washout_timing"),
              "washout_degree": pv.get("washout_degree"),
              "late_enhancement": (lesion.get("late_phase") or {}).get("enhancement"),
              "lirads": (lesion.get("lirads") or {}).get("category")}
    return {k: v for k, v in labels.items() if isinstance(v, str) and (v in CEUS_CODES or v in STANDARD_CODES)}


def _region(roi: Any, source: Dataset, frame_number: int) -> Any:
    """Return the ROI as an SR image region (SCOORD) on the reference frame of the source."""
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
    """Write :func:`build_sr` to ``path`` (atomically)."""
    return save(build_sr(document, source, rois, series_number=series_number), path)


def build_sr(document: Mapping[str, Any], source: Dataset, rois: RoiSet, *, series_number: int = 901) -> Dataset:
    """``document`` (an analysis.json) as a Comprehensive 3D SR with a TID 1500 measurement report.

    One measurement group per lesion: tracking identifier (ROI name + UID), the ROI as an image region on
    the reference frame, finding type Neoplasm, finding site Liver, every numeric result with its UCUM unit
    and the phase labels as coded qualitative evaluations.
    """
    import highdicom as hd
    from highdicom.sr import (
        AlgorithmIdentification,
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

    _check_document(document)
    by_name = {r.name: r for r in rois.rois}
    groups = []
    for lesion in document.get("lesions", []):
        roi = by_name.get(lesion["roi"])
        if roi is None:
            raise InputError(f"analysis lesion {lesion['roi']!r} is not in the ROI file; export with the ROI "
                             "file the analysis used")
        measurements = [Measurement(name=concept(name), value=value, unit=MEASUREMENT_UNITS[name])
                        for name, value in lesion_values(document, lesion).items()]
        evaluations = [QualitativeEvaluation(name=concept(name), value=concept(value))
                       for name, value in lesion_labels(lesion).items()]
        groups.append(PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier=lesion["roi"]),
            referenced_region=_region(roi, source, rois.reference_frame + 1),
            finding_type=codes.SCT.Neoplasm, finding_sites=[FindingSite(codes.SCT.Liver)],
            algorithm_id=AlgorithmIdentification(name="ceuskit", version=__version__,
                                                 parameters=_fit_model(document, lesion)),
            measurements=measurements or None, qualitative_evaluations=evaluations or None))
    if not groups:
        raise InputError("the analysis has no lesion to report; analyse a clip with a lesion ROI first")
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name="ceuskit", model_name=str(document.get("ceuskit_version", "ceuskit"))))
    report = MeasurementReport(observation_context=ObservationContext(observer_device_context=observer),
                               procedure_reported=concept("procedure"), imaging_measurements=groups)
    sr = Comprehensive3DSR(evidence=[source], content=report[0], series_number=series_number,
                           series_instance_uid=hd.UID(), sop_instance_uid=hd.UID(), instance_number=1,
                           manufacturer="ceuskit", series_description="ceuskit CEUS measurements",
                           is_complete=True, is_final=False, is_verified=False)
    return sr


def write_seg(path: str | Path, source_path: str | Path, rois: RoiSet, *, series_number: int = 902) -> Path:
    """Write :func:`build_seg` to ``path`` (atomically)."""
    return save(build_seg(source_path, rois, series_number=series_number), path)


def build_seg(source_path: str | Path, rois: RoiSet, *, series_number: int = 902) -> Dataset:
    """Encode the ROIs as a BINARY DICOM Segmentation of the source clip's reference frame.

    One segment per ROI, numbered in ROI order and labelled with the ROI's name: lesions are typed
    Morphologically Abnormal Structure / Neoplasm, parenchyma ROIs Organ / Liver (SCT); a lesion that names its
    parenchyma reference says so in its Segment Description (``reference: liver``).  Masks are
    :meth:`ceuskit.roi.Roi.mask` of the ROI file, on the stored full frame; ROIs may overlap (a liver region
    drawn around a lesion), each segment keeps its whole mask and Segments Overlap says YES.

    Ultrasound images have no frame of reference (no patient position or orientation), and highdicom
    segments a source without one only as a single frame.  So highdicom is given the clip's header as a
    single-frame ultrasound image (a copy: the clip's own header is not changed), and every reference to it
    in the result is then pointed back at the real clip: its SOP class and, for a multi-frame clip, Referenced
    Frame Number = the ROIs' reference frame (1-based).  The segmentation stores one frame per segment, each
    derived from that source frame, with no plane position and no Pixel Measures: an ultrasound clip's
    calibration is per region (Sequence of Ultrasound Regions), not a whole-image Pixel Spacing, and highdicom
    reads Pixel Measures only with a Slice Thickness, which a 2-D scan does not have.  Pixel (x, y) of the
    segmentation is pixel (x, y) of the clip, so viewers measure on the clip's own calibration.
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
    # one binary plane per ROI, so overlapping ROIs (a liver region around a lesion) stay whole
    masks = np.stack([roi.mask(rows, columns) for roi in rois.rois], axis=-1)[None]  # (1, rows, columns, n)
    descriptions = []
    for number, roi in enumerate(rois.rois, 1):
        lesion = roi.role == "lesion"
        description = SegmentDescription(
            segment_number=number, segment_label=roi.name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure if lesion else codes.SCT.Organ,
            segmented_property_type=codes.SCT.Neoplasm if lesion else codes.SCT.Liver,
            algorithm_type=SegmentAlgorithmTypeValues.MANUAL)
        if roi.reference:  # Segment Description (0062,0006), Type 3: the parenchyma ROI the lesion is read against
            description.SegmentDescription = f"reference: {roi.reference}"
        descriptions.append(description)
    # highdicom segments a multi-frame image only within a frame of reference, which ultrasound lacks: it is
    # given the reference frame as a single-frame ultrasound image, and the references are put right after.
    view = copy.deepcopy(source)  # Dataset(source) would share, and so change, the source's elements
    for keyword in ("NumberOfFrames", "FrameIncrementPointer"):
        if keyword in view:
            delattr(view, keyword)
    view.SOPClassUID = _US_IMAGE_STORAGE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = Segmentation(source_images=[view], pixel_array=masks,
                           segmentation_type=SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
                           series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(),
                           instance_number=1, manufacturer="ceuskit", manufacturer_model_name="ceuskit",
                           software_versions=__version__, device_serial_number="0",
                           series_description="ceuskit ROIs")
    _restore_references(seg, source, frame_number=rois.reference_frame + 1 if n_frames > 1 else None)
    if "PatientOrientation" not in seg:  # General Image, Type 2C: required without a frame of reference
        seg.PatientOrientation = source.get("PatientOrientation") or ""
    return seg


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


def _check_document(document: Any) -> None:
    """InputError unless ``document`` has the analysis.json shape the SR reads (DESIGN "Interfaces")."""
    ok = isinstance(document, Mapping) and isinstance(document.get("rois"), Mapping) \
        and isinstance(document.get("lesions"), list)
    if ok:
        for lesion in document["lesions"]:
            ok = ok and isinstance(lesion, Mapping) and isinstance(document["rois"].get(lesion.get("roi")), Mapping) \
                and all(isinstance(lesion.get(k) or {}, Mapping)
                        for k in ("arterial_phase", "portal_venous_phase", "late_phase", "lirads"))
    if not ok:
        raise InputError("the analysis is not an analysis.json of `ceuskit analyze` (lesions, rois and phases "
                         "missing or malformed); export from an unedited analysis folder")


def _fit_model(document: Mapping[str, Any], lesion: Mapping[str, Any]) -> list[str] | None:
    """Return the bolus model behind the lesion's parameters, as an algorithm parameter (``model=fpt``)."""
    fit = document["rois"][lesion["roi"]].get("fit")
    model = fit.get("model") if isinstance(fit, Mapping) else None
    return [f"model={model}"] if isinstance(model, str) and model else None




def save(dataset: Dataset, path: str | Path) -> Path:
    """Write a DICOM dataset as a DICOM file (with file meta information), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.save_as(tmp, enforce_file_format=True)
    return path
