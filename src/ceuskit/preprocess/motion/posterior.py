"""Posterior of each frame's 2-D shift in a hidden Markov model of tissue motion (forward–backward).

The hidden state is the shift; each frame's image match gives a likelihood per candidate shift, and
between frames the shift performs a Gaussian random walk (a prior on tissue speed). The forward–backward
(sum-product) recursions give, for every frame, the posterior over shifts given the whole clip, and the
*cavity* distribution: the same posterior without that frame's own match — the shift its neighbours
predict for it, independent of its own image noise. Propagation through the random walk is a Gaussian blur
of the probability map; mass that would leave the searched range is dropped.

The posterior mean, not the most probable path, is the estimate: where a frame's match is ambiguous
(flat, or several similar peaks of speckle noise) the mean stays with what the neighbours support instead
of jumping to a chance maximum.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["ShiftPosterior", "forward_backward"]


@dataclass(frozen=True)
class ShiftPosterior:
    """Per-frame summaries of the shift posterior, in state units (offsets from the grid's centre).

    Attributes
    ----------
    mean : (n, 2) posterior mean (row, column offset).
    spread : (n,) posterior standard deviation (root of the summed per-axis variances).
    predicted : (n, 2) mean of the cavity distribution (the neighbours' prediction, the frame's own match
        left out).
    """

    mean: np.ndarray
    spread: np.ndarray
    predicted: np.ndarray


@njit(cache=True, nogil=True)
def _blur(p: np.ndarray, sigma: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Separable Gaussian blur of the square map ``p`` into ``out``, zero outside (mass may leave).

    Each output sums its taps in ascending order, in double precision, the rows' result stored in ``p``'s
    precision before the columns are blurred; the loops run along rows so that they vectorise.
    """
    size = p.shape[0]
    reach = min(int(3.0 * sigma + 1.0), size - 1)
    kernel = np.empty(2 * reach + 1)
    for i in range(-reach, reach + 1):
        kernel[i + reach] = np.exp(-0.5 * (i / sigma) ** 2)
    kernel /= kernel.sum()
    tmp = np.empty_like(p)
    acc = np.empty(size)
    for y in range(size):
        acc[:] = 0.0
        for i in range(-reach, reach + 1):
            weight = kernel[i + reach]
            for x in range(max(0, -i), min(size, size - i)):
                acc[x] += weight * p[y, x + i]
        for x in range(size):
            tmp[y, x] = acc[x]
    for y in range(size):
        acc[:] = 0.0
        for i in range(max(-reach, -y), min(reach, size - 1 - y) + 1):
            weight = kernel[i + reach]
            for x in range(size):
                acc[x] += weight * tmp[y + i, x]
        for x in range(size):
            out[y, x] = acc[x]


@njit(cache=True, nogil=True)
def _normalise(p: np.ndarray) -> None:  # pragma: no cover - compiled
    total = p.sum()
    if total > 0.0 and np.isfinite(total):
        p /= total
    else:
        p[:] = 1.0 / p.size


@njit(cache=True, nogil=True)
def _moments(p: np.ndarray, offsets: np.ndarray, out: np.ndarray, row: int) -> float:  # pragma: no cover - compiled
    """Posterior mean of the normalised map ``p`` into out[row]; returns its standard deviation."""
    size = p.shape[0]
    mean_y = 0.0
    mean_x = 0.0
    for y in range(size):
        for x in range(size):
            mean_y += p[y, x] * offsets[y]
            mean_x += p[y, x] * offsets[x]
    var = 0.0
    for y in range(size):
        for x in range(size):
            var += p[y, x] * ((offsets[y] - mean_y) ** 2 + (offsets[x] - mean_x) ** 2)
    out[row, 0] = mean_y
    out[row, 1] = mean_x
    spread: float = np.sqrt(max(var, 0.0))
    return spread


@njit(cache=True, nogil=True)
def _forward(likelihood: np.ndarray, step_sigma: np.ndarray, predicted_forward: np.ndarray, alpha: np.ndarray
             ) -> None:  # pragma: no cover - compiled
    """Run the forward recursion: each frame's prediction from the frames before it, and its filtered map."""
    n, size, _ = likelihood.shape
    predicted_forward[0] = 1.0 / (size * size)
    alpha[0] = likelihood[0]
    _normalise(alpha[0])
    for k in range(1, n):
        _blur(alpha[k - 1], step_sigma[k], predicted_forward[k])
        _normalise(predicted_forward[k])
        alpha[k] = predicted_forward[k] * likelihood[k]
        _normalise(alpha[k])


@njit(cache=True, nogil=True)
def _backward(likelihood: np.ndarray, step_sigma: np.ndarray, betas: np.ndarray) -> None:  # pragma: no cover
    """Run the backward recursion: each frame's message from the frames after it (double precision)."""
    n, size, _ = likelihood.shape
    beta = np.ones((size, size))
    work = np.empty((size, size))
    betas[n - 1] = beta
    for k in range(n - 2, -1, -1):
        _blur(likelihood[k + 1] * beta, step_sigma[k + 1], work)
        beta[:] = work
        _normalise(beta)
        betas[k] = beta


@njit(cache=True, nogil=True)
def _summaries(alpha: np.ndarray, predicted_forward: np.ndarray, betas: np.ndarray, start: int, stop: int,
               mean: np.ndarray, spread: np.ndarray, predicted: np.ndarray) -> None:  # pragma: no cover - compiled
    """Posterior and cavity moments of frames start … stop−1 from both recursions' messages."""
    size = alpha.shape[1]
    offsets = np.arange(size) - (size - 1) / 2.0
    work = np.empty((size, size))
    for k in range(start, stop):
        work[:] = alpha[k] * betas[k]
        _normalise(work)
        spread[k] = _moments(work, offsets, mean, k)
        work[:] = predicted_forward[k] * betas[k]
        _normalise(work)
        _moments(work, offsets, predicted, k)


def _forward_backward(likelihood: np.ndarray, step_sigma: np.ndarray, mean: np.ndarray, spread: np.ndarray,
                      predicted: np.ndarray) -> None:
    """Both recursions at once on two threads (they are independent), then the frames' moments in two halves."""
    n = likelihood.shape[0]
    predicted_forward = np.empty(likelihood.shape, dtype=np.float32)
    alpha = np.empty(likelihood.shape, dtype=np.float32)
    betas = np.empty(likelihood.shape, dtype=np.float64)
    with ThreadPoolExecutor(1, thread_name_prefix="ceuskit-backward") as pool:
        backward = pool.submit(_backward, likelihood, step_sigma, betas)
        _forward(likelihood, step_sigma, predicted_forward, alpha)
        backward.result()
        half = n // 2
        later = pool.submit(_summaries, alpha, predicted_forward, betas, half, n, mean, spread, predicted)
        _summaries(alpha, predicted_forward, betas, 0, half, mean, spread, predicted)
        later.result()


def forward_backward(log_likelihood: np.ndarray, step_sigma: np.ndarray) -> ShiftPosterior:
    """Posterior summaries of a random-walk shift given per-frame log-likelihood maps.

    Parameters
    ----------
    log_likelihood : (n, S, S) log-likelihood of each candidate shift per frame (any additive constant per
        frame); the grid's centre is shift (0, 0). NaN counts as a log-likelihood of 0 (a wholly NaN frame:
        no evidence; callers give finite maps).
    step_sigma : (n,) standard deviation (states) of the step from frame k−1 to k; entry 0 unused.

    Returns
    -------
    :class:`ShiftPosterior`.
    """
    n, size, _ = log_likelihood.shape
    ll = np.nan_to_num(np.asarray(log_likelihood, dtype=np.float32), nan=0.0)
    likelihood = np.exp(ll - ll.max(axis=(1, 2), keepdims=True))  # float32: the maps' relative values suffice
    mean, predicted, spread = np.zeros((n, 2)), np.zeros((n, 2)), np.zeros(n)
    if n:
        sigma = np.maximum(np.asarray(step_sigma, dtype=np.float64), 1e-3)
        _forward_backward(likelihood, sigma, mean, spread, predicted)
    return ShiftPosterior(mean, spread, predicted)
