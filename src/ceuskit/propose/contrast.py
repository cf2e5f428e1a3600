"""How unlike the liver each pixel behaves over the clip: the abnormality map, and the vessels.

For every feature image (the mean power of each time bin after the contrast arrived, in dB; the arrival-time
and linear peak-enhancement maps; the B-mode half's mean grey on dual displays) the liver's level is estimated row by
row — at each depth, attenuation makes it differ — as the median of the pixels not yet known to be abnormal,
smoothed over depth by a quadratic; its noise as the median absolute deviation of the pixels around it.  A
pixel's z-score in each feature is its distance from the liver at its depth in units of that noise, and its
**abnormality** is the root mean square of its z-scores (the time bins count as one feature, their mean square;
the peak map half a feature, the arrival map a quarter): about 1 in liver, large wherever the tissue arrives earlier or later,
enhances more or less, or washes out — a lesion in whatever pattern, rim or heterogeneity, and vessels.  It
grows in proportion to the share of lesion in a pixel, so half the lesion's level marks its edge.

**Vessels** are early, bright and elongated: ridges of the brightest early image (the largest z of the bins in
the 25 s after the contrast arrives), darker on both sides, whose straight runs, followed along the ridge up to
where it fades, widens or bends off (a junction with another vessel), are at least 25 px long and do not ring
the click (a lesion's rim).  Their mask is as wide as the bright ridge (≤ 3 px from its centre line) plus 1 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.feature import hessian_matrix
from skimage.morphology import skeletonize
from skimage.transform import probabilistic_hough_line

from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.propose.features import ClickFeatures, contrast_bins

__all__ = ["Contrast", "abnormality", "inpaint", "vessel_mask"]

SMOOTHING_PX = 1.0
"""Gaussian smoothing of the bin images (in linear power) before they are compared, px."""

ABNORMAL_Z = 4.0
"""Abnormality above which a pixel is left out of the liver's reference levels."""

MIN_MAPPED = 0.5
"""A parametric map counts only where at least this share of the window was fitted (a clip started after the
contrast came has no arrival times)."""

ARRIVAL_WEIGHT = 0.25
"""Weight of the arrival-time map's squared z-score (the time bins count 1 together, the peak map 0.5, B-mode 1).
Arrival is not additive — a pixel half lesion, half liver arrives with the earlier of the two — so it pushes an
early lesion's edge outward; it counts for a quarter, enough to tell an early-arriving iso lesion."""

PEAK_WEIGHT = 0.5
"""Weight of the peak-enhancement map's (linear power, compared as a ratio to the liver at its depth)."""

MAX_Z = 50.0
"""The maps' z-scores are clipped here: one wild pixel of a map must not make a lesion."""

VESSEL_HALF_WIDTH_PX = 2.0
"""Half the width of the vessels looked for, px (a ridge that widens past it into a blob stops being one)."""

VESSEL_GROW_PX = 3
"""A vessel's mask reaches this far from its centre line through its bright ridge, px."""

VESSEL_MARGIN_PX = 1
"""And this much further, px."""

MAX_TURN_DEG = 25.0
"""A followed vessel stops where it has turned this far from its straight run."""

EARLY_S = 25.0
"""Bins within this many seconds after the contrast arrives make the early image the vessels are found in."""

BMODE_OUTLINE_SMOOTHING_PX = 4.0
"""Smoothing of the B-mode image a lesion the CEUS does not show is outlined on, px.  The tissue's speckle moves
with it and does not average out over the frames: at 2 px a 3-dB hypoechoic lesion stands 1.5 noise units from
the liver, at 4 px 3."""

RIM_SHARE = 0.8
"""A straight bright run lying this much within :data:`RIM_REACH_PX` of the clicked lesion's body is a stretch of
its rim, not a vessel (unless brighter than :data:`RIM_MAX_RATIO` allows)."""

RIM_REACH_PX = VESSEL_GROW_PX + VESSEL_MARGIN_PX + 2
"""A run within this distance of the lesion's body (found with the runs taken out, so as far as their mask
reaches, and 2 px more) lies on it, px."""

RIM_MAX_RATIO = 15.0
"""A rim's ridge is at most this many times the lesion body's median early level; a vessel touching the lesion is
far brighter (on the simulator's proposal cases a rim's ridge is 2–9 times its body, a vessel 37 times)."""


