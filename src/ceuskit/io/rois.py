"""ROI files of every kind → :class:`~ceuskit.roi.RoiSet`: ROI JSON, PNG/TIFF/NIfTI label masks, DICOM SEG.

The kind is told by the file's content (magic numbers), not its name, so a clip given as ``--roi`` is named
for what it is.  Label masks written by ceuskit carry a :class:`~ceuskit.roi_labels.LabelDescription` (names, roles,
references, reference frame) where each format keeps text:

========== ===================================================================================
NIfTI-1    a header extension of code 6 (comment) holding the description's JSON; ``descrip`` also
           says ``reference_frame=K`` (what tools that drop extensions usually keep)
PNG        a ``tEXt`` chunk with keyword ``ceuskit-rois``
TIFF       the ImageDescription tag (270)
DICOM SEG  standard attributes: Segment Label (the name), Segmented Property Category/Type (lesion:
           Morphologically Abnormal Structure / Neoplasm; parenchyma: Organ / Liver), Segment
           Description ``reference: NAME``, and the Referenced Frame Number of each segment's source
           image (1-based) for the reference frame
========== ===================================================================================

Masks from other tools have no description: label 1 is the lesion, 2 the liver, 3, 4, … further lesions,
drawn on frame 0 unless the caller says otherwise.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.multival import MultiValue

from ceuskit.errors import RoiError
from ceuskit.io.nifti import NIFTI_COMMENT
from ceuskit.roi import Roi, RoiSet, checked_roi_set, parse_rois, rois_from_label_mask
from ceuskit.roi_labels import LABEL_DESCRIPTION, LabelDescription, parse_label_description

__all__ = ["NOT_AN_ROI_FILE", "SEG_STORAGE", "load_rois", "read_roi_file"]

NOT_AN_ROI_FILE = "give the ROI JSON (see the README), a label mask (PNG, TIFF, NIfTI) or a DICOM SEG"
"""What an ROI file should have been, for messages."""

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
"""SOP Class UID of DICOM Segmentation Storage."""

MAX_MASK_PIXELS = 8192 * 8192
"""Largest label mask accepted (the largest frame ceuskit reads, 8192 × 8192 px)."""

_DESCRIP_FRAME = re.compile(r"reference_frame=(\d+)")
_SEG_LESION = {("SCT", "49755003"), ("SCT", "108369006")}  # Morphologically Abnormal Structure, Neoplasm
_SEG_LIVER = {("SCT", "10200004")}  # Liver
_SEG_REFERENCE = re.compile(r"^reference: (.+)$")


def read_roi_file(path: str | Path, *, pixel_spacing_mm: tuple[float, float] | None = None,
                  reference_frame: int | None = None) -> RoiSet:
    """Read an ROI file, whatever its kind (see the module docstring).

    Parameters
    ----------
    path : str or Path
        ROI JSON, a PNG/TIFF/NIfTI label mask or a DICOM SEG.
    pixel_spacing_mm : (dx, dy), optional
        The clip's spacing, for ROI JSON in millimetres.
    reference_frame : int, optional
        The reference frame of a label mask that states none (default 0).

    Returns
    -------
    RoiSet
        The ROIs in pixels of the stored frame; masks as ``mask`` ROIs.

    Raises
    ------
    RoiError
        The file is missing, unreadable, malformed, or not an ROI file at all (the message says what it is).
    """
    path = Path(path)
    if not path.is_file():
        raise RoiError(f"{path}: no such ROI file")
    with path.open("rb") as fh:
        head = fh.read(352)
    default_frame = 0 if reference_frame is None else reference_frame
    if head[:4] == b"\x89PNG" or head[:4] in (b"II*\x00", b"MM\x00*"):
        return _read_image(path, default_frame)
    if head[128:132] == b"DICM":
        return _read_seg(path)
    name = path.name.lower()
    if _is_nifti(path, head) or name.endswith((".nii", ".nii.gz")):  # by name too: a damaged one says so
        return _read_nifti(path, default_frame)
    if name.endswith((".png", ".tif", ".tiff")):
        return _read_image(path, default_frame)
    return _read_json(path, head, pixel_spacing_mm)


def _is_nifti(path: Path, head: bytes) -> bool:
    """NIfTI-1/2 by its header: sizeof_hdr 348 or 540 and the magic string (gzip-compressed or not)."""
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(352)
        except (OSError, EOFError):
            return False
    return head[344:347] in (b"n+1", b"ni1") or head[4:7] in (b"n+2", b"ni2")


def _what_it_is(head: bytes) -> str:
    """Describe in a few words a file that is not an ROI file (for the message)."""
    if head[4:8] == b"ftyp" or head[:4] in (b"RIFF", b"\x1aE\xdf\xa3"):
        return "a video"
    if head[:3] == b"\xff\xd8\xff" or head[:4] == b"GIF8" or head[:2] == b"BM":
        return "a photo-like image (JPEG, GIF or BMP), not a label mask"
    if head[:6] == b"\x93NUMPY" or head[:2] == b"PK":
        return "a NumPy array or a ZIP archive"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    return "binary data of an unknown kind" if "\x00" in text else "text, not JSON"


def _read_json(path: Path, head: bytes, pixel_spacing_mm: tuple[float, float] | None) -> RoiSet:
    if head.lstrip()[:1] not in (b"{", b"["):
        raise RoiError(f"{path}: not an ROI file ({_what_it_is(head)}); {NOT_AN_ROI_FILE}")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, OSError) as exc:  # ValueError: bad JSON, huge ints
        raise RoiError(f"{path}: not valid ROI JSON ({' '.join(str(exc).split())[:200]})") from None
    return parse_rois(document, pixel_spacing_mm=pixel_spacing_mm, source=str(path))


def _description(text: str | bytes | None, path: Path) -> LabelDescription | None:
    """Return the file's :class:`LabelDescription` from its stored JSON text, or None when it carries none."""
    if text is None:
        return None
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None  # another tool's text (a comment, an ImageDescription): not ours
    if not isinstance(document, dict) or document.get("format") != LABEL_DESCRIPTION:
        return None
    return parse_label_description(document, source=str(path))


