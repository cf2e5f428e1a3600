"""One click → a lesion outline and its liver reference, as an ROI document marked "proposed".

:func:`propose_rois` reads the clip around the click (:mod:`~ceuskit.propose.features`), maps how unlike the
liver each pixel behaves (:mod:`~ceuskit.propose.contrast`), outlines the lesion
(:mod:`~ceuskit.propose.outline`), places the liver reference (:mod:`~ceuskit.propose.liver`) and writes
both as polygons (:mod:`~ceuskit.propose.polygon`) in the ROI file's format, each with ``"source":
"proposed"`` and its ``"confidence"``.  Nothing at the click that stands out from the liver is a
:class:`~ceuskit.errors.ProposalError`: the reader draws that lesion by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit._version import __version__
from ceuskit.errors import InputError, ProposalError
from ceuskit.feed import display_maps
from ceuskit.io.clip import Clip
from ceuskit.preprocess.linearize import DEFAULT_DYNAMIC_RANGE_DB, check_dynamic_range
from ceuskit.propose.contrast import abnormality
from ceuskit.propose.features import (
    SEED_RADIUS_PX,
    TRACK_RADIUS_PX,
    ClickFeatures,
    click_features,
    seed_frame,
)
from ceuskit.propose.liver import liver_reference
from ceuskit.propose.outline import lesion_outline
from ceuskit.propose.polygon import mask_to_polygon, polygon_mask

__all__ = ["MIN_CONFIDENCE", "Proposal", "parse_click", "propose_rois"]

MIN_CONFIDENCE = 0.05
"""Below this the outline is not proposed (nothing at the click stands out from the liver)."""

EDGE_MARGIN_PX = 2
"""Distance the lesion outline keeps from the image's edge, px."""


@dataclass(frozen=True)
class Proposal:
    """A proposed lesion and liver reference.

    Attributes
    ----------
    document : the ROI document (``reference_frame``, ``units``, ``proposal``, ``rois``).
    frame : the reference frame.
    lesion_mask, liver_mask : (rows, columns) bool masks of the full frame (liver None when none fits).
    vessels : (rows, columns) bool, the vessels found around the lesion.
    confidence : the lesion outline's confidence, 0–1.
    liver_confidence : the liver reference's, or None.
    notes : what the reader should know (a lesion at the image's edge, no room for a reference, …).
    """

    document: dict[str, Any]
    frame: int
    lesion_mask: np.ndarray = field(repr=False)
    liver_mask: np.ndarray | None = field(repr=False)
    vessels: np.ndarray = field(repr=False)
    confidence: float
    liver_confidence: float | None
    notes: tuple[str, ...] = ()


