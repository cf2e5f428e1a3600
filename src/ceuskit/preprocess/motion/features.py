"""Tracking features of one frame: the search area's grey, speckle-smoothed and halved, with its validity.

Pixels that carry no echo — outside the image region, burned-in overlays, colours off the display map — are
left out by normalised convolution (smooth the valid pixels and their indicator alike, divide), so they
neither pull a match nor leave a hole; a feature pixel stays valid when most of its neighbourhood was.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

__all__ = ["FEATURE_SCALE", "frame_features"]

FEATURE_SCALE = 2
"""Full-frame pixels per feature pixel (features are computed at half resolution)."""


def _binned(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """Return the sums of the 2 × 2 blocks of ``image`` (h × w of them).

    They are added as numpy's reduction over both block axes adds them — (top-left + top-right) +
    (bottom-left + bottom-right) — at a fraction of its cost.
    """
    top = image[0:2 * h:2, 0:2 * w:2] + image[0:2 * h:2, 1:2 * w:2]
    sums: np.ndarray = top + (image[1:2 * h:2, 0:2 * w:2] + image[1:2 * h:2, 1:2 * w:2])
    return sums


@lru_cache(maxsize=16)
def _gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Return the correlation weights :func:`scipy.ndimage.gaussian_filter1d` uses for ``sigma`` (order 0).

    The same arithmetic as scipy's, done once per σ instead of on every frame.
    """
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x**2)
    weights: np.ndarray = (phi / phi.sum())[::-1]
    weights.flags.writeable = False
    return weights


def _gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """Return ``scipy.ndimage.gaussian_filter(image, sigma, mode="nearest")`` of a 2-D image: the same numbers.

    The same two passes (rows, then columns in place) with the kernel computed once.
    """
    weights = _gaussian_weights(sigma)
    out: np.ndarray = ndimage.correlate1d(image, weights, 0, mode="nearest")
    ndimage.correlate1d(out, weights, 1, output=out, mode="nearest")
    return out


def frame_features(crop: np.ndarray, valid: np.ndarray, smoothing_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Half-resolution, speckle-smoothed features of a search-area crop.

    Parameters
    ----------
    crop : (H, W) grey, H and W even; ``valid`` (H, W) bool marks the pixels that carry echo.
    smoothing_px : Gaussian σ in full-frame pixels.

    Returns
    -------
    (features, valid), each (H/2, W/2): float32 smoothed grey (0 where invalid) and bool validity.
    """
    h, w = crop.shape[0] // 2, crop.shape[1] // 2
    sigma = float(max(np.sqrt(max(smoothing_px**2 - 0.25, 0.0)) / FEATURE_SCALE, 0.3))
    if bool(valid.all()):
        # the values np.where(valid, crop, 0.0) would give: the crop itself, integers as float64
        sums = np.asarray(_binned(crop if crop.dtype.kind == "f" else crop.astype(np.float64), h, w), dtype=np.float32)
        return _gaussian(sums / 4.0, sigma), np.ones((h, w), dtype=bool)
    weights = _binned(valid.view(np.uint8), h, w).astype(np.float32)
    sums = _binned(np.where(valid, crop, 0.0), h, w).astype(np.float32)
    smooth_sums = _gaussian(sums, sigma)
    smooth_weights = _gaussian(weights, sigma)
    ok = smooth_weights > 2.0  # at least half of the neighbourhood's weight was valid
    features = np.where(ok, smooth_sums / np.maximum(smooth_weights, 1e-6), 0.0).astype(np.float32)
    return features, ok
