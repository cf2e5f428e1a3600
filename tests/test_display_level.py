"""``tic.csv``'s ``NAME_display_db`` is the ROI's display level: the median of its pixels' dB on the screen.

Checked against the clip's own pixels read with pydicom (grey g of a display of dynamic range D shows
D·g/255 − D dB), on a still phantom read without motion compensation, so each frame's ROI is where it was drawn.
The median of whole grey levels is taken as that of grouped data — each level g filling [g − ½, g + ½] evenly —
computed here independently, as where the piecewise-linear empirical CDF of the grey reaches one half.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from ceuskit.io.rois import load_rois
from ceuskit.pipeline import analyze
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import REAL_WORLD
from ceuskit.tic import median_grey


def _grouped_median(grey: np.ndarray) -> float:
    """Median of whole grey levels as grouped data: where the CDF, linear inside each level's unit bin, is ½.

    The CDF is evaluated on a grid of 1/1000 grey; where it is ½ over a stretch of empty levels, the middle of
    that stretch.
    """
    counts = np.bincount(grey.ravel(), minlength=256)
    cdf = np.concatenate([[0.0], np.cumsum(counts)]) / grey.size
    x = np.linspace(-0.5, 255.5, 256_001)
    on_x = np.interp(x, np.arange(257) - 0.5, cdf)
    return float((x[on_x >= 0.5][0] + x[on_x <= 0.5][-1]) / 2.0)


def test_the_grouped_median_of_rounded_samples_finds_the_continuous_median():
    rng = np.random.default_rng(5)
    x = rng.normal(100.3, 20.0, 200_000)  # median 100.3 (a normal's median is its mean)
    grey = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    assert median_grey(grey) == pytest.approx(100.3, abs=0.1)
    assert float(np.median(grey)) == 100.0  # whole grey steps: the plain median cannot tell 100.3


@pytest.mark.parametrize("seed", range(5))
def test_median_grey_is_the_grouped_median(seed):
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 256, size=int(rng.integers(1, 400))).astype(np.uint8)
    grey[: grey.size // 3] = 0  # a floor at display black, as before the contrast arrives
    assert median_grey(grey) == pytest.approx(_grouped_median(grey), abs=2e-3)
    assert abs(median_grey(grey) - float(np.median(grey))) <= 0.5


def test_a_minority_of_bright_pixels_leaves_the_median_grey():
    rng = np.random.default_rng(1)
    body = rng.integers(20, 60, size=900).astype(np.uint8)
    vessel = np.full(100, 250, dtype=np.uint8)  # 10 % of the ROI over a vessel at display white
    assert median_grey(np.concatenate([body, vessel])) == pytest.approx(_grouped_median(np.concatenate([body, vessel])), abs=2e-3)
    assert np.max(body) >= median_grey(np.concatenate([body, vessel])) >= median_grey(body)
    assert median_grey(np.concatenate([body, vessel])) - median_grey(body) <= 0.15 * (60 - 20)


def test_an_empty_roi_has_no_median_grey():
    with pytest.raises(ValueError, match="at least one pixel"):
        median_grey(np.zeros(0, dtype=np.uint8))


@pytest.mark.slow
def test_display_db_is_the_median_of_the_roi_pixels_db(tmp_path):
    ph = REAL_WORLD["fill-in-still"]
    sim = simulate_clip(tmp_path, ph, name="still")
    analysis = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, dynamic_range_db=ph.dynamic_range_db,
                       motion=False)
    pixels = pydicom.dcmread(sim.dicom).pixel_array
    grey = pixels[..., 0] if pixels.ndim == 4 else pixels
    masks = load_rois(sim.roi).masks(grey.shape[1], grey.shape[2])
    frames = np.asarray(analysis.tic["frame"], dtype=int)
    for name, mask in masks.items():
        column = np.asarray(analysis.tic[f"{name}_display_db"], dtype=float)
        measured = np.isfinite(column)
        assert measured.sum() > 0.9 * column.size
        levels = np.array([_grouped_median(grey[k][mask]) for k in frames[measured]])
        expected = ph.dynamic_range_db * levels / 255.0 - ph.dynamic_range_db
        np.testing.assert_allclose(column[measured], expected, atol=2e-3 * ph.dynamic_range_db / 255.0 + 1e-4)