def _from_labels(data: np.ndarray, description: LabelDescription | None, default_frame: int, path: Path) -> RoiSet:
    if description is None:
        return rois_from_label_mask(data, reference_frame=default_frame, source=str(path))
    return rois_from_label_mask(data, reference_frame=description.reference_frame, source=str(path),
                                described=description.labels)


def _read_nifti(path: Path, default_frame: int) -> RoiSet:
    import nibabel

    try:
        image = nibabel.load(str(path))
        shape = tuple(image.shape)  # type: ignore[attr-defined]
        if math.prod(shape) > MAX_MASK_PIXELS:  # the header's size, checked before loading the data
            raise RoiError(f"{path}: the NIfTI label mask claims shape {shape}, larger than any frame")
        data = np.asarray(image.get_fdata())  # type: ignore[attr-defined]
        header = image.header
    except RoiError:
        raise
    except Exception as exc:
        raise RoiError(f"{path}: not a readable NIfTI label mask ({exc})") from None
    description = None
    for extension in getattr(header, "extensions", []):
        if extension.get_code() == NIFTI_COMMENT:
            description = description or _description(extension.get_content(), path)
    if description is None:  # a tool that kept the header but dropped its extensions
        try:
            descrip = np.asarray(header["descrip"]).item()  # type: ignore[index]
        except (KeyError, ValueError):  # a NIfTI-2 header reads the same field; anything else has none
            descrip = b""
        match = _DESCRIP_FRAME.search(descrip.decode("latin-1") if isinstance(descrip, bytes) else str(descrip))
        if match:
            default_frame = int(match.group(1))
    # NIfTI stores (i, j) = (column, row); our masks are (row, column).
    data = data.reshape(data.shape[:2]) if data.ndim > 2 and data.size == data.shape[0] * data.shape[1] else data
    return _from_labels(np.asarray(data).T, description, default_frame, path)


def _read_image(path: Path, default_frame: int) -> RoiSet:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_MASK_PIXELS:  # the header's size, checked before decoding
                raise RoiError(f"{path}: the label image claims {img.width}×{img.height} px, larger than any frame")
            if img.format == "PNG":
                text = getattr(img, "text", {}).get(LABEL_DESCRIPTION)
            else:
                text = img.getexif().get(270)  # TIFF ImageDescription
            data = np.asarray(img)
    except RoiError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise RoiError(f"{path}: not a readable label image ({exc})") from None
    if data.ndim == 3:
        data = data[..., 0]
    return _from_labels(data, _description(text, path), default_frame, path)


def _code(item: Any, keyword: str) -> tuple[str, str]:
    sequence = item.get(keyword) or [None]
    code = sequence[0]
    return ("", "") if code is None else (str(code.get("CodingSchemeDesignator", "")), str(code.get("CodeValue", "")))


def _source_frame(group: Any) -> int | None:
    """Return the 1-based Referenced Frame Number of a SEG frame's source image, or None when it names none."""
    for derivation in group.get("DerivationImageSequence") or []:
        for source in derivation.get("SourceImageSequence") or []:
            number = source.get("ReferencedFrameNumber")
            if number is not None:
                return int(number[0] if isinstance(number, MultiValue) else number)
    return None


