"""ROIs as a NIfTI label mask, in the convention :func:`ceuskit.io.rois.load_rois` reads back.

Labels: 1 the (first) lesion, 2 the liver (parenchyma), 3, 4, … further lesions; 0 elsewhere.  The ROIs'
names, roles, references and reference frame go in a comment extension (code 6) as the JSON of
:class:`ceuskit.roi_labels.LabelDescription`, and ``descrip`` reads ``ceuskit ROIs, reference_frame=K``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ceuskit.errors import RoiError
from ceuskit.io.nifti import save_frame_image
from ceuskit.roi import RoiSet
from ceuskit.roi_labels import describe_labels, label_numbers

__all__ = ["roi_labels", "write_roi_nifti"]


def roi_labels(rois: RoiSet, rows: int, columns: int) -> np.ndarray:
    """Return the (rows, columns) uint8 label image of ``rois`` (numbers from :func:`ceuskit.roi_labels.label_numbers`).

    Parameters
    ----------
    rois : RoiSet
        Disjoint ROIs, at most one parenchyma ROI.
    rows, columns : int
        The clip's frame size.

    Returns
    -------
    np.ndarray
        uint8 labels, 0 outside every ROI.

    Raises
    ------
    RoiError
        When the convention cannot hold the ROIs (two parenchyma ROIs, overlapping ROIs, an ROI outside).
    """
    numbers = label_numbers(rois)
    labels = np.zeros((rows, columns), dtype=np.uint8)
    for roi in rois.rois:
        mask = roi.mask(rows, columns)
        if (labels[mask] > 0).any():
            raise RoiError(f"ROI {roi.name!r} overlaps another ROI; a label mask needs them apart (DICOM SEG "
                           "keeps overlapping ROIs: export to .dcm)")
        labels[mask] = numbers[roi.name]
    return labels


def write_roi_nifti(path: str | Path, rois: RoiSet, rows: int, columns: int,
                    spacing_mm: tuple[float, float] | None) -> Path:
    """Write the ROIs' label mask as NIfTI (``.nii``/``.nii.gz``) with the clip's pixel spacing.

    Parameters
    ----------
    path : str or Path
        Ends in ``.nii`` or ``.nii.gz``.
    rois : RoiSet
        As for :func:`roi_labels`.
    rows, columns : int
        The clip's frame size.
    spacing_mm : (dx, dy) or None
        The clip's pixel spacing.

    Returns
    -------
    Path
        ``path``, written atomically.

    Raises
    ------
    RoiError
        A wrong suffix, or ROIs a label mask cannot hold.
    """
    name = Path(path).name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        raise RoiError(f"{Path(path).name}: a NIfTI file name ends in .nii or .nii.gz")
    labels = roi_labels(rois, rows, columns)
    description = describe_labels(rois)
    return save_frame_image(path, labels, spacing_mm, dtype=np.uint8,
                            description=f"ceuskit ROIs, reference_frame={rois.reference_frame}",
                            comment=json.dumps(description.to_json()).encode("utf-8"))
