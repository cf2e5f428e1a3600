"""Display maps: colour-mapped screens read back to the grey index through their map, grey screens as before.

Truth: the grey index the phantom renderer produced and the simulator's own colour tables
(``ceuskit.simulate.display.COLOUR_MAPS``); grey displays against ``ceuskit.pixels.to_grey``
(the reading before display maps existed), bit for bit.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from display_screens import runs_of, screen

from ceuskit.cli import main
from ceuskit.errors import ClipError
from ceuskit.feed import display_maps
from ceuskit.io import open_clip
from ceuskit.pixels import to_grey
from ceuskit.preprocess.colour_bar import find_colour_bars
from ceuskit.preprocess.display import DisplayMap, display_map_of, fit_display_map
from ceuskit.simulate import Phantom, write_dicom
from ceuskit.simulate.display import COLOUR_MAPS, Overlay, colour_bar_box

PLAIN = Phantom(duration_s=90.0, fps=4.0, seed=3)
BT601 = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luma weights


def _visible(frame: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The part of a drawn vertical bar that is not black (a map's black first entry is invisible)."""
    x0, y0, x1, y1 = box
    rows = np.flatnonzero(frame[y0:y1, x0:x1].any(axis=(1, 2)))
    return x0, y0 + int(rows[0]), x1, y0 + int(rows[-1]) + 1


def _index_error(display: DisplayMap, name: str) -> np.ndarray:
    """|recovered index − true index| for each of the map's 256 entries (NaN where read as off the map)."""
    return np.abs(display.to_grey(COLOUR_MAPS[name][None])[0] - np.arange(256))


@pytest.mark.parametrize("name", sorted(COLOUR_MAPS))
def test_simulator_maps_are_non_linear_with_256_distinct_colours(name):
    table = COLOUR_MAPS[name].astype(float)
    assert len(np.unique(table, axis=0)) == 256
    assert np.all(np.diff(table, axis=0) >= 0)
    luma = table @ BT601
    line = np.polyval(np.polyfit(np.arange(256), luma, 1), np.arange(256))
    assert np.abs(luma - line).max() > 10  # luminance is far from proportional to the index


@pytest.mark.parametrize("kind", ["mono8", "mono12", "rgb-grey"])
def test_grey_displays_read_bit_for_bit_as_before(kind):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (2, 40, 50), dtype=np.uint8)
    max_value = 255
    if kind == "mono12":
        grey, max_value = grey.astype(np.uint16) * 16, 4095
    frames = np.repeat(grey[..., None], 3, axis=-1) if kind == "rgb-grey" else grey
    display = fit_display_map([frames], (0, 0, 50, 40), max_value=max_value)
    assert display.kind == display.source == "grey"
    for frame in frames:
        read = display.to_grey(frame)
        expected = to_grey(frame, max_value=max_value)
        assert read.dtype == np.float32 and np.array_equal(read, expected)


def test_coloured_pixels_on_a_grey_display_are_off_the_map():
    frame = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16)[..., None], 3, axis=-1)
    frame[3, 4] = (255, 255, 0)
    frame[9, 9] = (40, 200, 40)
    read = DisplayMap.grey().to_grey(frame)
    assert np.isnan(read[3, 4]) and np.isnan(read[9, 9]) and np.isfinite(read).sum() == 254
    assert DisplayMap.grey().to_grey(frame, off_map=-1.0)[3, 4] == -1.0


@pytest.mark.parametrize("name", sorted(COLOUR_MAPS))
def test_map_from_the_clips_own_colours_is_the_simulators(name):
    shown = screen(PLAIN, colour_map=name)
    display = fit_display_map(runs_of(shown.frames, 16, 2), shown.box)
    assert (display.kind, display.source, display.bar_box) == ("colour", "clip_colours", None)
    error = _index_error(display, name)
    assert np.isfinite(error).all() and error.max() <= 1.0
    x0, y0, x1, y1 = shown.box
    k = shown.frames.shape[0] // 2
    read = display.to_grey(shown.frames[k, y0:y1, x0:x1])
    assert np.abs(read - shown.grey[k, y0:y1, x0:x1]).max() <= 1.0


@pytest.mark.parametrize("name", sorted(COLOUR_MAPS))
def test_map_from_the_colour_bar_is_the_simulators(name):
    shown = screen(PLAIN, colour_map=name, colour_bar=True)
    display = fit_display_map(runs_of(shown.frames, 16, 2), shown.box)
    assert (display.kind, display.source) == ("colour", "colour_bar")
    assert display.bar_box == _visible(shown.frames[0], colour_bar_box(shown.box, *shown.frames.shape[1:3]))
    error = _index_error(display, name)
    assert np.isfinite(error).all() and error.max() <= 1.0


def test_a_small_region_with_rare_entries_still_reads_within_a_level():
    """A 60×60 region sampled in 16 frames misses entries at the bright end; they are extrapolated."""
    shown = screen(PLAIN, colour_map="gold")
    box = (shown.box[0] + 40, shown.box[1] + 40, shown.box[0] + 100, shown.box[1] + 100)
    display = fit_display_map(runs_of(shown.frames, 16, 2), box)
    seen = np.unique(np.concatenate([r[1:, box[1]:box[3], box[0]:box[2]] for r in runs_of(shown.grey, 16, 2)]))
    assert seen.size < 256  # the test is about missing entries
    error = _index_error(display, "gold")
    assert display.source == "clip_colours" and error[seen].max() <= 1.0


