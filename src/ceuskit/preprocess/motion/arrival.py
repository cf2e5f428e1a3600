"""While the contrast arrives: frames placed by the frames just after them, not by a template they do not resemble.

On a CEUS-only clip, tracking starts about a second before the contrast shows in the template area, and for
the first seconds each frame shows less than the next: first nothing, then the vessels (the arterial bolus
reaches them a second or two before the lesion), then the lesion filling. A frame's template is the mean of
its neighbours over a few seconds, most of them brighter and showing structure the frame does not have
yet. The match is then not a measurement of position: the correlation of a frame showing only a vessel
with a template dominated by the lit lesion is highest where the vessel is laid onto the lesion, up to a
breath's width or more from where the tissue is.

What does not change from one frame to the next is the appearance: within half a second a frame looks like
the frames right after it. So the leading frames whose match falls far below what the frames after them
reach (:func:`unreliable_lead`) lose their template evidence (they follow their neighbours while the clip is
tracked), and at the end each is placed, going backwards from the first frame matched reliably, by its match
against the mean of the next few frames at their final positions, under the tissue-speed prior around the
next frame's position (:func:`chain_backwards`). A frame showing nothing (before any contrast) has no
match, so the prior holds it where the next frame is.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ceuskit.preprocess.motion.ncc import ncc_surfaces
from ceuskit.preprocess.motion.reference import vertex
from ceuskit.preprocess.motion.rejection import level_uncertainty

__all__ = ["LINK_Z", "MATCH_CEILING", "chain_backwards", "unreliable_lead"]

LINK_Z = 4.0
"""A chained frame's best correlation must lie this many standard errors above 0 (Fisher z) to place it.

The largest of the chance correlations over the searched shifts (a few hundred, some tens of them
independent) reaches about 3 standard errors; 4 is beyond it (P ≈ 3·10⁻⁵ per independent shift)."""

MATCH_CEILING = 0.99
"""Correlations above this say no more about a chained frame's position than this does.

The template (the next few frames, placed by earlier steps of the chain) differs from the frame by more
than speckle: the contrast still rising, the patches' own placement errors. Along a straight vessel, the one
structure a frame may show, the correlation then stays near 1 wherever the frame slides along it; read with
the speckle-only likelihood, tiny differences there would count for tens of nats and walk the chain along
the vessel. Above the ceiling the match is flat, and the tissue-speed prior decides."""


def unreliable_lead(quality: np.ndarray, n_eff: np.ndarray, times_s: np.ndarray, arriving: np.ndarray, *,
                    window_s: float, reject_z: float, min_after: int = 3) -> int:
    """Return how many leading frames are matched far worse than the frames that follow them.

    Frame k belongs to the lead while the contrast is still arriving (``arriving[k]``) and its correlation
    lies more than ``reject_z`` uncertainties below the level of the frames after it: the 80th percentile of
    their correlations within ``window_s`` (long enough to reach past the arrival: the frames right after a
    frame showing only the vessels show little more). The uncertainty is :mod:`.rejection`'s
    (:func:`~.rejection.level_uncertainty`), over those frames. The lead ends at the first frame that is not
    so.

    Parameters
    ----------
    quality : (n,) correlation of each frame with its template at its estimated shift (NaN: no match).
    n_eff : (n,) independent samples behind each correlation.
    times_s : (n,) frame times, s.
    arriving : (n,) bool, frames before the template area's brightness rose.
    window_s : the frames within ``window_s`` after a frame set its level.
    reject_z : how many uncertainties below the level make a frame unreliable.
    min_after : a frame with fewer finite correlations after it ends the lead.

    Returns
    -------
    The number of leading frames (0: the first frame is matched reliably).
    """
    q = np.asarray(quality, dtype=np.float64)
    after = np.searchsorted(times_s, times_s + window_s, side="right")
    for k in range(q.size):
        if not arriving[k]:
            return k
        following = q[k + 1:after[k]]
        following = following[np.isfinite(following)]
        if following.size < min_after:
            return k
        level = float(np.percentile(following, 80.0))
        if np.isfinite(q[k]) and q[k] >= level - reject_z * level_uncertainty(level, float(n_eff[k]), following):
            return k
    return q.size


def _patch(frame: np.ndarray, valid: np.ndarray, top_left: np.ndarray, h: int, w: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Return the h × w patch of ``frame`` at top-left corner ``top_left`` (row, column; bilinear between pixels)."""
    rows = top_left[0] + np.arange(h, dtype=np.float64)
    columns = top_left[1] + np.arange(w, dtype=np.float64)
    grid = np.meshgrid(rows, columns, indexing="ij")
    values = ndimage.map_coordinates(np.asarray(frame, dtype=np.float32), grid, order=1, mode="nearest")
    ok = ndimage.map_coordinates(valid.astype(np.float32), grid, order=1, mode="constant", cval=0.0) > 0.999
    return values, ok