@dataclass(frozen=True)
class Contrast:
    """The abnormality map and what it was built from (all (h, w) over the window).

    Attributes
    ----------
    abnormality : root mean square z-score (≈ 1 in liver); 0 where unknown (overlays, edges).
    signed : (n_features, h, w) z-scores of the contrast bins, then the maps, then B-mode.
    early : the brightest early z-score per pixel.
    valid : pixels with data (inside the image in ≥ 80 % of frames, no overlay).
    liver_power : (n_bins, h) liver level (linear power) of each contrast bin at each row.
    contrast_bins : indices of the bins counted (after the contrast arrived).
    bmode : on a dual display, the B-mode half's absolute z-score smoothed over
        :data:`BMODE_OUTLINE_SMOOTHING_PX` (0 where unknown), else None.
    """

    abnormality: np.ndarray
    signed: np.ndarray
    early: np.ndarray
    valid: np.ndarray
    liver_power: np.ndarray
    contrast_bins: np.ndarray
    bmode: np.ndarray | None = None


def _row_reference(image: np.ndarray, use: np.ndarray) -> np.ndarray:
    """(h,) liver level per row.

    The median of the ``use`` pixels of each row, smoothed by a weighted quadratic in depth (rows with few
    such pixels count less).
    """
    h = image.shape[0]
    counts = use.sum(axis=1)
    enough = counts >= 5
    medians = np.full(h, np.nan)
    if enough.any():  # each row's median over its ``use`` pixels (the others NaN)
        medians[enough] = np.nanmedian(np.where(use[enough], image[enough], np.nan), axis=1)
    ok = np.isfinite(medians)
    if ok.sum() < 3:
        level = float(np.median(image[use])) if use.any() else float(np.nanmedian(image))
        return np.full(h, level)
    rows = np.arange(h, dtype=float)
    coeffs = np.polyfit(rows[ok], medians[ok], 2 if ok.sum() >= 12 else 0, w=np.sqrt(counts[ok]))
    return np.asarray(np.polyval(coeffs, rows))


def _zscores(image: np.ndarray, use: np.ndarray, *, relative: bool) -> tuple[np.ndarray, np.ndarray]:
    """(z-score image, (h,) reference) of one feature image against its liver pixels ``use``.

    A ``relative`` (linear power) image is compared as its ratio to the liver's level at its depth.
    """
    reference = _row_reference(image, use)
    residual = image / reference[:, None] - 1.0 if relative else image - reference[:, None]
    spread = 1.4826 * float(np.median(np.abs(residual[use] - np.median(residual[use])))) if use.any() else 1.0
    if not spread > 1e-9:
        return np.zeros(image.shape), reference
    return residual / spread, reference


