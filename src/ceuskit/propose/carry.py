"""ROIs of an examination's loop found again on a late-phase sweep, where the moved probe now shows the lesion.

Between the loop and a sweep the probe moves (by up to a lesion's diameter, the search's default reach), the
the late phase and breathing goes on.  What stays is the lesion's shape and its difference from the liver
around it, the vessels and other lesions around it, and on a dual display its B-mode look.

1. **The loop's template** (:func:`loop_template`).  The loop's tissue is followed by the TIC extraction's
   tracking with the loop's own ROIs, and its last seconds (the latest contrast the loop saw) are averaged
   where the reference frame's tissue went: a speckle-free image of the lesion *and its surroundings* (a box
   around the lesions, 1.5 lesion radii wider each way), in dB about its median; on a dual display the B-mode
   half the same way.  With it the lesion mask, its liver ring 3–10 px around it, the sign of the lesion's
   late difference from the ring (darker, brighter, or none when it was about iso), and the search's reach:
   the largest probe move (a lesion diameter unless told), plus the breathing excursion the tracking saw.
2. **Each sweep frame** (speckle-smoothed dB about its median; padded with pixels that count as missing, so
   the template may hang over the image's edge, :mod:`.carry_match`) is scored at every placement within the
   reach: the masked normalised correlation with the whole template (lesion and surroundings); how much an
   area of the lesion's shape differs from its ring (signed as late in the loop, either way when the loop left
   it about iso) — exact for a uniform lesion, blind to texture the loop's template carries but the sweep does
   not; unless the lesion was iso late in the loop, its own correlation (the template over the lesion and its
   ring only: its outline and texture, which keeps a rim-enhancing or patchy lesion from being pulled off
   centre by the uniform shape); on dual displays the B-mode template's correlation.  Each is in units of its
   own spread over the placements, so none dominates by scale; placements that put under :data:`MIN_INSIDE` of
   the lesion on the image are not considered.
3. Each frame's best placement is where the lesion lies in it; breathing moves it from frame to frame.  The
   sweep's reference frame is the best-scoring frame among those at the most common placement (the breath's
   resting phase); the placement there is refined on the summed scores of those frames (a parabola through
   the peak gives a sub-pixel offset).
4. Every ROI of the loop (the liver reference too) moves by that offset and is marked ``"source":
   "proposed"`` with the match's confidence: the smaller of how far the peak stands above the best place a
   lesion radius away, and how well the even and the odd frames, each located on their own, agree.  A sweep
   on which nothing tells the lesion from the liver gets a confidence near 0: check it by eye.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.errors import ProposalError
from ceuskit.feed import clip_frames, display_maps
from ceuskit.io.clip import Box, Clip
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.preprocess.overlays import detect_overlays
from ceuskit.propose.carry_match import (
    contrast_stack,
    inside_share,
    locate,
    match_confidence,
    ncc_stack,
    padded,
)
from ceuskit.roi import RoiSet, parse_rois
from ceuskit.tic import extract_tics

__all__ = ["CarriedRois", "LoopTemplate", "carry_rois", "loop_template"]

RING_PX = (3, 10)
"""Inner and outer distance of the liver ring around the lesion in the matching kernel, px."""

SMOOTHING_PX = 2.0
"""Speckle smoothing of each frame before it is matched, px."""

LATE_S = 12.0
"""The loop's last this many seconds make its late template."""

MIN_INSIDE = 0.7
"""An offset is considered only where this share of the lesion stays inside the image region."""

SIGN_DB = 1.0
"""The lesion's late difference from its ring that fixes its sign (darker or brighter), dB."""

MARGIN_PX = 4.0
"""Added to the largest probe move and the breathing excursion in the search's reach, px."""