def parse_click(text: str) -> tuple[float, float, int | None]:
    """``"X,Y"`` or ``"X,Y@FRAME"`` → (x, y, frame or None): a click in pixels of the stored frame.

    Raises
    ------
    InputError
        Anything else, saying the form.
    """
    point, _, frame_text = text.strip().partition("@")
    parts = [p.strip() for p in point.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError(text)
        x, y = float(parts[0]), float(parts[1])
        frame = int(frame_text) if frame_text.strip() else None
    except ValueError:
        raise InputError(f"click {text!r} must be X,Y or X,Y@FRAME (pixels of the stored frame, a frame index)"
                         ) from None
    if not (np.isfinite(x) and np.isfinite(y)) or (frame is not None and frame < 0):
        raise InputError(f"click {text!r} must be X,Y or X,Y@FRAME with finite pixel coordinates and a frame index "
                         "≥ 0")
    return x, y, frame


def _full(features: ClickFeatures, window: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return a window array placed on the full frame (parts off the frame dropped)."""
    out = np.zeros(shape, dtype=bool)
    x0, y0, x1, y1 = features.box
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
    out[fy0:fy1, fx0:fx1] = window[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0]
    return out


def _points_xy(points_rc: np.ndarray, features: ClickFeatures) -> list[list[float]]:
    x0, y0 = features.box[:2]
    return [[round(float(c) + x0, 2), round(float(r) + y0, 2)] for r, c in points_rc]


def propose_rois(clip: Clip, click: tuple[float, float], *, frame: int | None = None,
                 dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB, injection_time_s: float = 0.0,
                 overlays: bool = True, motion: bool = True, lesion_name: str = "lesion",
                 liver_name: str = "liver") -> Proposal:
    """Propose a lesion outline and a liver reference from one click inside the lesion.

    Parameters
    ----------
    clip : the open clip.
    click : (x, y) full-frame pixels of a point inside the lesion, on ``frame``.
    frame : the frame the click was made on; default the frame where the region at the click differs most
        from its surroundings (:func:`~ceuskit.propose.features.seed_frame`).
    dynamic_range_db : display dynamic range for linearisation.
    injection_time_s : injection, s after the clip's first frame.
    overlays : find burned-in overlays (the ROIs never cover them).
    motion : follow the tissue.
    lesion_name, liver_name : names of the two ROIs.

    Returns
    -------
    Proposal

    Raises
    ------
    ProposalError
        The click is off the image, or nothing there stands out from the liver (draw that lesion by hand).
    """
    check_dynamic_range(dynamic_range_db)
    x, y = float(click[0]), float(click[1])
    if not (np.isfinite(x) and np.isfinite(y)):
        raise ProposalError(f"the click {click!r} is not a point; give X,Y in pixels of the stored frame")
    displays = None
    if frame is None:
        displays = display_maps(clip)  # fitted once: the seed frame's curves and (an unthinned clip) the features
        frame = seed_frame(clip, (x, y), dynamic_range_db=dynamic_range_db, displays=displays)
    for radius in (TRACK_RADIUS_PX, SEED_RADIUS_PX):
        # the wide disc anchors the tracking on the lesion's surroundings; a small lesion lost in them is
        # tracked again on the narrow one
        features = click_features(clip, (x, y), frame, dynamic_range_db=dynamic_range_db,
                                  injection_time_s=injection_time_s, overlays=overlays, motion=motion,
                                  displays=displays, track_radius_px=radius)
        contrast = abnormality(features, dynamic_range_db=dynamic_range_db)
        x0, y0 = features.box[:2]
        click_rc = (y - y0, x - x0)
        blocked = ndimage.binary_dilation(features.excluded, iterations=1) if features.excluded.any() \
            else features.excluded
        outline, vessels = lesion_outline(contrast, click_rc, blocked, edge_margin_px=EDGE_MARGIN_PX)
        if outline.mask.any() and outline.confidence >= MIN_CONFIDENCE:
            break
    if not outline.mask.any() or outline.confidence < MIN_CONFIDENCE:
        raise ProposalError(f"nothing at {x:.0f},{y:.0f} on frame {frame} stands out from the liver around it over "
                            "this clip (an iso-enhancing lesion?); draw the lesion by hand")
    edge = features.max_shift_px + EDGE_MARGIN_PX
    points = mask_to_polygon(outline.mask, blocked)
    if points is None:
        raise ProposalError(f"the region at {x:.0f},{y:.0f} is too small for an outline; draw the lesion by hand")
    shape = features.shape
    lesion_window = polygon_mask(points, shape)
    notes = []
    if outline.touches_edge:
        notes.append("the lesion reaches the edge of the image or of the tracked area: check its outline there")
    lesion_roi: dict[str, Any] = {"name": lesion_name, "role": "lesion", "shape": "polygon",
                                  "points": _points_xy(points, features), "source": "proposed",
                                  "confidence": outline.confidence}
    rois = [lesion_roi]
    liver = liver_reference(contrast, lesion_window, vessels, blocked, spacing_mm=features.spacing_mm, edge_px=edge)
    liver_mask = None
    if liver is None:
        notes.append("no parenchyma clear of the lesion, vessels and edges fits beside it: draw the liver "
                     "reference by hand")
    else:
        lesion_roi["reference"] = liver_name
        rois.append({"name": liver_name, "role": "parenchyma", "shape": "polygon",
                     "points": _points_xy(liver.polygon_rc(), features), "source": "proposed",
                     "confidence": liver.confidence})
        liver_mask = _full(features, polygon_mask(liver.polygon_rc(), shape), (clip.rows, clip.columns))
    document = {"reference_frame": int(frame), "units": "px",
                "proposal": {"click": [x, y], "frame": int(frame), "software": f"ceuskit {__version__}",
                             "vessels_found": int(vessels.any()), "notes": notes},
                "rois": rois}
    return Proposal(document, int(frame), _full(features, lesion_window, (clip.rows, clip.columns)), liver_mask,
                    _full(features, vessels, (clip.rows, clip.columns)), outline.confidence,
                    None if liver is None else liver.confidence, tuple(notes))
