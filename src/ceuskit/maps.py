"""Per-pixel (or per K×K block) parametric maps: arrival time, time to peak, peak enhancement, mTT and more.

One streaming pass over the clip's frames (a :class:`~ceuskit.pixels.FrameStream`: the caller opens the clip
and fits its display maps) reads each frame once, moves the analysis region with the tissue (the
rigid shifts of :func:`ceuskit.tic.extract_tics`' motion compensation; rejected frames are skipped),
linearises it, averages K×K blocks and ``time_bin_s`` time bins as it goes, and keeps only that reduced
float32 stack.  The per-pixel curves are then fitted in chunks by :func:`ceuskit.models.fit_curves` (a
lognormal bolus by default, whose parameters have closed forms) and turned into maps of the full frame's
size, NaN outside the analysis region.  Times count from the injection, as in the ROI reading.

A pixel keeps a value only where its own data support it (the rules of
:func:`ceuskit.models.parameters.fit_parameters`, and the time bins' resolution): its fit succeeded (R² ≥ 0.5,
a rise above the noise); its fitted curve reaches :data:`MIN_SAMPLED_PEAK` of its peak at a sample (a
narrower fitted peak falls between samples, and its height is the model's guess); its arrival lies after the
first bin for values measured from it; its peak is resolved (the curve falls below 90 % of it, or
plateaus early) within the clip and is no brighter than the display's white (:data:`MAX_PEAK_POWER`); its
tail falls to 5 % within the clip for the mean transit time, which is never more than two clip spans; its
wash-in rate is at most its peak enhancement per time bin (no steeper than the bins can show).
:class:`ParametricMaps` reports each map's share of pixels left without a value.

Writing the maps to files is the caller's: :func:`ceuskit.report.maps.write_maps`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ceuskit._mapstack import add_frame, close_bin
from ceuskit.errors import InputError
from ceuskit.models import fit_curves
from ceuskit.models.parameters import fit_parameters, supported_lognormal_parameters
from ceuskit.models.shapes import MODEL_NAMES, MODELS, shape
from ceuskit.onset import SCALES, ArrivalOptions, find_arrivals
from ceuskit.phases import ARTERIAL_WINDOW_S
from ceuskit.pixels import Box, FrameStream
from ceuskit.preprocess.linearize import check_dynamic_range
from ceuskit.roi import RoiSet
from ceuskit.tic import extract_tics
from ceuskit.timeseries import check_injection_time

__all__ = ["MAP_NAMES", "MAP_UNITS", "MAX_PEAK_POWER", "MIN_SAMPLED_PEAK", "ParametricMaps", "parametric_maps"]

MAP_NAMES: tuple[str, ...] = ("arrival_time_s", "time_to_peak_s", "peak_enhancement", "peak_enhancement_db",
                              "mean_transit_time_s", "wash_in_rate", "wash_in_auc", "r2")
"""Keys of the dictionary :func:`parametric_maps` returns (and of ``maps.npz``)."""

MAP_UNITS = {"arrival_time_s": "s", "time_to_peak_s": "s", "peak_enhancement": "linear power",
             "peak_enhancement_db": "dB", "mean_transit_time_s": "s", "wash_in_rate": "power/s",
             "wash_in_auc": "power·s", "r2": ""}

MAX_STACK_BYTES = 3 << 30
"""Largest reduced (time bins × blocks) float32 stack kept in memory; beyond it the user is asked for --block."""

_CHUNK_CURVES = 32768
MIN_SAMPLED_PEAK = 0.8
"""A pixel's fitted curve must reach this fraction of its peak at a sample time to keep its fitted values."""

MAX_PEAK_POWER = 1.0
"""… and peak no higher than the display's white (linear power 1, DESIGN "Linearisation")."""
MIN_SEEN_FRACTION = 0.8
"""A block whose region left the image (motion) in more than 20 % of the time bins gets no map value."""


@dataclass(frozen=True)
class ParametricMaps(Mapping[str, np.ndarray]):
    """The maps of one clip.

    ``maps[name]`` is a (rows, columns) float64 image for every name in :data:`MAP_NAMES` (NaN outside the analysis
    region and where a pixel has no value).

    Attributes
    ----------
    images : name → map.
    no_value_share : name → share of the analysed region's pixels (or blocks) without a value: seen too
        briefly (motion), fit failed, or a value their data cannot support (see :mod:`ceuskit.maps`).
    options : the settings that made the maps (written into ``maps.json`` as provenance).
    """

    images: dict[str, np.ndarray]
    no_value_share: dict[str, float]
    options: dict[str, Any]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.images[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.images)

    def __len__(self) -> int:
        return len(self.images)