@dataclass(frozen=True)
class LoopTemplate:
    """What a sweep is searched for (module docstring, step 1); all arrays cover ``box`` of the loop's frame.

    Attributes
    ----------
    rois : the loop's ROIs (pixels, its reference frame).
    shape : (rows, columns) of the loop's frames.
    box : (x0, y0, x1, y1) of the template in the loop's reference frame.
    ceus : late-phase CEUS image, dB about its median.
    bmode : B-mode image (dual displays), dB about its median, or None.
    lesion : bool lesion mask over the box.
    ring : bool mask of the liver ring around the lesions over the box.
    sign : +1 brighter, −1 darker than its ring late in the loop, 0 about iso.
    seen : bool mask of the box's pixels the loop showed (inside its image, off its overlays).
    reach_px : how far from its place on the loop the lesion is looked for on a sweep: the largest probe move
        (one lesion diameter unless told) plus the breathing excursion the loop's tracking saw, plus
        :data:`MARGIN_PX`.
    """

    rois: RoiSet
    shape: tuple[int, int]
    box: Box
    ceus: np.ndarray = field(repr=False)
    bmode: np.ndarray | None = field(repr=False)
    lesion: np.ndarray = field(repr=False)
    ring: np.ndarray = field(repr=False)
    sign: int
    seen: np.ndarray = field(repr=False)
    reach_px: float


@dataclass(frozen=True)
class CarriedRois:
    """The loop's ROIs placed on a sweep.

    Attributes
    ----------
    document : the sweep's ROI document (each ROI ``"source": "proposed"`` with ``"confidence"``).
    frame : the sweep's reference frame.
    offset_px : (dx, dy) from the loop's reference frame to the sweep's.
    confidence : 0–1, how clearly the lesion was found.
    """

    document: dict[str, Any]
    frame: int
    offset_px: tuple[float, float]
    confidence: float


