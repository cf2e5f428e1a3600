"""Match surfaces of the loop's template over a sweep's frames, with the template free to hang over the image's edge.

A sweep's probe may have moved the lesion by a diameter towards the image's edge, where a template box of the
lesion and its surroundings no longer fits inside the frame.  So each frame is padded with pixels that are
*not valid*, and every comparison is taken over the pixels valid on both sides only:

* :func:`ncc_stack` — the masked normalised cross-correlation (Padfield 2012, through
  :func:`ceuskit.preprocess.motion.ncc.ncc_surfaces`) of one template with every frame;
* :func:`contrast_stack` — the lesion kernel's response, the mean dB over the lesion minus the mean over its
  liver ring, each over its valid pixels only (a level difference, whatever the lesion's size).

Both return one surface per frame on the *placement grid*: element ``[k, i, j]`` places the template box's
top-left corner at frame row ``i − pad[0]``, column ``j − pad[1]``.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

from ceuskit.preprocess.motion.ncc import ncc_surfaces

__all__ = ["CHUNK", "contrast_stack", "inside_share", "ncc_stack", "padded"]

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
