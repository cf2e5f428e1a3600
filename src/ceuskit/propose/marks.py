"""How proposed ROIs stand: proposed → accepted (unchanged) or edited (changed by the reader).

The marks live in the ROI document itself (``"source"`` and ``"confidence"`` of each ROI, see
:mod:`ceuskit.roi`), so a study that stores ROI documents records which ROIs were proposed and which were
edited without a new column.  These functions take and return plain ROI documents (dicts) and never change
their input.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["GEOMETRY_KEYS", "accept", "mark_edited", "proposal_state"]

GEOMETRY_KEYS = ("shape", "center", "radii", "points", "box")
"""The keys of an ROI entry that say where it is."""


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), abs_tol=1e-6)
    return bool(a == b)


def _geometry(roi: Mapping[str, Any]) -> dict[str, Any]:
    return {k: roi[k] for k in GEOMETRY_KEYS if k in roi}


def accept(document: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, Any]:
    """Return the document with its proposed ROIs (those named, default all) marked ``"accepted"``.

    Parameters
    ----------
    document : an ROI document.
    names : ROI names to accept, or None for every proposed ROI.

    Returns
    -------
    A new document; ROIs not proposed are unchanged.
    """
    wanted = None if names is None else set(names)
    out = copy.deepcopy(dict(document))
    for roi in out.get("rois", []):
        if isinstance(roi, dict) and roi.get("source") == "proposed" and (wanted is None or roi.get("name") in wanted):
            roi["source"] = "accepted"
    return out


def mark_edited(previous: Mapping[str, Any] | None, document: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``document`` with its proposed ROIs that have moved since ``previous`` marked ``"edited"``.

    Each ROI that was proposed (or accepted) in ``previous`` and has moved since is marked; its proposal's
    confidence is kept.  An ROI carrying a mark but absent from ``previous`` keeps its mark (the reader's tool
    set it).

    Parameters
    ----------
    previous : the ROI document stored before, or None.
    document : the new ROI document.

    Returns
    -------
    A new document.
    """
    out = copy.deepcopy(dict(document))
    before = {roi.get("name"): roi for roi in (previous or {}).get("rois", []) if isinstance(roi, Mapping)}
    for roi in out.get("rois", []):
        if not isinstance(roi, dict):
            continue
        old = before.get(roi.get("name"))
        if old is None or old.get("source") not in ("proposed", "accepted", "edited"):
            continue
        geometry_same = all(_same(v, roi.get(k)) for k, v in _geometry(old).items()) and \
            set(_geometry(old)) == set(_geometry(roi))
        if not geometry_same:
            roi["source"] = "edited"
            if "confidence" in old and "confidence" not in roi:
                roi["confidence"] = old["confidence"]
        elif "source" not in roi:
            roi["source"] = old["source"]
            if "confidence" in old:
                roi["confidence"] = old["confidence"]
    return out


def proposal_state(document: Mapping[str, Any] | None) -> dict[str, int]:
    """How many ROIs of a document are ``proposed``, ``accepted``, ``edited`` or ``drawn`` (no mark)."""
    counts = {"proposed": 0, "accepted": 0, "edited": 0, "drawn": 0}
    for roi in (document or {}).get("rois", []):
        if isinstance(roi, Mapping):
            source = roi.get("source")
            counts[source if source in counts else "drawn"] += 1
    return counts
