"""Masked normalised cross-correlation of templates with search images, for every shift at once (FFT).

The correlation coefficient at each shift is taken over the pixels valid in both the template and the shifted
image only (Padfield, "Masked object registration in the Fourier domain", IEEE TIP 2012), so image borders,
burned-in overlays and off-map colours are simply left out instead of pulling the match.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit
from scipy import fft

__all__ = ["MIN_OVERLAP", "ncc_surfaces"]

MIN_OVERLAP = 0.5
"""A shift whose overlap holds fewer than this fraction of the template's valid pixels gets NaN."""


CHUNK = 64
"""Frames per FFT batch (bounds the temporary spectra's memory)."""

WORKERS = min(os.cpu_count() or 1, 2)
"""Threads sharing each batch of FFTs (the batch's frames are independent: the result does not depend on it)."""


def _spectra(stack: np.ndarray, shape: tuple[int, int], workers: int) -> np.ndarray:
    spectra: np.ndarray = fft.rfft2(stack, s=shape, axes=(-2, -1), workers=workers)
    return spectra


def _correlate(template_spectrum: np.ndarray, image_spectrum: np.ndarray, shape: tuple[int, int],
               out_shape: tuple[int, int], workers: int) -> np.ndarray:
    full = fft.irfft2(np.conj(template_spectrum) * image_spectrum, s=shape, axes=(-2, -1), workers=workers)
    valid: np.ndarray = full[..., :out_shape[0], :out_shape[1]]
    return valid


