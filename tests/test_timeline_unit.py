"""Unit tests of :mod:`ceuskit.timeline`: per-clip TICs placed on one examination axis, gaps kept.

Each clip's TIC is built by hand (distinct values per clip and ROI), so where every sample must land on the
joined axis is known from construction.
"""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.errors import CeusError, InputError, RoiError
from ceuskit.preprocess.motion import MotionResult
from ceuskit.tic import TicResult
from ceuskit.timeline import Timeline, join


def _tic(times_s, **curves: tuple[float, float]) -> TicResult:
    """A clip's TIC: each ROI's power ``base + k`` at its k-th frame and a constant saturated fraction."""
    times = np.asarray(times_s, dtype=float)
    n = times.size
    power = {name: base + np.arange(n) for name, (base, _) in curves.items()}
    saturated = {name: np.full(n, fraction) for name, (_, fraction) in curves.items()}
    masks = {name: np.ones((2, 2), dtype=bool) for name in curves}
    return TicResult(times, power, MotionResult.still(n, "off"), masks, saturated, dict.fromkeys(curves, 0))


def test_clips_follow_one_another_on_one_axis():
    first = _tic([0.0, 1.0, 2.0], lesion=(10.0, 0.1), liver=(20.0, 0.2))
    late = _tic([90.0, 95.5], lesion=(30.0, 0.3), liver=(40.0, 0.4))
    timeline = join([first, late], ["loop.dcm", "sweep.dcm"])
    assert isinstance(timeline, Timeline)
    assert timeline.times_s.tolist() == [0.0, 1.0, 2.0, 90.0, 95.5]
    assert timeline.names == ("lesion", "liver")
    assert timeline.power.tolist() == [[10, 11, 12, 30, 31], [20, 21, 22, 40, 41]]
    assert timeline.saturated == pytest.approx(np.array([[0.1] * 3 + [0.3] * 2, [0.2] * 3 + [0.4] * 2]))
    assert timeline.segment.tolist() == [0, 0, 0, 1, 1]
    assert timeline.row("liver") == 1 and timeline.row("lesion") == 0


def test_rows_follow_the_names_of_the_first_clip_whatever_the_order_of_the_others():
    first = _tic([0.0, 1.0], liver=(20.0, 0.0), lesion=(10.0, 0.0))
    second = _tic([5.0], lesion=(30.0, 0.0), liver=(40.0, 0.0))
    timeline = join([first, second], ["a", "b"])
    assert timeline.names == ("liver", "lesion")
    assert timeline.power[timeline.row("lesion")].tolist() == [10, 11, 30]
    assert timeline.power[timeline.row("liver")].tolist() == [20, 21, 40]


def test_a_single_clip_is_its_own_timeline_nan_kept():
    tic = _tic([-2.0, 0.5, 0.7, 4.0], lesion=(1.0, 0.0), liver=(2.0, 0.0))
    tic.power["lesion"][2] = np.nan
    timeline = join([tic], ["only"])
    assert timeline.times_s.tolist() == [-2.0, 0.5, 0.7, 4.0]
    assert np.isnan(timeline.power[0, 2]) and timeline.power[0, [0, 1, 3]].tolist() == [1, 2, 4]
    assert timeline.segment.tolist() == [0, 0, 0, 0]


def test_three_clips_are_numbered_in_time_order():
    parts = [_tic([0.0, 1.0], lesion=(0.0, 0.0)), _tic([60.0], lesion=(5.0, 0.0)),
             _tic([120.0, 121.0, 122.0], lesion=(9.0, 0.0))]
    timeline = join(parts, ["a", "b", "c"])
    assert timeline.segment.tolist() == [0, 0, 1, 2, 2, 2]
    assert timeline.power.shape == (1, 6)


def test_clips_with_other_roi_names_raise_roi_error_naming_both():
    first = _tic([0.0], lesion=(1.0, 0.0), liver=(1.0, 0.0))
    other = _tic([10.0], lesion=(1.0, 0.0), parenchyma=(1.0, 0.0))
    with pytest.raises(RoiError) as info:
        join([first, other], ["loop.dcm", "sweep.dcm"])
    message = str(info.value)
    assert isinstance(info.value, CeusError) and "\n" not in message
    assert message == ("the ROIs of sweep.dcm are named lesion, parenchyma, those of loop.dcm lesion, liver: "
                       "give every clip of the examination the same ROI names")


def test_a_clip_missing_an_roi_raises_roi_error():
    with pytest.raises(RoiError, match="the ROIs of b are named lesion"):
        join([_tic([0.0], lesion=(1.0, 0.0), liver=(1.0, 0.0)), _tic([5.0], lesion=(1.0, 0.0))], ["a", "b"])


@pytest.mark.parametrize("second_times", [[1.5, 3.0], [2.0, 3.0], [-5.0, -4.0]])
def test_overlapping_or_touching_clips_raise_input_error(second_times):
    first = _tic([0.0, 1.0, 2.0], lesion=(1.0, 0.0))
    with pytest.raises(InputError, match="the clips overlap in time; check their acquisition times or --clip-offset"):
        join([first, _tic(second_times, lesion=(1.0, 0.0))], ["a", "b"])
