"""ROIs of an examination's loop found again on a late-phase sweep, where the moved probe now shows the lesion.

Between the loop and a sweep the probe moves (up to a lesion's diameter and more), the contrast has moved on
to the late phase and breathing goes on.  What stays is the lesion's shape, its difference from the liver
around it (darker or brighter, whichever it has become) and, on a dual display, its B-mode look.

1. The loop's lesion ROIs give a zero-mean kernel: +1 over the lesion (spread over its area), −1 over the ring
   of liver 3–10 px around it.  Correlated with a frame (speckle-smoothed dB), it scores how much the place
   under the lesion differs from the ring around it, at every offset, in one FFT.
2. Every sweep frame is scored so, on the CEUS half by the absolute difference (hypo or hyper), on the B-mode
   half of a dual display by darkness (lesions are mostly hypoechoic); each frame's scores are in units of
   their own spread.  Offsets that would put the lesion partly off the image are not considered.
3. Each frame's best offset is where the lesion lies in it; breathing moves it from frame to frame.  The
   sweep's reference frame is the best-scoring frame among those at the most common position (the resting
   phase of the breath), and the offset there is refined by the summed score of the frames at that position
   (a parabola through the peak gives a sub-pixel offset).
4. Every ROI of the loop (the liver reference too) moves by that offset and is marked ``"source":
   "proposed"`` with the match's confidence: how far the peak stands above the next-best place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, signal

from ceuskit.errors import ProposalError
from ceuskit.io.clip import Clip
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.preprocess.overlays import detect_overlays
from ceuskit.roi import RoiSet, parse_rois

__all__ = ["CarriedRois", "carry_rois"]

RING_PX = (3, 10)
"""Inner and outer distance of the liver ring around the lesion in the matching kernel, px."""

SMOOTHING_PX = 2.0
"""Speckle smoothing of each frame before it is matched, px."""

MIN_INSIDE = 0.7
"""An offset is considered only where this share of the lesion stays inside the image region."""


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


def _kernel(lesion: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Zero-mean matching kernel cut to the lesion's box plus the ring, and the box's (row, column) origin."""
    outside = ndimage.distance_transform_edt(~lesion)
    ring = (outside > RING_PX[0]) & (outside <= RING_PX[1])
    rows, cols = np.nonzero(lesion | ring)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    kernel = lesion[r0:r1, c0:c1] / lesion.sum() - ring[r0:r1, c0:c1] / max(ring.sum(), 1)
    return kernel.astype(np.float64), (int(r0), int(c0))


def _frame_db(grey: np.ndarray, dynamic_range_db: float, unusable: np.ndarray) -> np.ndarray:
    power = grey_to_power(np.nan_to_num(grey, nan=0.0), dynamic_range_db).astype(np.float64)
    good = ~unusable & np.isfinite(grey)
    weight = ndimage.gaussian_filter(good.astype(float), SMOOTHING_PX)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = ndimage.gaussian_filter(np.where(good, power, 0.0), SMOOTHING_PX) / weight
    db = 10 * np.log10(np.maximum(np.nan_to_num(smooth, nan=0.0), 1e-12))
    level = float(np.median(db[good])) if good.any() else 0.0
    return np.where(good, db - level, 0.0)