def _check_box(box: Sequence[int], frames: FrameStream) -> Box:
    if len(box) != 4:
        raise InputError(f"region must be a box (x0, y0, x1, y1) in pixels, got {box!r}")
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frames.columns), min(y1, frames.rows)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise InputError(f"region {tuple(box)} holds no pixel of the {frames.columns}×{frames.rows} frame")
    return x0, y0, x1, y1


def _motion(frames: FrameStream, rois: RoiSet, dynamic_range_db: float, injection_time_s: float, motion: bool,
            progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray]:
    """(shifts (n, 2) int, rejected (n,) bool) from the TIC extraction's motion compensation."""
    n = frames.n_frames
    if not motion:
        return np.zeros((n, 2), dtype=int), np.zeros(n, dtype=bool)
    tics = extract_tics(frames, rois, dynamic_range_db=dynamic_range_db, motion=True,
                        injection_time_s=injection_time_s, progress=progress)
    if not tics.motion.applied:
        return np.zeros((n, 2), dtype=int), np.zeros(n, dtype=bool)
    return np.asarray(tics.motion.shifts_px, dtype=int), np.asarray(tics.motion.rejected, dtype=bool)


def _bins(times_s: np.ndarray, keep: np.ndarray, time_bin_s: float) -> np.ndarray:
    """Bin index of every frame (−1 for frames not kept); bins of ``time_bin_s`` from the first frame."""
    if time_bin_s <= 0:
        index = np.arange(times_s.size)
    else:
        index = np.floor((times_s - times_s[0]) / time_bin_s).astype(int)
    index = np.where(keep, index, -1)
    used = np.unique(index[index >= 0])
    return np.where(index >= 0, np.searchsorted(used, index), -1)


def _stack(frames: FrameStream, box: Box, block: int, shifts: np.ndarray, bins: np.ndarray, dynamic_range_db: float,
           progress: Callable[[int, int], None] | None, done: int, total: int) -> np.ndarray:
    """(n_bins, rows // K, columns // K) float32 mean linear power per bin and block, NaN where unseen."""
    x0, y0, x1, y1 = box
    hb, wb = (y1 - y0) // block, (x1 - x0) // block
    h, w = hb * block, wb * block
    n_bins = int(bins.max()) + 1
    if n_bins * hb * wb * 4 > MAX_STACK_BYTES:
        raise InputError(f"the map needs {n_bins * hb * wb * 4 / 2**30:.1f} GiB for {n_bins} time bins of {wb}×{hb} "
                         "blocks; use a larger --block or a smaller region")
    lx0, ly0, lx1, ly1 = frames.ceus_box
    stack = np.full((n_bins, hb, wb), np.nan, dtype=np.float32)
    sums = np.zeros((hb, wb), dtype=np.float64)
    counts = np.zeros((hb, wb), dtype=np.int32)
    scale = dynamic_range_db / 10.0 * math.log(10.0) / 255.0  # grey_to_power's linearisation
    offset = -dynamic_range_db / 10.0 * math.log(10.0)
    display = frames.display
    current = -1
    with frames.open() as decoded:
        for k, pixels in enumerate(decoded):
            b = int(bins[k])
            if b >= 0:
                if b != current and current >= 0:
                    close_bin(sums, counts, stack[current])
                current = b
                dx, dy = int(shifts[k, 0]), int(shifts[k, 1])
                sx0, sy0 = x0 + dx, y0 + dy  # where the reference frame's region lies in this frame
                ix0, iy0 = max(sx0, lx0), max(sy0, ly0)
                ix1, iy1 = min(sx0 + w, lx1), min(sy0 + h, ly1)
                if ix1 > ix0 and iy1 > iy0:
                    grey = np.ascontiguousarray(display.to_grey(pixels[iy0:iy1, ix0:ix1]), dtype=np.float32)
                    add_frame(grey, iy0 - sy0, ix0 - sx0, block, scale, offset, sums, counts)
            if progress is not None:
                progress(done + k + 1, total)
    if current >= 0:
        close_bin(sums, counts, stack[current])
    return stack


def _bin_times(times_s: np.ndarray, bins: np.ndarray) -> np.ndarray:
    n_bins = int(bins.max()) + 1
    kept = bins >= 0
    return np.bincount(bins[kept], weights=times_s[kept], minlength=n_bins) / np.bincount(bins[kept], minlength=n_bins)


