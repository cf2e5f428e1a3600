"""NIfTI-1 images of one frame: (x = column, y = row, 1) voxels with the clip's pixel spacing in mm."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ceuskit._atomic import atomic_path

__all__ = ["save_frame_image"]


def save_frame_image(path: str | Path, image: np.ndarray, spacing_mm: tuple[float, float] | None, *,
                     dtype: type | np.dtype = np.float32) -> Path:
    """Write a (rows, columns) image as NIfTI (``.nii`` or ``.nii.gz``), atomically; spacing 1 mm if unknown."""
    import nibabel as nib

    dx, dy = spacing_mm or (1.0, 1.0)
    volume = np.ascontiguousarray(np.asarray(image).T[:, :, None], dtype=dtype)
    img = nib.Nifti1Image(volume, np.diag([dx, dy, 1.0, 1.0]))
    img.header.set_xyzt_units("mm")
    path = Path(path)
    suffix = ".nii.gz" if path.name.lower().endswith(".nii.gz") else ".nii"
    with atomic_path(path) as tmp:
        staged = tmp.with_name(tmp.name + suffix)  # nibabel picks the format from the name
        try:
            nib.save(img, str(staged))
            staged.replace(tmp)
        finally:
            staged.unlink(missing_ok=True)
    return path