def _feature_images(features: ClickFeatures, dynamic_range_db: float
                    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(feature images, the contrast bins' indices, every bin's smoothed dB image)."""
    smoothed = np.stack([ndimage.gaussian_filter(p, SMOOTHING_PX) for p in features.phase_power])
    db = 10 * np.log10(np.maximum(smoothed, 1e-12))
    bins = np.flatnonzero(contrast_bins(features.phase_power))
    if bins.size == 0:
        bins = np.arange(db.shape[0])
    images = [smoothed[b] for b in bins]
    for name in ("arrival_time_s", "peak_enhancement"):
        image = features.maps[name]
        fill = np.nanmedian(image) if np.isfinite(image).any() else 0.0
        images.append(ndimage.gaussian_filter(np.where(np.isfinite(image), image, fill), SMOOTHING_PX)
                      if np.isfinite(image).mean() >= MIN_MAPPED else np.zeros(image.shape))
    if features.bmode_grey is not None:
        images.append(ndimage.gaussian_filter(grey_to_power(features.bmode_grey, dynamic_range_db), 2.0))
    return images, bins, db


def abnormality(features: ClickFeatures, *, dynamic_range_db: float) -> Contrast:
    """Return the abnormality map of the window (see the module docstring).

    Parameters
    ----------
    features : what the clip says around the click.
    dynamic_range_db : display dynamic range (linearises the B-mode grey of a dual display).

    Returns
    -------
    Contrast
    """
    images, bins, db = _feature_images(features, dynamic_range_db)
    valid = features.coverage >= 0.8
    use = valid & ~features.smeared
    n_bins = bins.size
    weights = np.array([1.0 / n_bins] * n_bins + [ARRIVAL_WEIGHT, PEAK_WEIGHT]
                       + ([1.0] if len(images) > n_bins + 2 else []))
    for _ in range(2):
        zs, references = zip(*(_zscores(image, use, relative=k != n_bins)
                               for k, image in enumerate(images)), strict=True)
        z = np.stack(zs)
        z[n_bins:n_bins + 2] = np.clip(z[n_bins:n_bins + 2], -MAX_Z, MAX_Z)
        steady = z.copy()  # the bins' z-scores averaged over neighbouring bins: persistent differences count
        if n_bins >= 3:
            steady[:n_bins] = ndimage.uniform_filter1d(z[:n_bins], 3, axis=0, mode="nearest")
            spread = 1.4826 * np.median(np.abs(steady[:n_bins, use]), axis=1) if use.any() else np.ones(n_bins)
            steady[:n_bins] /= np.maximum(spread, 1e-6)[:, None, None]
        a = np.sqrt(np.tensordot(weights, steady * steady, axes=1) / weights.sum())
        use = valid & ~features.smeared & ~ndimage.binary_dilation(a > ABNORMAL_Z, iterations=3)
        if use.sum() < 0.1 * valid.sum():
            use = valid & ~features.smeared & (a <= np.percentile(a[valid], 50))
    arrival = int(bins[0]) if bins.size else 0
    early_bins = [i for i, b in enumerate(bins) if features.bin_times_s[b] <= features.bin_times_s[arrival] + EARLY_S]
    early = z[early_bins].max(axis=0) if early_bins else np.zeros(valid.shape)
    liver = np.stack(references[:n_bins])
    known = valid & ~features.smeared
    a, early = inpaint(a, known), inpaint(early, known)
    bmode = None
    if features.bmode_grey is not None:
        wide = ndimage.gaussian_filter(grey_to_power(features.bmode_grey, dynamic_range_db), BMODE_OUTLINE_SMOOTHING_PX)
        bmode = np.where(valid, inpaint(np.abs(_zscores(wide, use, relative=True)[0]), known), 0.0)
    return Contrast(np.where(valid, a, 0.0), z, np.where(valid, early, 0.0), valid, liver, bins, bmode)


def inpaint(image: np.ndarray, known: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    """Return ``image`` with its unknown pixels replaced by the Gaussian-weighted mean of the known ones around.

    Parameters
    ----------
    image : (h, w) values.
    known : (h, w) bool, the pixels kept.
    sigma_px : the Gaussian's standard deviation, px.

    Returns
    -------
    (h, w) array; ``image`` itself when every pixel (or none) is known.
    """
    if known.all() or not known.any():
        return image
    weight = ndimage.gaussian_filter(known.astype(float), sigma_px)
    with np.errstate(invalid="ignore", divide="ignore"):
        filled = ndimage.gaussian_filter(np.where(known, image, 0.0), sigma_px) / weight
    return np.where(known, image, np.nan_to_num(filled, nan=float(np.median(image[known]))))


def _ridge_contrast(image: np.ndarray, sigma: float, reach_px: float) -> np.ndarray:
    """How much each pixel stands above both sides across its ridge direction at ``reach_px``.

    The direction is the Hessian's steepest curvature; the result is positive on a bright line, about zero or
    negative on the bright side of a step.
    """
    smooth = ndimage.gaussian_filter(image, sigma)
    # scikit-image is unannotated (no stubs): its calls carry type: ignore[no-untyped-call] and are checked by the
    # tests, not by mypy; unused-ignore: without --strict mypy does not flag untyped calls
    hrr, hrc, hcc = hessian_matrix(smooth, sigma=1.0, mode="nearest", order="rc",  # type: ignore[no-untyped-call, unused-ignore]
                                   use_gaussian_derivatives=False)
    # the eigenvector of the most negative eigenvalue points across the ridge
    angle = 0.5 * np.arctan2(2 * hrc, hrr - hcc)
    nr, nc = np.cos(angle), np.sin(angle)
    lam_a = hrr * nr * nr + 2 * hrc * nr * nc + hcc * nc * nc
    lam_b = hrr * nc * nc - 2 * hrc * nr * nc + hcc * nr * nr
    swap = lam_b < lam_a
    nr, nc = np.where(swap, -nc, nr), np.where(swap, nr, nc)
    rows, cols = np.mgrid[0:image.shape[0], 0:image.shape[1]].astype(float)
    sides = [ndimage.map_coordinates(smooth, [rows + k * reach_px * nr, cols + k * reach_px * nc], order=1,
                                     mode="nearest") for k in (-1, 1)]
    return np.asarray(smooth - np.maximum(*sides))


def _follow(early: np.ndarray, start: np.ndarray, direction: np.ndarray, floor: float) -> list[np.ndarray]:
    """Points (row, column) along a bright ridge from ``start`` in ``direction``.

    Each step 1 px on, re-centred on the brightest point within 2 px across.  It stops where the ridge fades
    below ``floor``, leaves the image, widens into a blob (both sides, :data:`VESSEL_HALF_WIDTH_PX` + 2.5 px
    out, nearly as bright) or turns more than :data:`MAX_TURN_DEG` from ``direction`` (into a lesion's rim).
    """
    points: list[np.ndarray] = []
    initial = direction / np.hypot(*direction)
    point, d = start.astype(float), initial.copy()
    h, w = early.shape
    offsets = np.linspace(-2.0, 2.0, 9)
    cos_limit = np.cos(np.radians(MAX_TURN_DEG))
    for _ in range(2 * (h + w)):
        ahead = point + d
        normal = np.array([-d[1], d[0]])
        across = ahead[None, :] + offsets[:, None] * normal[None, :]
        values = ndimage.map_coordinates(early, across.T, order=1, mode="constant", cval=-np.inf)
        best = int(np.argmax(values))
        nxt = across[best]
        if not (0 <= nxt[0] <= h - 1 and 0 <= nxt[1] <= w - 1) or values[best] < floor:
            break
        sides = ndimage.map_coordinates(
            early, np.array([nxt + k * (VESSEL_HALF_WIDTH_PX + 2.5) * normal for k in (-1, 1)]).T, order=1,
            mode="nearest")
        if sides.min() >= 0.7 * values[best]:
            break
        step = nxt - point
        d = 0.8 * d + 0.2 * step / max(float(np.hypot(*step)), 1e-9)
        d /= np.hypot(*d)
        if float(d @ initial) < cos_limit:
            break
        point = nxt
        points.append(point)
    return points


def _in_line(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the leading ``points`` (row, column), followed outward, that stay on the line through ``a``, ``b``.

    Within :data:`VESSEL_HALF_WIDTH_PX` of it: where a followed ridge bends off (into another vessel at a
    junction, into a lesion's rim) the vessel's straight run ends.
    """
    if points.shape[0] == 0:
        return points
    chord = b - a
    normal = np.array([-chord[1], chord[0]]) / max(float(np.hypot(*chord)), 1e-9)
    off = np.flatnonzero(np.abs((points - a) @ normal) > VESSEL_HALF_WIDTH_PX)
    return points[:off[0]] if off.size else points


def _straight(points: np.ndarray) -> bool:
    """Whether a path of (row, column) points keeps within 6 % of its length from its chord."""
    a, b = points[0], points[-1]
    chord = b - a
    length = float(np.hypot(*chord))
    if length < 1:
        return False
    normal = np.array([-chord[1], chord[0]]) / length
    return float(np.abs((points - a) @ normal).max()) <= 0.06 * length + 1.0


def _rim_band(candidate: np.ndarray, click_rc: tuple[float, float]) -> np.ndarray | None:
    """Return the band (4 px) around the hole that the bright ridges enclose about the click.

    That band is a rim-enhancing lesion's rim; None when they enclose none.
    """
    closed = ndimage.binary_closing(ndimage.binary_dilation(candidate, iterations=1), iterations=2)
    holes, n = ndimage.label(ndimage.binary_fill_holes(closed) & ~closed)
    if n == 0:
        return None
    r = int(np.clip(round(click_rc[0]), 0, candidate.shape[0] - 1))
    c = int(np.clip(round(click_rc[1]), 0, candidate.shape[1] - 1))
    near = holes[max(r - 3, 0):r + 4, max(c - 3, 0):c + 4]
    labels = np.unique(near[near > 0])
    if labels.size == 0:
        return None
    hole = np.isin(holes, labels)
    return np.asarray(ndimage.binary_dilation(hole, iterations=4) & ~hole)


def vessel_mask(contrast: Contrast, click_rc: tuple[float, float] | None = None, *, min_length_px: float = 25.0,
                lesion: np.ndarray | None = None) -> np.ndarray:
    """Vessels of the window (module docstring).

    Bright-early ridges, darker on both sides, whose straight runs (Hough segments of their skeleton, ≥ 20 px)
    followed along the ridge stay straight for at least ``min_length_px``.  A lesion's rim curves away within
    that; a straighter stretch of it lies on the ring of ridges that encloses the click, which a vessel beside
    the lesion at most touches.  Where the ridges of a rim enhancing unevenly leave that ring open, a run lying
    :data:`RIM_SHARE` or more within :data:`RIM_REACH_PX` of the clicked ``lesion``, no more than
    :data:`RIM_MAX_RATIO` times as bright early as it, is its rim too: a vessel passes by or through a lesion and
    runs on into the liver, and outshines it.

    Parameters
    ----------
    contrast : the window's :class:`Contrast`.
    click_rc : (row, column) of the click in the window, or None.
    min_length_px : shortest straight vessel, px.
    lesion : (h, w) bool, the clicked lesion's body without the runs (see
        :func:`ceuskit.propose.outline.lesion_outline`), or None.

    Returns
    -------
    (h, w) bool, the vessels with a pixel around them.
    """
    early = np.clip(contrast.early, 0, None)
    if not np.any(early > ABNORMAL_Z):
        return np.zeros(early.shape, dtype=bool)
    smooth = ndimage.gaussian_filter(early, 0.7)
    # thin and wider vessels: darker on both sides 3 px or 5 px out
    candidate = ((_ridge_contrast(early, 0.7, 3.0) > 0.25 * smooth) | (_ridge_contrast(early, 1.2, 5.0) > 0.25 * smooth)) \
        & (early > ABNORMAL_Z)
    lines = probabilistic_hough_line(skeletonize(candidate), threshold=8, line_length=20, line_gap=2,  # type: ignore[no-untyped-call, unused-ignore]
                                     rng=np.random.default_rng(0))
    rim = _rim_band(candidate, click_rc) if click_rc is not None else None
    near = ndimage.binary_dilation(lesion, iterations=RIM_REACH_PX) if lesion is not None and lesion.any() else None
    lesion_early = float(np.median(smooth[lesion])) if near is not None else 0.0
    out = np.zeros(early.shape, dtype=bool)
    for (xa, ya), (xb, yb) in lines:
        a, b = np.array([ya, xa], dtype=float), np.array([yb, xb], dtype=float)
        n = int(np.hypot(*(b - a))) + 1
        along = a[None, :] + np.linspace(0, 1, n)[:, None] * (b - a)[None, :]
        level = float(np.median(ndimage.map_coordinates(smooth, along.T, order=1)))
        before = np.array(_follow(smooth, a, a - b, 0.4 * level)).reshape(-1, 2)
        after = np.array(_follow(smooth, b, b - a, 0.4 * level)).reshape(-1, 2)
        path = np.array([*reversed(before), *along, *after])
        if not _straight(path):  # it bent off somewhere (a junction with another vessel): its straight run
            path = np.array([*reversed(_in_line(before, a, b)), *along, *_in_line(after, a, b)])
        if np.hypot(*(path[-1] - path[0])) < min_length_px or not _straight(path):
            continue
        pts = np.round(path).astype(int)
        if rim is not None and rim[pts[:, 0], pts[:, 1]].mean() >= 0.5:
            continue
        if near is not None and near[pts[:, 0], pts[:, 1]].mean() >= RIM_SHARE and level <= RIM_MAX_RATIO * lesion_early:
            continue
        out[pts[:, 0], pts[:, 1]] = True
    if not out.any():
        return out
    # the vessel is as wide as its bright ridge: grow the paths through the ridge's pixels, at most 3 px
    body = smooth >= 0.4 * np.median(smooth[out])
    grown = ndimage.binary_propagation(out, mask=body | out) & ndimage.binary_dilation(out, iterations=VESSEL_GROW_PX)
    return np.asarray(ndimage.binary_dilation(grown | out, iterations=VESSEL_MARGIN_PX)) if VESSEL_MARGIN_PX else grown | out
