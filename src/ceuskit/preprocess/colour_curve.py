"""A colour map as a curve in RGB: ordering a clip's colours along it, and a lookup table back to the index.

A colour-mapped display shows grey index ``i`` (0–255) as colour ``map[i]``; the map's entries lie on a
1-D curve in RGB, running from the darkest to the brightest.  :func:`order_colours` recovers that curve from
the distinct colours a clip shows: their minimum spanning tree is a chain along the curve, its longest path
is the curve, oriented dark → bright.  Entries a clip never shows leave gaps in the chain: a step between
two frequent colours is one entry (speckle histograms are smooth in the index, so an entry between two
frequent ones would itself be seen), a step touching a rare colour spans its length over the map's local
step (from the neighbouring steps) when it stands out from them.  Displays that skip entries systematically
(every other one, say) cannot be told from a map with fewer entries this way; their colour bar can.  :func:`curve_lookup` turns the curve into a
24-bit lookup table: every colour within ``tolerance`` of the curve gets the index of its nearest point on
it, every other colour is off the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

__all__ = ["LUMA", "OFF_MAP", "ColourCurve", "colour_keys", "curve_distance", "curve_lookup", "extended",
           "order_colours"]

LUMA = np.array([0.299, 0.587, 0.114])
"""ITU-R BT.601 luma weights, used only to tell the dark end of a curve from the bright end."""

OFF_MAP = np.uint16(65535)
"""Lookup-table code of a colour off the map."""

CODES_PER_LEVEL = 64
"""Lookup-table resolution: an index is stored to 1/64 of a grey level."""

DENSE_COUNT = 8
"""A colour seen at least this often is 'frequent': a step between two frequent colours is one map step."""

MAX_FULL_GRAPH = 2500
"""Up to this many colours the spanning tree is built on all pairwise distances, beyond on 12 neighbours."""


@dataclass(frozen=True)
class ColourCurve:
    """A colour map's curve: nodes ordered dark → bright with their grey index.

    Attributes
    ----------
    colours : (m, 3) float64 RGB (0–255) of the nodes.
    index : (m,) float64 grey index of each node, non-decreasing, first 0.
    """

    colours: np.ndarray
    index: np.ndarray


def colour_keys(rgb: np.ndarray) -> np.ndarray:
    """24-bit keys ``R | G << 8 | B << 16`` (uint32) of (..., 3) uint8 colours."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    packed: np.ndarray = rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)
    return packed


def _spanning_tree(colours: np.ndarray) -> sparse.csr_matrix:
    m = colours.shape[0]
    if m <= MAX_FULL_GRAPH:
        diff = colours[:, None, :] - colours[None, :, :]
        dist = np.sqrt((diff * diff).sum(axis=2))
        graph = sparse.csr_matrix(np.triu(np.maximum(dist, 1e-9), 1))
    else:
        tree = cKDTree(colours)
        dist, nbr = tree.query(colours, k=min(13, m))
        rows = np.repeat(np.arange(m), dist.shape[1] - 1)
        graph = sparse.csr_matrix((np.maximum(dist[:, 1:].ravel(), 1e-9), (rows, nbr[:, 1:].ravel())), shape=(m, m))
    mst = csgraph.minimum_spanning_tree(graph)
    return (mst + mst.T).tocsr()


def _longest_path(tree: sparse.csr_matrix, start: int) -> list[int]:
    """Nodes of the longest path (by length) of the component of ``start`` in a tree: two farthest searches."""
    dist = csgraph.dijkstra(tree, indices=start)
    a = int(np.nanargmax(np.where(np.isfinite(dist), dist, -1)))
    dist, pred = csgraph.dijkstra(tree, indices=a, return_predecessors=True)
    b = int(np.nanargmax(np.where(np.isfinite(dist), dist, -1)))
    path = [b]
    while path[-1] != a:
        path.append(int(pred[path[-1]]))
    return path


def _steps_in_entries(lengths: np.ndarray, dense: np.ndarray, window: int = 4) -> np.ndarray:
    """Map entries spanned by each step of the chain, from the steps' lengths (RGB units).

    A step between two frequent colours spans one entry.  A step touching a rare colour spans
    ``round(ratio)`` entries when it is ``ratio`` ≥ 1.5 times the median of its ``window`` nearest steps on
    each side (the map's speed in RGB varies smoothly along it, a gap shows as an isolated long step), else one.
    """
    entries = np.ones(lengths.size)
    for j in np.flatnonzero(~dense):
        neighbours = np.concatenate([lengths[max(0, j - window):j], lengths[j + 1:j + 1 + window]])
        if neighbours.size:
            ratio = lengths[j] / max(float(np.median(neighbours)), 1e-9)
            entries[j] = round(ratio) if ratio >= 1.5 else 1.0
    return entries


