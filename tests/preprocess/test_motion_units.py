"""Motion building blocks against independent references: skimage's NCC, brute-force sums, exact HMM marginals,
closed forms (Fisher z, parabolas, quadratics, a box's hull)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage
from skimage.feature import match_template

from ceuskit.preprocess.motion.envelope import into_hull
from ceuskit.preprocess.motion.features import frame_features
from ceuskit.preprocess.motion.ncc import ncc_surfaces
from ceuskit.preprocess.motion.posterior import forward_backward
from ceuskit.preprocess.motion.reference import smoothed, vertex
from ceuskit.preprocess.motion.rejection import rejected_frames
from ceuskit.preprocess.motion.templates import neighbour_bounds


def test_unmasked_ncc_equals_skimage_match_template():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((3, 50, 60))
    templates = images[:, 10:30, 15:40] + 0.3 * rng.standard_normal((3, 20, 25))
    ours = ncc_surfaces(images, np.ones(images.shape, bool), templates, np.ones(templates.shape, bool))
    reference = np.stack([match_template(images[i], templates[i]) for i in range(3)])
    # the cross term goes through a single-precision FFT (relative error ~1e-7 of its terms' scale)
    np.testing.assert_allclose(ours, reference, atol=1e-6)


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
        np.testing.assert_allclose(posterior.mean[k], mean, atol=1e-5)  # probabilities carried in float32
        if 0 < k < n - 1:  # the cavity leaves the frame's own likelihood out
            c = (alpha[k - 1] @ _transition(size, sigma[k])) * beta[k]
            c /= c.sum()
            predicted = np.array([sum(c[i] * offsets[s[0]] for i, s in enumerate(states)),
                                  sum(c[i] * offsets[s[1]] for i, s in enumerate(states))])
            np.testing.assert_allclose(posterior.predicted[k], predicted, atol=1e-5)


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("smoothing_px", [0.5, 1.0, 2.0, 3.3])
def test_features_are_scipy_gaussian_filter_of_the_binned_grey(dtype, smoothing_px):
    """The features are scipy's gaussian_filter (run here) of the 2 × 2 block means: the same numbers, bit for bit."""
    rng = np.random.default_rng(5)
    crop = rng.uniform(0, 255, (38, 52)).astype(dtype)
    sigma = max(np.sqrt(max(smoothing_px**2 - 0.25, 0.0)) / 2, 0.3)
    blocks = crop.reshape(19, 2, 26, 2).astype(np.float64 if dtype == np.uint8 else dtype)
    sums = ((blocks[:, 0, :, 0] + blocks[:, 0, :, 1]) + (blocks[:, 1, :, 0] + blocks[:, 1, :, 1])).astype(np.float32)
    features, ok = frame_features(crop, np.ones(crop.shape, bool), smoothing_px)
    np.testing.assert_array_equal(features, ndimage.gaussian_filter(sums / 4.0, sigma, mode="nearest"))
    assert features.dtype == np.float32 and ok.all()
    valid = rng.random(crop.shape) > 0.3
    weights = valid.reshape(19, 2, 26, 2).sum(axis=(1, 3)).astype(np.float32)
    masked = np.where(valid, crop, 0.0).reshape(19, 2, 26, 2)
    sums = ((masked[:, 0, :, 0] + masked[:, 0, :, 1]) + (masked[:, 1, :, 0] + masked[:, 1, :, 1])).astype(np.float32)
    smooth_weights = ndimage.gaussian_filter(weights, sigma, mode="nearest")
    expected_ok = smooth_weights > 2.0
    expected = np.where(expected_ok, ndimage.gaussian_filter(sums, sigma, mode="nearest")
                        / np.maximum(smooth_weights, 1e-6), 0.0).astype(np.float32)
    features, ok = frame_features(crop, valid, smoothing_px)
    np.testing.assert_array_equal(ok, expected_ok)
    np.testing.assert_array_equal(features, expected)


def test_neighbour_windows_keep_their_span_at_the_ends_and_reach_sparse_frames():
    times = np.concatenate([np.arange(0.0, 20.0, 0.25), [25.0, 30.0, 35.0, 40.0]])
    lo, hi = neighbour_bounds(times, 3.0, 3)
    assert np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) >= 0)
    # first frame: the 6-s window slid inwards to [0, 6], not cut to [0, 3]
    assert times[hi[0] - 1] == pytest.approx(6.0)
    # a sparse frame 5 s from any other still has three neighbours on each side where the clip has them
    k = int(np.searchsorted(times, 30.0))
    assert k - lo[k] >= 3 and hi[k] - 1 - k >= 2  # only two frames come after it


