"""Masked normalised cross-correlation of templates with search images, for every shift at once (FFT).

The correlation coefficient at each shift is taken over the pixels valid in both the template and the shifted
image only (Padfield, "Masked object registration in the Fourier domain", IEEE TIP 2012), so image borders,
burned-in overlays and off-map colours are simply left out instead of pulling the match.
"""

from __future__ import annotations

import numpy as np
from scipy import fft

__all__ = ["MIN_OVERLAP", "ncc_surfaces"]

MIN_OVERLAP = 0.5
"""A shift whose overlap holds fewer than this fraction of the template's valid pixels gets NaN."""


CHUNK = 64
"""Frames per FFT batch (bounds the temporary spectra's memory)."""


def _spectra(stack: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return fft.rfft2(stack, s=shape, axes=(-2, -1))


def _correlate(template_spectrum: np.ndarray, image_spectrum: np.ndarray, shape: tuple[int, int],
               out_shape: tuple[int, int]) -> np.ndarray:
    full = fft.irfft2(np.conj(template_spectrum) * image_spectrum, s=shape, axes=(-2, -1))
    return full[..., :out_shape[0], :out_shape[1]]


def _window_sums(stack: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sums of every h×w window of each image (integral images)."""
    c = np.zeros((stack.shape[0], stack.shape[1] + 1, stack.shape[2] + 1))
    np.cumsum(np.cumsum(stack, axis=1), axis=2, out=c[:, 1:, 1:])
    return c[:, h:, w:] - c[:, :-h, w:] - c[:, h:, :-w] + c[:, :-h, :-w]


def _ncc_chunk(images: np.ndarray, image_valid: np.ndarray | None, templates: np.ndarray,
               template_valid: np.ndarray | None) -> np.ndarray:
    m, big_h, big_w = images.shape
    h, w = templates.shape[1:]
    shape = (fft.next_fast_len(big_h, real=True), fft.next_fast_len(big_w, real=True))
    out_shape = (big_h - h + 1, big_w - w + 1)
    masked = image_valid is not None or template_valid is not None
    mi = np.ones(images.shape) if image_valid is None else image_valid.astype(np.float64)
    mt = np.ones(templates.shape) if template_valid is None else template_valid.astype(np.float64)
    # centring both sides first keeps the sums of squares well conditioned
    img = images.astype(np.float64) * mi if masked else images.astype(np.float64)
    img -= (img.sum(axis=(1, 2)) / np.maximum(mi.sum(axis=(1, 2)), 1))[:, None, None]
    img *= mi
    tpl = templates.astype(np.float64) * mt if masked else templates.astype(np.float64)
    tpl -= (tpl.sum(axis=(1, 2)) / np.maximum(mt.sum(axis=(1, 2)), 1))[:, None, None]
    tpl *= mt
    f_i, f_t = _spectra(img, shape), _spectra(tpl, shape)
    sum_ti = _correlate(f_t, f_i, shape, out_shape)
    n_t = mt.sum(axis=(1, 2))[:, None, None]
    if masked:
        f_mi, f_ii = _spectra(mi, shape), _spectra(img * img, shape)
        f_mt, f_tt = _spectra(mt, shape), _spectra(tpl * tpl, shape)
        overlap = np.rint(_correlate(f_mt, f_mi, shape, out_shape))
        sum_t = _correlate(f_t, f_mi, shape, out_shape)
        sum_i = _correlate(f_mt, f_i, shape, out_shape)
        sum_tt = _correlate(f_tt, f_mi, shape, out_shape)
        sum_ii = _correlate(f_mt, f_ii, shape, out_shape)
    else:  # every pixel valid: the template's sums are constants, the image's are window sums
        overlap = np.broadcast_to(n_t, (m,) + out_shape)
        sum_t = np.broadcast_to(tpl.sum(axis=(1, 2))[:, None, None], (m,) + out_shape)
        sum_tt = np.broadcast_to((tpl * tpl).sum(axis=(1, 2))[:, None, None], (m,) + out_shape)
        sum_i = _window_sums(img, h, w)
        sum_ii = _window_sums(img * img, h, w)
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


def ncc_surfaces(images: np.ndarray, image_valid: np.ndarray, templates: np.ndarray,
                 template_valid: np.ndarray) -> np.ndarray:
    """Masked NCC of each template against its search image, at every placement of the template inside it.

    Parameters
    ----------
    images : (m, H, W) float search images.
    image_valid : (m, H, W) bool, pixels that carry echo (False outside the image, on overlays, off the map).
    templates : (m, h, w) float, h ≤ H and w ≤ W; template ``i`` is matched in image ``i``.
    template_valid : (m, h, w) bool.

    Returns
    -------
    (m, H − h + 1, W − w + 1) float64: element [i, v, u] is the correlation coefficient of template i with
    image i's window whose top-left corner is (row v, column u); NaN where the overlap is below
    :data:`MIN_OVERLAP` of the template's valid pixels or either side is flat there.
    """
    m, big_h, big_w = images.shape
    h, w = templates.shape[1:]
    out = np.empty((m, big_h - h + 1, big_w - w + 1))
    all_valid = bool(image_valid.all()) and bool(template_valid.all())
    for start in range(0, m, CHUNK):
        part = slice(start, start + CHUNK)
        out[part] = _ncc_chunk(images[part], None if all_valid else image_valid[part], templates[part],
                               None if all_valid else template_valid[part])
    return out
