"""Match surfaces of the loop's template over a sweep's frames, with the template free to hang over the image's edge.

A sweep's probe may have moved the lesion by a diameter towards the image's edge, where a template box of the
lesion and its surroundings no longer fits inside the frame.  So each frame is padded with pixels that are
*not valid*, and every comparison is taken over the pixels valid on both sides only:

* :func:`ncc_stack` — the masked normalised cross-correlation (Padfield 2012, through
  :func:`ceuskit.preprocess.motion.ncc.ncc_surfaces`) of one template with every frame;
* :func:`contrast_stack` — the lesion kernel's response, the mean dB over the lesion minus the mean over its
  liver ring, each over its valid pixels only (a level difference, whatever the lesion's size).

Both return one surface per frame on the *placement grid*: element ``[k, i, j]`` places the template box's
top-left corner at frame row ``i − pad[0]``, column ``j − pad[1]``.  On the summed surfaces, :func:`locate`
finds the lesion at the breath's resting place and :func:`match_confidence` says how clearly.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from ceuskit.preprocess.motion.ncc import ncc_surfaces

__all__ = ["CHUNK", "contrast_stack", "inside_share", "locate", "match_confidence", "ncc_stack", "padded", "peak"]

CHUNK = 16
"""Frames matched per batch (bounds the FFTs' memory)."""

MIN_SHARE = 0.5
"""A kernel response needs this share of the lesion and of its ring on valid pixels (else NaN)."""


def padded(stack: np.ndarray, valid: np.ndarray, pad: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return ``stack`` (m, H, W) and its ``valid`` mask padded by ``pad`` (rows, columns) of invalid zeros each side.

    Parameters
    ----------
    stack : (m, H, W) float images.
    valid : (m, H, W) bool, their usable pixels.
    pad : rows and columns added on each side.

    Returns
    -------
    tuple of numpy.ndarray
        The padded images (zero where invalid) and the padded mask.
    """
    width = ((0, 0), (pad[0], pad[0]), (pad[1], pad[1]))
    return np.pad(np.where(valid, stack, 0.0), width), np.pad(valid, width)


def ncc_stack(images: np.ndarray, valid: np.ndarray, template: np.ndarray, template_valid: np.ndarray
              ) -> np.ndarray:
    """Masked NCC of ``template`` at every placement inside each padded image.

    Parameters
    ----------
    images : (m, H, W) padded float images.
    valid : (m, H, W) bool, their valid pixels.
    template : (h, w) float template.
    template_valid : (h, w) bool, its valid pixels.

    Returns
    -------
    numpy.ndarray
        (m, H − h + 1, W − w + 1) correlation coefficients; NaN where the overlap holds under half the
        template's valid pixels or either side is flat.
    """
    m = images.shape[0]
    h, w = template.shape
    out = np.empty((m, images.shape[1] - h + 1, images.shape[2] - w + 1))
    for start in range(0, m, CHUNK):
        part = slice(start, min(start + CHUNK, m))
        n = part.stop - start
        out[part] = ncc_surfaces(images[part], valid[part], np.broadcast_to(template, (n, h, w)),
                                 np.broadcast_to(template_valid, (n, h, w)))
    return out


def _correlate_valid(stack: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Return the sum of ``kernel`` × each image's window at every placement inside it (valid correlation, FFT)."""
    m, big_h, big_w = stack.shape
    h, w = kernel.shape
    shape = (fft.next_fast_len(big_h, real=True), fft.next_fast_len(big_w, real=True))
    spectrum = np.conj(fft.rfft2(kernel, s=shape))
    out = np.empty((m, big_h - h + 1, big_w - w + 1))
    for start in range(0, m, CHUNK):
        part = slice(start, min(start + CHUNK, m))
        full = fft.irfft2(fft.rfft2(stack[part], s=shape, axes=(-2, -1)) * spectrum, s=shape, axes=(-2, -1))
        out[part] = full[:, :big_h - h + 1, :big_w - w + 1]
    return out


def contrast_stack(images: np.ndarray, valid: np.ndarray, lesion: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Mean over the lesion minus mean over its ring, over valid pixels, at every placement inside each image.

    Parameters
    ----------
    images : (m, H, W) padded dB images (zero where invalid).
    valid : (m, H, W) bool, their valid pixels.
    lesion, ring : (h, w) bool masks over the template box.

    Returns
    -------
    numpy.ndarray
        (m, H − h + 1, W − w + 1) dB differences; NaN where under :data:`MIN_SHARE` of the lesion or of the
        ring lies on valid pixels.
    """
    weights = valid.astype(np.float64)
    values = np.where(valid, images, 0.0)
    sums, counts = [], []
    for mask in (lesion, ring):
        kernel = mask.astype(np.float64)
        sums.append(_correlate_valid(values, kernel))
        counts.append(np.rint(_correlate_valid(weights, kernel)))
    enough = (counts[0] >= MIN_SHARE * lesion.sum()) & (counts[1] >= MIN_SHARE * ring.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = sums[0] / counts[0] - sums[1] / counts[1]
    return np.where(enough, difference, np.nan)


def inside_share(region: np.ndarray, lesion: np.ndarray) -> np.ndarray:
    """Share of the lesion on ``region`` pixels at every placement of the template box inside ``region``.

    Parameters
    ----------
    region : (H, W) bool, the (padded) image region.
    lesion : (h, w) bool lesion mask over the template box.

    Returns
    -------
    numpy.ndarray
        (H − h + 1, W − w + 1) shares 0–1.
    """
    share: np.ndarray = _correlate_valid(region[None].astype(np.float64), lesion.astype(np.float64))[0]
    return share / max(float(lesion.sum()), 1.0)


def peak(score: np.ndarray) -> tuple[float, float, float]:
    """Return the maximum of a surface, refined to a sub-pixel by parabolas through its neighbours.

    Parameters
    ----------
    score : 2-D surface (NaN or −inf where undefined).

    Returns
    -------
    tuple of float
        (row, column, value) of the maximum.
    """
    filled = np.nan_to_num(score, nan=-np.inf, neginf=-np.inf)
    r, c = np.unravel_index(int(np.argmax(filled)), filled.shape)
    value = float(filled[r, c])

    def vertex(minus: float, plus: float) -> float:
        denominator = minus - 2 * value + plus
        if not np.isfinite(denominator) or denominator >= 0:
            return 0.0
        return float(np.clip(0.5 * (minus - plus) / denominator, -0.5, 0.5))

    dr = vertex(filled[r - 1, c], filled[r + 1, c]) if 0 < r < filled.shape[0] - 1 else 0.0
    dc = vertex(filled[r, c - 1], filled[r, c + 1]) if 0 < c < filled.shape[1] - 1 else 0.0
    return r + dr, c + dc, value


def locate(maps: np.ndarray) -> tuple[int, float, float, np.ndarray]:
    """Find where a sweep shows the lesion: at the breath's resting place (:mod:`.carry`, step 3).

    Parameters
    ----------
    maps : (frames, P, Q) summed scores of every placement on every frame.

    Returns
    -------
    tuple
        The reference frame (the best among the frames whose peak lies at the most common placement), the
        placement (row, column) on the scores summed over those frames, and that sum.
    """
    peaks = np.array([peak(m) for m in maps])
    position = np.rint(peaks[:, :2]).astype(int)
    keys, counts = np.unique(position, axis=0, return_counts=True)
    common = keys[int(np.argmax(counts))]
    near = np.max(np.abs(position - common), axis=1) <= 1
    frame = int(np.flatnonzero(near)[int(np.argmax(peaks[near, 2]))])
    summed = np.sum(maps[near], axis=0)
    r, c, _ = peak(summed)
    return frame, r, c, summed


def match_confidence(maps: np.ndarray, summed: np.ndarray, place: tuple[float, float], radius: float,
                     allowed: np.ndarray) -> float:
    """Return how clearly a sweep shows the lesion at ``place``, 0–1 (:mod:`.carry`, step 4).

    The smaller of two: how far the peak stands above the best place a lesion radius away (in units of its
    height above the median placement), and whether the even and the odd frames, located on their own, agree
    (1 at the same place, 0 a lesion radius or more apart).

    Parameters
    ----------
    maps : (frames, P, Q) summed scores, as given to :func:`locate`.
    summed : the sum :func:`locate` returned.
    place : (row, column) it found.
    radius : the lesion's radius, px.
    allowed : (P, Q) bool, the placements searched.

    Returns
    -------
    float
    """
    r, c = place
    rr, cc = np.ogrid[0:summed.shape[0], 0:summed.shape[1]]
    values = np.where(allowed, summed, np.nan)
    best = float(np.nanmax(values))
    level = float(np.nanmedian(values))
    away = np.where((rr - r) ** 2 + (cc - c) ** 2 > radius ** 2, values, np.nan)
    runner_up = float(np.nanmax(away)) if np.isfinite(away).any() else level
    distinct = (best - runner_up) / max(best - level, 1e-9)
    if len(maps) < 4:
        return round(float(np.clip(distinct, 0.0, 1.0)), 3)
    halves = [locate(maps[start::2])[1:3] for start in (0, 1)]
    apart = float(np.hypot(halves[0][0] - halves[1][0], halves[0][1] - halves[1][1]))
    return round(float(np.clip(min(distinct, 1.0 - apart / radius), 0.0, 1.0)), 3)
