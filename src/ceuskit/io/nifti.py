"""NIfTI-1 images of one frame: (x = column, y = row, 1) voxels with the clip's pixel spacing in mm."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ceuskit._atomic import atomic_path

__all__ = ["NIFTI_COMMENT", "save_frame_image"]

NIFTI_COMMENT = 6
"""NIfTI-1 extension code of a comment (the registry's ``NIFTI_ECODE_COMMENT``)."""


def save_frame_image(path: str | Path, image: np.ndarray, spacing_mm: tuple[float, float] | None, *,
                     dtype: type | np.dtype = np.float32, description: str | None = None,
                     comment: bytes | None = None) -> Path:
    """Write a (rows, columns) image as NIfTI (``.nii`` or ``.nii.gz``), atomically.

    Parameters
    ----------
    path : str or Path
        The file; ``.nii.gz`` is compressed.
    image : np.ndarray
        (rows, columns) values.
    spacing_mm : (dx, dy) or None
        Pixel spacing in mm (1 mm when unknown).
    dtype : numpy dtype
        Voxel type on disk.
    description : str, optional
        The header's ``descrip`` (at most 80 ASCII characters).
    comment : bytes, optional
        Stored as a comment extension (code 6).

    Returns
    -------
    Path
        ``path``.
    """
    import nibabel as nib

    dx, dy = spacing_mm or (1.0, 1.0)
    volume = np.ascontiguousarray(np.asarray(image).T[:, :, None], dtype=dtype)
    # nibabel's API is unannotated (no stubs): the two calls below are checked by the tests, not by mypy;
    # unused-ignore: without --strict mypy does not flag untyped calls
    img = nib.Nifti1Image(volume, np.diag([dx, dy, 1.0, 1.0]))  # type: ignore[no-untyped-call, unused-ignore]
    img.header.set_xyzt_units("mm")  # type: ignore[no-untyped-call, unused-ignore]
    if description is not None:
        img.header["descrip"] = description.encode("ascii")[:80]
    if comment is not None:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(NIFTI_COMMENT, comment))
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
