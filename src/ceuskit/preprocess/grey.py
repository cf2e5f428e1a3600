"""Decoded pixels → display grey 0–255 (luminance)."""

from __future__ import annotations

import numpy as np

__all__ = ["LUMA_WEIGHTS", "to_grey"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights for R, G, B (DESIGN: grey = 0.299R + 0.587G + 0.114B)."""
_WEIGHTS = np.asarray(LUMA_WEIGHTS, dtype=np.float32)


def to_grey(pixels: np.ndarray, *, max_value: int = 255) -> np.ndarray:
    """Display grey of one frame, float32 in 0–255.

    Parameters
    ----------
    pixels : (rows, columns) monochrome or (rows, columns, 3) RGB array of any integer or float dtype.
    max_value : the value that means full white in ``pixels`` (255 for 8-bit, 65535 for 16-bit palette
        colour); grey is rescaled so that it maps to 255.

    Returns
    -------
    (rows, columns) float32.
    """
    if pixels.ndim == 3:
        if pixels.shape[-1] != 3:
            raise ValueError(f"pixels: expected 3 colour samples, got {pixels.shape[-1]}")
        flat = np.ascontiguousarray(pixels, dtype=np.float32).reshape(-1, 3)
        grey = (flat @ _WEIGHTS).reshape(pixels.shape[:2])
    elif pixels.ndim == 2:
        grey = pixels.astype(np.float32)
    else:
        raise ValueError(f"pixels: expected a 2-D or RGB frame, got shape {pixels.shape}")
    if max_value != 255:
        grey *= np.float32(255.0 / max_value)
    return grey
