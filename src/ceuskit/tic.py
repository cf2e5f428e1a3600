"""Time–intensity curves: mean linear echo power inside each ROI, per frame, streamed.

One pass over the clip decodes each frame once, crops the area around the ROIs (and the B-mode tracking area
for dual displays), linearises only those pixels, moves the ROIs with the tracked tissue and averages.
Memory is independent of the clip's length.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ceuskit.errors import AnalysisError, RoiError
from ceuskit.io.clip import Box, Clip
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.preprocess.motion import MotionResult, MotionTracker, choose_tracked
from ceuskit.roi import RoiSet

__all__ = ["TicResult", "extract_tics", "moving_average"]

MIN_INSIDE_FRACTION = 0.5
"""A frame's ROI mean needs at least this fraction of the ROI's pixels inside the image."""


def moving_average(times_s: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving average over ``window_s`` seconds on irregular times, ignoring NaN samples.

    Returns NaN only where the window holds no finite sample.
    """
    times_s = np.asarray(times_s, dtype=float)
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, values, 0.0))])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    lo = np.searchsorted(times_s, times_s - window_s / 2, side="left")
    hi = np.searchsorted(times_s, times_s + window_s / 2, side="right")
    count = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (csum[hi] - csum[lo]) / np.maximum(count, 1), np.nan)


@dataclass(frozen=True)
class TicResult:
    """TICs of every ROI: ``power[name]`` (n_frames,) mean linear power, NaN in rejected frames."""

    times_s: np.ndarray
    power: dict[str, np.ndarray]
    motion: MotionResult
    masks: dict[str, np.ndarray]


@dataclass(frozen=True)
class _RoiWindow:
    name: str
    box: Box  # bounding box of the mask in the full frame
    mask: np.ndarray  # the mask inside its box