@njit(cache=True)
def _window_sums(stack: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the sums of every h×w window of each image and of its square (integral images)."""
    m, rows, columns = stack.shape
    sums = np.empty((m, rows - h + 1, columns - w + 1))
    squares = np.empty_like(sums)
    c = np.zeros((rows + 1, columns + 1))
    c2 = np.zeros((rows + 1, columns + 1))
    for i in range(m):
        for y in range(rows):
            run = 0.0
            run2 = 0.0
            for x in range(columns):
                v = stack[i, y, x]
                run += v
                run2 += v * v
                c[y + 1, x + 1] = c[y, x + 1] + run
                c2[y + 1, x + 1] = c2[y, x + 1] + run2
        for y in range(rows - h + 1):
            for x in range(columns - w + 1):
                sums[i, y, x] = c[y + h, x + w] - c[y, x + w] - c[y + h, x] + c[y, x]
                squares[i, y, x] = c2[y + h, x + w] - c2[y, x + w] - c2[y + h, x] + c2[y, x]
    return sums, squares


def _centred(stack: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Each image minus its mean over its valid pixels, zero where invalid (float64).

    Centring first keeps the sums of squares well conditioned.
    """
    out = stack.astype(np.float64)
    if mask is None:
        out -= out.mean(axis=(1, 2), keepdims=True)
        return out
    out *= mask
    out -= (out.sum(axis=(1, 2)) / np.maximum(mask.sum(axis=(1, 2)), 1))[:, None, None]
    out *= mask
    return out


def _ncc_chunk(images: np.ndarray, image_valid: np.ndarray | None, templates: list[np.ndarray],
               template_valid: list[np.ndarray] | None, workers: int) -> np.ndarray:
    """Return the NCC surfaces of each image against each of its templates, and at each shift the best.

    The image's own work is done once for all its templates.
    """
    m, big_h, big_w = images.shape
    h, w = templates[0].shape[1:]
    shape = (fft.next_fast_len(big_h, real=True), fft.next_fast_len(big_w, real=True))
    out_shape = (big_h - h + 1, big_w - w + 1)
    masked = image_valid is not None or template_valid is not None
    mi = None
    if masked:
        mi = np.ones(images.shape) if image_valid is None else image_valid.astype(np.float64)
    img = _centred(images, mi)
    # where every pixel is valid only the cross term goes through the FFT: single precision suffices for it
    f_i = _spectra(img if masked else img.astype(np.float32), shape, workers)
    if mi is not None:
        f_mi, f_ii = _spectra(mi, shape, workers), _spectra(img * img, shape, workers)
    else:  # every pixel valid: the template's sums are constants, the image's are window sums
        sum_i, sum_ii = _window_sums(img, h, w)
    best: np.ndarray | None = None
    for j, template in enumerate(templates):
        mt = None
        if masked:
            mt = np.ones(template.shape) if template_valid is None else template_valid[j].astype(np.float64)
        tpl = _centred(template, mt)
        f_t = _spectra(tpl if masked else tpl.astype(np.float32), shape, workers)
        sum_ti = _correlate(f_t, f_i, shape, out_shape, workers)
        n_t = np.full((m, 1, 1), float(h * w)) if mt is None else mt.sum(axis=(1, 2))[:, None, None]
        if mt is not None:
            f_mt, f_tt = _spectra(mt, shape, workers), _spectra(tpl * tpl, shape, workers)
            overlap = np.rint(_correlate(f_mt, f_mi, shape, out_shape, workers))
            sum_t = _correlate(f_t, f_mi, shape, out_shape, workers)
            sum_i = _correlate(f_mt, f_i, shape, out_shape, workers)
            sum_tt = _correlate(f_tt, f_mi, shape, out_shape, workers)
            sum_ii = _correlate(f_mt, f_ii, shape, out_shape, workers)
        else:
            overlap = np.broadcast_to(n_t, (m,) + out_shape)
            sum_t = np.broadcast_to(tpl.sum(axis=(1, 2))[:, None, None], (m,) + out_shape)
            sum_tt = np.broadcast_to((tpl * tpl).sum(axis=(1, 2))[:, None, None], (m,) + out_shape)
        ncc = _coefficient(sum_ti, sum_t, sum_i, sum_tt, sum_ii, overlap, n_t)
        best = ncc if best is None else np.fmax(best, ncc)
    assert best is not None
    return best


def _coefficient(sum_ti: np.ndarray, sum_t: np.ndarray, sum_i: np.ndarray, sum_tt: np.ndarray, sum_ii: np.ndarray,
                 overlap: np.ndarray, n_t: np.ndarray) -> np.ndarray:
    """Return the correlation coefficient from the sums over each overlap (NaN where too small or flat)."""
    enough = overlap >= MIN_OVERLAP * n_t
    n = np.maximum(overlap, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        numerator = sum_ti - sum_t * sum_i / n
        var_t = sum_tt - sum_t * sum_t / n
        var_i = sum_ii - sum_i * sum_i / n
        scale = np.sqrt(np.maximum(var_t, 0.0) * np.maximum(var_i, 0.0))
        tiny = 1e-9 * np.sqrt(np.abs(sum_tt) * np.abs(sum_ii)) + 1e-12
        ncc = np.where(enough & (scale > tiny), numerator / scale, np.nan)
    return np.clip(ncc, -1.0, 1.0)


def ncc_surfaces(images: np.ndarray, image_valid: np.ndarray, templates: np.ndarray | list[np.ndarray],
                 template_valid: np.ndarray | list[np.ndarray], *, workers: int = WORKERS) -> np.ndarray:
    """Masked NCC of each template against its search image, at every placement of the template inside it.

    Parameters
    ----------
    images : (m, H, W) float search images.
    image_valid : (m, H, W) bool, pixels that carry echo (False outside the image, on overlays, off the map).
    templates : (m, h, w) float, h ≤ H and w ≤ W; template ``i`` is matched in image ``i``. A list of such
        stacks matches each image against several templates and keeps, at each shift, the best correlation
        (the image's own transforms and sums are computed once).
    template_valid : (m, h, w) bool, or a list like ``templates``.
    workers : threads sharing each batch of FFTs (1 where the caller already runs on every CPU).

    Returns
    -------
    (m, H − h + 1, W − w + 1) float64: element [i, v, u] is the correlation coefficient of template i with
    image i's window whose top-left corner is (row v, column u); NaN where the overlap is below
    :data:`MIN_OVERLAP` of the template's valid pixels or either side is flat there.
    """
    stacks = templates if isinstance(templates, list) else [templates]
    valid = template_valid if isinstance(template_valid, list) else [template_valid]
    m, big_h, big_w = images.shape
    h, w = stacks[0].shape[1:]
    out = np.empty((m, big_h - h + 1, big_w - w + 1))
    all_valid = bool(image_valid.all()) and all(bool(v.all()) for v in valid)
    for start in range(0, m, CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = _ncc_chunk(images[part], None if all_valid else image_valid[part], [t[part] for t in stacks],
                               None if all_valid else [v[part] for v in valid], workers)
    return out
