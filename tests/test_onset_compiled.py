"""The onset's compiled per-curve pass gives the numbers of the numpy formulation it replaced."""

from __future__ import annotations

import warnings

import numpy as np

from ceuskit.onset import _median_in_place, _noise_db, _window_means, _windows
from ceuskit.timeseries import moving_average


def _curves(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = np.cumsum(rng.uniform(0.2, 0.4, 300))  # irregular frame times
    y = rng.exponential(1.0, (40, t.size)) * np.exp(-((t - 30.0) / 15.0) ** 2)[None, :]
    y[rng.random(y.shape) < 0.05] = np.nan  # rejected frames
    y[3] = np.nan
    y[4, :5] = 0.0
    return t, y


def test_window_means_are_the_moving_average():
    # Independent source: ceuskit.timeseries.moving_average (numpy), the smoothing find_arrivals used before.
    t, y = _curves(np.random.default_rng(0))
    for width_s in (1.0, 2.5):
        expected = moving_average(t, y, width_s)
        lo, hi = _windows(t, width_s)
        got = np.empty_like(y)
        for row, out in zip(y, got, strict=True):
            _window_means(row, lo, hi, np.empty(t.size + 1), np.empty(t.size + 1), out)
        assert np.array_equal(got, expected, equal_nan=True)


def test_noise_is_the_mad_of_the_db_residual():
    # Independent source: the numpy formulation (np.nanmedian of 10·log10(raw/local)), as find_arrivals had it.
    t, y = _curves(np.random.default_rng(1))
    local = moving_average(t, y, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the all-missing curve has no median
        residual = 10 * np.log10(np.where(y > 0, y, np.nan)) - 10 * np.log10(np.where(local > 0, local, np.nan))
        centre = np.nanmedian(residual, axis=1, keepdims=True)
        expected = 1.4826 * np.nanmedian(np.abs(residual - centre), axis=1) * 1.1 / 2.0
    got = np.array([_noise_db(row, loc, 1.1, 2.0, np.empty(t.size)) for row, loc in zip(y, local, strict=True)])
    assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isnan(got[3])
    assert np.allclose(got, expected, rtol=1e-12, equal_nan=True)


def test_median_in_place_is_numpys_median():
    rng = np.random.default_rng(2)
    for trial in range(3000):
        n = int(rng.integers(1, 160))
        x = rng.standard_normal(n)
        if trial % 3 == 0:
            x = np.round(x, 1)  # ties
        if trial % 5 == 0:
            x = np.sort(x)[::-1 if trial % 2 else 1]  # already ordered either way
        if trial % 7 == 0:
            x[::3] = np.inf
        assert _median_in_place(x.copy(), n) == np.median(x)