def _bbox(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _grow(box: Box, by: int, limit: Box) -> Box:
    return (max(box[0] - by, limit[0]), max(box[1] - by, limit[1]), min(box[2] + by, limit[2]), min(box[3] + by, limit[3]))


def _crop(pixels: np.ndarray, box: Box) -> np.ndarray:
    return pixels[box[1]:box[3], box[0]:box[2]]


MAX_TEMPLATE_PX = 128
"""Largest template side: tracking cost grows with its area, and a lesion's surroundings suffice."""


def _template_box(rois: RoiSet, windows: list[_RoiWindow], limit: Box) -> Box:
    """Tracking template: the lesions' boxes plus a margin (the ROIs' union without lesions), capped in size."""
    lesion_names = {r.name for r in rois.lesions}
    boxes = [w.box for w in windows if w.name in lesion_names] or [w.box for w in windows]
    x0, y0, x1, y1 = _grow(_union(boxes), 8, limit)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    half = MAX_TEMPLATE_PX // 2
    return (max(x0, cx - half), max(y0, cy - half), min(x1, cx + half), min(y1, cy + half))


def _roi_mean(power: np.ndarray, crop: Box, roi: _RoiWindow, dx: int, dy: int) -> float:
    """Mean of ``power`` (the crop) inside the ROI moved by (dx, dy); NaN when mostly outside the crop."""
    x0, y0, x1, y1 = roi.box
    x0, x1, y0, y1 = x0 + dx - crop[0], x1 + dx - crop[0], y0 + dy - crop[1], y1 + dy - crop[1]
    h, w = power.shape
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        return float("nan")
    mask = roi.mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    inside = int(mask.sum())
    if inside < MIN_INSIDE_FRACTION * roi.mask.sum():
        return float("nan")
    return float(power[cy0:cy1, cx0:cx1][mask].mean())


def extract_tics(clip: Clip, rois: RoiSet, *, dynamic_range_db: float, motion: bool = True,
                 max_shift_mm: float = 8.0, injection_time_s: float = 0.0,
                 progress: Callable[[int, int], None] | None = None) -> TicResult:
    """Stream the clip once and return every ROI's TIC, motion-compensated when that helps.

    Parameters
    ----------
    clip : the clip; ROIs are in pixels of its stored full frame, drawn on ``rois.reference_frame``.
    dynamic_range_db : display dynamic range used for linearisation.
    motion : track tissue motion (B-mode half when dual) and move the ROIs with it.
    max_shift_mm : largest displacement searched (pixels without spacing: 8 mm ↔ 27 px at 0.3 mm).
    progress : called with (frames done, total).
    """
    masks = rois.masks(clip.rows, clip.columns)
    windows = []
    for name, mask in masks.items():
        box = _bbox(mask)
        windows.append(_RoiWindow(name, box, _crop(mask, box)))
    full: Box = (0, 0, clip.columns, clip.rows)
    spacing = min(clip.pixel_spacing_mm) if clip.pixel_spacing_mm else None
    search_px = int(np.ceil(max_shift_mm / spacing)) if spacing else 27
    search_px = max(4, min(search_px, 64))
    roi_union = _union([w.box for w in windows])
    crop_box = _grow(roi_union, search_px if motion else 0, full)

    tracker: MotionTracker | None = None
    track_offset = (0, 0)
    if motion:
        bmode = clip.bmode_region
        if bmode is not None:
            ceus = clip.ceus_region
            track_offset = (bmode.box[0] - ceus.box[0], bmode.box[1] - ceus.box[1])
            limit = bmode.box
        else:
            limit = clip.ceus_region.box
        tx0, ty0, tx1, ty1 = _template_box(rois, windows, full)
        template_box = (tx0 + track_offset[0], ty0 + track_offset[1], tx1 + track_offset[0], ty1 + track_offset[1])
        template_box = _grow(template_box, 0, limit)
        if template_box[2] - template_box[0] < 8 or template_box[3] - template_box[1] < 8:
            raise RoiError("the ROIs lie outside the ultrasound image region; redraw them on the image")
        search_box = _grow(template_box, search_px, limit)
        reference = clip.display_map("bmode" if bmode is not None else "ceus").to_grey(
            _crop(clip.raw(rois.reference_frame), search_box), off_map=0.0)
        tracker = MotionTracker(reference, template_box, search_box,
                                smoothing_px=1.0 if bmode is not None else 2.0,
                                gate_fraction=None if bmode is not None else 0.3,
                                adapt=0.05 if bmode is not None else 0.2, edges=bmode is None)

    n = clip.n_frames
    tracked_power = {w.name: np.full(n, np.nan) for w in windows}
    still_power = {w.name: np.full(n, np.nan) for w in windows}
    shifts = np.zeros((n, 2), dtype=int)
    quality = np.full(n, np.nan)
    rejected = np.zeros(n, dtype=bool)
    tracked = np.zeros(n, dtype=bool)
    for k, pixels in enumerate(clip.frames.iterate(0, n)):
        power = grey_to_power(clip.display_map().to_grey(_crop(pixels, crop_box)), dynamic_range_db)
        for w in windows:
            still_power[w.name][k] = _roi_mean(power, crop_box, w, 0, 0)
        if tracker is not None:
            search = clip.display_map("bmode" if clip.bmode_region is not None else "ceus").to_grey(
                _crop(pixels, tracker.search_box), off_map=0.0)
            dx, dy, q, was_tracked, was_rejected = tracker.update(search)
            shifts[k], quality[k], tracked[k], rejected[k] = (dx, dy), q, was_tracked, was_rejected
            if not was_rejected:
                for w in windows:
                    tracked_power[w.name][k] = _roi_mean(power, crop_box, w, dx, dy)
        if progress is not None:
            progress(k + 1, n)
    if all(np.isnan(v).all() for v in still_power.values()):
        raise AnalysisError(f"{clip.source}: no frame could be measured inside the ROIs")
    times_s = clip.times - injection_time_s
    if tracker is None:
        result = MotionResult(shifts, quality, rejected, tracked, False, "motion compensation off (--no-motion)")
        return TicResult(times_s, still_power, result, masks)
    start = times_s[np.argmax(tracked)] if tracked.any() else None
    applied, note = choose_tracked(times_s, tracked_power, still_power, start)
    result = MotionResult(shifts, quality, rejected, tracked, applied, note)
    return TicResult(times_s, tracked_power if applied else still_power, result, masks)


def tic_table(tics: TicResult, smoothed: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Columns of ``tic.csv``: time, frame flags and each ROI's power and dB (and smoothed power)."""
    columns: dict[str, np.ndarray] = {
        "frame": np.arange(tics.times_s.size),
        "time_s": tics.times_s,
        "rejected": tics.motion.rejected.astype(int) if tics.motion.applied else np.zeros(tics.times_s.size, int),
        "shift_x_px": tics.motion.shifts_px[:, 0] if tics.motion.applied else np.zeros(tics.times_s.size, int),
        "shift_y_px": tics.motion.shifts_px[:, 1] if tics.motion.applied else np.zeros(tics.times_s.size, int),
    }
    for name, values in tics.power.items():
        columns[f"{name}_power"] = values
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[f"{name}_db"] = 10 * np.log10(values)
        if smoothed is not None and name in smoothed:
            columns[f"{name}_power_smoothed"] = smoothed[name]
    return columns
