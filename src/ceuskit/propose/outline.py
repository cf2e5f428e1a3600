"""A lesion's outline from one click: the closed contour around the click where the tissue stops being abnormal.

0. Where the abnormality at the click stays below :data:`~ceuskit.propose.contrast.ABNORMAL_Z` (a lesion iso
   over the clip, e.g. a loop that ends before its late wash-out) and the B-mode half of a dual display stands out
   more there, the outline is drawn on the B-mode half's (:attr:`~ceuskit.propose.contrast.Contrast.bmode`).
1. The abnormality map (:mod:`ceuskit.propose.contrast`) with the vessels, overlays and unknown pixels set to
   the liver's level (a vessel touching the lesion is not lesion).  Around a lesion darker than the liver, the
   vessels' blur (within :data:`HALO_PX`) would cancel the lesion's own difference — the two differ from the liver
   in opposite directions — and cut a liver-like strip out of it: there the map is filled in from the pixels
   around.
2. Rays from the centre (the click, then the first outline's centroid) every 3.75°; along each, 0.5-px samples.
   A boundary at radius r costs: minus the edge contrast (mean abnormality over the 4 px inside r minus over
   the 4 px outside, over their sum), plus the distance of the abnormality at r from the half-way level of
   those two, plus the share of liver-like samples inside r and of lesion-like samples in the 6 px outside.
3. Dynamic programming around the circle picks one radius per ray, neighbours at most 1.5 px × (radius · ray
   step) apart (a smooth, star-shaped outline; lobulated ones are star-shaped about an inner point).
4. Within 3 px of that outline each pixel is re-decided against the half-way level of the lesion and the liver
   around it (non-star details; half-way on the uncompressed scale, since a bright lesion's compressed level
   would put its edge out in the blur around it), the region containing the centre is kept, holes filled, vessels, overlays
   and a margin from the image edge taken out.
   A lesion darker than the liver is then drawn :data:`INSET_PX` inside that edge, as readers draw it: its edge
   pixels, part liver, enhance with the liver seconds before the lesion and would set its onset.
5. The outline's confidence (0–1): the edge contrast's consistency around it, times how far the lesion stands
   above the noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit
from scipy import ndimage

from ceuskit.propose.contrast import ABNORMAL_Z, Contrast, inpaint, vessel_mask

__all__ = ["Outline", "lesion_outline"]

N_RAYS = 96
STEP_PX = 0.5
BLUR_PX = 1.5
"""Half-width of a boundary's blur (speckle smoothing, tracking): the levels either side are read beyond it."""
BAND_PX = 3.0
OUTER_PX = 4.0
MIN_RADIUS_PX = 2.0
HALO_PX = 3
"""Reach of a vessel's blur beyond its mask, px: there a dark lesion is read from the pixels around (step 1)."""
INSET_PX = 1
"""A lesion darker than the liver is outlined this far inside the edge found (step 4), px."""
SATURATION = 10.0 * ABNORMAL_Z
"""Abnormality above which a pixel is lesion beyond doubt: higher levels are compressed logarithmically
(:func:`_compressed`), so that a heterogeneous lesion's brightest spots (ten times its darkest in a strongly
enhancing one) neither set the level its edge is drawn at nor make its darker parts look like liver."""


@dataclass(frozen=True)
class Outline:
    """A lesion's region on the window.

    Attributes
    ----------
    mask : (h, w) bool, the lesion.
    confidence : 0–1.
    level : median abnormality inside the lesion (≈ 1 is liver).
    edge_consistency : share of rays whose boundary has a clear edge.
    touches_edge : the lesion reaches the window or image edge (it may continue beyond).
    """

    mask: np.ndarray
    confidence: float
    level: float
    edge_consistency: float
    touches_edge: bool


def _profiles(image: np.ndarray, centre_rc: tuple[float, float], n_samples: int) -> np.ndarray:
    """(N_RAYS, n_samples) bilinear samples of ``image`` along rays from ``centre_rc``; NaN off the image."""
    angles = np.arange(N_RAYS) * 2 * np.pi / N_RAYS
    radii = np.arange(n_samples) * STEP_PX
    rows = centre_rc[0] + np.sin(angles)[:, None] * radii[None, :]
    cols = centre_rc[1] + np.cos(angles)[:, None] * radii[None, :]
    values = ndimage.map_coordinates(image, [rows, cols], order=1, mode="constant", cval=np.nan)
    off = (rows < 0) | (rows > image.shape[0] - 1) | (cols < 0) | (cols > image.shape[1] - 1)
    return np.where(off, np.nan, values)


