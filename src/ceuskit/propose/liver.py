"""The liver reference beside a proposed lesion, placed the way readers place it.

Readers compare a lesion with parenchyma **at the same depth** (attenuation darkens deeper tissue), of about
the lesion's size, close beside it but clear of it, and never over a vessel, another lesion, an overlay or
the image's edge.  Here:

1. Forbidden: the lesion grown by a margin (a quarter of its radius, at least 4 px and 2 mm), every
   abnormal pixel (abnormality above :data:`~ceuskit.propose.contrast.ABNORMAL_Z`: vessels, other lesions)
   and the found vessels grown by 2 px, overlays grown by 2 px, pixels without data, and a band along the
   image's edge as wide as the largest tracked breathing shift plus 2 px (the reference must stay inside the
   image when it follows the tissue).
2. A disc of the lesion's area (radius clipped to 4–40 px) is placed where it fits (distance transform of the
   allowed pixels); the best place is the one nearest the lesion's depth, then nearest the lesion's side, with
   the most uniform abnormality inside.  Smaller discs, down to a third of the radius or 3 px, compete with it: a
   smaller disc at the lesion's depth beats a full-size one deeper or shallower (:data:`SIZE_COST`).
3. The result is a polygon of 24 vertices, an ROI that can be edited like any other; its confidence says how
   well it matched the convention (depth, size, uniformity).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ceuskit.propose.contrast import ABNORMAL_Z, Contrast

__all__ = ["LiverReference", "liver_reference"]

MIN_RADIUS_PX = 3.0
MAX_RADIUS_PX = 40.0
SMALLEST_FRACTION = 1.0 / 3.0
"""The smallest disc tried, as a fraction of the lesion's radius (a ninth of its area)."""
SIZE_COST = 1.0
"""What a smaller disc costs, per fraction of the lesion's radius it gives up, in lesion radii of depth offset:
a disc of half the radius weighs as much as half a lesion radius of depth.  Depth comes first (the liver
darkens with depth: a reference one lesion diameter deeper makes the lesion read dB brighter), size second."""


@dataclass(frozen=True)
class LiverReference:
    """A disc of parenchyma on the window.

    Attributes
    ----------
    centre_rc : (row, column) in the window.
    radius_px : its radius.
    confidence : 0–1 (depth match, size match, uniformity).
    depth_offset_px : how much deeper (+) or shallower (−) than the lesion's centre it lies.
    """

    centre_rc: tuple[float, float]
    radius_px: float
    confidence: float
    depth_offset_px: float

    def mask(self, shape: tuple[int, int]) -> np.ndarray:
        """(h, w) bool disc."""
        rows, cols = np.ogrid[0:shape[0], 0:shape[1]]
        r0, c0 = self.centre_rc
        return np.asarray((rows - r0) ** 2 + (cols - c0) ** 2 <= self.radius_px ** 2)

    def polygon_rc(self, n: int = 24) -> np.ndarray:
        """(n, 2) vertices (row, column), half a pixel inside the disc's edge."""
        angles = np.arange(n) * 2 * np.pi / n
        radius = max(self.radius_px - 0.5, 1.0)
        return np.column_stack([self.centre_rc[0] + radius * np.sin(angles),
                                self.centre_rc[1] + radius * np.cos(angles)])


def _forbidden(contrast: Contrast, lesion: np.ndarray, vessels: np.ndarray, excluded: np.ndarray, margin_px: float,
               edge_px: int) -> np.ndarray:
    h, w = lesion.shape
    out = ndimage.distance_transform_edt(~lesion) <= margin_px
    out |= ndimage.binary_dilation((contrast.abnormality > ABNORMAL_Z) | vessels, iterations=2)
    if excluded.any():
        out |= ndimage.binary_dilation(excluded, iterations=2)
    out |= ndimage.binary_dilation(~contrast.valid, iterations=max(edge_px, 1))
    band = np.zeros((h, w), dtype=bool)
    band[:edge_px, :] = band[h - edge_px:, :] = band[:, :edge_px] = band[:, w - edge_px:] = True
    return np.asarray(out | band)


def liver_reference(contrast: Contrast, lesion: np.ndarray, vessels: np.ndarray, excluded: np.ndarray, *,
                    spacing_mm: tuple[float, float] | None, edge_px: int) -> LiverReference | None:
    """Return a parenchyma disc beside ``lesion`` (module docstring), or None when none fits.

    Parameters
    ----------
    contrast : the window's abnormality.
    lesion : (h, w) bool, the lesion.
    vessels : (h, w) bool, vessels found.
    excluded : (h, w) bool, burned-in overlays.
    spacing_mm : pixel spacing (for the 2-mm margin), or None.
    edge_px : width of the band along the window's unknown pixels and edges kept free, px.

    Returns
    -------
    LiverReference or None.
    """
    if not lesion.any():
        return None
    area = float(lesion.sum())
    lesion_radius = float(np.sqrt(area / np.pi))
    per_mm = 1.0 / min(spacing_mm) if spacing_mm else 0.0
    margin = max(4.0, 0.25 * lesion_radius, 2.0 * per_mm)
    forbidden = _forbidden(contrast, lesion, vessels, excluded, margin, edge_px)
    room = ndimage.distance_transform_edt(~forbidden)
    rows = np.nonzero(lesion)[0]
    depth = float(rows.mean())
    target = float(np.clip(lesion_radius, MIN_RADIUS_PX + 1, MAX_RADIUS_PX))
    from_lesion = ndimage.distance_transform_edt(~lesion)
    smooth_a = ndimage.uniform_filter(contrast.abnormality, 5)
    spread = np.sqrt(np.maximum(ndimage.uniform_filter(contrast.abnormality ** 2, 5) - smooth_a ** 2, 0.0))
    best: LiverReference | None = None
    best_cost = np.inf
    radius = target
    while radius >= max(MIN_RADIUS_PX, SMALLEST_FRACTION * target):
        fits = room >= radius
        if fits.any():
            rr, cc = np.nonzero(fits)
            cost = (np.abs(rr - depth) / max(lesion_radius, 1.0)
                    + 0.3 * (from_lesion[rr, cc] - margin - radius) / max(lesion_radius, 1.0)
                    + 0.5 * spread[rr, cc]
                    + SIZE_COST * (1.0 - radius / target))
            here = int(np.argmin(cost))
            if cost[here] < best_cost:
                best_cost = float(cost[here])
                r0, c0 = float(rr[here]), float(cc[here])
                depth_offset = r0 - depth
                depth_score = float(np.exp(-abs(depth_offset) / max(2.0 * lesion_radius, 4.0)))
                confidence = round(depth_score * min(1.0, radius / target)
                                   * float(np.exp(-0.3 * spread[rr[here], cc[here]])), 3)
                best = LiverReference((r0, c0), radius, confidence, depth_offset)
        radius -= 1.0
    return best
