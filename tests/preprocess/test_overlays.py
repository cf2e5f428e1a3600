"""Burned-in overlay detection against the simulator's overlay truth mask (``simulate.display.apply_display``).

False positives are counted beyond the 1-px dilation the detector adds on purpose (3×3 neighbourhood of a
truth pixel); recall is over the truth pixels.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest
from display_screens import runs_of, screen
from scipy import ndimage

from ceuskit.io import open_clip
from ceuskit.pixels import reads_concurrently
from ceuskit.preprocess.display import display_map_of, fit_display_map
from ceuskit.preprocess.overlays import BackgroundOverlays, detect_overlays, overlay_mask
from ceuskit.simulate import Phantom, write_dicom

ALL = ("timer", "mi", "markers", "calliper")
CASES = {
    "plain": Phantom(duration_s=120.0, fps=4.0, seed=21),
    # gain too high: a third of the lesion's pixels clip at 255 around the peak, independently frame to frame
    "saturated": Phantom(duration_s=90.0, fps=4.0, seed=22, peak_power=10 ** (-1 / 10), pattern="hyper-none-hyper"),
    # a 45 dB display with no tissue signal: black (grey 0) and constant for 35 s before the contrast arrives
    "black-lead-in": Phantom(duration_s=90.0, fps=8.0, seed=23, dynamic_range_db=45.0, lead_in_s=20.0,
                             tissue_power=10 ** (-70 / 10)),
}


def _detect(frames: np.ndarray, box: tuple[int, int, int, int], dilate_px: int = 1) -> np.ndarray:
    display = fit_display_map(runs_of(frames, 16, 2), box)
    return overlay_mask(runs_of(frames, 24, 3, box), display, dilate_px=dilate_px)


def _crop(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    return mask[box[1]:box[3], box[0]:box[2]]


def test_the_hard_cases_are_what_they_claim():
    """The saturated lesion does saturate, the black lead-in is black: otherwise the tests below prove nothing."""
    sat = screen(CASES["saturated"])
    x0, y0, x1, y1 = sat.box
    assert max(float(np.mean(f[y0:y1, x0:x1] == 255)) for f in sat.grey) >= 0.2
    black = screen(CASES["black-lead-in"])
    before = black.times < CASES["black-lead-in"].lead_in_s + 10
    assert np.mean(black.grey[before][:, y0:y1, x0:x1] == 0) >= 0.999


@pytest.mark.parametrize("colour_map", [None, "gold", "bronze"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_overlays_found_and_nothing_else(case, colour_map):
    shown = screen(CASES[case], colour_map=colour_map, overlays=ALL, seed=5)
    truth = _crop(shown.overlay_truth, shown.box)
    found = _detect(shown.frames, shown.box)
    far = ~ndimage.binary_dilation(truth, structure=np.ones((3, 3), dtype=bool))
    assert found[truth].mean() >= 0.95
    assert np.count_nonzero(found & far) == 0
    assert np.count_nonzero(_detect(shown.frames, shown.box, dilate_px=0) & ~truth) <= 3


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_overlay_no_detection(case):
    """Neither a saturated lesion nor black pre-contrast image nor static tissue is called an overlay."""
    for colour_map in (None, "gold"):
        shown = screen(CASES[case], colour_map=colour_map)
        assert not _detect(shown.frames, shown.box).any()


def test_detect_overlays_through_the_dicom_reader(tmp_path):
    ph = CASES["plain"]
    shown = screen(ph, colour_map="gold", colour_bar=True, overlays=ALL, seed=9)
    write_dicom(tmp_path / "gold.dcm", shown.frames, shown.times, ph, shown.rendered["layout"])
    with open_clip(tmp_path / "gold.dcm") as clip:
        found = detect_overlays(clip)
    assert found.shape == shown.overlay_truth.shape
    x0, y0, x1, y1 = shown.box
    outside = np.ones_like(found)
    outside[y0:y1, x0:x1] = False
    assert not found[outside].any()  # the colour bar and the text above the image are not in the region
    assert found[shown.overlay_truth].mean() >= 0.95
    assert not (found & ~ndimage.binary_dilation(shown.overlay_truth, structure=np.ones((3, 3), dtype=bool))).any()


def test_found_on_a_thread_as_detect_overlays_finds_them(tmp_path):
    """The background search (frames decoded on its thread, regions given later) finds what detect_overlays does."""
    ph = CASES["plain"]
    shown = screen(ph, colour_map="gold", colour_bar=True, overlays=ALL, seed=9)
    write_dicom(tmp_path / "gold.dcm", shown.frames, shown.times, ph, shown.rendered["layout"])
    with open_clip(tmp_path / "gold.dcm") as clip:
        assert reads_concurrently(clip.frames)
        display = display_map_of(clip, box=clip.ceus_region.box)
        regions: Future[list] = Future()
        search = BackgroundOverlays(clip, regions.result)
        regions.set_result([(clip.ceus_region.box, display)])
        np.testing.assert_array_equal(search.result(), detect_overlays(clip, display=display))
        failed: Future[list] = Future()
        broken = BackgroundOverlays(clip, failed.result)
        failed.set_exception(ValueError("no display map"))
        with pytest.raises(ValueError, match="no display map"):
            broken.result()
