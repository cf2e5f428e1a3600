"""Where the breathing takes the tissue, as shown by the frames placed confidently.

Two shapes serve two purposes. While tracking, a disc around the usual position (the confident frames'
median, out to the 99th percentile of their distance from it) walls in every frame's likelihood: a frame
with vague evidence cannot be pulled far outside it. At the end, the tighter convex hull of the confident
positions (their most distant 1 % left out) bounds where a frame may be placed: breathing moves the tissue
back and forth along a path, not over a disc, and a frame placed off that path, beyond a small margin, had
no evidence of its own to be there — it is put at the nearest place the breathing does reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.spatial import ConvexHull, QhullError

__all__ = ["Envelope", "into_hull"]


class _EnvelopeOptions(Protocol):
    @property
    def confident_spread_px(self) -> float: ...

    @property
    def envelope_margin_px(self) -> float: ...


@dataclass(frozen=True)
class Envelope:
    """A disc (feature px) around the usual position."""

    centre: np.ndarray
    radius: float

    @classmethod
    def of(cls, mean: np.ndarray, spread: np.ndarray, keep: np.ndarray, search_radius: int,
           opts: _EnvelopeOptions) -> Envelope:
        """Return the envelope of the confidently placed frames (posterior spread ≤ ``confident_spread_px``).

        Their median position and the 99th percentile of their distance from it, plus a margin. With too few
        confident frames it is the whole searched range.
        """
        confident = keep & (spread <= opts.confident_spread_px)
        if confident.sum() < 10:
            return cls(np.zeros(2), float(search_radius))
        centre = np.median(mean[confident], axis=0)
        reach = float(np.percentile(np.hypot(*(mean[confident] - centre).T), 99))
        return cls(centre, reach + opts.envelope_margin_px)


def into_hull(positions: np.ndarray, confident: np.ndarray, margin: float | np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Move positions lying more than ``margin`` outside the confident frames' hull onto it.

    The hull is the convex hull of the confident frames' positions (their 1 % most distant from the median
    left out); also returned is which frames were moved.

    Nothing moves with fewer than ten confident frames.

    Parameters
    ----------
    positions : (n, 2) feature px.  confident : (n,) bool.  margin : feature px, one for all or (n,) per frame.

    Returns
    -------
    ((n, 2) positions, (n,) bool moved).
    """
    out = np.array(positions, dtype=np.float64)
    moved = np.zeros(out.shape[0], dtype=bool)
    points = out[confident]
    if points.shape[0] < 10:
        return out, moved
    distance = np.hypot(*(points - np.median(points, axis=0)).T)
    points = points[distance <= np.percentile(distance, 99)]
    try:  # joggled: positions on one line (breathing along one axis) still give a hull
        hull = ConvexHull(points, qhull_options="QJ")
    except (QhullError, ValueError):
        return out, moved
    # facet equations a·x + b·y + c ≤ 0 inside, (a, b) unit: the largest is the distance outside
    moved = (out @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1) > margin
    if moved.any():
        out[moved] = _nearest_on_edges(out[moved], hull.points[hull.simplices])
    return out, moved


def _nearest_on_edges(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Return the nearest point to each of ``points`` (m, 2) on any of ``edges`` (E, 2 ends, 2)."""
    start, direction = edges[:, 0], edges[:, 1] - edges[:, 0]
    length2 = np.maximum((direction**2).sum(axis=1), 1e-12)
    along = ((points[:, None, :] - start[None]) * direction[None]).sum(axis=2) / length2
    foot = start[None] + np.clip(along, 0.0, 1.0)[..., None] * direction[None]
    best = np.argmin(((foot - points[:, None, :]) ** 2).sum(axis=2), axis=1)
    nearest: np.ndarray = foot[np.arange(points.shape[0]), best]
    return nearest
