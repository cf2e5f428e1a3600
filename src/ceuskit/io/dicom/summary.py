"""The one summary of a DICOM header: its identity-free technical facts.

:func:`header_summary` owns which header elements may be told: technical facts (modality, device make
and model, SOP class, encoding, frame size and count, timing elements) that identify no patient, study
or device.  ``ceuskit info`` prints them for people (:func:`clip_info`), and a study stores them with each
clip (:func:`ceuskit.study.clip_header_summary`, from :func:`read_header_summary`) to place clips and
compare examinations; nothing else of a header reaches an output.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

from ceuskit.io.dicom.encoding import PixelFormat
from ceuskit.io.dicom.header import read_dataset

__all__ = ["SUMMARY_KEYWORDS", "US_SOP_CLASSES", "clip_info", "header_summary", "read_header_summary"]

US_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "US Image",
    "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame Image",
    "1.2.840.10008.5.1.4.1.1.6.2": "Enhanced US Volume",
    "1.2.840.10008.5.1.4.1.1.6": "US Image (retired)",
    "1.2.840.10008.5.1.4.1.1.3": "US Multi-frame Image (retired)",
}
"""Ultrasound SOP Class UIDs and their names."""

SUMMARY_KEYWORDS = ("Modality", "Manufacturer", "ManufacturerModelName", "SOPClassUID", "TransferSyntaxUID",
                    "NumberOfFrames", "Rows", "Columns", "PhotometricInterpretation", "FrameTime", "CineRate",
                    "RecommendedDisplayFrameRate")
"""The elements of :func:`header_summary`: technical facts that identify no patient, study or device."""


def header_summary(ds: Dataset) -> dict[str, int | float | str]:
    """Give the identity-free technical facts of a DICOM header, by DICOM keyword.

    The elements are :data:`SUMMARY_KEYWORDS` (Transfer Syntax UID from the File Meta Information where
    the file has one); absent and empty ones are left out.  Numbers stay numbers, everything else
    becomes its text, so the result is JSON as it is.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.

    Returns
    -------
    dict
        Keyword → value, in the order of :data:`SUMMARY_KEYWORDS`.
    """
    summary: dict[str, int | float | str] = {}
    for keyword in SUMMARY_KEYWORDS:
        source = ds.file_meta if keyword == "TransferSyntaxUID" and "file_meta" in dir(ds) else ds
        value = getattr(source, keyword, None)
        if value is not None and value != "":
            summary[keyword] = value if isinstance(value, int | float) else str(value)
    return summary


def read_header_summary(path: Path) -> dict[str, int | float | str] | None:
    """Read a file's :func:`header_summary`, or None when it is not a readable DICOM file.

    The file must be DICOM with its preamble or File Meta Information (no ``force``); pydicom's warnings
    are silenced (they may quote the header's values).

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    dict or None
        The summary; None for a file that is not DICOM, damaged, or cannot be opened.
    """
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = read_dataset(fh)
    except Exception:  # not DICOM, or damaged: there is no header to summarise
        return None
    return header_summary(dataset)


def clip_info(ds: Dataset, fmt: PixelFormat, timing: str, notes: list[str]) -> dict[str, object]:
    """Give the header facts ``ceuskit info`` prints, made from :func:`header_summary` and the pixel format.

    A file that is not ultrasound (neither Modality US nor an ultrasound SOP class) is read anyway, with a
    note put first in ``notes``.

    Parameters
    ----------
    ds : Dataset
        The DICOM header.
    fmt : PixelFormat
        The pixel format the reader uses (its transfer syntax is the one the frames are decoded with).
    timing : str
        Where the frame times came from (:func:`frame_times`).
    notes : list of str
        Warnings about the file; modified in place, and listed under ``"warnings"`` when not empty.

    Returns
    -------
    dict
        ``format``, ``modality``, ``sop_class`` (its name), ``manufacturer``, ``model_name``,
        ``transfer_syntax`` (its name), ``photometric_interpretation``, ``bits_allocated``,
        ``number_of_frames``, ``timing_source`` and, if any, ``warnings``.
    """
    facts = header_summary(ds)
    sop_class = str(facts.get("SOPClassUID", ""))
    modality = str(facts.get("Modality", ""))
    if modality != "US" and sop_class not in US_SOP_CLASSES:
        notes.insert(0, f"modality {modality or 'unknown'} is not ultrasound (US); read anyway")
    info: dict[str, object] = {
        "format": "dicom",
        "modality": modality,
        "sop_class": US_SOP_CLASSES.get(sop_class, UID(sop_class).name if sop_class else ""),
        "manufacturer": str(facts.get("Manufacturer", "")),
        "model_name": str(facts.get("ManufacturerModelName", "")),
        "transfer_syntax": fmt.transfer_syntax.name,
        "photometric_interpretation": fmt.photometric,
        "bits_allocated": fmt.bits_allocated,
        "number_of_frames": fmt.n_frames,
        "timing_source": timing,
    }
    if notes:
        info["warnings"] = notes
    return info
