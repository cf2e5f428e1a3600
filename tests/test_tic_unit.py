"""Unit tests of :mod:`ceuskit.tic` on hand-built frame arrays.

Expected values come from construction: each frame's grey is set by hand, and the power it stands for is
DESIGN's linearisation written out here, ``power = 10 ** ((g / 255 - 1) * DR / 10)``; ROI means are means of
linear power (DESIGN "TIC"), never of grey or dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit._tic_frames import RoiStore
from ceuskit.errors import AnalysisError, CeusError, RoiError
from ceuskit.feed import clip_frames
from ceuskit.io.clip import Clip, Region
from ceuskit.io.frames import ArrayFrames
from ceuskit.pixels import FrameStream
from ceuskit.roi import Roi, RoiSet
from ceuskit.tic import MIN_INSIDE_FRACTION, TicResult, extract_tics, tic_table

ROWS, COLUMNS = 48, 64
LESION_BOX = (10, 10, 22, 22)  # x0, y0, x1, y1 (rectangle corners)
LIVER_BOX = (34, 10, 54, 30)


def power_of(grey: float, dynamic_range_db: float = 60.0) -> float:
    """DESIGN "Linearisation", written out independently of ceuskit.preprocess.linearize."""
    return 10.0 ** ((grey / 255.0 - 1.0) * dynamic_range_db / 10.0)


def _rois(reference_frame: int = 0) -> RoiSet:
    return RoiSet((Roi("lesion", "lesion", "rectangle", {"box": list(LESION_BOX)}),
                   Roi("liver", "parenchyma", "rectangle", {"box": list(LIVER_BOX)})), reference_frame)


def _clip(frames: np.ndarray, times_s: np.ndarray, regions: tuple[Region, ...] = ()) -> FrameStream:
    """The hand-built frames as the pipeline feeds them to extract_tics (display maps fitted from the frames)."""
    return clip_frames(Clip(source="hand-built", times=np.asarray(times_s, dtype=float), rows=frames.shape[1],
                            columns=frames.shape[2], frames=ArrayFrames(frames), regions=regions))


def _frames(lesion_grey: np.ndarray, liver_grey: np.ndarray, background: int = 20) -> np.ndarray:
    """(n, ROWS, COLUMNS) uint8: each ROI's whole bounding box (one pixel wider) at its frame's grey."""
    n = len(lesion_grey)
    frames = np.full((n, ROWS, COLUMNS), background, dtype=np.uint8)
    for (x0, y0, x1, y1), grey in ((LESION_BOX, lesion_grey), (LIVER_BOX, liver_grey)):
        frames[:, y0 - 1:y1 + 2, x0 - 1:x1 + 2] = np.asarray(grey, dtype=np.uint8)[:, None, None]
    return frames


def _tics(frames: np.ndarray, times_s: np.ndarray, **options: object) -> TicResult:
    options = {"dynamic_range_db": 60.0, "motion": False, **options}
    return extract_tics(_clip(frames, times_s), _rois(), **options)  # type: ignore[arg-type]


def test_each_frame_gives_the_linear_power_of_its_grey():
    lesion = np.array([40, 80, 160, 200, 120, 90])
    liver = np.array([30, 60, 100, 110, 100, 95])
    times = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    tics = _tics(_frames(lesion, liver), times)
    assert tics.power["lesion"] == pytest.approx([power_of(g) for g in lesion], rel=1e-5)
    assert tics.power["liver"] == pytest.approx([power_of(g) for g in liver], rel=1e-5)
    assert tics.saturated["lesion"] == pytest.approx(np.zeros(6))


@pytest.mark.parametrize("dynamic_range_db", [30.0, 60.0, 90.0])
def test_the_dynamic_range_scales_the_linearisation(dynamic_range_db):
    lesion, liver = np.array([50, 150, 250]), np.array([100, 100, 100])
    tics = _tics(_frames(lesion, liver), np.arange(3.0), dynamic_range_db=dynamic_range_db)
    assert tics.power["lesion"] == pytest.approx([power_of(g, dynamic_range_db) for g in lesion], rel=1e-5)


def test_an_roi_mean_averages_linear_power_not_grey():
    frames = _frames(np.full(3, 100), np.full(3, 100))
    x0, y0, x1, y1 = LESION_BOX
    frames[:, y0 - 1:y1 + 2, x0 - 1:(x0 + x1) // 2] = 200  # the left part of the lesion brighter
    mask = _rois().masks(ROWS, COLUMNS)["lesion"]
    bright = np.zeros((ROWS, COLUMNS), dtype=bool)
    bright[:, :(x0 + x1) // 2] = True
    share = (mask & bright).sum() / mask.sum()
    assert 0.2 < share < 0.8
    expected = share * power_of(200) + (1 - share) * power_of(100)
    tics = _tics(frames, np.arange(3.0))
    assert tics.power["lesion"] == pytest.approx(np.full(3, expected), rel=1e-5)
    assert expected > 2 * power_of((200 + 100) / 2)  # the mean grey's power would be far off


def test_times_are_after_injection_and_may_be_irregular():
    times = np.array([0.0, 0.07, 0.5, 0.51, 2.0, 7.25])
    tics = _tics(_frames(np.full(6, 90), np.full(6, 90)), times, injection_time_s=1.5)
    assert tics.times_s == pytest.approx(times - 1.5)


def test_pixels_at_display_white_are_taken_as_censored_speckle():
    # a quarter of the lesion's pixels at grey 255: the mean is the sum over the number not clipped
    frames = _frames(np.full(3, 150), np.full(3, 100))
    rows, columns = np.mgrid[:ROWS, :COLUMNS]
    white = (rows % 2 == 0) & (columns % 2 == 0)
    x0, y0, x1, y1 = LESION_BOX
    box = np.zeros((ROWS, COLUMNS), dtype=bool)
    box[y0 - 1:y1 + 2, x0 - 1:x1 + 2] = True
    frames[:, white & box] = 255
    mask = _rois().masks(ROWS, COLUMNS)["lesion"]
    n, n_white = int(mask.sum()), int((mask & white).sum())
    total = n_white * power_of(255) + (n - n_white) * power_of(150)
    tics = _tics(frames, np.arange(3.0))
    assert tics.power["lesion"] == pytest.approx(np.full(3, total / (n - n_white)), rel=1e-5)
    assert tics.saturated["lesion"] == pytest.approx(np.full(3, n_white / n))
    assert tics.saturated["liver"] == pytest.approx(np.zeros(3))


def test_excluded_overlay_pixels_stay_out_of_the_mean_and_are_counted():
    frames = _frames(np.full(4, 100), np.full(4, 80))
    x0, y0, x1, y1 = LESION_BOX
    frames[:, y0:y0 + 3, x0:x1] = 255  # burned-in text over the lesion's top rows
    exclude = np.zeros((ROWS, COLUMNS), dtype=bool)
    exclude[y0:y0 + 3, x0:x1] = True
    mask = _rois().masks(ROWS, COLUMNS)["lesion"]
    tics = _tics(frames, np.arange(4.0), exclude=exclude)
    assert tics.power["lesion"] == pytest.approx(np.full(4, power_of(100)), rel=1e-5)
    assert tics.overlay_pixels == {"lesion": int((mask & exclude).sum()), "liver": 0}
    assert tics.saturated["lesion"] == pytest.approx(np.zeros(4))


def test_a_frame_with_too_few_valid_pixels_is_not_measured():
    frames = _frames(np.full(3, 100), np.full(3, 80))
    mask = _rois().masks(ROWS, COLUMNS)["lesion"]
    ys, xs = np.nonzero(mask)
    exclude = np.zeros((ROWS, COLUMNS), dtype=bool)
    keep = int(np.ceil(MIN_INSIDE_FRACTION * mask.sum())) - 1  # one pixel short of the minimum
    exclude[ys[keep:], xs[keep:]] = True
    tics = _tics(frames, np.arange(3.0), exclude=exclude)
    assert np.isnan(tics.power["lesion"]).all()
    assert tics.power["liver"] == pytest.approx(np.full(3, power_of(80)), rel=1e-5)


def test_coloured_pixels_on_a_grey_display_are_not_echo():
    grey = _frames(np.full(3, 120), np.full(3, 120))
    frames = np.repeat(grey[..., None], 3, axis=3)
    x0, y0, x1, y1 = LESION_BOX
    frames[:, y0:y0 + 2, x0:x1] = (255, 255, 0)  # a yellow calliper line
    tics = _tics(frames, np.arange(3.0))
    assert tics.power["lesion"] == pytest.approx(np.full(3, power_of(120)), rel=1e-5)


def test_pixels_outside_the_ultrasound_region_are_not_echo():
    frames = _frames(np.full(3, 100), np.full(3, 80))
    x0, _, x1, _ = LESION_BOX
    middle = (x0 + x1) // 2
    frames[:, :, :middle] = 250  # left of the region: bright, but no echo
    region = Region((middle, 0, COLUMNS, ROWS), None, "tissue", "ceus")
    tics = extract_tics(_clip(frames, np.arange(3.0), (region,)), _rois(), dynamic_range_db=60.0, motion=False)
    assert tics.power["lesion"] == pytest.approx(np.full(3, power_of(100)), rel=1e-5)


def test_a_single_frame_clip():
    tics = _tics(_frames(np.array([60]), np.array([70])), np.array([0.0]))
    assert tics.times_s.shape == (1,)
    assert tics.power["lesion"] == pytest.approx([power_of(60)], rel=1e-5)
    assert not tics.motion.applied and not tics.motion.rejected.any()


def test_masks_are_the_roi_masks_on_the_frame():
    tics = _tics(_frames(np.full(2, 60), np.full(2, 70)), np.arange(2.0))
    expected = _rois().masks(ROWS, COLUMNS)
    assert set(tics.masks) == {"lesion", "liver"}
    for name in expected:
        assert np.array_equal(tics.masks[name], expected[name])


def test_tracking_a_still_clip_finds_no_shift():
    rng = np.random.default_rng(3)
    n = 12
    texture = rng.integers(40, 200, size=(ROWS, COLUMNS)).astype(np.uint8)  # tissue speckle, the same each frame
    frames = np.repeat(texture[None], n, axis=0)
    tics = extract_tics(_clip(frames, np.arange(n) * 0.5), _rois(reference_frame=6), dynamic_range_db=60.0,
                        motion=True)
    mask = _rois().masks(ROWS, COLUMNS)["lesion"]
    expected = np.mean([power_of(g) for g in texture[mask]])
    assert not np.any(tics.motion.shifts_px)
    assert not tics.motion.rejected.any()
    assert tics.power["lesion"] == pytest.approx(np.full(n, expected), rel=1e-5)


def test_rois_outside_the_ultrasound_region_raise_roi_error():
    frames = _frames(np.full(3, 100), np.full(3, 80))
    region = Region((58, 0, COLUMNS, ROWS), None, "tissue", "ceus")  # a 6-px strip right of every ROI
    with pytest.raises(RoiError, match="outside the ultrasound image region; redraw them"):
        extract_tics(_clip(frames, np.arange(3.0), (region,)), _rois(), dynamic_range_db=60.0, motion=True)


def test_no_measurable_frame_raises_analysis_error():
    exclude = np.ones((ROWS, COLUMNS), dtype=bool)
    with pytest.raises(AnalysisError, match="hand-built: no frame could be measured inside the ROIs") as info:
        _tics(_frames(np.full(3, 100), np.full(3, 80)), np.arange(3.0), exclude=exclude)
    assert isinstance(info.value, CeusError)


def test_tic_table_columns():
    lesion = np.array([40, 80, 160, 0])
    tics = _tics(_frames(lesion, np.array([30, 60, 100, 100])), np.array([0.0, 0.4, 1.1, 1.5]))
    table = tic_table(tics)
    assert list(table) == ["frame", "time_s", "rejected", "shift_x_px", "shift_y_px", "lesion_power", "lesion_db",
                           "liver_power", "liver_db"]
    assert table["frame"].tolist() == [0, 1, 2, 3]
    assert table["time_s"] == pytest.approx([0.0, 0.4, 1.1, 1.5])
    assert table["rejected"].tolist() == [0, 0, 0, 0]
    assert table["shift_x_px"].tolist() == [0, 0, 0, 0] and table["shift_y_px"].tolist() == [0, 0, 0, 0]
    # DESIGN: db = 10·log10(power); grey g is (g/255 − 1)·DR dB
    assert table["lesion_db"] == pytest.approx([(g / 255 - 1) * 60 for g in lesion], abs=1e-4)


def test_tic_table_keeps_nan_for_unmeasured_frames():
    tics = _tics(_frames(np.full(3, 100), np.full(3, 80)), np.arange(3.0))
    tics.power["lesion"][1] = np.nan
    table = tic_table(tics)
    assert np.isnan(table["lesion_power"][1]) and np.isnan(table["lesion_db"][1])
    assert np.isfinite(table["lesion_db"][[0, 2]]).all()


def test_a_frame_is_stored_as_numpy_rounds_its_grey_and_marks_what_carries_no_echo():
    """The compiled store gives numpy's rint(clip(nan_to_num(grey), 0, 255)) (run here) and ~echo | ~finite."""
    rng = np.random.default_rng(3)
    grey = rng.uniform(-20, 280, (30, 41)).astype(np.float32)
    grey[::7, ::3] = np.round(grey[::7, ::3]) + 0.5  # halves round to even
    grey[1, :6] = [np.nan, np.inf, -np.inf, 254.5, 0.5, -0.5]
    echo = rng.random(grey.shape) > 0.1
    store = RoiStore("r", (0, 0, 41, 30), np.ones((30, 41), bool), (0, 0, 41, 30), np.zeros((2, 30, 41), np.uint8))
    scratch = np.empty(grey.shape, dtype=bool)
    store.put(1, grey, echo, scratch)
    np.testing.assert_array_equal(store.grey[1], np.rint(np.clip(np.nan_to_num(grey), 0, 255)).astype(np.uint8))
    assert store.invalid is not None
    np.testing.assert_array_equal(store.invalid[1], ~echo | ~np.isfinite(grey))
    assert not store.invalid[0].any() and not store.grey[0].any()
    clean = RoiStore("c", (0, 0, 41, 30), np.ones((30, 41), bool), (0, 0, 41, 30), np.zeros((1, 30, 41), np.uint8))
    clean.put(0, np.nan_to_num(grey, posinf=0, neginf=0), np.ones(grey.shape, bool), scratch)
    assert clean.invalid is None  # allocated only once some pixel carries no echo
