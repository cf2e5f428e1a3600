"""Where the reference frame lies, from more than its own match; positions between states.

The ROIs were drawn on the reference frame, so every applied shift is a frame's position minus the
reference frame's. An error in that one estimate moves every ROI in every frame: at the arterial peak, where
the ROIs are usually drawn, the image changes fast and a single frame's match is off by a feature pixel or
so. Its neighbours in time each carry their own, independent error, while the tissue moves smoothly over half a
second: a quadratic in time through the positions of the frames around it averages those errors out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["reference_position", "smoothed", "vertex"]


def vertex(at: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Return the sub-sample offset (−0.5 … 0.5) of a peak by a parabola.

    The offset is that of the vertex of the parabola through (−1, lower), (0, at), (1, upper), where ``at``
    is a peak (not below either side, negative curvature); 0 elsewhere.
    """
    at, lower, upper = (np.asarray(v, dtype=np.float64) for v in (at, lower, upper))
    curvature = lower - 2.0 * at + upper
    peaked = (curvature < 0) & (at >= lower) & (at >= upper)
    with np.errstate(invalid="ignore", divide="ignore"):
        offset = np.where(peaked, 0.5 * (lower - upper) / curvature, 0.0)
    vertex: np.ndarray = np.clip(np.nan_to_num(offset), -0.5, 0.5)
    return vertex


def reference_position(times_s: np.ndarray, positions: np.ndarray, keep: np.ndarray, reference: int, *,
                       half_s: float = 1.5, min_each: int = 3) -> np.ndarray:
    """Return the reference frame's position (row, column offset, feature px).

    A quadratic in time fitted (tricube weights) to the kept frames' positions within ± ``half_s`` of it (the
    reference frame itself among them), evaluated at its time. Only where at least ``min_each`` kept frames
    lie within half that on each side — the fit interpolates, never extrapolates — else the frame's own
    estimate.

    Parameters
    ----------
    times_s : (n,) s.  positions : (n, 2) each frame's estimated offset from the grid's centre.
    keep : (n,) frames that may count (in plane).  reference : the reference frame's index.
    """
    dt = times_s - times_s[reference]
    use = keep | (np.arange(times_s.size) == reference)
    near = np.flatnonzero(use & (np.abs(dt) <= half_s))
    close = use & (np.abs(dt) <= half_s / 2)
    own = np.asarray(positions[reference], dtype=np.float64)
    if (close & (dt < 0)).sum() < min_each or (close & (dt > 0)).sum() < min_each:
        return own
    d = dt[near]
    root_weight = np.sqrt((1.0 - (np.abs(d) / (half_s * 1.0001)) ** 3) ** 3)
    design = np.stack([np.ones_like(d), d, d * d], axis=1) * root_weight[:, None]
    coefficients, *_ = np.linalg.lstsq(design, positions[near] * root_weight[:, None], rcond=None)
    return np.asarray(coefficients[0], dtype=np.float64)


def smoothed(times_s: np.ndarray, positions: np.ndarray, keep: np.ndarray, half_s: float) -> np.ndarray:
    """Positions smoothed over time.

    At each frame, a quadratic in time fitted (tricube weights) to the kept frames' positions within ±
    ``half_s``; a frame with fewer than four such frames keeps its own.

    The tissue moves smoothly over a fraction of a second while each frame's match errs on its own: this
    averages the errors of a few frames without flattening a breath (a quadratic follows its turns).
    """
    return _smoothed(np.asarray(times_s, dtype=np.float64), np.asarray(positions, dtype=np.float64),
                     np.asarray(keep, dtype=np.bool_), float(half_s))


@njit(cache=True)
def _smoothed(t: np.ndarray, y: np.ndarray, keep: np.ndarray, half_s: float) -> np.ndarray:
    n = t.size
    out = y.copy()
    first = 0
    for k in range(n):
        while t[first] < t[k] - half_s:
            first += 1
        a = np.zeros((3, 3))
        b = np.zeros((3, 2))
        count = 0
        j = first
        while j < n and t[j] <= t[k] + half_s:
            if keep[j]:
                d = t[j] - t[k]
                u = abs(d) / (half_s * 1.0001)
                wt = (1.0 - u * u * u) ** 3
                basis = np.array([1.0, d, d * d])
                for p in range(3):
                    for q in range(3):
                        a[p, q] += wt * basis[p] * basis[q]
                    b[p, 0] += wt * basis[p] * y[j, 0]
                    b[p, 1] += wt * basis[p] * y[j, 1]
                count += 1
            j += 1
        if count >= 4 and abs(np.linalg.det(a)) > 1e-12:
            solution = np.linalg.solve(a, b)
            out[k, 0] = solution[0, 0]
            out[k, 1] = solution[0, 1]
    return out
