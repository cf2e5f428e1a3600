"""The simulator's screen (``simulate.display``) is the display tests' source of truth, so it is checked itself."""

from __future__ import annotations

import numpy as np
import pytest

from ceuskit.simulate import Phantom, render_frames
from ceuskit.simulate.display import (
    COLOUR_MAPS,
    Overlay,
    apply_colour_map,
    apply_display,
    colour_bar_box,
    default_overlays,
)


@pytest.fixture(scope="module")
def rendered():
    return render_frames(Phantom(duration_s=8.0, fps=4.0, seed=2))


def test_colour_map_only_inside_the_image_and_input_untouched(rendered):
    frames, box = rendered["frames"], rendered["layout"].ceus_box
    before = frames.copy()
    shown, truth = apply_display(frames, rendered["times"], box, colour_map="gold")
    assert np.array_equal(frames, before) and not truth.any()
    assert shown.shape == frames.shape + (3,) and shown.dtype == np.uint8
    x0, y0, x1, y1 = box
    assert np.array_equal(shown[:, y0:y1, x0:x1], COLOUR_MAPS["gold"][frames[:, y0:y1, x0:x1]])
    outside = np.ones(frames.shape[1:], dtype=bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(shown[:, outside], np.repeat(frames[:, outside][..., None], 3, axis=-1))


def test_grey_screen_with_grey_overlays_stays_grey(rendered):
    shown, truth = apply_display(rendered["frames"], rendered["times"], rendered["layout"].ceus_box,
                                 overlays=("timer", "mi", "calliper"))
    assert shown.ndim == 3 and truth.any()
    assert set(np.unique(shown[:, truth])) <= set(np.unique(rendered["frames"])) | {200, 255}


def test_overlay_truth_is_what_was_drawn(rendered):
    frames, times, box = rendered["frames"], rendered["times"], rendered["layout"].ceus_box
    plain, _ = apply_display(frames, times, box, colour_map="bronze")
    shown, truth = apply_display(frames, times, box, colour_map="bronze", overlays=("timer", "mi", "markers", "calliper"))
    changed = np.any(shown != plain, axis=(0, 3))
    assert np.array_equal(changed & ~truth, np.zeros_like(truth))  # nothing drawn outside the truth
    assert changed[truth].mean() >= 0.99  # and the truth was drawn (a pixel may already show its colour)
    x0, y0, x1, y1 = box
    ys, xs = np.nonzero(truth)
    assert xs.min() >= x0 and xs.max() < x1 and ys.min() >= y0 and ys.max() < y1


def test_timer_changes_with_the_second():
    timer = Overlay("timer", (4, 4))
    assert np.array_equal(timer.mask(30, 60, 1.2), timer.mask(30, 60, 1.9))
    assert not np.array_equal(timer.mask(30, 60, 1.9), timer.mask(30, 60, 2.0))
    assert np.array_equal(timer.mask(30, 60, -3.0), timer.mask(30, 60, 0.0))  # before the start: 00:00
    assert not np.array_equal(timer.mask(30, 60, 59.0), timer.mask(30, 60, 60.0))  # 00:59 → 01:00


def test_colour_bar_beside_the_image_shows_the_whole_map(rendered):
    frames, box = rendered["frames"], rendered["layout"].ceus_box
    rows, columns = frames.shape[1:]
    bar = colour_bar_box(box, rows, columns)
    assert bar[0] >= box[2] + 5 and bar[2] <= columns  # outside the image, with a gap
    shown, _ = apply_display(frames, rendered["times"], box, colour_map="gold", colour_bar=True)
    bx0, by0, bx1, by1 = bar
    strip = shown[0, by0:by1, bx0:bx1]
    assert np.array_equal(strip[0, 0], COLOUR_MAPS["gold"][255]) and np.array_equal(strip[-1, 0], COLOUR_MAPS["gold"][0])
    assert (strip == strip[:, :1]).all()  # constant across its width
    assert np.array_equal(shown[0, by0:by1, bx0:bx1], shown[-1, by0:by1, bx0:bx1])


def test_default_overlays_are_seeded_and_inside():
    box = (10, 20, 210, 180)
    a, b = default_overlays(box, seed=3), default_overlays(box, seed=3)
    assert a == b and a != default_overlays(box, seed=4)
    for overlay in a:
        for x, y in [overlay.at] + ([overlay.to] if overlay.to else []):
            assert box[0] <= x < box[2] and box[1] <= y < box[3]


def test_bad_input_names_the_parameter(rendered):
    frames, times, box = rendered["frames"], rendered["times"], rendered["layout"].ceus_box
    with pytest.raises(ValueError, match="colour_map"):
        apply_display(frames, times, box, colour_map="viridis")
    with pytest.raises(ValueError, match="grey_uint8"):
        apply_colour_map(frames.astype(np.uint16), "gold")
    with pytest.raises(ValueError, match="frames"):
        apply_display(np.stack([frames, frames, frames + 1], axis=-1).astype(np.uint8), times, box)
    with pytest.raises(ValueError, match="times_s"):
        apply_display(frames, times[:-1], box)
    with pytest.raises(ValueError, match="overlays"):
        apply_display(frames, times, box, overlays=("logo",))
    with pytest.raises(ValueError, match="calliper"):
        Overlay("calliper", (1, 1))
