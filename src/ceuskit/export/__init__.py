"""Results out of ceuskit in other tools' formats: DICOM SR and SEG for PACS, NIfTI/PNG/TIFF label masks."""

from __future__ import annotations

from ceuskit.export.nifti import roi_labels, write_roi_nifti
from ceuskit.export.rois import ROI_FILE_SUFFIXES, write_roi_file, write_roi_image

__all__ = ["ROI_FILE_SUFFIXES", "roi_labels", "write_roi_file", "write_roi_image", "write_roi_nifti"]
