"""Writing a rendered phantom as a DICOM US multi-frame file with its ROI file and ground truth."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit._atomic import atomic_path
from ceuskit.simulate.phantom import Phantom
from ceuskit.simulate.render import Layout, render_frames

__all__ = ["SimulatedClip", "simulate_clip", "write_dicom"]


@dataclass(frozen=True)
class SimulatedClip:
    """Paths of what :func:`simulate_clip` wrote."""

    dicom: Path
    roi: Path
    truth: Path
    truth_data: dict[str, Any] = field(repr=False)


# DICOM writing
def write_dicom(path: Path, frames: np.ndarray, times_s: np.ndarray, ph: Phantom, layout: Layout,
                *, patient_id: str = "SIM0000", header: Mapping[str, object] | None = None) -> None:
    """Write frames as a US Multi-frame Image (explicit VR little endian) with real timing and regions.

    ``header`` sets further elements by keyword, after (and over) the defaults: an examination's clips share
    their Study Instance UID and carry their Acquisition DateTime and the contrast's start time and agent.
    """
    from pydicom import Dataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.Manufacturer = "ceuskit phantom"
    ds.ManufacturerModelName = "simulate"
    ds.PatientName = "Phantom^Ceuskit"  # fake identifiers only
    ds.PatientID = patient_id
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.ContentDate = "20260101"
    ds.AccessionNumber = "SIMACC"
    ds.InstitutionName = "ceuskit phantom institute"
    ds.BurnedInAnnotation = "YES"
    ds.SamplesPerPixel = 3 if frames.ndim == 4 else 1
    ds.PhotometricInterpretation = "RGB" if frames.ndim == 4 else "MONOCHROME2"
    if frames.ndim == 4:
        ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = int(frames.shape[0])
    ds.FrameIncrementPointer = 0x00181065
    increments_ms = np.concatenate([[0.0], np.diff(times_s) * 1000.0])
    ds.FrameTimeVector = [f"{v:.3f}".rstrip("0").rstrip(".") for v in increments_ms]
    ds.FrameTime = f"{1000.0 / ph.fps:.3f}"
    regions = []
    boxes = [(layout.ceus_box, 1)] + ([(layout.bmode_box, 1)] if layout.bmode_box else [])
    for (bx0, by0, bx1, by1), data_type in boxes:
        region = Dataset()
        region.RegionSpatialFormat = 1
        region.RegionDataType = data_type
        region.RegionFlags = 0
        region.RegionLocationMinX0, region.RegionLocationMinY0 = bx0, by0
        region.RegionLocationMaxX1, region.RegionLocationMaxY1 = bx1 - 1, by1 - 1
        region.PhysicalUnitsXDirection = 3
        region.PhysicalUnitsYDirection = 3
        region.PhysicalDeltaX = ph.spacing_mm / 10.0
        region.PhysicalDeltaY = ph.spacing_mm / 10.0
        region.ReferencePixelX0 = 0
        region.ReferencePixelY0 = 0
        regions.append(region)
    ds.SequenceOfUltrasoundRegions = Sequence(regions)
    for keyword, value in (header or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = frames.tobytes()
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


def simulate_clip(out_dir: str | Path, phantom: Phantom | None = None, *, name: str = "phantom",
                  patient_id: str = "SIM0000", progress: Callable[[int, int], None] | None = None) -> SimulatedClip:
    """Render one phantom and write ``NAME.dcm``, ``NAME.roi.json`` and ``NAME.truth.json`` into ``out_dir``."""
    ph = phantom or Phantom()
    ph.check()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rendered = render_frames(ph, progress)
    dicom = out / f"{name}.dcm"
    write_dicom(dicom, rendered["frames"], rendered["times"], ph, rendered["layout"], patient_id=patient_id)
    roi, truth = out / f"{name}.roi.json", out / f"{name}.truth.json"
    write_json(roi, rendered["roi"])
    write_json(truth, rendered["truth"])
    return SimulatedClip(dicom, roi, truth, rendered["truth"])