@pytest.mark.parametrize("vertical", [True, False])
def test_bar_longer_than_the_map_with_a_black_end(vertical):
    """A 300-px bar repeats entries (floor convention) and its first entry is the black background."""
    table = COLOUR_MAPS["gold"]
    frame = np.zeros((400, 120, 3), dtype=np.uint8)
    rows = np.arange(300)
    frame[50:350, 90:98] = table[(299 - rows) * 256 // 300][:, None, :]  # bright end at the top
    if not vertical:
        frame = frame.transpose(1, 0, 2).copy()
    bars = find_colour_bars([frame, frame], (0, 0, 60, 60), darkest=np.zeros(3))
    assert len(bars) == 1
    bar_box, curve = bars[0]
    visible = _visible(frame if vertical else frame.transpose(1, 0, 2), (90, 50, 98, 350))
    assert visible == (90, 50, 98, 348)  # entry 0 (black) fills the last 2 rows
    assert bar_box == (visible if vertical else (visible[1], visible[0], visible[3], visible[2]))
    display = DisplayMap("colour", "colour_bar", curve=curve, tolerance=3.0, bar_box=bar_box)
    assert _index_error(display, "gold").max() <= 0.5


def test_overlay_colours_are_off_a_colour_map():
    shown = screen(PLAIN, colour_map="gold")
    display = fit_display_map(runs_of(shown.frames, 16, 2), shown.box)
    overlay_colours = np.array([[[255, 255, 255], [255, 255, 0], [0, 255, 255], [200, 200, 200], [0, 255, 0]]],
                               dtype=np.uint8)
    assert np.isnan(display.to_grey(overlay_colours)).all()
    with_overlays = screen(PLAIN, colour_map="gold", overlays=("timer", "mi", "markers", "calliper"))
    refit = fit_display_map(runs_of(with_overlays.frames, 16, 2), with_overlays.box)
    assert refit.source == "clip_colours" and _index_error(refit, "gold").max() <= 1.0


def test_sixteen_bit_palette_values_scale_to_the_same_map():
    shown = screen(PLAIN, colour_map="bronze")
    runs = [run.astype(np.uint16) * 257 for run in runs_of(shown.frames, 16, 2)]
    display = fit_display_map(runs, shown.box, max_value=65535)
    assert display.source == "clip_colours"
    assert np.abs(display.to_grey(COLOUR_MAPS["bronze"][None].astype(np.uint16) * 257)[0] - np.arange(256)).max() <= 1


def _two_dimensional_colours(n: int = 6) -> np.ndarray:
    """Frames whose colours fill a 2-D patch of RGB (hue independent of brightness): no 1-D map."""
    rng = np.random.default_rng(4)
    frames = np.zeros((n, 64, 64, 3), dtype=np.uint8)
    frames[..., 0] = rng.integers(0, 256, (n, 64, 64))
    frames[..., 1] = rng.integers(0, 256, (n, 64, 64))
    frames[..., 2] = 60
    return frames


def test_colours_off_one_curve_fall_back_to_luminance_with_a_note():
    frames = _two_dimensional_colours()
    display = fit_display_map([frames[:2], frames[2:4], frames[4:]], (0, 0, 64, 64))
    assert (display.kind, display.source) == ("colour", "luminance")
    assert "colour map not recovered" in display.note and display.to_json()["note"] == display.note
    assert np.array_equal(display.to_grey(frames[0]), to_grey(frames[0]))


def test_colours_off_one_curve_raise_when_asked(tmp_path):
    frames = _two_dimensional_colours()
    path = tmp_path / "clip.npz"
    np.savez(path, frames=frames, times_s=np.arange(frames.shape[0]) * 0.25)
    with open_clip(path) as clip, pytest.raises(ClipError, match=r"clip\.npz: the colour-mapped display cannot be read"):
        display_map_of(clip, fallback="raise")
    with pytest.raises(ValueError, match="fallback"):
        fit_display_map([frames], (0, 0, 64, 64), fallback="ignore")


def test_through_the_dicom_reader_and_ceuskit_info(tmp_path, capsys):
    shown = screen(PLAIN, colour_map="gold", colour_bar=True, overlays=(Overlay("plus", (100, 100), colour=(255, 255, 0)),))
    layout = shown.rendered["layout"]
    write_dicom(tmp_path / "gold.dcm", shown.frames, shown.times, PLAIN, layout)
    write_dicom(tmp_path / "grey.dcm", shown.grey, shown.times, PLAIN, layout)
    with open_clip(tmp_path / "gold.dcm") as clip:
        display = display_maps(clip).ceus
        assert display.source == "colour_bar" and _index_error(display, "gold").max() <= 1.0
    assert main(["info", str(tmp_path / "gold.dcm"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["display"]["kind"] == "colour" and info["display"]["source"] == "colour_bar"
    assert info["display"]["colour_bar"] == list(_visible(shown.frames[0], colour_bar_box(shown.box, *shown.frames.shape[1:3])))
    assert main(["info", str(tmp_path / "grey.dcm")]) == 0
    assert "display: grey" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "gold.dcm")]) == 0
    assert "display: colour map (from colour_bar)" in capsys.readouterr().out


def test_dual_display_maps_each_half(tmp_path):
    ph = Phantom(duration_s=40.0, fps=4.0, seed=8, dual=True)
    shown = screen(ph, colour_map="bronze")
    write_dicom(tmp_path / "dual.dcm", shown.frames, shown.times, ph, shown.rendered["layout"])
    with open_clip(tmp_path / "dual.dcm") as clip:
        assert clip.layout == "dual"
        displays = display_maps(clip)
        assert displays.ceus.source == "clip_colours"
        assert displays.bmode is not None and displays.bmode.kind == "grey"
        assert display_maps(clip, bmode=False).bmode is None