def order_colours(colours: np.ndarray, counts: np.ndarray) -> tuple[ColourCurve, np.ndarray]:
    """Return the curve through a clip's map colours, and which of the colours lie on it.

    Parameters
    ----------
    colours : (m, 3) distinct RGB colours (0–255) believed to be map entries (overlay colours removed as
        far as possible); m ≥ 2.
    counts : (m,) how many pixels showed each colour.

    Returns
    -------
    curve : the longest path of the colours' minimum spanning tree, oriented from its darker end (index 0),
        each node's index the number of map entries from the dark end (gaps filled as the module says).
    on_path : (m,) bool, the colours that are nodes of the curve (the others hang off it as side branches).
    """
    colours = np.asarray(colours, dtype=np.float64)
    counts = np.asarray(counts)
    if colours.ndim != 2 or colours.shape[1] != 3 or colours.shape[0] < 2:
        raise ValueError(f"colours: expected (m ≥ 2, 3) RGB, got shape {colours.shape}")
    tree = _spanning_tree(colours)
    path = _longest_path(tree, int(np.argmax(counts)))
    if colours[path[0]] @ LUMA > colours[path[-1]] @ LUMA:
        path.reverse()
    nodes = colours[path]
    node_counts = counts[path]
    dense = np.minimum(node_counts[:-1], node_counts[1:]) >= DENSE_COUNT
    lengths = np.linalg.norm(np.diff(nodes, axis=0), axis=1)
    index = np.concatenate([[0.0], np.cumsum(_steps_in_entries(lengths, dense))])
    on_path = np.zeros(colours.shape[0], dtype=bool)
    on_path[path] = True
    return ColourCurve(nodes, index), on_path


def extended(curve: ColourCurve, last_index: float = 255.0, *, tangent_entries: int = 8) -> ColourCurve:
    """Continue the curve in a straight line up to ``last_index`` when its bright end stops short of it.

    Entries a clip shows too rarely to be sampled still get their index: the continuation follows the mean
    colour step per entry over the last ``tangent_entries`` entries, so it reaches only as far as those few
    missing entries would (a white overlay far beyond the map's end stays off it).
    """
    index, colours = curve.index, curve.colours
    missing = last_index - index[-1]
    if missing <= 0 or index.size < 2:
        return curve
    back = int(np.searchsorted(index, index[-1] - tangent_entries, side="right"))
    back = min(back, index.size - 2)
    step = (colours[-1] - colours[back]) / (index[-1] - index[back])
    end = np.clip(colours[-1] + missing * step, 0.0, 255.0)
    return ColourCurve(np.vstack([colours, end]), np.concatenate([index, [last_index]]))


def _densified(curve: ColourCurve, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``spacing`` RGB units along the curve's polyline, with their interpolated index."""
    points, index = [curve.colours[:1]], [curve.index[:1]]
    for j in range(curve.colours.shape[0] - 1):
        a, b = curve.colours[j], curve.colours[j + 1]
        k = max(1, int(np.ceil(np.linalg.norm(b - a) / spacing)))
        f = np.arange(1, k + 1) / k
        points.append(a + f[:, None] * (b - a))
        index.append(curve.index[j] + f * (curve.index[j + 1] - curve.index[j]))
    return np.concatenate(points), np.concatenate(index)


def curve_distance(curve: ColourCurve, colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (RGB units) of colours to the curve's polyline and the index of their nearest point on it.

    Parameters
    ----------
    colours : (k, 3) RGB.

    Returns
    -------
    distance : (k,) float64, within 0.05 units of the exact distance.
    index : (k,) float64 grey index of the nearest point.
    """
    points, index = _densified(curve, 0.1)
    dist, nearest = cKDTree(points).query(np.asarray(colours, dtype=np.float64))
    return dist, index[nearest]


def curve_lookup(curve: ColourCurve, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Lookup table from 24-bit colour keys (:func:`colour_keys`) to grey index.

    Parameters
    ----------
    curve : the map's curve.
    tolerance : colours farther than this (RGB units) from the curve are off the map.

    Returns
    -------
    table : (2**24,) uint16 code per colour key, :data:`OFF_MAP` off the map.
    values : (65536,) float32 grey index per code (code / :data:`CODES_PER_LEVEL`), NaN at :data:`OFF_MAP`.
    """
    coarse, _ = _densified(curve, 1.0)
    radius = int(np.ceil(tolerance))
    span = np.arange(-radius, radius + 1)
    offsets = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    offsets = offsets[np.linalg.norm(offsets, axis=1) <= tolerance + 1.0]
    candidates = np.unique(colour_keys(np.clip(np.round(coarse)[:, None, :] + offsets[None], 0, 255)).ravel())
    rgb = np.stack([candidates & 255, (candidates >> 8) & 255, candidates >> 16], axis=1).astype(np.float64)
    dist, index = curve_distance(curve, rgb)
    keep = dist <= tolerance
    table = np.full(1 << 24, OFF_MAP, dtype=np.uint16)
    table[candidates[keep]] = np.round(index[keep] * CODES_PER_LEVEL).astype(np.uint16)
    values = np.arange(1 << 16, dtype=np.float32) / CODES_PER_LEVEL
    values[OFF_MAP] = np.nan
    return table, values
