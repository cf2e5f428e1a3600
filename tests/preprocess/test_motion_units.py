"""Motion building blocks against independent references: skimage's NCC, brute-force sums, exact HMM marginals."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from skimage.feature import match_template

from ceuskit.preprocess.motion.features import frame_features
from ceuskit.preprocess.motion.ncc import ncc_surfaces
from ceuskit.preprocess.motion.posterior import forward_backward


def test_unmasked_ncc_equals_skimage_match_template():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((3, 50, 60))
    templates = images[:, 10:30, 15:40] + 0.3 * rng.standard_normal((3, 20, 25))
    ours = ncc_surfaces(images, np.ones(images.shape, bool), templates, np.ones(templates.shape, bool))
    reference = np.stack([match_template(images[i], templates[i]) for i in range(3)])
    np.testing.assert_allclose(ours, reference, atol=1e-9)


def test_masked_ncc_equals_the_correlation_over_the_overlap():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((2, 40, 44))
    templates = rng.standard_normal((2, 16, 18))
    image_valid = rng.random(images.shape) > 0.15
    template_valid = rng.random(templates.shape) > 0.15
    ours = ncc_surfaces(images, image_valid, templates, template_valid)
    for i, v, u in itertools.product(range(2), range(0, 25, 4), range(0, 27, 5)):
        both = template_valid[i] & image_valid[i, v:v + 16, u:u + 18]
        expected = np.corrcoef(templates[i][both], images[i, v:v + 16, u:u + 18][both])[0, 1]
        assert ours[i, v, u] == pytest.approx(expected, abs=1e-9)


def test_ncc_is_nan_where_the_overlap_is_too_small():
    images = np.random.default_rng(2).standard_normal((1, 30, 30))
    valid = np.zeros(images.shape, bool)
    valid[:, :, :12] = True  # only the left strip carries echo
    out = ncc_surfaces(images, valid, images[:, 5:25, 5:25], np.ones((1, 20, 20), bool))
    assert np.isnan(out[0, :, 10]).all()  # template over columns 10–29: 2 of 20 columns valid
    assert np.isfinite(out[0, :, 0]).all()


def _transition(size: int, sigma: float) -> np.ndarray:
    """Exact transition matrix of the truncated Gaussian random walk, built independently of the code."""
    offsets = np.arange(size)
    reach = min(int(3.0 * sigma + 1.0), size - 1)
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    one_d = np.zeros((size, size))
    for a in offsets:
        for b in offsets:
            if abs(a - b) <= reach:
                one_d[a, b] = kernel[b - a + reach]
    return np.kron(one_d, one_d)  # independent steps along rows and columns


def test_forward_backward_equals_exact_marginals():
    rng = np.random.default_rng(3)
    n, size = 5, 7
    log_likelihood = rng.normal(size=(n, size, size))
    sigma = rng.uniform(0.5, 2.0, n)
    posterior = forward_backward(log_likelihood, sigma)
    likelihood = np.exp(log_likelihood).reshape(n, -1)
    states = list(itertools.product(range(size), repeat=2))
    offsets = np.arange(size) - (size - 1) / 2
    # brute force over all paths of the first 3 frames is too many (49**5); use the matrix recursion instead
    alpha = [likelihood[0] / likelihood[0].sum()]
    for k in range(1, n):
        a = alpha[-1] @ _transition(size, sigma[k]) * likelihood[k]
        alpha.append(a / a.sum())
    beta = [np.ones(size * size)]
    for k in range(n - 2, -1, -1):
        b = _transition(size, sigma[k + 1]) @ (likelihood[k + 1] * beta[0])
        beta.insert(0, b / b.sum())
    for k in range(n):
        p = alpha[k] * beta[k]
        p /= p.sum()
        mean = np.array([sum(p[i] * offsets[s[0]] for i, s in enumerate(states)),
                         sum(p[i] * offsets[s[1]] for i, s in enumerate(states))])
        np.testing.assert_allclose(posterior.mean[k], mean, atol=1e-9)
        if 0 < k < n - 1:  # the cavity leaves the frame's own likelihood out
            c = (alpha[k - 1] @ _transition(size, sigma[k])) * beta[k]
            c /= c.sum()
            predicted = np.array([sum(c[i] * offsets[s[0]] for i, s in enumerate(states)),
                                  sum(c[i] * offsets[s[1]] for i, s in enumerate(states))])
            np.testing.assert_allclose(posterior.predicted[k], predicted, atol=1e-9)


def test_flat_evidence_stays_at_the_centre():
    """No evidence anywhere: the posterior mean is the grid's centre, whatever the random walk."""
    posterior = forward_backward(np.zeros((20, 9, 9)), np.full(20, 2.0))
    np.testing.assert_allclose(posterior.mean, 0.0, atol=1e-12)


def test_features_halve_and_skip_invalid_pixels():
    rng = np.random.default_rng(4)
    crop = rng.uniform(0, 255, (40, 48)).astype(np.float32)
    valid = np.ones(crop.shape, bool)
    features, ok = frame_features(crop, valid, 2.0)
    assert features.shape == ok.shape == (20, 24) and ok.all()
    # an invalid strip does not leak into the features: set it to a huge value, features barely change
    valid[:, :8] = False
    spoiled = crop.copy()
    spoiled[:, :8] = 1e6
    f1, ok1 = frame_features(crop, valid, 2.0)
    f2, ok2 = frame_features(spoiled, valid, 2.0)
    np.testing.assert_array_equal(ok1, ok2)
    np.testing.assert_allclose(f1[ok1], f2[ok2], rtol=1e-5)
    assert not ok1[:, 0].any() and ok1[:, -1].all()