def _db(power: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Speckle-smoothed dB about the median of the ``good`` pixels (others 0)."""
    weight = ndimage.gaussian_filter(good.astype(float), SMOOTHING_PX)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = ndimage.gaussian_filter(np.where(good, power, 0.0), SMOOTHING_PX) / weight
    db = 10 * np.log10(np.maximum(np.nan_to_num(smooth, nan=0.0), 1e-12))
    level = float(np.median(db[good])) if good.any() else 0.0
    return np.where(good, db - level, 0.0)


def _half(frame_grey: np.ndarray, offset: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Return the B-mode half moved onto the CEUS half's coordinates (NaN where it has no pixel)."""
    bx, by = offset
    out = np.full(shape, np.nan, dtype=np.float32)
    src = frame_grey[max(by, 0):shape[0] + min(by, 0), max(bx, 0):shape[1] + min(bx, 0)]
    out[max(-by, 0):max(-by, 0) + src.shape[0], max(-bx, 0):max(-bx, 0) + src.shape[1]] = src
    return out


def loop_template(loop: Clip, rois: RoiSet | Mapping[str, Any], *, dynamic_range_db: float,
                  overlays: bool = True, max_move_px: float | None = None) -> LoopTemplate:
    """Return the loop's late appearance around its lesions (module docstring, step 1).

    Parameters
    ----------
    loop : the examination's loop.
    rois : its ROIs (an :class:`RoiSet` or an ROI document), drawn on its reference frame.
    dynamic_range_db : display dynamic range for linearisation.
    overlays : leave burned-in overlays out.
    max_move_px : the largest probe move between the loop and a sweep, px; None: the lesions' diameter (their
        bounding box's larger side).

    Returns
    -------
    LoopTemplate

    Raises
    ------
    ProposalError
        The ROIs hold no lesion, or ``max_move_px`` is not positive.
    """
    roi_set = rois if isinstance(rois, RoiSet) else parse_rois(rois, pixel_spacing_mm=loop.pixel_spacing_mm)
    shape = (loop.rows, loop.columns)
    masks = roi_set.masks(*shape)
    lesion = np.zeros(shape, dtype=bool)
    for roi in roi_set.lesions:
        lesion |= masks[roi.name]
    if not lesion.any():
        raise ProposalError("the loop's ROIs hold no lesion to look for on the sweeps")
    if max_move_px is not None and not max_move_px > 0:
        raise ProposalError(f"the largest probe move must be positive, not {max_move_px:g} px")
    radius = float(np.sqrt(lesion.sum() / np.pi))
    grow = int(round(max(RING_PX[1] + 2, 1.5 * radius)))
    rows, cols = np.nonzero(lesion)
    x0, y0, x1, y1 = loop.ceus_region.box
    box = (max(int(cols.min()) - grow, x0), max(int(rows.min()) - grow, y0), min(int(cols.max()) + grow + 1, x1),
           min(int(rows.max()) + grow + 1, y1))
    displays = display_maps(loop)  # once: overlays, tracking and the template read through them
    exclude = detect_overlays(loop, display=displays.ceus) if overlays else np.zeros(shape, dtype=bool)
    tics = extract_tics(clip_frames(loop, displays), roi_set, dynamic_range_db=dynamic_range_db,
                        exclude=exclude if exclude.any() else None)
    shifts = tics.motion.shifts_px if tics.motion.applied else np.zeros((loop.n_frames, 2), dtype=int)
    late = (loop.times >= loop.times[-1] - LATE_S) & ~tics.motion.rejected
    display = displays.ceus
    bmode = loop.bmode_region
    bmode_display = displays.bmode
    lut = grey_to_power(np.arange(256, dtype=np.float32), dynamic_range_db)
    h, w = box[3] - box[1], box[2] - box[0]
    total, count = np.zeros((h, w)), np.zeros((h, w))
    btotal = np.zeros((h, w))
    for k in np.flatnonzero(late):
        dx, dy = int(shifts[k, 0]), int(shifts[k, 1])
        pixels = loop.raw(int(k))
        r0, c0 = box[1] + dy, box[0] + dx
        rr = np.clip(np.arange(r0, r0 + h), 0, shape[0] - 1)
        cc = np.clip(np.arange(c0, c0 + w), 0, shape[1] - 1)
        inside = np.outer((rr >= y0) & (rr < y1) & (np.arange(r0, r0 + h) == rr),
                          (cc >= x0) & (cc < x1) & (np.arange(c0, c0 + w) == cc)) & ~exclude[rr][:, cc]
        grey = display.to_grey(pixels[rr][:, cc])
        good = inside & np.isfinite(grey)
        total += np.where(good, lut[np.rint(np.clip(np.nan_to_num(grey), 0, 255)).astype(np.uint8)], 0.0)
        count += good
        if bmode is not None and bmode_display is not None:
            bgrey = bmode_display.to_grey(pixels[np.clip(rr + bmode.box[1] - y0, 0, shape[0] - 1)][
                :, np.clip(cc + bmode.box[0] - x0, 0, shape[1] - 1)])
            btotal += np.where(good, lut[np.rint(np.clip(np.nan_to_num(bgrey), 0, 255)).astype(np.uint8)], 0.0)
    seen = count >= max(1.0, 0.5 * count.max())
    with np.errstate(invalid="ignore", divide="ignore"):
        ceus = _db(total / np.maximum(count, 1), seen)
        bimage = _db(btotal / np.maximum(count, 1), seen) if bmode is not None else None
    cut = lesion[box[1]:box[3], box[0]:box[2]]
    outside = ndimage.distance_transform_edt(~cut)
    ring = (outside > RING_PX[0]) & (outside <= RING_PX[1])
    difference = float(ceus[cut & seen].mean() - ceus[ring & seen].mean()) if (ring & seen).any() else 0.0
    sign = 0 if abs(difference) < SIGN_DB else int(np.sign(difference))
    diameter = float(max(np.ptp(rows), np.ptp(cols)) + 1)
    breathing = float(np.max(np.ptp(shifts[~tics.motion.rejected], axis=0))) if (~tics.motion.rejected).any() else 0.0
    reach = (diameter if max_move_px is None else float(max_move_px)) + breathing + MARGIN_PX
    return LoopTemplate(roi_set, shape, box, ceus, bimage, cut, ring, sign, seen, reach)


def _zscore(response: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Each frame's surface in units of its robust spread over the allowed, defined placements (0 where undefined)."""
    out = np.zeros(response.shape)
    for k, surface in enumerate(response):
        usable = allowed & np.isfinite(surface)
        if usable.sum() < 2:
            continue
        values = surface[usable]
        centre = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - centre)))
        out[k] = np.where(usable, (surface - centre) / max(spread, 1e-9), 0.0)
    return out


