"""The map's one pass over the clip: each frame's grey → linear power, averaged into K×K blocks and time bins.

Compiled, one thread (the read-ahead thread decodes the next frame meanwhile): a frame is read once and added
to the running sums of its time bin in the same loop that linearises it (``power = exp(grey·ln10·DR/2550 − ln10·DR/10)``, DESIGN "Linearisation", with the vectorisable exp of
:mod:`ceuskit._fastmath`).  A block enters a frame's average only when all its pixels are seen in
that frame (inside the image, not off the display's map); a bin's value is the mean over the frames in
which the block was seen, NaN where it never was.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ceuskit._fastmath import fast_exp

__all__ = ["add_frame", "close_bin"]


@njit(cache=True, error_model="numpy")
def add_frame(grey: np.ndarray, row0: int, col0: int, block: int, scale: float, offset: float, sums: np.ndarray,
              counts: np.ndarray) -> None:
    """Add one frame's block means of linear power to ``sums`` (hb, wb) and count them in ``counts``.

    Parameters
    ----------
    grey : (h, w) float32 grey 0–255 (NaN: not seen) of the part of the frame that lies inside the analysis
        window; its pixel (0, 0) sits at (``row0``, ``col0``) of the window, whose blocks are ``block`` px.
    scale, offset : linearisation, power = exp(grey·scale + offset).
    sums, counts : (hb, wb) float64 and int32 running sums of the time bin.
    """
    hb, wb = sums.shape
    h, w = grey.shape
    if block == 1:  # every pixel its own curve: straight into the sums
        for r in range(h):
            row, row_sums, row_counts = grey[r], sums[r + row0, col0:col0 + w], counts[r + row0, col0:col0 + w]
            for x in range(w):
                g = np.float64(row[x])
                seen = g == g
                p = fast_exp(g * scale + offset)
                row_sums[x] += p if seen else 0.0
                row_counts[x] += 1 if seen else 0
        return
    inv_area = 1.0 / (block * block)
    for bi in range(hb):
        y0 = bi * block - row0
        if y0 < 0 or y0 + block > h:
            continue  # this block row is not wholly inside the seen part of the frame
        column_sums = np.zeros(w)  # power summed over the block's rows, per column of the crop
        for yy in range(y0, y0 + block):
            row = grey[yy]  # a row view: the loop below then compiles to SIMD code
            for x in range(w):
                g = np.float64(row[x])
                p = fast_exp(g * scale + offset)
                column_sums[x] += p if g == g else np.nan
        for bj in range(wb):
            x0 = bj * block - col0
            if x0 < 0 or x0 + block > w:
                continue
            total = 0.0
            for x in range(x0, x0 + block):
                total += column_sums[x]
            if math.isfinite(total):  # a NaN grey (off the display map) leaves the block out of this frame
                sums[bi, bj] += total * inv_area
                counts[bi, bj] += 1


@njit(cache=True, error_model="numpy")
def close_bin(sums: np.ndarray, counts: np.ndarray, out: np.ndarray) -> None:
    """Set out (hb, wb) float32 = sums / counts (NaN where a block was never seen).

    Sums and counts are reset to 0.
    """
    hb, wb = sums.shape
    for bi in range(hb):
        for bj in range(wb):
            out[bi, bj] = sums[bi, bj] / counts[bi, bj] if counts[bi, bj] > 0 else np.nan
            sums[bi, bj] = 0.0
            counts[bi, bj] = 0
