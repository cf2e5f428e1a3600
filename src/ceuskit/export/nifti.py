"""ROIs as a NIfTI label mask, in the convention :func:`ceuskit.roi.load_rois` reads back.

Labels: 1 the (first) lesion, 2 the liver (parenchyma), 3, 4, … further lesions; 0 elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ceuskit.errors import RoiError
from ceuskit.roi import RoiSet

__all__ = ["roi_labels", "write_roi_nifti"]


def roi_labels(rois: RoiSet, rows: int, columns: int) -> np.ndarray:
    """The (rows, columns) uint8 label image of ``rois``; RoiError when the convention cannot hold them."""
    if len(rois.parenchyma) > 1:
        raise RoiError("a label mask holds one parenchyma ROI (label 2); this ROI set has "
                       f"{len(rois.parenchyma)}: export them to JSON instead")
    if len(rois.lesions) > 254:
        raise RoiError("a label mask holds at most 254 lesions")
    numbers = {}
    for i, lesion in enumerate(rois.lesions):
        numbers[lesion.name] = 1 if i == 0 else i + 2
    for roi in rois.parenchyma:
        numbers[roi.name] = 2
    labels = np.zeros((rows, columns), dtype=np.uint8)
    for roi in rois.rois:
        mask = roi.mask(rows, columns)
        if (labels[mask] > 0).any():
            raise RoiError(f"ROI {roi.name!r} overlaps another ROI; a label mask needs them apart")
        labels[mask] = numbers[roi.name]
    return labels


def write_roi_nifti(path: str | Path, rois: RoiSet, rows: int, columns: int,
                    spacing_mm: tuple[float, float] | None) -> Path:
    """Write the ROIs' label mask as NIfTI (``.nii``/``.nii.gz``) with the clip's pixel spacing."""
    from ceuskit.io.nifti import save_frame_image

    name = Path(path).name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        raise RoiError(f"{Path(path).name}: a NIfTI file name ends in .nii or .nii.gz")
    return save_frame_image(path, roi_labels(rois, rows, columns), spacing_mm, dtype=np.uint8)