@dataclass(frozen=True)
class SweepSurfaces:
    """A sweep's match surfaces (module docstring, step 2), on the placement grid of :mod:`.carry_match`.

    Attributes
    ----------
    components : name → (frames, P, Q) surface, each frame in units of its own spread ("ceus": the template's
        correlation, "shape": the lesion's shape against its ring, "lesion": the lesion's own correlation,
        "bmode": the B-mode template's correlation).
    allowed : (P, Q) bool, placements keeping ≥ :data:`MIN_INSIDE` of the lesion inside the image region.
    pad : (rows, columns) the frames were padded by: placement [i, j] puts the template box's top-left corner at
        frame row ``i − pad[0]``, column ``j − pad[1]``.
    """

    components: dict[str, np.ndarray] = field(repr=False)
    allowed: np.ndarray = field(repr=False)
    pad: tuple[int, int]

    def total(self) -> np.ndarray:
        """Return the summed score, (frames, P, Q), −inf off the allowed placements."""
        summed = np.sum(np.stack(list(self.components.values())), axis=0)
        return np.where(self.allowed, summed, -np.inf)


def _frame_images(template: LoopTemplate, sweep: Clip, dynamic_range_db: float, overlays: bool
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Each sweep frame in speckle-smoothed dB about its median with its valid pixels; the B-mode half likewise."""
    shape = template.shape
    region = sweep.ceus_region.box
    inside = np.zeros(shape, dtype=bool)
    inside[region[1]:region[3], region[0]:region[2]] = True
    displays = display_maps(sweep, bmode=template.bmode is not None)  # once for the sweep, not per frame
    usable = inside & ~detect_overlays(sweep, display=displays.ceus) if overlays else inside
    bmode = sweep.bmode_region if template.bmode is not None and displays.bmode is not None else None
    ceus, valid, bimages, bvalid = [], [], [], []
    for pixels in sweep.frames.iterate(0, sweep.n_frames):
        grey = displays.ceus.to_grey(pixels)
        good = usable & np.isfinite(grey)
        ceus.append(_db(grey_to_power(np.nan_to_num(grey), dynamic_range_db).astype(np.float64), good))
        valid.append(good)
        if bmode is not None and displays.bmode is not None:
            moved = _half(displays.bmode.to_grey(pixels), (bmode.box[0] - region[0], bmode.box[1] - region[1]), shape)
            bgood = inside & np.isfinite(moved)
            bimages.append(_db(grey_to_power(np.nan_to_num(moved), dynamic_range_db).astype(np.float64), bgood))
            bvalid.append(bgood)
    if bmode is None:
        return np.stack(ceus), np.stack(valid), None, None
    return np.stack(ceus), np.stack(valid), np.stack(bimages), np.stack(bvalid)


def sweep_surfaces(template: LoopTemplate, sweep: Clip, *, dynamic_range_db: float, overlays: bool = True
                   ) -> SweepSurfaces:
    """Score every placement of the loop's template on every frame of a sweep (module docstring, step 2).

    Parameters
    ----------
    template : the loop's :func:`loop_template`.
    sweep : the open sweep clip (same screen as the loop).
    dynamic_range_db : display dynamic range for linearisation.
    overlays : leave burned-in overlays out of the matching.

    Returns
    -------
    SweepSurfaces

    Raises
    ------
    ProposalError
        The sweep's frames differ in size from the loop's, or the lesion cannot be placed on it.
    """
    shape = template.shape
    if (sweep.rows, sweep.columns) != shape:
        raise ProposalError(f"the sweep's frames are {sweep.columns}×{sweep.rows} px but the loop's "
                            f"{shape[1]}×{shape[0]}: ROIs cannot be carried between different screens")
    rows, cols = np.nonzero(template.lesion)
    h, w = template.lesion.shape
    # the box may hang over the frame's edge by its margin round the lesion and the lesion's part allowed outside
    pad = (min(h - 1, max(int(rows.min()), h - 1 - int(rows.max())) + int(np.ptp(rows)) // 2 + 1),
           min(w - 1, max(int(cols.min()), w - 1 - int(cols.max())) + int(np.ptp(cols)) // 2 + 1))
    region = np.zeros(shape, dtype=bool)
    x0, y0, x1, y1 = sweep.ceus_region.box
    region[y0:y1, x0:x1] = True
    allowed = inside_share(np.pad(region, ((pad[0], pad[0]), (pad[1], pad[1]))), template.lesion) >= MIN_INSIDE
    rr, cc = np.ogrid[0:allowed.shape[0], 0:allowed.shape[1]]
    allowed &= (rr - template.box[1] - pad[0]) ** 2 + (cc - template.box[0] - pad[1]) ** 2 <= template.reach_px ** 2
    if not allowed.any():
        raise ProposalError("the lesion does not fit inside the sweep's image region")
    ceus, valid, bimages, bvalid = _frame_images(template, sweep, dynamic_range_db, overlays)
    images, masks = padded(ceus, valid, pad)
    contrast = contrast_stack(images, masks, template.lesion, template.ring)
    components = {"ceus": _zscore(ncc_stack(images, masks, template.ceus, template.seen), allowed),
                  "shape": _zscore(template.sign * contrast if template.sign else np.abs(contrast), allowed)}
    if template.sign:  # the lesion as the loop showed it late, and its ring: its own outline and texture
        components["lesion"] = _zscore(ncc_stack(images, masks, template.ceus,
                                                 template.seen & (template.lesion | template.ring)), allowed)
    if template.bmode is not None and bimages is not None and bvalid is not None:
        images, masks = padded(bimages, bvalid, pad)
        components["bmode"] = _zscore(ncc_stack(images, masks, template.bmode, template.seen), allowed)
    return SweepSurfaces(components, allowed, pad)


def carry_rois(template: LoopTemplate, sweep: Clip, *, dynamic_range_db: float, overlays: bool = True
               ) -> CarriedRois:
    """Place the loop's ROIs on a sweep (module docstring, steps 2–4).

    Parameters
    ----------
    template : the loop's :func:`loop_template`.
    sweep : the open sweep clip (same screen as the loop).
    dynamic_range_db : display dynamic range for linearisation.
    overlays : leave burned-in overlays out of the matching.

    Returns
    -------
    CarriedRois

    Raises
    ------
    ProposalError
        The sweep's frames differ in size from the loop's, or the lesion cannot be placed on it.
    """
    surfaces = sweep_surfaces(template, sweep, dynamic_range_db=dynamic_range_db, overlays=overlays)
    maps = surfaces.total()
    frame, r, c, summed = locate(maps)
    radius = max(2.0, float(np.sqrt(template.lesion.sum() / np.pi)))
    confidence = match_confidence(maps, summed, (r, c), radius, surfaces.allowed)
    dx, dy = c - surfaces.pad[1] - template.box[0], r - surfaces.pad[0] - template.box[1]
    document = template.rois.translated(dx, dy).to_json()
    document["reference_frame"] = frame
    for item in document["rois"]:
        item["source"] = "proposed"
        item["confidence"] = confidence
    document["proposal"] = {"carried_from": "loop", "offset_px": [round(float(dx), 2), round(float(dy), 2)],
                            "frame": frame}
    return CarriedRois(document, frame, (round(float(dx), 2), round(float(dy), 2)), confidence)
