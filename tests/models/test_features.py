"""The fit engine's curve features (first guesses) against their definition written with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.models.fit import curve_features


def _reference(t: np.ndarray, y: np.ndarray, width: int) -> dict[str, float]:
    """The features of one curve by their definition: a NaN-aware moving average by convolution, then numpy."""
    half = width // 2
    finite = np.isfinite(y)
    kernel = np.ones(2 * half + 1)
    sums = np.convolve(np.where(finite, y, 0.0), kernel)[half:half + y.size]
    counts = np.convolve(finite.astype(float), kernel)[half:half + y.size]
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.where(counts > 0, sums / counts, np.nan)
    peak = int(np.nanargmax(s))
    base = float(np.nanmin(s[:peak + 1]))
    height = float(s[peak] - base)
    below = np.flatnonzero(s[:peak + 1] < base + 0.1 * height)
    arrival = int(below[-1]) if below.size else 0
    dtw = 0.5 * (t[np.minimum(np.arange(t.size) + 1, t.size - 1)] - t[np.maximum(np.arange(t.size) - 1, 0)])
    w = np.where(s[arrival:] > base, (s[arrival:] - base) * dtw[arrival:], 0.0)
    centroid = float(np.sum(w * t[arrival:]) / np.sum(w)) if np.sum(w) > 0 else np.nan
    return {"arrival_s": t[arrival], "peak_s": t[peak], "centroid_s": centroid,
            "height": height, "baseline": base, "abs_max": float(np.max(np.abs(y[finite]))),
            "spread": float(np.ptp(y[finite])), "n_valid": float(finite.sum())}


@pytest.mark.parametrize(("n_t", "dt_s", "gaps"), [(600, 0.25, False), (600, 0.125, False), (600, 0.02, False),
                                                   (600, 0.25, True), (12, 0.5, False), (5, 1.0, False),
                                                   (5, 0.25, False)])
def test_curve_features_match_their_definition(n_t, dt_s, gaps):
    # Independent source: the definitions (moving average over smoothing_s, first maximum, pre-peak minimum,
    # last 10 % crossing before the peak, excess-weighted centroid) computed with numpy.  Covers every sample
    # finite (the SIMD path, windows from 3 to 101 samples), samples missing, and curves shorter than a window.
    rng = np.random.default_rng(n_t + int(1000 * dt_s) + gaps)
    t = np.arange(n_t) * dt_s
    tau = np.maximum(t - 0.1 * t[-1], 1e-9)[None, :]
    clean = np.exp(-0.5 * ((np.log(tau) - np.log(0.3 * t[-1])) / 0.5) ** 2)
    y = 0.02 + rng.uniform(1, 5, (40, 1)) * clean * rng.gamma(25.0, 1 / 25.0, (40, n_t))
    y += 0.05 * rng.standard_normal(y.shape)
    if gaps:
        y[::3, rng.integers(0, n_t, 60)] = np.nan
        y[1, 10] = np.inf
    feats = curve_features(t, y)
    width = max(3, int(round(2.0 / dt_s)) | 1)
    for i in range(y.shape[0]):
        expected = _reference(t, y[i], width)
        for name, value in expected.items():
            assert feats[name][i] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (i, name)