def _read_seg(path: Path) -> RoiSet:
    """Read a DICOM SEG (BINARY or FRACTIONAL) of one source frame: one ``mask`` ROI per segment."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError) as exc:
        raise RoiError(f"{path}: not a readable DICOM file ({type(exc).__name__})") from None
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != SEG_STORAGE:
        kind = pydicom.uid.UID(sop_class).name if sop_class else "object"
        raise RoiError(f"{path}: not an ROI file (it is a DICOM {kind}); {NOT_AN_ROI_FILE}")
    try:
        return _seg_rois(ds, path)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise RoiError(f"{path}: a malformed DICOM segmentation ({type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:120]})") from None


def _seg_rois(ds: pydicom.Dataset, path: Path) -> RoiSet:
    rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if rows * columns > MAX_MASK_PIXELS or n_frames > 4096:
        raise RoiError(f"{path}: the segmentation claims {n_frames} frames of {columns}×{rows} px, larger than any "
                       "ROI set")
    kind = str(ds.get("SegmentationType", ""))
    if kind not in ("BINARY", "FRACTIONAL"):
        raise RoiError(f"{path}: a {kind or 'untyped'} segmentation; ceuskit reads BINARY and FRACTIONAL DICOM SEG")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixels = np.asarray(pydicom.dcmread(path).pixel_array).reshape(n_frames, rows, columns)
    except Exception as exc:  # any decoder failure on a hostile file
        raise RoiError(f"{path}: the segmentation's pixels cannot be decoded ({type(exc).__name__})") from None
    inside = pixels > 0 if kind == "BINARY" else pixels >= int(ds.get("MaximumFractionalValue", 255)) / 2
    shared = (ds.get("SharedFunctionalGroupsSequence") or [{}])[0]
    groups = ds.get("PerFrameFunctionalGroupsSequence") or []
    if len(groups) != n_frames:
        raise RoiError(f"{path}: the segmentation describes {len(groups)} of its {n_frames} frames")
    masks: dict[int, np.ndarray] = {}
    frames: set[int | None] = set()
    for k, group in enumerate(groups):
        identification = group.get("SegmentIdentificationSequence") or shared.get("SegmentIdentificationSequence")
        if not identification:
            raise RoiError(f"{path}: frame {k + 1} of the segmentation names no segment")
        number = int(identification[0].ReferencedSegmentNumber)
        masks[number] = masks.get(number, np.zeros((rows, columns), bool)) | inside[k]
        frames.add(_source_frame(group) or _source_frame(shared))
    if len(frames) > 1:
        raise RoiError(f"{path}: the segments lie on several frames of the clip ({sorted(f or 0 for f in frames)}); "
                       "ceuskit reads ROIs drawn on one frame")
    frame = next(iter(frames), None)
    rois = []
    for segment in ds.get("SegmentSequence") or []:
        number = int(segment.SegmentNumber)
        name = str(segment.get("SegmentLabel", "") or f"segment{number}").strip()
        category = _code(segment, "SegmentedPropertyCategoryCodeSequence")
        kind_code = _code(segment, "SegmentedPropertyTypeCodeSequence")
        if kind_code in _SEG_LIVER:
            role = "parenchyma"
        elif category in _SEG_LESION or kind_code in _SEG_LESION:
            role = "lesion"
        else:
            raise RoiError(f"{path}: segment {name!r} is neither a lesion (Morphologically Abnormal Structure, "
                           "Neoplasm) nor liver (Liver)")
        match = _SEG_REFERENCE.match(str(segment.get("SegmentDescription", "")))
        mask = masks.get(number)
        if mask is None or not mask.any():
            raise RoiError(f"{path}: segment {name!r} has no pixel")
        rois.append(Roi(name, role, "mask", {"segment": number}, match.group(1) if match else None, mask))
    if not rois:
        raise RoiError(f"{path}: the segmentation has no segments")
    return checked_roi_set(tuple(rois), 0 if frame is None else frame - 1, source=str(path))


def load_rois(path: str | Path, *, pixel_spacing_mm: tuple[float, float] | None = None,
              reference_frame: int | None = None) -> RoiSet:
    """Read an ROI file of any kind: ROI JSON, a PNG/TIFF/NIfTI label mask or a DICOM SEG.

    The kind is told by the file's content (:func:`read_roi_file`); masks written by ceuskit
    carry the ROIs' names, roles and reference frame, so a round trip gives the same ROIs.

    Parameters
    ----------
    path : str or Path
        The ROI file.
    pixel_spacing_mm : (dx, dy), optional
        The clip's spacing, for ROI JSON in millimetres.
    reference_frame : int, optional
        The reference frame of a label mask that states none (default 0).

    Returns
    -------
    RoiSet

    Raises
    ------
    RoiError
        A missing, unreadable or malformed file, or one that is not an ROI file at all (say a clip).
    """
    return read_roi_file(path, pixel_spacing_mm=pixel_spacing_mm, reference_frame=reference_frame)
