"""The label-mask convention of ROI files: label values, and the description a file carries beside them.

A label image holds 1 for the (first) lesion, 2 for the liver (the parenchyma reference), 3, 4, … for further
lesions, 0 elsewhere.  What it cannot say — the ROIs' names, roles and references and the frame they were
drawn on — ceuskit writes into the file as a :class:`LabelDescription` (JSON; where each format keeps it:
:mod:`ceuskit.io.rois`).  A mask without one (another tool's) follows the convention and frame 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ceuskit.errors import RoiError
from ceuskit.roi import ROLES, RoiSet

__all__ = ["LABEL_DESCRIPTION", "LabelDescription", "describe_labels", "label_numbers", "parse_label_description"]

LABEL_DESCRIPTION = "ceuskit-rois"
"""Key of the ROI description a label-mask file carries (NIfTI extension, PNG text chunk, TIFF description)."""


@dataclass(frozen=True)
class LabelDescription:
    """What a label image cannot say by itself: the ROIs' names, roles and references, and their frame.

    Attributes
    ----------
    reference_frame : int
        The frame the ROIs were drawn on (0-based).
    labels : Mapping[int, tuple[str, str, str | None]]
        Label value → (ROI name, role, the parenchyma ROI a lesion is compared with or None).
    """

    reference_frame: int
    labels: Mapping[int, tuple[str, str, str | None]]

    def to_json(self) -> dict[str, Any]:
        """Return the description as stored in a file.

        ``{"format", "reference_frame", "labels": {"1": {…}}}``.
        """
        labels: dict[str, Any] = {}
        for value, (name, role, reference) in sorted(self.labels.items()):
            labels[str(value)] = {"name": name, "role": role} | ({"reference": reference} if reference else {})
        return {"format": LABEL_DESCRIPTION, "version": 1, "reference_frame": self.reference_frame, "labels": labels}


def label_numbers(rois: RoiSet) -> dict[str, int]:
    """ROI name → label value in the label-mask convention.

    1 the first lesion, 2 the liver, 3, 4, … further lesions.

    Parameters
    ----------
    rois : RoiSet
        At most one parenchyma ROI and 254 lesions.

    Returns
    -------
    dict
        Every ROI's label value (1–255).

    Raises
    ------
    RoiError
        When the convention cannot hold the ROIs (two parenchyma ROIs, more than 254 lesions).
    """
    if len(rois.parenchyma) > 1:
        raise RoiError("a label mask holds one parenchyma ROI (label 2); this ROI set has "
                       f"{len(rois.parenchyma)}: export them to JSON or DICOM SEG instead")
    if len(rois.lesions) > 254:
        raise RoiError("a label mask holds at most 254 lesions")
    numbers = {lesion.name: 1 if i == 0 else i + 2 for i, lesion in enumerate(rois.lesions)}
    numbers.update({roi.name: 2 for roi in rois.parenchyma})
    return numbers


def describe_labels(rois: RoiSet) -> LabelDescription:
    """Return the :class:`LabelDescription` of ``rois`` written as a label mask.

    The numbers come from :func:`label_numbers`.
    """
    numbers = label_numbers(rois)
    return LabelDescription(rois.reference_frame,
                            {numbers[r.name]: (r.name, r.role, r.reference) for r in rois.rois})


def parse_label_description(document: Any, *, source: str) -> LabelDescription:
    """Validate a stored label description (the JSON of :meth:`LabelDescription.to_json`).

    Parameters
    ----------
    document : Any
        The parsed JSON.
    source : str
        The file it came from, for messages.

    Returns
    -------
    LabelDescription

    Raises
    ------
    RoiError
        When the description is malformed (one line naming the file).
    """
    def bad(what: str) -> RoiError:
        return RoiError(f"{source}: its ceuskit ROI description is malformed ({what}); export the ROIs again")

    if not isinstance(document, Mapping) or document.get("format") != LABEL_DESCRIPTION:
        raise bad(f"not a {LABEL_DESCRIPTION} object")
    reference_frame = document.get("reference_frame", 0)
    if not isinstance(reference_frame, int) or isinstance(reference_frame, bool) or reference_frame < 0:
        raise bad(f"reference_frame {reference_frame!r}")
    items = document.get("labels")
    if not isinstance(items, Mapping):
        raise bad("no labels")
    labels: dict[int, tuple[str, str, str | None]] = {}
    for key, item in items.items():
        if not (isinstance(key, str) and key.isdigit() and 0 < int(key) < 65536 and isinstance(item, Mapping)):
            raise bad(f"label {key!r}")
        name, role, reference = item.get("name"), item.get("role"), item.get("reference")
        if not isinstance(name, str) or not name.strip() or role not in ROLES \
                or not (reference is None or isinstance(reference, str)):
            raise bad(f"label {key}: {dict(item)!r}")
        labels[int(key)] = (name.strip(), role, reference)
    return LabelDescription(reference_frame, labels)
