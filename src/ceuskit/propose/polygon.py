"""A region's mask as the editable polygon of an ROI file, never over pixels it must leave out.

The outline is the 0.5 level of the mask (:func:`skimage.measure.find_contours`), simplified to within
half a pixel (:func:`skimage.measure.approximate_polygon`).  A hole (an overlay inside the lesion, such as a
marker on its centre) cannot be a polygon's: a one-pixel channel is cut from it to the outside along the
shortest way, so the polygon goes round it.  The polygon is rasterised the way :mod:`ceuskit.roi` does it
and checked: if it still covers a forbidden pixel, the mask is eroded there and the outline drawn again.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line as draw_line
from skimage.draw import polygon as draw_polygon
from skimage.measure import approximate_polygon, find_contours

__all__ = ["mask_to_polygon", "polygon_mask"]


def polygon_mask(points_rc: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return the (h, w) bool raster of a polygon given as (n, 2) (row, column) vertices.

    It is rasterised as :class:`ceuskit.roi.Roi` rasterises it.
    """
    out = np.zeros(shape, dtype=bool)
    # scikit-image is unannotated (no stubs): its calls carry type: ignore[no-untyped-call] and are checked by the
    # tests, not by mypy; unused-ignore: without --strict mypy does not flag untyped calls
    rr, cc = draw_polygon(points_rc[:, 0], points_rc[:, 1], shape=shape)  # type: ignore[no-untyped-call, unused-ignore]
    out[rr, cc] = True
    return out


def _open_holes(mask: np.ndarray) -> np.ndarray:
    """Return the mask with a channel cut from each hole to the outside (the shortest straight way)."""
    filled = ndimage.binary_fill_holes(mask)
    holes, n = ndimage.label(filled & ~mask)
    if n == 0:
        return mask
    out = mask.copy()
    outside = ~filled
    _, (near_r, near_c) = ndimage.distance_transform_edt(~outside, return_indices=True)
    for k in range(1, n + 1):
        rows, cols = np.nonzero(holes == k)
        distance = np.hypot(near_r[rows, cols] - rows, near_c[rows, cols] - cols)
        i = int(np.argmin(distance))
        rr, cc = draw_line(int(rows[i]), int(cols[i]), int(near_r[rows[i], cols[i]]), int(near_c[rows[i], cols[i]]))  # type: ignore[no-untyped-call, unused-ignore]
        out[rr, cc] = False
        # two pixels wide, so the outline's 0.5 level does not close over the channel
        out[np.clip(rr + 1, 0, mask.shape[0] - 1), cc] = False
    return out


def mask_to_polygon(mask: np.ndarray, forbidden: np.ndarray | None = None, *, tolerance_px: float = 0.5
                    ) -> np.ndarray | None:
    """Return the (n, 2) (row, column) vertices of the region with most of ``mask``, clear of ``forbidden``.

    Parameters
    ----------
    mask : (h, w) bool region (its largest connected part is used).
    forbidden : (h, w) bool pixels the polygon must not cover, or None.
    tolerance_px : largest distance of the simplified outline from the exact one.

    Returns
    -------
    (n, 2) float array, n ≥ 3, or None when nothing is left.
    """
    forbidden = np.zeros(mask.shape, dtype=bool) if forbidden is None else forbidden
    region = mask & ~forbidden
    for _attempt in range(4):
        labels, n = ndimage.label(region)
        if n == 0:
            return None
        largest = labels == (int(np.argmax(np.bincount(labels.ravel())[1:])) + 1)
        largest = _open_holes(largest)
        padded = np.pad(largest.astype(float), 1)
        contours = find_contours(padded, 0.5)  # type: ignore[no-untyped-call, unused-ignore]
        if not contours:
            return None
        contour = max(contours, key=len) - 1.0
        points = approximate_polygon(contour, tolerance_px)[:-1]  # type: ignore[no-untyped-call, unused-ignore]
        if len(points) < 3:
            return None
        covered = polygon_mask(points, mask.shape)
        bad = covered & forbidden
        if not bad.any():
            return np.asarray(points)
        region = largest & ~ndimage.binary_dilation(bad, iterations=1)
    return None