def test_an_isolated_frame_is_judged_by_its_own_match():
    times = np.array([0.0, 5.0, 10.0, 15.0, 20.0])
    n_eff = np.full(5, 103.0)  # √(N − 3) = 10
    # Fisher z below 3 standard errors (atanh(r)·10 < 3 ⇔ r < tanh(0.3) = 0.2913) is rejected
    quality = np.array([0.9, 0.29, 0.30, 0.8, 0.05])
    got = rejected_frames(quality, n_eff, times, window_s=6.0, reject_z=4.0, reject_ratio=0.5, isolated_z=3.0)
    np.testing.assert_array_equal(got, [False, True, False, False, True])


def test_a_frame_is_held_to_the_lower_of_its_two_sides():
    # contrast arriving: each frame matches better than the last; a frame at the foot of the rise is not
    # rejected for lying below the brighter frames after it …
    times = np.arange(0.0, 8.0, 0.125)
    rising = np.clip(0.1 + 0.2 * times, 0.0, 0.95)
    got = rejected_frames(rising, np.full(times.size, 400.0), times, window_s=6.0, reject_z=4.0, reject_ratio=0.5,
                          isolated_z=3.0)
    assert not got.any()
    # … while a frame far below both sides is
    dip = np.full(times.size, 0.9) + np.random.default_rng(0).normal(0, 0.01, times.size)
    dip[30] = 0.2
    got = rejected_frames(dip, np.full(times.size, 400.0), times, window_s=6.0, reject_z=4.0, reject_ratio=0.5,
                          isolated_z=3.0)
    assert np.flatnonzero(got).tolist() == [30]


def test_vertex_of_a_parabola_is_exact():
    # y = −(x − 0.3)² sampled at −1, 0, 1
    f = lambda x: -((x - 0.3) ** 2)  # noqa: E731
    assert vertex(np.array([f(0.0)]), np.array([f(-1.0)]), np.array([f(1.0)]))[0] == pytest.approx(0.3)
    assert vertex(np.array([0.0]), np.array([1.0]), np.array([-1.0]))[0] == 0.0  # not a peak: no offset


def test_smoothing_keeps_a_quadratic_and_averages_noise():
    t = np.arange(0.0, 10.0, 0.125)
    path = np.stack([0.5 * t**2 - t, 3.0 - 0.2 * t], axis=1)
    np.testing.assert_allclose(smoothed(t, path, np.ones(t.size, bool), 0.3), path, atol=1e-9)
    noise = np.random.default_rng(1).normal(0.0, 1.0, path.shape)
    assert np.std(smoothed(t, path + noise, np.ones(t.size, bool), 0.3) - path) < 0.7


def test_positions_outside_the_confident_hull_are_moved_onto_it():
    square = np.array([[x, y] for x in np.linspace(0, 4, 5) for y in np.linspace(0, 2, 3)], dtype=float)
    others = np.array([[6.0, 1.0], [2.0, -3.0], [4.5, 2.0], [1.0, 1.0]])
    positions = np.vstack([square, others])
    confident = np.r_[np.ones(len(square), bool), np.zeros(len(others), bool)]
    moved_to, moved = into_hull(positions, confident, 0.75)
    # the 1 % most distant confident point ([0, 0] ties with the corners; at most one is dropped) barely
    # matters here: the hull is the 4 × 2 box, so (6, 1) → (4, 1), (2, −3) → (2, 0); (4.5, 2) lies within
    # the margin and (1, 1) inside
    assert moved.tolist() == [False] * len(square) + [True, True, False, False]
    np.testing.assert_allclose(moved_to[-4:-2], [[4.0, 1.0], [2.0, 0.0]], atol=0.05)


def test_several_templates_keep_the_best_correlation_at_each_shift():
    rng = np.random.default_rng(5)
    images = rng.standard_normal((3, 30, 34))
    first, second = rng.standard_normal((3, 12, 14)), images[:, 4:16, 6:20] + 0.5 * rng.standard_normal((3, 12, 14))
    valid = rng.random(images.shape) > 0.1
    ok1, ok2 = rng.random(first.shape) > 0.1, rng.random(second.shape) > 0.1
    both = ncc_surfaces(images, valid, [first, second], [ok1, ok2])
    expected = np.fmax(ncc_surfaces(images, valid, first, ok1), ncc_surfaces(images, valid, second, ok2))
    np.testing.assert_allclose(both, expected, atol=1e-12)