def _peak_sampled(model: str, t: np.ndarray, params: Mapping[str, np.ndarray], peak_s: np.ndarray,
                  peak: np.ndarray) -> np.ndarray:
    """Tell per curve whether the fitted curve reaches :data:`MIN_SAMPLED_PEAK` of its peak at a sample time.

    The larger of the two samples around the peak counts (a unimodal curve is highest there): a narrower peak falls
    between the samples, and its height is the model's guess.  False where the peak is unknown.
    """
    spec = MODELS[model]
    after = np.clip(np.searchsorted(t, np.nan_to_num(peak_s, nan=t[0])), 1, t.size - 1)
    p1, p2 = (params[name] for name in spec.shape_params)
    with np.errstate(invalid="ignore"):
        sampled = np.maximum(shape(model, t[after - 1] - params["t0"], p1, p2),
                             shape(model, t[after] - params["t0"], p1, p2)) * params["A"]
        reached: np.ndarray = sampled >= MIN_SAMPLED_PEAK * peak
        return reached


def _curve_maps(t: np.ndarray, curves: np.ndarray, model: str, arrival: ArrivalOptions, bin_s: float
                ) -> dict[str, np.ndarray]:
    """Return the map values of each curve (rows of ``curves``), NaN where the curve's data do not support them.

    One starting value per pixel curve (a second one changes fewer than 0.1 % of per-pixel optima by more than
    1 % and costs half again the time).

    The arrival time is the model-free one of the ROI reading (:mod:`ceuskit.onset`: backward from the
    first-pass peak above a robust baseline), so a map and the ROI beside it agree: a bolus model that is not
    the perfusion's own family puts its 5 % point seconds late. Other values come from the fitted model.
    """
    fit = fit_curves(t, curves, model=model, n_starts=1)
    p = fit.params
    if model == "lognormal":
        found = supported_lognormal_parameters(t, p["t0"], p["mu"], p["sigma"], p["A"])
    else:
        found = fit_parameters(fit, t, grid_step_s=0.1)
    with np.errstate(invalid="ignore"):
        # a peak between two samples, or above the display's white, is the model's guess, not the data's
        resolved = (fit.success & _peak_sampled(model, t, p, found["time_to_peak_s"], found["peak_enhancement"])
                    & ~(found["peak_enhancement"] > MAX_PEAK_POWER))
        steep = found["wash_in_rate"] > found["peak_enhancement"] / bin_s  # the whole rise within one bin
    values = {name: np.where(resolved, found[name], np.nan) for name in MAP_NAMES if name in found}
    values["wash_in_rate"][steep] = np.nan
    values["r2"] = np.where(fit.success, fit.r2, np.nan)
    values["arrival_time_s"] = find_arrivals(t, curves, window_s=ARTERIAL_WINDOW_S, options=arrival)["arrival_time_s"]
    return {k: values[k] for k in MAP_NAMES}


