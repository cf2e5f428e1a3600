"""Time–intensity curves: mean linear echo power inside each ROI, per frame, motion-compensated.

The clip's frames (a :class:`~ceuskit.pixels.FrameStream`: the caller opens the clip and fits its display
maps) are read once. Each frame contributes its ROIs' surroundings (grey, kept compactly as uint8) and
the tracking features of its search area; once every frame is in, the tissue is tracked over the whole clip
(:mod:`ceuskit.preprocess.motion`) and the ROI means are taken at the tracked positions. Pixels that carry
no echo (outside the image region, burned-in overlays, colours off the display map) never enter a mean.
Frames where an ROI's curve leaves its course for a moment and comes back (a second out of plane,
:func:`ceuskit.timeseries.interruptions`) are rejected in every ROI, tracked or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ceuskit._tic_frames import (
    FeatureStack,
    RoiStore,
    clip_box,
    grey_reader,
    search_area,
    shared_cover,
    union,
)
from ceuskit.errors import AnalysisError, RoiError
from ceuskit.pixels import Box, FrameStream
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.preprocess.motion import (
    FEATURE_SCALE,
    MotionResult,
    TrackingOptions,
    frame_features,
    track,
)
from ceuskit.preprocess.motion.background import AnchorWhileReading
from ceuskit.roi import RoiSet
from ceuskit.timeseries import interruptions

__all__ = ["TicResult", "censored_mean", "extract_tics", "median_grey", "tic_table"]

MIN_INSIDE_FRACTION = 0.5
"""A frame's ROI mean needs at least this fraction of the ROI's pixels valid (inside the image, no overlay)."""

MAX_CENSORED_FRACTION = 0.5
"""Pixels at display white are treated as censored speckle up to this fraction of an ROI's pixels."""

MAX_TEMPLATE_PX = 128
"""Largest tracking-template side: tracking cost grows with its area, and a lesion's surroundings suffice."""

MIN_RISE_GREY = 8.0
"""A CEUS-only clip whose template area brightens by less than this (grey levels) up to the reference frame
shows no contrast arrival to wait for: it is tracked from its first frame."""

TEMPLATE_MARGIN_PX = 12
"""Context around the lesions included in the tracking template."""


@dataclass(frozen=True)
class TicResult:
    """TICs of every ROI.

    Attributes
    ----------
    times_s : (n_frames,) s after injection.
    power : ROI → (n_frames,) mean linear power, NaN in rejected frames.
    motion : the tracking result (applied or not).
    masks : ROI → (rows, columns) bool mask on the reference frame.
    saturated : ROI → (n_frames,) fraction of the ROI's valid pixels at the display maximum.
    overlay_pixels : ROI → the most burned-in overlay pixels that fell inside the ROI in any measured frame.
    display_power : ROI → (n_frames,) the linear power of the ROI's display level (the median of its pixels'
        grey, i.e. of their dB: the level the bulk of the ROI shows on the screen, :func:`median_grey`), NaN where
        ``power`` is; empty for curves read from a table, whose pixels are not known. The onset is read on it
        (:mod:`ceuskit.characterisation`).
    """

    times_s: np.ndarray
    power: dict[str, np.ndarray]
    motion: MotionResult
    masks: dict[str, np.ndarray]
    saturated: dict[str, np.ndarray]
    overlay_pixels: dict[str, int]
    display_power: dict[str, np.ndarray] = field(default_factory=dict)