def _scores(image: np.ndarray, kernel: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Kernel response at every top-left placement, in units of its spread over the allowed placements."""
    response = signal.fftconvolve(image, kernel[::-1, ::-1], mode="valid")
    response = np.where(allowed, response, np.nan)
    finite = response[np.isfinite(response)]
    spread = 1.4826 * float(np.median(np.abs(finite - np.median(finite)))) if finite.size else 1.0
    return np.asarray(response / max(spread, 1e-9))


def _allowed(lesion: np.ndarray, region: tuple[int, int, int, int], kernel_shape: tuple[int, int],
             origin: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Top-left placements (valid-correlation grid) where ≥ :data:`MIN_INSIDE` of the lesion stays inside
    ``region``."""
    inside = np.zeros(shape)
    x0, y0, x1, y1 = region
    inside[y0:y1, x0:x1] = 1.0
    cut = lesion[origin[0]:origin[0] + kernel_shape[0], origin[1]:origin[1] + kernel_shape[1]].astype(float)
    share = signal.fftconvolve(inside, cut[::-1, ::-1], mode="valid") / max(cut.sum(), 1.0)
    return np.asarray(share >= MIN_INSIDE)


def _peak(score: np.ndarray) -> tuple[float, float, float]:
    """(row, column, value) of the maximum, refined to a sub-pixel by parabolas through its neighbours."""
    filled = np.nan_to_num(score, nan=-np.inf)
    r, c = np.unravel_index(int(np.argmax(filled)), filled.shape)
    value = float(filled[r, c])

    def vertex(minus: float, mid: float, plus: float) -> float:
        denominator = minus - 2 * mid + plus
        if not np.isfinite(denominator) or denominator >= 0:
            return 0.0
        return float(np.clip(0.5 * (minus - plus) / denominator, -0.5, 0.5))

    dr = vertex(filled[r - 1, c], value, filled[r + 1, c]) if 0 < r < filled.shape[0] - 1 else 0.0
    dc = vertex(filled[r, c - 1], value, filled[r, c + 1]) if 0 < c < filled.shape[1] - 1 else 0.0
    return r + dr, c + dc, value


def carry_rois(loop_rois: RoiSet | Mapping[str, Any], sweep: Clip, *, loop_shape: tuple[int, int],
               dynamic_range_db: float, overlays: bool = True) -> CarriedRois:
    """Place the loop's ROIs on a sweep (module docstring).

    Parameters
    ----------
    loop_rois : the loop's ROIs (a :class:`RoiSet` or an ROI document in pixels) on its reference frame.
    sweep : the open sweep clip (same display layout as the loop).
    loop_shape : (rows, columns) of the loop's frames (for the ROIs' masks).
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
    rois = loop_rois if isinstance(loop_rois, RoiSet) else parse_rois(loop_rois)
    if (sweep.rows, sweep.columns) != tuple(loop_shape):
        raise ProposalError(f"the sweep's frames are {sweep.columns}×{sweep.rows} px but the loop's "
                            f"{loop_shape[1]}×{loop_shape[0]}: ROIs cannot be carried between different screens")
    masks = rois.masks(*loop_shape)
    lesion = np.zeros(loop_shape, dtype=bool)
    for roi in rois.lesions:
        lesion |= masks[roi.name]
    kernel, origin = _kernel(lesion)
    shape = (sweep.rows, sweep.columns)
    region = sweep.ceus_region.box
    allowed = _allowed(lesion, region, kernel.shape, origin, shape)
    if not allowed.any():
        raise ProposalError("the lesion does not fit inside the sweep's image region")
    unusable = detect_overlays(sweep) if overlays else np.zeros(shape, dtype=bool)
    outside = np.ones(shape, dtype=bool)
    outside[region[1]:region[3], region[0]:region[2]] = False
    display = sweep.display_map()
    bmode = sweep.bmode_region
    bmode_display = sweep.display_map("bmode") if bmode is not None else None
    peaks, maps = [], []
    for _k, pixels in enumerate(sweep.frames.iterate(0, sweep.n_frames)):
        ceus = _scores(np.abs(_frame_db(display.to_grey(pixels), dynamic_range_db, unusable | outside)), kernel,
                       allowed)
        if bmode is not None and bmode_display is not None:
            # the B-mode half shows the same anatomy, shifted by the halves' offset
            bx, by = bmode.box[0] - region[0], bmode.box[1] - region[1]
            grey = bmode_display.to_grey(pixels)
            moved = np.full(shape, np.nan, dtype=np.float32)
            src = grey[max(by, 0):shape[0] + min(by, 0), max(bx, 0):shape[1] + min(bx, 0)]
            moved[max(-by, 0):max(-by, 0) + src.shape[0], max(-bx, 0):max(-bx, 0) + src.shape[1]] = src
            b_out = np.ones(shape, dtype=bool)
            b_out[region[1]:region[3], region[0]:region[2]] = False
            darker = _scores(-_frame_db(moved, dynamic_range_db, b_out | ~np.isfinite(moved)), kernel, allowed)
            ceus = ceus + darker
        maps.append(ceus)
        peaks.append(_peak(ceus))
    rows = np.array([p[0] for p in peaks])
    cols = np.array([p[1] for p in peaks])
    values = np.array([p[2] for p in peaks])
    # the most common position (the breath's resting phase), and the frames that share it
    position = np.column_stack([np.rint(rows), np.rint(cols)]).astype(int)
    keys, counts = np.unique(position, axis=0, return_counts=True)
    common = keys[int(np.argmax(counts))]
    near = np.max(np.abs(position - common), axis=1) <= 1
    frame = int(np.flatnonzero(near)[int(np.argmax(values[near]))])
    summed = np.nansum(np.stack([maps[k] for k in np.flatnonzero(near)]), axis=0)
    summed = np.where(allowed, summed, np.nan)
    r, c, best = _peak(summed)
    # how far the peak stands above the best place at least a lesion radius away
    radius = max(2.0, float(np.sqrt(lesion.sum() / np.pi)))
    rr, cc = np.ogrid[0:summed.shape[0], 0:summed.shape[1]]
    away = np.where((rr - r) ** 2 + (cc - c) ** 2 > radius ** 2, summed, np.nan)
    runner_up = float(np.nanmax(away)) if np.isfinite(away).any() else 0.0
    confidence = round(float(np.clip((best - runner_up) / max(abs(best), 1e-9) * 2.0, 0.0, 1.0)), 3)
    dy, dx = r - origin[0], c - origin[1]
    document = rois.translated(dx, dy).to_json()
    document["reference_frame"] = frame
    for item in document["rois"]:
        item["source"] = "proposed"
        item["confidence"] = confidence
    document["proposal"] = {"carried_from": "loop", "offset_px": [round(dx, 2), round(dy, 2)], "frame": frame}
    return CarriedRois(document, frame, (round(dx, 2), round(dy, 2)), confidence)
