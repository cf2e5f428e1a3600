"""Decoded pixels → display grey 0–255 (luminance)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["LUMA_WEIGHTS", "to_grey"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights for R, G, B (DESIGN: grey = 0.299R + 0.587G + 0.114B)."""
_WEIGHTS = np.asarray(LUMA_WEIGHTS, dtype=np.float32)


@njit(cache=True, nogil=True)
def _rgb_grey(pixels: np.ndarray, weights: np.ndarray, scale: float, tolerance: float, off_map: float
              ) -> np.ndarray:  # pragma: no cover - compiled
    """Luma of each RGB pixel in single precision, times ``scale``; ``off_map`` where the channels spread by
    more than ``tolerance`` (no check when it is negative). One pass over the pixels, any layout."""
    rows, columns = pixels.shape[0], pixels.shape[1]
    out = np.empty((rows, columns), dtype=np.float32)
    w0, w1, w2 = weights[0], weights[1], weights[2]
    factor = np.float32(scale)
    marker = np.float32(off_map)
    for y in range(rows):
        for x in range(columns):
            r, g, b = pixels[y, x, 0], pixels[y, x, 1], pixels[y, x, 2]
            if tolerance >= 0 and float(max(r, g, b)) - float(min(r, g, b)) > tolerance:
                out[y, x] = marker
                continue
            value = np.float32(r) * w0 + np.float32(g) * w1 + np.float32(b) * w2
            out[y, x] = value * factor if scale != 1.0 else value
    return out


def to_grey(pixels: np.ndarray, *, max_value: int = 255, chroma_tolerance: float | None = None,
            off_map: float = np.nan) -> np.ndarray:
    """Display grey of one frame, float32 in 0–255.

    Parameters
    ----------
    pixels : (rows, columns) monochrome or (rows, columns, 3) RGB array of any integer or float dtype.
    max_value : the value that means full white in ``pixels`` (255 for 8-bit, 65535 for 16-bit palette
        colour); grey is rescaled so that it maps to 255.
    chroma_tolerance : when given, an RGB pixel whose channels differ by more than this (in the units of
        ``pixels``) is coloured, not grey, and reads ``off_map``.
    off_map : value of coloured pixels (with ``chroma_tolerance``).

    Returns
    -------
    (rows, columns) float32.

    Raises
    ------
    ValueError
        Not a 2-D frame nor an RGB one.
    """
    if pixels.ndim == 3:
        if pixels.shape[-1] != 3:
            raise ValueError(f"pixels: expected 3 colour samples, got {pixels.shape[-1]}")
        if pixels.dtype.kind not in "uif":
            pixels = pixels.astype(np.float32)
        tolerance = -1.0 if chroma_tolerance is None else float(chroma_tolerance)
        return _rgb_grey(pixels, _WEIGHTS, 255.0 / max_value, tolerance, off_map)
    if pixels.ndim != 2:
        raise ValueError(f"pixels: expected a 2-D or RGB frame, got shape {pixels.shape}")
    grey = pixels.astype(np.float32)
    if max_value != 255:
        grey *= np.float32(255.0 / max_value)
    return grey
