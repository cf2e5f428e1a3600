"""ROIs out to a file of any kind :func:`ceuskit.io.rois.load_rois` reads back, chosen by the file name.

============================ ======================================================================
``.nii``, ``.nii.gz``        NIfTI-1 label mask (:func:`ceuskit.export.nifti.write_roi_nifti`)
``.png``                     8-bit label image; the ROI description in a ``tEXt`` chunk ``ceuskit-rois``
``.tif``, ``.tiff``          8-bit label image; the ROI description as ImageDescription (tag 270)
``.dcm``                     DICOM SEG of the clip's reference frame (:func:`ceuskit.export.dicom.build_seg`)
============================ ======================================================================

Label images hold 1 the first lesion, 2 the liver, 3, 4, … further lesions; the description
(:class:`ceuskit.roi_labels.LabelDescription`) keeps names, roles, references and the reference frame, so the file
gives back the ROIs it was given.  Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from ceuskit._atomic import atomic_path
from ceuskit.errors import RoiError
from ceuskit.export.dicom import write_seg
from ceuskit.export.nifti import roi_labels, write_roi_nifti
from ceuskit.roi import RoiSet
from ceuskit.roi_labels import LABEL_DESCRIPTION, describe_labels

__all__ = ["ROI_FILE_SUFFIXES", "write_roi_file", "write_roi_image"]

ROI_FILE_SUFFIXES = (".nii.gz", ".nii", ".png", ".tif", ".tiff", ".dcm")
"""File name endings :func:`write_roi_file` writes."""

_TIFF_IMAGE_DESCRIPTION = 270


def write_roi_image(path: str | Path, rois: RoiSet, rows: int, columns: int) -> Path:
    """Write the ROIs as an 8-bit PNG or TIFF label image carrying their description.

    Parameters
    ----------
    path : str or Path
        Ends in ``.png``, ``.tif`` or ``.tiff``.
    rois : RoiSet
        Disjoint ROIs, at most one parenchyma ROI.
    rows, columns : int
        The clip's frame size.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RoiError
        A wrong suffix, or ROIs a label mask cannot hold.
    """
    from PIL import Image, PngImagePlugin

    path = Path(path)
    text = json.dumps(describe_labels(rois).to_json())
    labels = roi_labels(rois, rows, columns)
    image = Image.fromarray(labels, mode="L")
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix == ".png":
            info = PngImagePlugin.PngInfo()
            info.add_text(LABEL_DESCRIPTION, text)
            image.save(tmp, format="PNG", pnginfo=info)
        elif suffix in (".tif", ".tiff"):
            image.save(tmp, format="TIFF", tiffinfo={_TIFF_IMAGE_DESCRIPTION: text}, compression="tiff_deflate")
        else:
            raise RoiError(f"{path.name}: a label image's name ends in .png, .tif or .tiff")
    return path


def write_roi_file(path: str | Path, rois: RoiSet, *, clip_path: str | Path, rows: int, columns: int,
                   spacing_mm: tuple[float, float] | None) -> Path:
    """Write ``rois`` in the format the name of ``path`` asks for (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The file to write.
    rois : RoiSet
        The ROIs, in pixels of the clip's stored frame.
    clip_path : str or Path
        The clip the ROIs belong to (a DICOM SEG references it; it must then be DICOM).
    rows, columns : int
        The clip's frame size.
    spacing_mm : (dx, dy) or None
        The clip's pixel spacing (NIfTI voxel size).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    RoiError
        An unknown suffix, or ROIs the format cannot hold (overlapping ROIs or two parenchyma ROIs in a label
        mask).
    ClipError
        A DICOM SEG asked of a clip that is not DICOM.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return write_roi_nifti(path, rois, rows, columns, spacing_mm)
    if name.endswith((".png", ".tif", ".tiff")):
        return write_roi_image(path, rois, rows, columns)
    if name.endswith(".dcm"):
        return write_seg(path, clip_path, rois)
    raise RoiError(f"{path.name}: write ROIs to {', '.join(ROI_FILE_SUFFIXES)} (NIfTI, PNG, TIFF or DICOM SEG)")
