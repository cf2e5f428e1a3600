"""Manifest ROI cells that are clicks: ``click:X,Y[@FRAME]`` proposes the ROIs, ``carry`` finds them on a sweep.

A ``roi`` cell may give, instead of an ROI file, ``click:X,Y`` or ``click:X,Y@FRAME`` (a point inside the
lesion, pixels of the stored frame, on frame FRAME): the lesion's outline and liver reference are proposed
(:func:`ceuskit.propose.propose_rois`) when the manifest is read, and the study stores that ROI document with
its ``"source": "proposed"`` marks.  In an examination, a sweep's entry ``carry`` takes the ROIs of the row's
first clip and finds them on that sweep (:mod:`ceuskit.propose.carry`); a lone ``click:`` entry for several
clips stands for ``click:…;carry;carry…``: one click reads the whole examination.
"""

from __future__ import annotations

from typing import Any

from ceuskit.errors import CeusError, ManifestError

__all__ = ["CARRY", "CLICK_PREFIX", "carried_document", "expand_cells", "is_click", "proposed_document"]

CLICK_PREFIX = "click:"
CARRY = "carry"


def is_click(cell: str) -> bool:
    """Whether an ROI cell entry is a click (``click:X,Y[@FRAME]``)."""
    return cell.strip().lower().startswith(CLICK_PREFIX)


def expand_cells(line: int, rois: list[str], n_clips: int) -> list[str]:
    """Return the ROI entries for ``n_clips`` clips.

    A lone click for several clips becomes a click and ``carry``s; ``carry`` may not come first (nothing to
    carry yet).
    """
    if len(rois) == 1 and n_clips > 1 and is_click(rois[0]):
        rois = rois + [CARRY] * (n_clips - 1)
    if rois and rois[0].strip().lower() == CARRY:
        raise ManifestError(f"line {line}: the first clip's roi cannot be 'carry'; give its ROI file or a click")
    return rois


def proposed_document(line: int, clip_path: str, cell: str, *, dynamic_range_db: float) -> dict[str, Any]:
    """Return the proposed ROI document of a ``click:`` cell (ManifestError naming the line if none can)."""
    from ceuskit.io import open_clip
    from ceuskit.propose import parse_click, propose_rois

    try:
        x, y, frame = parse_click(cell.strip()[len(CLICK_PREFIX):])
        with open_clip(clip_path) as clip:
            return propose_rois(clip, (x, y), frame=frame, dynamic_range_db=dynamic_range_db).document
    except CeusError as exc:
        raise ManifestError(f"line {line}: roi {cell.strip()}: {str(exc).splitlines()[0]}") from None


def carried_document(line: int, loop_path: str, loop_document: dict[str, Any], sweep_path: str, *,
                     dynamic_range_db: float) -> dict[str, Any]:
    """Return the loop's ROI document found again on a sweep (ManifestError naming the line if it can't)."""
    from ceuskit.io import open_clip
    from ceuskit.propose import carry_rois, loop_template
    from ceuskit.roi import parse_rois

    try:
        with open_clip(loop_path) as loop:
            rois = parse_rois(loop_document, pixel_spacing_mm=loop.pixel_spacing_mm)
            template = loop_template(loop, rois, dynamic_range_db=dynamic_range_db)
        with open_clip(sweep_path) as sweep:
            return carry_rois(template, sweep, dynamic_range_db=dynamic_range_db).document
    except CeusError as exc:
        raise ManifestError(f"line {line}: roi carry to {sweep_path.rsplit('/', 1)[-1]}: "
                            f"{str(exc).splitlines()[0]}") from None