def parametric_maps(frames: FrameStream, rois: RoiSet, *, block_px: int = 1, region: Sequence[int] | None = None,
                    dynamic_range_db: float = 60.0, injection_time_s: float = 0.0, motion: bool = True,
                    time_bin_s: float = 1.0, model: str = "lognormal",
                    progress: Callable[[int, int], None] | None = None, arrival_scale: str = "db") -> ParametricMaps:
    """Per-pixel (or per K×K block) perfusion maps of a clip.

    Parameters
    ----------
    frames : the clip's frames, times, regions and display maps (:func:`ceuskit.feed.clip_frames`; with the
        B-mode half's map on a dual display, motion is tracked there).
    rois : its ROIs (drawn on ``rois.reference_frame``); they anchor the motion tracking and the overlays.
    block_px : K, the side of the square pixel blocks averaged into one curve (1 = every pixel).
    region : (x0, y0, x1, y1) analysis box in pixels of the reference frame; default the clip's CEUS region.
    dynamic_range_db : display dynamic range used to linearise grey values.
    injection_time_s : injection moment, s after the clip's first frame (negative: before it); map times
        count from it, as the ROI reading's do (``ceuskit map --injection-time auto`` reads it from the
        DICOM header, as ``analyze`` does).
    motion : follow the tissue with the motion compensation of the TIC extraction (rejected frames skipped).
    time_bin_s : frames are averaged into bins of this many seconds before fitting (0: no binning); single
        pixel curves are speckle-dominated, and 1 s bins keep a 150 s clip's curves at 150 samples.
    model : the bolus model fitted per pixel ("lognormal": closed-form parameters).
    progress : called with (steps done, total steps): motion pass, map pass, fitting chunks.
    arrival_scale : the arrival map's scale: "db" (the onset as a reader sees it, as the ROI reading's) or
        "power" (linear power, VueBox's arrival time; what the one-click proposals compare blocks by).

    Returns
    -------
    :class:`ParametricMaps`: name → (rows, columns) float64 for every name in :data:`MAP_NAMES` (times in s
    from injection), NaN outside the region, in the last partial block row/column, in blocks that motion
    moved out of the image in more than 20 % of the time bins, in unfitted blocks and where a block's data
    do not support a value (see :mod:`ceuskit.maps`); with each map's share of the region left without one.

    Raises
    ------
    InputError
        An unknown model, a block size outside 1–64, a negative time bin, an implausible dynamic range or
        injection time, a region outside the frame or smaller than a block, too few time bins, or a
        stack too large for memory.
    """
    if model not in MODEL_NAMES:
        raise InputError(f"model {model!r} is not one of {', '.join(MODEL_NAMES)}")
    if arrival_scale not in SCALES:
        raise InputError(f"arrival scale {arrival_scale!r} is not one of {', '.join(SCALES)}")
    if not isinstance(block_px, (int, np.integer)) or not 1 <= block_px <= 64:
        raise InputError(f"block size {block_px!r} must be a whole number of pixels from 1 to 64")
    if not (np.isfinite(time_bin_s) and time_bin_s >= 0):
        raise InputError(f"time_bin_s must be a non-negative number of seconds, got {time_bin_s!r}")
    check_dynamic_range(dynamic_range_db)
    check_injection_time(injection_time_s, frames.duration_s)
    box = _check_box(region if region is not None else frames.ceus_box, frames)
    if (box[2] - box[0]) < block_px or (box[3] - box[1]) < block_px:
        raise InputError(f"the region is smaller than one {block_px}×{block_px} block")
    n = frames.n_frames
    hb, wb = (box[3] - box[1]) // block_px, (box[2] - box[0]) // block_px
    n_chunks = -(-hb * wb // _CHUNK_CURVES)
    total = (2 * n if motion else n) + n_chunks
    def relay(done: int, _total: int) -> None:  # the motion pass reports against the whole job
        if progress is not None:
            progress(done, total)

    shifts, rejected = _motion(frames, rois, dynamic_range_db, injection_time_s, motion,
                               relay if progress is not None else None)
    bins = _bins(frames.times_s, ~rejected, time_bin_s)
    if bins.max() < 5:
        raise InputError("too few frames (or time bins) for a time–intensity fit; use a smaller time bin")
    start = n if motion else 0
    stack = _stack(frames, box, block_px, shifts, bins, dynamic_range_db, progress, start, total)
    t = _bin_times(frames.times_s, bins) - injection_time_s
    bin_s = time_bin_s if time_bin_s > 0 else float(np.median(np.diff(t)))  # the time resolution of the curves
    curves = stack.reshape(stack.shape[0], -1)
    # binned curves are already averaged over time_bin_s: no further smoothing beyond the ROI reading's
    arrival_options = ArrivalOptions(smoothing_s=max(ArrivalOptions().smoothing_s, time_bin_s), scale=arrival_scale)
    values = {name: np.full(hb * wb, np.nan) for name in MAP_NAMES}
    for c in range(n_chunks):
        lo, hi = c * _CHUNK_CURVES, min((c + 1) * _CHUNK_CURVES, hb * wb)
        chunk = np.ascontiguousarray(curves[:, lo:hi].T, dtype=np.float64)
        seen = np.isfinite(chunk).mean(axis=1) >= MIN_SEEN_FRACTION
        for name, v in _curve_maps(t, chunk, model, arrival_options, bin_s).items():
            values[name][lo:hi] = np.where(seen, v, np.nan)
        if progress is not None:
            progress(start + n + c + 1, total)
    x0, y0 = box[0], box[1]
    images = {}
    for name in MAP_NAMES:
        full = np.full((frames.rows, frames.columns), np.nan)
        blocks = values[name].reshape(hb, wb)
        full[y0:y0 + hb * block_px, x0:x0 + wb * block_px] = np.repeat(np.repeat(blocks, block_px, 0), block_px, 1)
        images[name] = full
    options = {"block_px": int(block_px), "region": list(box), "dynamic_range_db": float(dynamic_range_db),
               "injection_time_s": float(injection_time_s), "motion": bool(motion), "time_bin_s": float(time_bin_s),
               "model": model}
    share = {name: round(float(np.isnan(values[name]).mean()), 4) for name in MAP_NAMES}
    return ParametricMaps(images, share, options)