def _bbox(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _grow(box: Box, by: int, limit: Box) -> Box:
    return (max(box[0] - by, limit[0]), max(box[1] - by, limit[1]), min(box[2] + by, limit[2]), min(box[3] + by, limit[3]))


def _search_radius_px(frames: FrameStream, max_shift_mm: float) -> int:
    """Largest shift searched, full-frame px (even): ``max_shift_mm`` at the clip's spacing (0.3 mm if unknown)."""
    spacing = min(frames.pixel_spacing_mm) if frames.pixel_spacing_mm else 0.3
    radius = int(np.clip(np.ceil(max_shift_mm / spacing), 4, 64))
    return radius + radius % 2


def _template_box(rois: RoiSet, stores: list[RoiStore]) -> Box:
    """Tracking template: the lesions' boxes plus context, capped in size, sides even (half-resolution features)."""
    lesion_names = {r.name for r in rois.lesions}
    boxes = [s.box for s in stores if s.name in lesion_names] or [s.box for s in stores]
    x0, y0, x1, y1 = union(boxes)
    x0, y0, x1, y1 = x0 - TEMPLATE_MARGIN_PX, y0 - TEMPLATE_MARGIN_PX, x1 + TEMPLATE_MARGIN_PX, y1 + TEMPLATE_MARGIN_PX
    cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2, MAX_TEMPLATE_PX // 2
    x0, y0, x1, y1 = max(x0, cx - half), max(y0, cy - half), min(x1, cx + half), min(y1, cy + half)
    return x0, y0, x1 + (x1 - x0) % 2, y1 + (y1 - y0) % 2


def _contrast_start(levels: np.ndarray, times_s: np.ndarray, reference_index: int, *, fraction: float = 0.05,
                    lead_s: float = 1.0) -> int:
    """Return the frame where tracking starts on a CEUS-only clip.

    That is ``lead_s`` before the template area's grey has risen ``fraction`` of the way from the clip's start
    to the reference frame's level (before the contrast arrives there is nothing to match); 0 when there is
    no clear rise (the contrast was already there, or the reference frame is dark). Weakly enhanced early
    frames are tracked: where their match is vague the tracker follows their neighbours.
    """
    start = _known_start(levels, times_s, reference_index, fraction=fraction, lead_s=lead_s)
    return 0 if start is None else start


def _known_start(levels: np.ndarray, times_s: np.ndarray, reference_index: int, *, fraction: float = 0.05,
                 lead_s: float = 1.0) -> int | None:
    """Return :func:`_contrast_start` from the levels of the frames read so far.

    ``levels`` may be shorter than ``times_s``; None while they cannot tell it yet (the reference frame, the
    first second or the rise not read yet).
    """
    read = levels.size
    if read <= reference_index or (read < times_s.size and times_s[read - 1] <= times_s[0] + 1.0):
        return None
    early = levels[times_s[:read] <= times_s[0] + 1.0]
    start_level = float(np.median(early))
    rise = float(levels[reference_index]) - start_level
    if rise < MIN_RISE_GREY:
        return 0
    above = np.flatnonzero(levels >= start_level + fraction * rise)
    if not above.size:
        return None
    return int(np.searchsorted(times_s, times_s[above[0]] - lead_s))


def median_grey(grey: np.ndarray) -> float:
    """Return the median of an ROI's grey levels as a continuous level (the median of grouped data).

    Each grey level g stands for the unit interval [g − ½, g + ½], filled evenly by its pixels: the median is
    where the cumulative count reaches half the pixels, interpolated inside the level that holds it, so it moves
    smoothly with the image instead of in whole grey steps; where exactly half lie at or below a level, the
    median is the middle of the empty levels up to the next one used (as the mean of two middle values). It is
    the level at least half of the ROI's pixels show: a minority of pixels that are not the lesion's (a vessel
    crossing the outline, liver inside an outline drawn wide), however bright and early, do not move it. Grey
    maps to dB by a scale and an offset, which the median commutes with.

    Parameters
    ----------
    grey : (n,) uint8 grey levels (0–255), n ≥ 1.

    Returns
    -------
    float
        The median grey level, in [−½, 255½].

    Raises
    ------
    ValueError
        ``grey`` is empty.
    """
    if grey.size == 0:
        raise ValueError("median_grey needs at least one pixel")
    counts = np.bincount(grey, minlength=256)
    cumulative = np.cumsum(counts)
    half = grey.size / 2.0
    level = int(np.searchsorted(cumulative, half, side="left"))
    below = float(cumulative[level] - counts[level])
    if cumulative[level] == half and level < 255:  # half the pixels up to this level, half above the next one
        above = level + 1 + int(np.flatnonzero(counts[level + 1:])[0])
        return (level + above) / 2.0  # the middle of the empty levels between (as the mean of two middle values)
    return level - 0.5 + (half - below) / float(counts[level])


def censored_mean(power_sum: float, n_pixels: int, n_clipped: int) -> float:
    """Mean speckle power of ``n_pixels`` whose sum is ``power_sum``, ``n_clipped`` of them at display white.

    Speckle intensity is exponentially distributed, and a pixel at white only says its power was at least the
    white level: right-censored. The maximum-likelihood mean of censored exponential samples is their sum
    (clipped ones at the white level) over the number *not* clipped. Where more than
    :data:`MAX_CENSORED_FRACTION` is clipped that estimate rests on too few pixels, and the plain mean (a lower
    bound) is kept; the ``saturation`` flag says so either way.
    """
    if 0 < n_clipped <= MAX_CENSORED_FRACTION * n_pixels:
        return power_sum / (n_pixels - n_clipped)
    return power_sum / n_pixels


def _roi_means(store: RoiStore, shifts: np.ndarray, skip: np.ndarray, power_of_grey: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the mean linear power inside the ROI moved by each frame's shift, its saturated share, its median grey.

    The mean is NaN where the frame is skipped or the ROI mostly invalid; pixels at display white are taken as
    censored (:func:`censored_mean`). The share is the fraction of its valid pixels at the display maximum
    (grey 255). The median grey (:func:`median_grey`, NaN where the mean is) is the level the bulk of the ROI
    shows on the screen.
    ``power_of_grey`` (256,) is the linearisation of every grey level.
    """
    n = store.grey.shape[0]
    out = np.full(n, np.nan)
    saturated = np.full(n, np.nan)
    shown_grey = np.full(n, np.nan)
    sx0, sy0, sx1, sy1 = store.store_box
    bx0, by0, bx1, by1 = store.box
    height, width = sy1 - sy0, sx1 - sx0
    need = MIN_INSIDE_FRACTION * store.mask.sum()
    for k in range(n):
        if skip[k]:
            continue
        dx, dy = int(shifts[k, 0]), int(shifts[k, 1])
        x0, y0, x1, y1 = bx0 + dx - sx0, by0 + dy - sy0, bx1 + dx - sx0, by1 + dy - sy0
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        mask = store.mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        if store.invalid is not None:
            mask = mask & ~store.invalid[k, cy0:cy1, cx0:cx1]
        if mask.sum() < need:
            continue
        grey = store.grey[k, cy0:cy1, cx0:cx1][mask]
        clipped = int(np.count_nonzero(grey >= 255))
        out[k] = censored_mean(float(power_of_grey[grey].sum()), grey.size, clipped)
        saturated[k] = clipped / grey.size
        shown_grey[k] = median_grey(grey)
    return out, saturated, shown_grey


def _overlay_pixels(store: RoiStore, exclude: np.ndarray | None, shifts: np.ndarray, used: np.ndarray) -> int:
    """Return the most overlay pixels inside the ROI (moved by the frames' shifts) over the frames used."""
    if exclude is None or not used.any():
        return 0
    bx0, by0, bx1, by1 = store.box
    rows, columns = exclude.shape
    most = 0
    for dx, dy in {(int(a), int(b)) for a, b in shifts[used]}:
        x0, y0, x1, y1 = bx0 + dx, by0 + dy, bx1 + dx, by1 + dy
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, columns), min(y1, rows)
        if cx1 > cx0 and cy1 > cy0:
            inside = store.mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] & exclude[cy0:cy1, cx0:cx1]
            most = max(most, int(inside.sum()))
    return most


def extract_tics(frames: FrameStream, rois: RoiSet, *, dynamic_range_db: float, motion: bool = True,
                 max_shift_mm: float = 8.0, injection_time_s: float = 0.0,
                 exclude: np.ndarray | Callable[[], np.ndarray] | None = None, tracking: TrackingOptions | None = None,
                 progress: Callable[[int, int], None] | None = None) -> TicResult:
    """Read the clip's frames once and return every ROI's TIC, motion-compensated where the image supports it.

    Parameters
    ----------
    frames : the clip's frames, times, regions and display maps (:func:`ceuskit.feed.clip_frames`); ROIs are in
        pixels of its stored full frame, drawn on ``rois.reference_frame``.
    dynamic_range_db : display dynamic range used for linearisation.
    motion : track the tissue (on the B-mode half when dual) and move the ROIs with it.
    max_shift_mm : largest displacement searched (0.3 mm per pixel assumed when the spacing is unknown).
    injection_time_s : injection moment, s after the first frame; the result's times are after injection.
    exclude : (rows, columns) bool, pixels that never carry echo (burned-in overlays); left out of every ROI
        mean and of the tracking. Or a function that returns them (waiting until they are found, e.g. on a
        thread): it is called once the clip's frames have begun to be decoded.
    tracking : tracker settings.
    progress : called with (frames done, total).
    """
    masks = rois.masks(frames.rows, frames.columns)
    full: Box = (0, 0, frames.columns, frames.rows)
    ceus = frames.ceus_box
    radius = _search_radius_px(frames, max_shift_mm) if motion else 0
    n = frames.n_frames
    stores = []
    for name, mask in masks.items():
        box = _bbox(mask)
        store_box = _grow(box, radius, full)
        shape = (n, store_box[3] - store_box[1], store_box[2] - store_box[0])
        stores.append(RoiStore(name, box, mask[box[1]:box[3], box[0]:box[2]], store_box, np.zeros(shape, np.uint8)))
    bmode = frames.bmode_box if motion else None
    offset = (bmode[0] - ceus[0], bmode[1] - ceus[1]) if bmode is not None else (0, 0)
    track_limit = bmode if bmode is not None else ceus
    tx0, ty0, tx1, ty1 = _template_box(rois, stores)
    template_box = (tx0 + offset[0], ty0 + offset[1], tx1 + offset[0], ty1 + offset[1])
    if motion:
        inside = _grow(template_box, 0, track_limit)
        if inside[2] - inside[0] < 8 or inside[3] - inside[1] < 8:
            raise RoiError("the ROIs lie outside the ultrasound image region; redraw them on the image")
    search_box = (template_box[0] - radius, template_box[1] - radius, template_box[2] + radius, template_box[3] + radius)
    feature_shape = ((search_box[3] - search_box[1]) // FEATURE_SCALE, (search_box[2] - search_box[0]) // FEATURE_SCALE)
    features = FeatureStack(np.zeros((n, *feature_shape), np.float16)) if motion else None
    smoothing_px = 1.0 if bmode is not None else 2.0
    display = frames.display
    track_display = frames.bmode_display if bmode is not None and frames.bmode_display is not None else display
    search_in_frame = clip_box(search_box, track_limit)
    cover = None
    if features is not None and track_display is display and search_in_frame is not None:
        cover = shared_cover([store.store_box for store in stores] + [search_in_frame])
    # only the part of each frame that is read is handed over (a JPEG frame is converted only there)
    read_box = union([store.store_box for store in stores]
                      + ([search_in_frame] if features is not None and search_in_frame is not None else []))
    origin = (read_box[0], read_box[1])
    anchor = None
    if features is not None:  # started once the first tracked frame is known (CEUS-only: the rise read)
        reference = rois.reference_frame
        anchor = AnchorWhileReading(features.values, features.validity, frames.times_s,
                                    radius=radius // FEATURE_SCALE, options=tracking,
                                    start_of=None if bmode is not None else
                                    (lambda levels: _known_start(levels, frames.times_s, reference)))
    try:
        with frames.open(read_box) as decoded:
            # overlays still being found: the frames are decoded ahead meanwhile, and read once they are known
            exclude = _resolved(exclude)
            echo = np.zeros((frames.rows, frames.columns), dtype=bool)
            echo[ceus[1]:ceus[3], ceus[0]:ceus[2]] = True
            if exclude is not None:
                echo &= ~exclude
            echoes = [echo[b[1]:b[3], b[0]:b[2]] for b in (store.store_box for store in stores)]
            scratch = [np.empty(e.shape, dtype=bool) for e in echoes]
            all_valid = np.ones((search_box[3] - search_box[1], search_box[2] - search_box[0]), dtype=bool)
            for k, pixels in enumerate(decoded):
                grey_of = grey_reader(pixels, origin, display, cover)
                for store, store_echo, bad in zip(stores, echoes, scratch, strict=True):
                    store.put(k, grey_of(store.store_box), store_echo, bad)
                if features is not None:
                    track_grey_of = grey_of if track_display is display else grey_reader(pixels, origin, track_display, None)
                    grey_area, valid = search_area(track_grey_of, search_box, search_in_frame, exclude, all_valid)
                    features.put(k, *frame_features(grey_area, valid, smoothing_px))
                    if anchor is not None:
                        anchor.stored(k)
                if progress is not None:
                    progress(k + 1, n)
        times_s = frames.times_s - injection_time_s
        if features is None or anchor is None:
            result = MotionResult.still(n, "motion compensation off")
        else:
            r = radius // FEATURE_SCALE
            centre = features.values[:, r:feature_shape[0] - r, r:feature_shape[1] - r]
            levels = centre.mean(axis=(1, 2), dtype=np.float32)
            start = 0 if bmode is not None else _contrast_start(levels, frames.times_s, rois.reference_frame)
            result = track(features.values, features.validity(), frames.times_s, radius=r,
                           reference_index=rois.reference_frame, start_index=start, levels=levels,
                           options=tracking, anchor=lambda: anchor.matches(start))
    finally:
        if anchor is not None:
            anchor.close()
    # out-of-plane frames stay out whether or not the ROIs follow the tissue
    shifts = result.shifts_px if result.applied else np.zeros((n, 2), dtype=int)
    lut = grey_to_power(np.arange(256, dtype=np.float32), dynamic_range_db)
    means = {s.name: _roi_means(s, shifts, result.rejected, lut) for s in stores}
    if all(np.isnan(v[0]).all() for v in means.values()):
        raise AnalysisError(f"{frames.source}: no frame could be measured inside the ROIs")
    # a run of frames in which an ROI leaves its own curve and comes back (out of plane for a second) is
    # left out of every ROI, whether or not the image told it
    interrupted = interruptions(times_s, np.vstack([v[0] for v in means.values()]))
    if interrupted.any():
        result = replace(result, rejected=result.rejected | interrupted)
        for power, _, grey in means.values():
            power[interrupted] = np.nan
            grey[interrupted] = np.nan
    shown = {k: grey_to_power(v[2], dynamic_range_db).astype(np.float64) for k, v in means.items()}
    return TicResult(times_s, {k: v[0] for k, v in means.items()}, result, masks, {k: v[1] for k, v in means.items()},
                     {s.name: _overlay_pixels(s, exclude, shifts, np.isfinite(means[s.name][0])) for s in stores},
                     shown)


def _resolved(exclude: np.ndarray | Callable[[], np.ndarray] | None) -> np.ndarray | None:
    """Return the excluded pixels (waiting for them when given as a function), None when there are none."""
    mask = exclude() if callable(exclude) else exclude
    return mask if mask is not None and mask.any() else None


def tic_table(tics: TicResult) -> dict[str, np.ndarray]:
    """Columns of ``tic.csv``: frame, time, rejection, applied shift and each ROI's power and dB."""
    applied = tics.motion.applied
    zeros = np.zeros(tics.times_s.size, int)
    columns: dict[str, np.ndarray] = {
        "frame": np.arange(tics.times_s.size),
        "time_s": tics.times_s,
        "rejected": tics.motion.rejected.astype(int),
        "shift_x_px": tics.motion.shifts_px[:, 0] if applied else zeros,
        "shift_y_px": tics.motion.shifts_px[:, 1] if applied else zeros,
    }
    for name, values in tics.power.items():
        columns[f"{name}_power"] = values
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[f"{name}_db"] = 10 * np.log10(values)
    return columns