def chain_backwards(features: np.ndarray, valid: np.ndarray, positions: np.ndarray, lead: int, *, radius: int,
                    step_sigma: np.ndarray, effective_area_px: float, span: int = 4, max_spread: float = 0.75
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Place frames lead − 1 … 0, in that order, by the frames just after each.

    Frame k's template is the mean of the ``span`` nearest *linked* frames after it (every frame from ``lead``
    on, and each chained frame whose match was significant), each patch taken at that frame's position
    (bilinear between pixels). Its masked normalised correlation r at every shift (capped at
    :data:`MATCH_CEILING`) gives the log-likelihood −(N/2)·ln(1 − r²) (N: template pixels per
    ``effective_area_px``), to which the tissue-speed prior adds a Gaussian around the nearest linked frame's
    position (its variance the steps' variances summed over the frames between). The frame goes to the peak,
    refined between states by a parabola along each axis where the posterior is this narrow along it
    (``max_spread``), else to the posterior mean.

    A frame whose best correlation is not significant — its Fisher z below :data:`LINK_Z` standard errors,
    above what the largest of the chance correlations over the searched shifts reaches — shows nothing the
    frames after it show (no contrast yet, or out of plane for a moment): it is held at the prior's centre and
    left out of the earlier frames' templates, so that the chain does not break across it.

    Parameters
    ----------
    features : (n, h + 2·radius, w + 2·radius) search-area features.
    valid : same shape, bool.
    positions : (n, 2) positions (row, column offset from the grid's centre, feature px); frames from
        ``lead`` on are final.
    lead : the number of leading frames to place (:func:`unreliable_lead`).
    radius : largest shift searched, feature pixels.
    step_sigma : (n,) standard deviation of the step from frame k − 1 to k, feature px.
    effective_area_px : pixels per independent sample in the features.
    span : linked frames after each one whose mean is its template.
    max_spread : posterior spread along an axis (feature px) below which the peak is refined along it.

    Returns
    -------
    ((n, 2) positions with frames 0 … lead − 1 placed, (lead,) bool: which of them were linked).
    """
    out = np.array(positions, dtype=np.float64)
    n = features.shape[0]
    lead = min(lead, n - 1)
    linked_mask = np.zeros(lead, dtype=bool)
    size = 2 * radius + 1
    h, w = features.shape[1] - 2 * radius, features.shape[2] - 2 * radius
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    variance = np.asarray(step_sigma, dtype=np.float64) ** 2
    linked = list(range(lead, min(lead + span, n)))  # nearest first
    for k in range(lead - 1, -1, -1):
        nearest = linked[0]
        centre = out[nearest]
        out[k] = centre  # held there unless its match is significant
        total, count = np.zeros((h, w)), np.zeros((h, w))
        for i in linked[:span]:
            patch, ok = _patch(features[i], valid[i], out[i] + radius, h, w)
            total += np.where(ok, patch, 0.0)
            count += ok
        template_ok = count > 0.5
        template = np.where(template_ok, total / np.maximum(count, 1.0), 0.0).astype(np.float32)
        r = ncc_surfaces(np.asarray(features[k:k + 1], dtype=np.float32), valid[k:k + 1], template[None],
                         template_ok[None], workers=1)[0]
        r = np.clip(np.nan_to_num(r, nan=0.0), 0.0, MATCH_CEILING)
        n_eff = float(template_ok.sum()) / effective_area_px
        if np.arctanh(float(r.max())) * np.sqrt(max(n_eff - 3.0, 1.0)) < LINK_Z:
            continue
        linked_mask[k] = True
        linked.insert(0, k)
        sigma2 = max(float(variance[k + 1:nearest + 1].sum()), 1e-6)
        dy, dx = offsets[:, None] - centre[0], offsets[None, :] - centre[1]
        log_post = -0.5 * n_eff * np.log1p(-r * r) - (dy**2 + dx**2) / (2.0 * sigma2)
        p = np.exp(log_post - log_post.max())
        p /= p.sum()
        peak = np.unravel_index(int(np.argmax(log_post)), log_post.shape)
        for axis, marginal in enumerate((p.sum(axis=1), p.sum(axis=0))):  # each axis on its own: along a
            mean = float((marginal * offsets).sum())  # vessel the position is vague, across it precise
            spread = float(np.sqrt((marginal * (offsets - mean) ** 2).sum()))
            at = peak[axis]
            if spread <= max_spread and 0 < at < size - 1:
                step = np.eye(2, dtype=int)[axis]
                y, x = peak
                out[k, axis] = at - radius + float(vertex(log_post[y, x], log_post[y - step[0], x - step[1]],
                                                          log_post[y + step[0], x + step[1]]))
            else:
                out[k, axis] = mean
    return out, linked_mask
