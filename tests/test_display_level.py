"""``tic.csv``'s ``NAME_display_db`` is the ROI's mean display level: the mean of its pixels' dB on the screen.

Checked against the clip's own pixels read with pydicom (grey g of a display of dynamic range D shows
D·g/255 − D dB), on a still phantom read without motion compensation, so each frame's ROI is where it was drawn.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from ceuskit.io.rois import load_rois
from ceuskit.pipeline import analyze
from ceuskit.simulate import simulate_clip
from ceuskit.simulate.cases import REAL_WORLD

pytestmark = pytest.mark.slow


def test_display_db_is_the_mean_of_the_roi_pixels_db(tmp_path):
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
        expected = ph.dynamic_range_db * grey[:, mask].mean(axis=1) / 255.0 - ph.dynamic_range_db
        np.testing.assert_allclose(column[measured], expected[frames[measured]], atol=1e-3)
