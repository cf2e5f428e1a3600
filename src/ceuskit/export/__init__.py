"""Results out of ceuskit in other tools' formats: DICOM SR and SEG for PACS, NIfTI label masks."""

from __future__ import annotations

from ceuskit.export.nifti import roi_labels, write_roi_nifti

__all__ = ["roi_labels", "write_roi_nifti"]
