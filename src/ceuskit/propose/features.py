"""What a clip says about the tissue around a click: motion-compensated phase images, parametric maps, B-mode.

1. Burned-in overlays are found (:func:`ceuskit.preprocess.overlays.detect_overlays`) and kept out.
2. The tissue is tracked around the click by the TIC extraction's motion compensation
   (:func:`ceuskit.tic.extract_tics` with a small disc at the click as the provisional ROI), so every frame's
   pixels are read where the reference frame's tissue went; frames it rejects (out of plane) are left out.
3. A window around the click (:data:`WINDOW_HALF_PX` each way, inside the CEUS region) is cut from every kept
   frame at its tracked position (edges repeated where breathing carried it out of the image, counted in
   ``coverage``) and kept as a small grey clip: its frames are the tissue standing still.
4. From that clip (read at about 4 frames/s, :mod:`~ceuskit.propose.thinning`): mean linear power per time bin
   of ``bin_s`` seconds (``phase_db``: speckle averaged out, every phase of the bolus kept), and the per-pixel
   parametric maps of :func:`ceuskit.maps.parametric_maps` (arrival time on linear power, time to peak, peak
   enhancement).  On a dual display the B-mode half's mean grey over the same
   tracked window (``bmode_grey``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from ceuskit.errors import ProposalError
from ceuskit.feed import ClipDisplays, clip_frames, display_maps
from ceuskit.io.clip import Box, Clip, Region
from ceuskit.io.frames import ArrayFrames
from ceuskit.maps import parametric_maps
from ceuskit.preprocess.display import DisplayMap
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.preprocess.overlays import detect_overlays
from ceuskit.propose.thinning import interpolated_motion, thinned, tracked_subset
from ceuskit.roi import RoiSet, parse_rois
from ceuskit.tic import extract_tics

__all__ = ["CONTRAST_RISE_DB", "MAP_FEATURES", "SEED_RADIUS_PX", "TRACK_RADIUS_PX", "WINDOW_HALF_PX", "ClickFeatures", "click_features", "contrast_bins", "seed_frame"]

WINDOW_HALF_PX = 96
"""Half the side of the square window read around a click, px (clipped to the CEUS region)."""

SEED_RADIUS_PX = 16.0
"""Radius of the disc at the click whose contrast with the ring around it picks the seed frame, px."""

TRACK_RADIUS_PX = 24.0
"""Radius of the provisional disc ROI at the click that anchors the tracking, px.  Wide enough to take in a
lesion's edge and what lies beside it: with 16 px, inside a homogeneous lesion the tracker found too little
structure and its prior on tissue speed shrank fast breathing by a third (features read 7 px off the reference
frame on a 60-dB loop)."""

MAP_FEATURES = ("arrival_time_s", "time_to_peak_s", "peak_enhancement")
"""Parametric maps used as features (the peak in linear power: a pixel half lesion, half liver then reads half-way
between them, as the time bins do; in dB a hyper-enhancing lesion's edge pixels would read nearer the lesion and a
hypo-enhancing one's nearer the liver)."""

MAP_BLOCK_PX = 3
"""Block side of the parametric maps, px."""

MAP_TIME_BIN_S = 2.0
"""Time bins of the parametric maps' curves, s."""

CONTRAST_RISE_DB = 3.0
"""A time bin counts as one with contrast once its brightest pixels stand this far above their darkest level."""

MIN_GAIN = 0.03
"""Gain in normalised correlation an offset must bring to be applied."""

ANCHOR_REACH_PX = 8
"""Largest correction searched between the tracker's reference position and the reference frame's, px."""


@dataclass(frozen=True)
class ClickFeatures:
    """Everything the outline and the liver reference are drawn from (arrays are (h, w) over ``box``).

    Attributes
    ----------
    box : (x0, y0, x1, y1) of the window in full-frame pixels of the reference frame.
    region : the CEUS region's box.
    frame : the reference frame (the tracking's anchor: the outline is drawn on it).
    click : (x, y) of the click, full-frame px.
    bin_times_s : (n_bins,) mean time of each bin, s from the clip's first frame.
    phase_power : (n_bins, h, w) mean linear power per time bin.
    maps : name → (h, w) parametric map (NaN where not fitted), for :data:`MAP_FEATURES`.
    bmode_grey : (h, w) mean B-mode grey of a dual display, else None.
    coverage : (h, w) fraction of kept frames in which the pixel lay inside the image.
    excluded : (h, w) bool, burned-in overlay pixels where the reference frame shows them.
    smeared : (h, w) bool, pixels whose data met an overlay in some frame (their values are not echo).
    shifts_px : (n_frames, 2) tracked (dx, dy) per frame; rejected : (n_frames,) bool.
    spacing_mm : pixel spacing of the clip, or None.
    anchor_px : (dx, dy) correction from the tracker's reference position to the reference frame's own.
    """

    box: Box
    region: Box
    frame: int
    click: tuple[float, float]
    bin_times_s: np.ndarray
    phase_power: np.ndarray
    maps: dict[str, np.ndarray]
    bmode_grey: np.ndarray | None
    coverage: np.ndarray
    excluded: np.ndarray
    smeared: np.ndarray
    shifts_px: np.ndarray = field(repr=False)
    rejected: np.ndarray = field(repr=False)
    spacing_mm: tuple[float, float] | None = None
    anchor_px: tuple[int, int] = (0, 0)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the box."""
        return self.box[3] - self.box[1], self.box[2] - self.box[0]

    @property
    def max_shift_px(self) -> int:
        """Largest tracked displacement over the kept frames, px."""
        kept = ~self.rejected
        return int(np.abs(self.shifts_px[kept]).max()) if kept.any() else 0


def _seed_rois(click: tuple[float, float], region: Box, frame: int, radius_px: float = SEED_RADIUS_PX) -> RoiSet:
    x, y = click
    x0, y0, x1, y1 = region
    if not (x0 <= x < x1 and y0 <= y < y1):
        raise ProposalError(f"the click {x:g},{y:g} lies outside the ultrasound image (x {x0}…{x1 - 1}, "
                            f"y {y0}…{y1 - 1}); click inside the lesion")
    radius = min(radius_px, x - x0 - 1, x1 - 1 - x, y - y0 - 1, y1 - 1 - y)
    if radius < 2:
        raise ProposalError(f"the click {x:g},{y:g} lies on the edge of the ultrasound image; click inside the "
                            "lesion")
    return parse_rois({"reference_frame": frame, "units": "px",
                       "rois": [{"name": "seed", "role": "lesion", "shape": "ellipse", "center": [x, y],
                                 "radii": [radius, radius]}]})


def seed_frame(clip: Clip, click: tuple[float, float], *, dynamic_range_db: float,
               displays: ClipDisplays | None = None) -> int:
    """Return the frame a click without one refers to.

    Where the disc at the click differs most from the ring around it (the lesion shows best), its curves read
    without motion compensation.

    Parameters
    ----------
    clip : the open clip.
    click : (x, y) full-frame px of a point inside the lesion.
    dynamic_range_db : display dynamic range for linearisation.
    displays : the clip's display maps, fitted once by the caller; default fitted here (CEUS region only).

    Returns
    -------
    The index of that frame.

    Raises
    ------
    ProposalError
        The click is outside the image region.
    """
    region = clip.ceus_region.box
    seed = _seed_rois(click, region, 0)
    x, y = click
    ring_r = 3 * SEED_RADIUS_PX
    x0, y0, x1, y1 = region
    ring = {"name": "ring", "role": "parenchyma", "shape": "rectangle",
            "box": [max(x - ring_r, x0), max(y - ring_r, y0), min(x + ring_r, x1 - 1), min(y + ring_r, y1 - 1)]}
    both = parse_rois({"reference_frame": 0, "units": "px", "rois": [seed.rois[0].to_json(), ring]})
    displays = display_maps(clip, bmode=False) if displays is None else displays
    tics = extract_tics(clip_frames(clip, displays), both, dynamic_range_db=dynamic_range_db, motion=False)
    from ceuskit.timeseries import moving_average

    inner = moving_average(tics.times_s, tics.power["seed"], 2.0)
    outer = moving_average(tics.times_s, tics.power["ring"], 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        contrast = np.abs(10 * np.log10(inner / outer))
    contrast = np.where(np.isfinite(contrast), contrast, -np.inf)
    return int(np.argmax(contrast))


def _window(click: tuple[float, float], region: Box) -> Box:
    x, y = int(round(click[0])), int(round(click[1]))
    x0, y0, x1, y1 = region
    return (max(x0, x - WINDOW_HALF_PX), max(y0, y - WINDOW_HALF_PX), min(x1, x + WINDOW_HALF_PX + 1),
            min(y1, y + WINDOW_HALF_PX + 1))


@dataclass(frozen=True)
class _Crops:
    """Every kept frame's window at its tracked position.

    Read once with ``pad`` px to spare on each side so that small per-frame corrections need no second pass
    over the clip.
    """

    grey: np.ndarray  # (n_kept, h + 2·pad, w + 2·pad) uint8, edges repeated outside the image
    rows_in: np.ndarray  # (n_kept, h + 2·pad) bool, row inside the image
    cols_in: np.ndarray  # (n_kept, w + 2·pad) bool
    overlay: np.ndarray | None  # (n_kept, h + 2·pad, w + 2·pad) bool, or None without overlays
    pad: int

    def cut(self, offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the crops with each frame moved back by its (dx, dy) in ``offsets`` (n, 2).

        The result is ((n, h, w) grey, (h, w) share of frames inside the image, (h, w) pixels that met an
        overlay).
        """
        p = self.pad
        n, hp, wp = self.grey.shape
        h, w = hp - 2 * p, wp - 2 * p
        offsets = np.zeros((n, 2), dtype=int) if offsets is None else offsets
        grey = np.empty((n, h, w), dtype=np.uint8)
        inside = np.zeros((h, w), dtype=np.int32)
        touched = np.zeros((h, w), dtype=bool)
        for j in range(n):
            dx, dy = int(offsets[j, 0]), int(offsets[j, 1])
            rows, cols = slice(p - dy, p - dy + h), slice(p - dx, p - dx + w)
            grey[j] = self.grey[j, rows, cols]
            inside += np.outer(self.rows_in[j, rows], self.cols_in[j, cols])
            if self.overlay is not None:
                touched |= self.overlay[j, rows, cols]
        return grey, inside / max(n, 1), touched


def _tracked_crops(clip: Clip, display: DisplayMap, box: Box, limit: Box, shifts: np.ndarray, kept: np.ndarray,
                   overlay: np.ndarray, *, pad: int = 0) -> _Crops:
    """Return the ``box`` (grown by ``pad``) of each kept frame at its tracked position.

    See :class:`_Crops`.
    """
    x0, y0, x1, y1 = box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad
    lx0, ly0, lx1, ly1 = limit
    h, w = y1 - y0, x1 - x0
    n = int(kept.sum())
    grey_out = np.zeros((n, h, w), dtype=np.uint8)
    rows_in, cols_in = np.zeros((n, h), dtype=bool), np.zeros((n, w), dtype=bool)
    overlay_out = np.zeros((n, h, w), dtype=bool) if overlay.any() else None
    j = 0
    for k, pixels in enumerate(clip.frames.iterate(0, clip.n_frames)):
        if not kept[k]:
            continue
        dx, dy = int(shifts[k, 0]), int(shifts[k, 1])
        rows, cols = np.arange(y0 + dy, y1 + dy), np.arange(x0 + dx, x1 + dx)
        rows_in[j], cols_in[j] = (rows >= ly0) & (rows < ly1), (cols >= lx0) & (cols < lx1)
        rows, cols = np.clip(rows, ly0, ly1 - 1), np.clip(cols, lx0, lx1 - 1)
        grey = display.to_grey(pixels[rows][:, cols])
        if overlay_out is not None:
            overlay_out[j] = overlay[rows][:, cols] | ~np.isfinite(grey)
        grey_out[j] = np.rint(np.clip(np.nan_to_num(grey), 0, 255))
        j += 1
    return _Crops(grey_out, rows_in, cols_in, overlay_out, pad)


def _db_image(power: np.ndarray, sigma_px: float = 2.0) -> np.ndarray:
    return np.asarray(10 * np.log10(np.maximum(ndimage.gaussian_filter(power, sigma_px), 1e-12)))


def _offset(reference: np.ndarray, moving: np.ndarray, usable: np.ndarray, reach_px: int) -> tuple[int, int]:
    """(dx, dy) with ``moving(u) ≈ reference(u + (dx, dy))``.

    Phase correlation of the two (h, w) images over ``usable`` pixels (others set to their mean), whole
    pixels, (0, 0) beyond ``reach_px``.
    """
    if usable.sum() < 100:
        return 0, 0
    a = np.where(usable, reference, reference[usable].mean())
    b = np.where(usable, moving, moving[usable].mean())
    if a.std() == 0 or b.std() == 0:
        return 0, 0
    # scikit-image is unannotated (no stubs): its calls carry type: ignore[no-untyped-call] and are checked by the
    # tests, not by mypy; unused-ignore: without --strict mypy does not flag untyped calls
    (dy, dx), _error, _phase = phase_cross_correlation(a, b, normalization=None)  # type: ignore[no-untyped-call, unused-ignore]
    dx, dy = int(round(dx)), int(round(dy))
    if max(abs(dy), abs(dx)) > reach_px or (dx, dy) == (0, 0):
        return 0, 0
    # only a clear gain in correlation moves anything (a lone straight vessel fixes no position along itself)
    m = reach_px
    inner = (slice(m, a.shape[0] - m), slice(m, a.shape[1] - m))
    moved = (slice(m + dy, a.shape[0] - m + dy), slice(m + dx, a.shape[1] - m + dx))
    if _ncc(b[inner], a[moved]) - _ncc(b[inner], a[inner]) < MIN_GAIN:
        return 0, 0
    return dx, dy


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def _edges(power: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the speckle-smoothed dB image: a lesion's outline whether it is brighter or darker."""
    db = _db_image(power)
    return np.asarray(np.hypot(ndimage.sobel(db, 0), ndimage.sobel(db, 1)))


def _bin_offsets(power: np.ndarray, reference_bin: int, usable: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """(n_bins, 2) whole-pixel (dx, dy) of each contrast bin's tissue relative to the reference frame's bin.

    The tracker's positions may drift a few pixels from one phase to another, hence the correction; 0 for the
    others, then a running median over three bins.
    """
    target = _edges(power[reference_bin])
    out = np.zeros((power.shape[0], 2), dtype=int)
    for b in np.flatnonzero(contrast):
        if b != reference_bin:
            out[b] = _offset(target, _edges(power[b]), usable, ANCHOR_REACH_PX)
    if power.shape[0] >= 3:
        out = np.rint(ndimage.median_filter(out.astype(float), size=(3, 1), mode="nearest")).astype(int)
        out[reference_bin] = 0
    return out


def contrast_bins(power: np.ndarray, rise_db: float = CONTRAST_RISE_DB) -> np.ndarray:
    """(n_bins,) bool: the bins in which contrast shows somewhere in the window.

    There the window's brightest 5 % of pixels stand ``rise_db`` above their level in the darkest bin; the
    arterial phase of a lesion or vessel is included, before the liver enhances.
    """
    bright = 10 * np.log10(np.maximum(np.percentile(power.reshape(power.shape[0], -1), 95, axis=1), 1e-12))
    return np.asarray(bright >= bright.min() + rise_db)


def _bin_power(crops: np.ndarray, bins: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """(n_bins, h, w) mean linear power of the crops in each time bin."""
    return np.stack([lut[crops[bins == b]].mean(axis=0, dtype=np.float64) for b in range(int(bins.max()) + 1)])


def _window_arrival(crops: np.ndarray, dynamic_range_db: float, rise_db: float = 3.0) -> int:
    """Index of the first crop where contrast shows anywhere in the window.

    Its brightest pixels (95th percentile) stand ``rise_db`` above the first crop's.
    """
    bright = np.percentile(crops.reshape(crops.shape[0], -1), 95, axis=1)
    start = float(np.median(bright[: max(3, crops.shape[0] // 50)]))
    above = np.flatnonzero(bright >= start + rise_db / dynamic_range_db * 255.0)
    return int(above[0]) if above.size else crops.shape[0]


def _bins(times_s: np.ndarray, bin_s: float) -> np.ndarray:
    index = np.floor((times_s - times_s[0]) / bin_s).astype(int)
    return np.unique(index, return_inverse=True)[1].ravel()


def click_features(clip: Clip, click: tuple[float, float], frame: int, *, dynamic_range_db: float,
                   injection_time_s: float = 0.0, overlays: bool = True, motion: bool = True, bin_s: float = 4.0,
                   displays: ClipDisplays | None = None, track_radius_px: float = TRACK_RADIUS_PX) -> ClickFeatures:
    """Read the clip around a click (see the module docstring).

    Parameters
    ----------
    clip : the open clip.
    click : (x, y) full-frame px of a point inside the lesion on ``frame``.
    frame : the frame the click was made on (the reference frame of the proposal).
    dynamic_range_db : display dynamic range for linearisation.
    injection_time_s : injection, s after the clip's first frame (the maps' times count from it).
    overlays : find burned-in overlays and keep them out.
    motion : track the tissue (else every frame is read where it lies).
    bin_s : length of the time bins of ``phase_power``, s.
    displays : the clip's display maps (CEUS and B-mode halves), fitted once by the caller; used when every frame
        is read, while a thinned clip's (:mod:`~ceuskit.propose.thinning`) are fitted once from the frames it
        reads.  Default fitted here.
    track_radius_px : radius of the provisional disc at the click that anchors the tracking, px.

    Returns
    -------
    ClickFeatures

    Raises
    ------
    ProposalError
        The click lies outside the image, or too few frames remain.
    """
    region = clip.ceus_region.box
    if not 0 <= frame < clip.n_frames:
        raise ProposalError(f"frame {frame} does not exist: the clip has {clip.n_frames} frames (0…"
                            f"{clip.n_frames - 1})")
    original_frame = frame
    read_clip, frame = thinned(clip, frame, injection_time_s)
    if read_clip is not clip or displays is None or (clip.bmode_region is not None and displays.bmode is None):
        displays = display_maps(read_clip)
    clip = read_clip
    seed = _seed_rois(click, region, frame, track_radius_px)
    exclude = np.zeros((clip.rows, clip.columns), dtype=bool)
    if overlays:
        exclude |= detect_overlays(clip, display=displays.ceus)
        if clip.bmode_region is not None:
            exclude |= detect_overlays(clip, box=clip.bmode_region.box, display=displays.bmode)
    track_clip, track_frame, track_index = tracked_subset(clip, frame, injection_time_s)
    tics = extract_tics(clip_frames(track_clip, displays), replace(seed, reference_frame=track_frame),
                        dynamic_range_db=dynamic_range_db, motion=motion, exclude=exclude if exclude.any() else None)
    motion_found = tics.motion
    shifts, rejected, tracked = interpolated_motion(
        clip.times, track_index, motion_found.shifts_px if motion_found.applied
        else np.zeros((track_index.size, 2), dtype=int), motion_found.rejected, motion_found.tracked)
    kept = ~rejected
    if kept.sum() < 8:
        raise ProposalError(f"only {int(kept.sum())} frame(s) could be followed around the click; a CEUS cine "
                            "loop is needed")
    box = _window(click, region)
    read = _tracked_crops(clip, displays.ceus, box, region, shifts, kept, exclude, pad=ANCHOR_REACH_PX)
    crops, coverage, touched = read.cut()
    if motion_found.applied:  # frames the tracker did not place, once contrast shows anywhere, would ghost
        untracked = ~tracked[kept] & (np.arange(int(kept.sum())) >= _window_arrival(
            crops, dynamic_range_db))
        if untracked.any() and (~untracked).sum() >= 8:
            read = _Crops(read.grey[~untracked], read.rows_in[~untracked], read.cols_in[~untracked],
                          None if read.overlay is None else read.overlay[~untracked], read.pad)
            crops, coverage, touched = read.cut()
            kept = kept.copy()
            kept[np.flatnonzero(kept)[untracked]] = False
    times = clip.times[kept]
    lut = grey_to_power(np.arange(256, dtype=np.float32), dynamic_range_db)
    bins = _bins(times, bin_s)
    power = _bin_power(crops, bins, lut)
    b_ref = int(bins[int(np.searchsorted(np.flatnonzero(kept), frame).clip(0, kept.sum() - 1))])
    usable = (coverage >= 0.8) & ~touched
    offsets = _bin_offsets(power, b_ref, usable, contrast_bins(power))
    if offsets.any():  # each phase brought onto the reference frame's
        shifts = shifts.copy()
        shifts[kept] -= offsets[bins]
        crops, coverage, touched = read.cut(offsets[bins])
        power = _bin_power(crops, bins, lut)
        usable = (coverage >= 0.8) & ~touched
    h, w = crops.shape[1:]
    view = Clip(source=f"{clip.source} (tracked window)", times=times, rows=h, columns=w,
                frames=ArrayFrames(crops), pixel_spacing_mm=clip.pixel_spacing_mm,
                regions=(Region((0, 0, w, h), clip.pixel_spacing_mm, "tissue", "ceus"),))
    bin_times = np.bincount(bins, weights=times) / np.bincount(bins)
    # where the reference frame itself shows the tissue: a small whole-pixel correction of the window
    x0, y0, x1, y1 = box
    own = displays.ceus.to_grey(clip.raw(frame)[y0:y1, x0:x1])
    own_power = lut[np.rint(np.clip(np.nan_to_num(own), 0, 255)).astype(np.uint8)]
    dx, dy = _offset(_db_image(own_power), _db_image(power[b_ref]), usable, ANCHOR_REACH_PX)
    box = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
    view_seed = seed.translated(-box[0], -box[1])
    maps = parametric_maps(clip_frames(view), view_seed, block_px=MAP_BLOCK_PX, dynamic_range_db=dynamic_range_db,
                           injection_time_s=injection_time_s - float(times[0]), motion=False, time_bin_s=MAP_TIME_BIN_S,
                           arrival_scale="power")
    bmode = None
    if clip.bmode_region is not None and displays.bmode is not None:
        bx, by = clip.bmode_region.box[0] - region[0], clip.bmode_region.box[1] - region[1]
        bbox = (x0 + bx, y0 + by, x1 + bx, y1 + by)
        bcrops = _tracked_crops(clip, displays.bmode, bbox, clip.bmode_region.box, shifts, kept, exclude).cut()[0]
        bmode = bcrops.mean(axis=0)
    on_frame = np.zeros((h, w), dtype=bool)  # the overlay as the reference frame shows it, in window pixels
    fx0, fy0 = max(box[0], 0), max(box[1], 0)
    fx1, fy1 = min(box[2], clip.columns), min(box[3], clip.rows)
    on_frame[fy0 - box[1]:fy1 - box[1], fx0 - box[0]:fx1 - box[0]] = exclude[fy0:fy1, fx0:fx1]
    return ClickFeatures(box, region, original_frame, (float(click[0]), float(click[1])), bin_times, power,
                         {name: maps[name] for name in MAP_FEATURES}, bmode, coverage, on_frame, touched,
                         shifts, rejected.copy(), clip.pixel_spacing_mm, (dx, dy))