def _band_means(profile: np.ndarray, near: int, far: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sample j: the mean of samples j−far … j−near (inside) and j+near … j+far (outside), NaN-aware.

    The levels either side of a boundary at j, clear of its blur.
    """
    filled = np.nan_to_num(profile)
    present = np.isfinite(profile).astype(float)
    pad = np.zeros((profile.shape[0], 1))
    csum = np.concatenate([pad, np.cumsum(filled, axis=1)], axis=1)
    ccount = np.concatenate([pad, np.cumsum(present, axis=1)], axis=1)
    n = profile.shape[1]
    j = np.arange(n)
    ilo, ihi = np.clip(j - far, 0, n), np.clip(j - near + 1, 0, n)
    olo, ohi = np.clip(j + near, 0, n), np.clip(j + far + 1, 0, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        inner = (csum[:, ihi] - csum[:, ilo]) / (ccount[:, ihi] - ccount[:, ilo])
        outer = (csum[:, ohi] - csum[:, olo]) / (ccount[:, ohi] - ccount[:, olo])
    return inner, outer


def _costs(profile: np.ndarray, lesion_level: float) -> tuple[np.ndarray, np.ndarray]:
    """(cost of a boundary at each sample of each ray, edge contrast there)."""
    near, far = int(round(BLUR_PX / STEP_PX)), int(round((BLUR_PX + BAND_PX) / STEP_PX))
    inner, outer = _band_means(profile, near, far)
    noise = 1.0
    edge = (inner - outer) / (np.abs(inner) + np.abs(outer) + noise)
    half = 0.5 * (inner + outer)
    value = np.nan_to_num(profile, nan=0.0)
    crossing = np.abs(value - half) / (np.abs(inner - outer) + noise)
    threshold = 0.5 * (lesion_level + 1.0)
    liver_like = np.cumsum(value < threshold, axis=1) / np.arange(1, profile.shape[1] + 1)
    lesion_like = (value >= threshold).astype(float)
    span = int(round(OUTER_PX / STEP_PX))
    csum = np.concatenate([np.zeros((profile.shape[0], 1)), np.cumsum(lesion_like, axis=1)], axis=1)
    j = np.arange(profile.shape[1])
    lo, hi = np.minimum(j + far + 1, profile.shape[1]), np.minimum(j + far + span + 1, profile.shape[1])
    outside_lesion = (csum[:, hi] - csum[:, lo]) / span
    cost = (-np.nan_to_num(edge, nan=-1.0) + 0.5 * np.minimum(crossing, 2.0) + 0.7 * liver_like
            + 0.3 * outside_lesion)
    cost[:, : int(MIN_RADIUS_PX / STEP_PX)] = np.inf
    cost[~np.isfinite(profile)] = np.inf
    return cost, np.nan_to_num(edge, nan=0.0)


@njit(cache=True)
def _dp_kernel(cost: np.ndarray, limit: np.ndarray, laps: int, smoothness: float) -> np.ndarray:  # pragma: no cover
    n_rays, n = cost.shape
    total = np.zeros(n)
    best = np.empty(n)
    back = np.zeros((laps * n_rays, n), dtype=np.int32)
    for step in range(laps * n_rays):
        row = step % n_rays
        for j in range(n):
            best[j] = np.inf
            back[step, j] = j
            reach = limit[j]
            for i in range(max(0, j - reach), min(n, j + reach + 1)):
                jump = j - i
                if abs(jump) > max(limit[i], limit[j]):
                    continue
                candidate = total[i] + smoothness * jump * jump
                if candidate < best[j]:
                    best[j] = candidate
                    back[step, j] = i
        for j in range(n):
            total[j] = best[j] + cost[row, j]
    path = np.zeros(laps * n_rays, dtype=np.int64)
    path[-1] = np.argmin(total)
    for step in range(laps * n_rays - 1, 0, -1):
        path[step - 1] = back[step, path[step]]
    return path[n_rays:2 * n_rays]


def _circular_path(cost: np.ndarray) -> np.ndarray:
    """One sample index per ray minimising the summed cost, neighbours' radii within 1.5·r·Δθ (+1 sample).

    Three laps round the circle, the middle one kept, so the outline closes on itself.
    """
    n_rays, n = cost.shape
    dtheta = 2 * np.pi / n_rays
    radius = np.arange(n) * STEP_PX
    limit = (np.floor((1.5 * radius * dtheta) / STEP_PX) + 1).astype(np.int64)
    finite = np.where(np.isfinite(cost), cost, 1e9)
    return np.asarray(_dp_kernel(np.ascontiguousarray(finite), limit, 3, 0.02))


def _polygon_mask(shape: tuple[int, int], centre_rc: tuple[float, float], radii: np.ndarray) -> np.ndarray:
    # scikit-image is unannotated (no stubs): its calls carry type: ignore[no-untyped-call] and are checked by the
    # tests, not by mypy; unused-ignore: without --strict mypy does not flag untyped calls
    from skimage.draw import polygon as draw_polygon

    angles = np.arange(N_RAYS) * 2 * np.pi / N_RAYS
    rows = centre_rc[0] + np.sin(angles) * radii
    cols = centre_rc[1] + np.cos(angles) * radii
    out = np.zeros(shape, dtype=bool)
    rr, cc = draw_polygon(rows, cols, shape=shape)  # type: ignore[no-untyped-call, unused-ignore]
    out[rr, cc] = True
    return out


def _star(a: np.ndarray, centre_rc: tuple[float, float], level: float, barrier: np.ndarray | None = None
          ) -> tuple[np.ndarray, float]:
    """(mask, edge consistency) of the dynamic-programming outline about ``centre_rc``.

    No ray reaches past the first ``barrier`` pixel it meets (a vessel between the lesion and whatever lies
    beyond).
    """
    n = int(np.hypot(*a.shape) / STEP_PX) + 1
    profile = _profiles(a, centre_rc, n)
    cost, edge = _costs(profile, level)
    if barrier is not None and barrier.any():
        hit = np.nan_to_num(_profiles(barrier.astype(float), centre_rc, n), nan=0.0) > 0.5
        hit[:, : int(MIN_RADIUS_PX / STEP_PX) + 1] = False  # a vessel over the click itself does not stop it
        beyond = np.cumsum(hit, axis=1) > 0
        cost[beyond] = np.inf
    path = _circular_path(cost)
    radii = path * STEP_PX
    clear = float(np.mean(edge[np.arange(N_RAYS), path] > 0.3))
    return _polygon_mask(a.shape, centre_rc, radii), clear


def _refine(a: np.ndarray, mask: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Re-decide pixels within 3 px of the outline by the half-way level of the lesion and liver near them.

    Each level is read 2–5 px from the outline, clear of its blur.
    """
    inside = ndimage.binary_erosion(mask, iterations=3)
    outside = ~ndimage.binary_dilation(mask, iterations=3) & ~blocked
    band = ~inside & ~outside & ~blocked
    sigma = 3.0
    inside_near = inside & ~ndimage.binary_erosion(mask, iterations=6)
    outside_near = outside & ndimage.binary_dilation(mask, iterations=6)
    inside, outside = inside_near, outside_near
    with np.errstate(invalid="ignore", divide="ignore"):
        lesion_near = ndimage.gaussian_filter(np.where(inside, a, 0.0), sigma) / ndimage.gaussian_filter(
            inside.astype(float), sigma)
        liver_near = ndimage.gaussian_filter(np.where(outside, a, 0.0), sigma) / ndimage.gaussian_filter(
            outside.astype(float), sigma)
    lesion_near = np.nan_to_num(lesion_near, nan=float(np.median(a[mask])) if mask.any() else 0.0)
    # half-way on the uncompressed scale, where a pixel's abnormality grows with its share of lesion
    half = _compressed(0.5 * (_expanded(lesion_near) + _expanded(np.nan_to_num(liver_near, nan=1.0))))
    return np.asarray(ndimage.binary_erosion(mask, iterations=3) | (band & (a >= half)))


def _keep_centre(mask: np.ndarray, centre_rc: tuple[float, float]) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask
    r, c = int(round(centre_rc[0])), int(round(centre_rc[1]))
    keep = labels[r, c] if mask[r, c] else np.argmax(np.bincount(labels.ravel())[1:]) + 1
    return np.asarray(ndimage.binary_fill_holes(labels == keep))


def _compressed(a: np.ndarray) -> np.ndarray:
    """Return ``a`` up to :data:`SATURATION`, above it ``SATURATION · (1 + ln(a / SATURATION))`` (continuous)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > SATURATION, SATURATION * (1.0 + np.log(np.maximum(a, SATURATION) / SATURATION)), a)


def _expanded(c: np.ndarray) -> np.ndarray:
    """Return the abnormality whose :func:`_compressed` value is ``c`` (its inverse)."""
    with np.errstate(over="ignore"):
        return np.where(c > SATURATION, SATURATION * np.exp(np.minimum(c / SATURATION - 1.0, 50.0)), c)


def _seed_level(a: np.ndarray, click_rc: tuple[float, float]) -> float:
    r0, c0 = int(round(click_rc[0])), int(round(click_rc[1]))
    patch = a[max(r0 - 2, 0):r0 + 3, max(c0 - 2, 0):c0 + 3]
    return float(np.median(patch)) if patch.size else 0.0


def _darker_than_liver(contrast: Contrast, click_rc: tuple[float, float]) -> bool:
    """Whether the tissue at the click (5×5 px) is darker than the liver, never clearly brighter.

    Darker on average over the contrast bins and in none of them above :data:`ABNORMAL_Z`: a hypo-enhancing
    lesion, or an iso one that washes out; not a bright lesion that washes out.
    """
    n_bins = contrast.contrast_bins.size
    r0, c0 = int(round(click_rc[0])), int(round(click_rc[1]))
    patch = contrast.signed[:n_bins, max(r0 - 2, 0):r0 + 3, max(c0 - 2, 0):c0 + 3]
    if n_bins == 0 or patch.size == 0:
        return False
    per_bin = np.median(patch.reshape(n_bins, -1), axis=1)
    return float(per_bin.mean()) < 0.0 and float(per_bin.max()) < ABNORMAL_Z


def lesion_body(a: np.ndarray, click_rc: tuple[float, float], level: float, reach_px: int = 3) -> np.ndarray:
    """Return the lesion's thick part at the click (empty when none lies within ``reach_px`` of it).

    Lesion-like pixels (above half-way from the liver to ``level``), opened by a 3-px disc so that thin bridges
    to vessels break and vessels themselves (at most :data:`~ceuskit.propose.contrast.VESSEL_HALF_WIDTH_PX`
    across, blurred) drop out; the pieces within ``reach_px`` of the click, holes filled.
    """
    opened = ndimage.binary_opening(a >= 0.5 * (level + 1.0), structure=_disc(3))
    labels, n = ndimage.label(opened)
    if n == 0:
        return np.asarray(opened)
    r = int(np.clip(round(click_rc[0]), 0, a.shape[0] - 1))
    c = int(np.clip(round(click_rc[1]), 0, a.shape[1] - 1))
    near = labels[max(r - reach_px, 0):r + reach_px + 1, max(c - reach_px, 0):c + reach_px + 1]
    keep = np.unique(near[near > 0])
    return np.asarray(ndimage.binary_fill_holes(np.isin(labels, keep))) if keep.size else np.zeros(a.shape, bool)


def _disc(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return np.asarray(xx * xx + yy * yy <= radius * radius)


def lesion_outline(contrast: Contrast, click_rc: tuple[float, float], blocked: np.ndarray, *, edge_margin_px: int = 2
                   ) -> tuple[Outline, np.ndarray]:
    """Return the lesion around ``click_rc`` (row, column in the window) and the vessels beside it.

    See the module docstring.

    Parameters
    ----------
    contrast : the window's abnormality.
    click_rc : the click, (row, column) in the window.
    blocked : (h, w) bool, pixels that are never lesion (overlays).
    edge_margin_px : distance kept from the window's unknown pixels and edge, px.

    Returns
    -------
    (Outline, (h, w) bool vessel mask); the outline's mask may be empty when nothing stands out.
    """
    unknown = ~contrast.valid
    ceus_level = _seed_level(np.where(unknown, 1.0, contrast.abnormality), click_rc)
    if contrast.bmode is not None and ceus_level < ABNORMAL_Z and _seed_level(contrast.bmode, click_rc) > ceus_level:
        # nothing at the click stands out clearly over the clip (a lesion iso until after a loop ends) and the
        # B-mode half of a dual display shows it better: it is outlined there
        contrast = replace(contrast, abnormality=contrast.bmode)
    raw = np.where(blocked | unknown, 1.0, _compressed(contrast.abnormality))
    level = _seed_level(raw, click_rc)
    # very bright neighbours (vessels) must not outweigh the lesion's own edge
    a = np.minimum(raw, 3.0 * max(level, ABNORMAL_Z))
    vessels = vessel_mask(contrast, click_rc)
    if vessels.any():
        # where a rim-enhancing lesion's ridges leave its ring open, a straight stretch of the rim passes for a
        # vessel: a run lying on the lesion's extent without the runs found (every abnormal pixel of its body,
        # however bright the click's) is its rim
        body = lesion_body(np.where(vessels, 1.0, a), click_rc, ABNORMAL_Z)
        if body.any():
            vessels = vessel_mask(contrast, click_rc, lesion=body)
    r0, c0 = int(round(click_rc[0])), int(round(click_rc[1]))
    if vessels[max(r0 - 2, 0):r0 + 3, max(c0 - 2, 0):c0 + 3].any():
        # a vessel found over the click ran into the lesion along a ridge: the clicked lesion's thick body is none
        vessels &= ~lesion_body(a, click_rc, max(level, ABNORMAL_Z))
    darker = _darker_than_liver(contrast, click_rc)
    if vessels.any() and darker:
        # a vessel's blur, bright, cancels a dark lesion's own difference beside it: read the lesion through it
        halo = ndimage.binary_dilation(vessels, iterations=HALO_PX) & ~vessels
        a = inpaint(a, ~(vessels | halo), sigma_px=float(HALO_PX))
    a = np.where(vessels, 1.0, a)
    blocked = blocked | vessels
    mask, clear = _star(a, click_rc, max(level, ABNORMAL_Z), vessels)
    if mask.any():
        inner_level = float(np.percentile(a[mask], 60))
        ys, xs = np.nonzero(mask)
        centre = (float(ys.mean()), float(xs.mean()))
        if mask[int(round(centre[0])), int(round(centre[1]))]:
            mask, clear = _star(a, centre, max(inner_level, ABNORMAL_Z), vessels)
            click_rc = centre
    mask = _keep_centre(_refine(a, mask, blocked | unknown), click_rc)
    edge = np.zeros(a.shape, dtype=bool)
    edge[:edge_margin_px, :] = edge[-edge_margin_px:, :] = True
    edge[:, :edge_margin_px] = edge[:, -edge_margin_px:] = True
    edge |= ndimage.binary_dilation(unknown, iterations=edge_margin_px)
    touches = bool((mask & ndimage.binary_dilation(edge, iterations=1)).any())
    mask = _keep_centre(mask & ~edge & ~blocked, click_rc)
    mask = _keep_centre(ndimage.binary_opening(mask, iterations=1), click_rc) if mask.sum() > 30 else mask
    if darker and mask.sum() > 30:
        # drawn just inside a dark lesion's margin, as readers draw: a pixel there half liver rises with the
        # liver, seconds before the lesion, and would set its arterial onset
        mask = _keep_centre(ndimage.binary_erosion(mask, iterations=INSET_PX), click_rc)
    level_in = float(np.median(contrast.abnormality[mask])) if mask.any() else 0.0
    ring = ndimage.binary_dilation(mask, iterations=6) & ~ndimage.binary_dilation(mask, iterations=2) & contrast.valid
    ring &= ~vessels
    level_out = float(np.median(contrast.abnormality[ring])) if ring.any() else 1.0
    separation = float(np.clip((level_in - level_out - 1.0) / (2.0 * ABNORMAL_Z), 0.0, 1.0))
    confidence = round(separation * clear * (0.7 if touches else 1.0), 3)
    return Outline(mask, confidence, level_in, clear, touches), vessels
