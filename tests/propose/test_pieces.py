"""The proposal engine's pieces on synthetic inputs whose answer is known by construction: polygons from
masks, the outline of a blob with a vessel beside it, the liver reference, the ROI marks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from ceuskit.errors import InputError, RoiError
from ceuskit.propose import accept, mark_edited, parse_click, proposal_state
from ceuskit.propose.contrast import Contrast, vessel_mask
from ceuskit.propose.liver import LiverReference, liver_reference
from ceuskit.propose.outline import lesion_outline
from ceuskit.propose.polygon import mask_to_polygon, polygon_mask
from ceuskit.roi import parse_rois
from ceuskit.simulate.score_proposals import dice


def _blob(shape: tuple[int, int], centre: tuple[float, float], radius: float, wobble: float, seed: int) -> np.ndarray:
    """A lobulated star-shaped blob: r(θ) = radius · (1 + wobble·cos(3θ + φ))."""
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    theta = np.arctan2(rows - centre[0], cols - centre[1])
    phase = np.random.default_rng(seed).uniform(0, 2 * np.pi)
    return np.asarray(np.hypot(rows - centre[0], cols - centre[1]) <= radius * (1 + wobble * np.cos(3 * theta + phase)))


@settings(max_examples=25, deadline=None)
@given(radius=st.floats(6, 30), wobble=st.floats(0, 0.3), seed=st.integers(0, 10_000))
def test_a_mask_s_polygon_rasterises_back_to_it(radius: float, wobble: float, seed: int) -> None:
    mask = _blob((90, 100), (45.3, 50.7), radius, wobble, seed)
    points = mask_to_polygon(mask)
    assert points is not None and len(points) >= 3
    assert dice(polygon_mask(points, mask.shape), mask) >= 0.95


def test_the_polygon_never_covers_an_overlay_even_one_inside_the_lesion() -> None:
    mask = _blob((80, 80), (40, 40), 22, 0.1, 1)
    forbidden = np.zeros(mask.shape, dtype=bool)
    forbidden[38:43, 36:45] = True  # a marker on the lesion's centre
    forbidden[39:42, 39:41] = True
    forbidden[10:14, 30:34] = True  # and one outside
    points = mask_to_polygon(mask, ndimage.binary_dilation(forbidden))
    covered = polygon_mask(points, mask.shape)
    assert not (covered & forbidden).any()
    assert dice(covered, mask & ~forbidden) >= 0.9


def _contrast(a: np.ndarray, early: np.ndarray) -> Contrast:
    return Contrast(a, np.zeros((1, *a.shape)), early, np.ones(a.shape, dtype=bool), np.zeros((1, a.shape[0])),
                    np.arange(1))


def test_the_outline_follows_the_blob_and_leaves_the_vessel_beside_it_out() -> None:
    rng = np.random.default_rng(3)
    shape = (150, 160)
    lesion = _blob(shape, (70, 75), 22, 0.2, 5)
    # a straight vessel 3 px wide passing 3 px outside the lesion, brighter and earlier than the lesion
    distance = ndimage.distance_transform_edt(~lesion)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    line = np.abs((rows - 70) * np.cos(0.4) - (cols - 75) * np.sin(0.4) + 0.0)
    offset = line[lesion].max() + 3 + 1.5
    vessel = (np.abs(line - offset) <= 1.5) & (distance > 2)
    a = 1 + 9 * ndimage.gaussian_filter(lesion.astype(float), 1.0) + 40 * ndimage.gaussian_filter(vessel * 1.0, 0.7)
    a = a + rng.normal(0, 0.3, shape)
    early = 8 * ndimage.gaussian_filter(lesion.astype(float), 1.0) + 60 * ndimage.gaussian_filter(vessel * 1.0, 0.7)
    early = early + rng.normal(0, 0.5, shape)
    contrast = _contrast(np.abs(a), early)
    found = vessel_mask(contrast)
    assert (found & vessel).sum() >= 0.6 * vessel.sum()
    assert (found & lesion).sum() <= 0.02 * lesion.sum()
    for click in [(70.0, 75.0), (62.0, 80.0), (76.0, 68.0)]:  # the centre and points in the inner half
        outline, _vessels = lesion_outline(contrast, click, np.zeros(shape, dtype=bool))
        assert dice(outline.mask, lesion) >= 0.9, click
        assert outline.confidence > 0.5


def test_a_rim_bright_early_on_one_side_only_is_the_lesion_s_not_a_vessel() -> None:
    # a rim-enhancing lesion whose rim enhances early only along its flat top (an open stretch, straight over
    # 25 px and more, as a vessel is): the outline takes the whole lesion, rim included
    rng = np.random.default_rng(5)
    shape = (140, 160)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    lesion = (((rows - 70) / 16) ** 2 + ((cols - 80) / 24) ** 2 <= 1) & (rows >= 60)
    rim = lesion & ~ndimage.binary_erosion(lesion, iterations=4) & (rows < 64)
    a = 1 + 40 * ndimage.gaussian_filter(lesion.astype(float), 1.0) + rng.normal(0, 0.3, shape)
    early = 6 * ndimage.gaussian_filter(lesion.astype(float), 1.0) + 40 * ndimage.gaussian_filter(rim * 1.0, 0.7)
    contrast = _contrast(np.abs(a), early + rng.normal(0, 0.5, shape))
    assert vessel_mask(contrast).any()  # the arc alone is found as a vessel: what the lesion's body must overrule
    for click in [(70.0, 80.0), (74.0, 72.0), (67.0, 88.0)]:
        outline, vessels = lesion_outline(contrast, click, np.zeros(shape, dtype=bool))
        assert not (vessels & rim).any(), click
        assert (outline.mask & rim).sum() >= 0.9 * rim.sum(), click
        assert dice(outline.mask, lesion) >= 0.9, click


def test_a_vessel_along_a_lesion_s_flat_side_stays_a_vessel() -> None:
    # the same D-shaped lesion with no rim, and a vessel 5 px above its flat top no longer than the lesion, fifty
    # times as bright early, its blur joining the two: lying beside the lesion is not enough to be its rim
    rng = np.random.default_rng(5)
    shape = (140, 160)
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    lesion = (((rows - 70) / 16) ** 2 + ((cols - 80) / 24) ** 2 <= 1) & (rows >= 60)
    vessel = (np.abs(rows - 55) <= 1.5) & (cols > 58) & (cols < 104)
    a = (1 + 40 * ndimage.gaussian_filter(lesion.astype(float), 1.0) + 400 * ndimage.gaussian_filter(vessel * 1.0, 2.0)
         + rng.normal(0, 0.3, shape))
    early = 6 * ndimage.gaussian_filter(lesion.astype(float), 1.0) + 300 * ndimage.gaussian_filter(vessel * 1.0, 0.7)
    contrast = _contrast(np.abs(a), early + rng.normal(0, 0.5, shape))
    for click in [(70.0, 80.0), (74.0, 72.0), (67.0, 88.0)]:
        outline, vessels = lesion_outline(contrast, click, np.zeros(shape, dtype=bool))
        assert (vessels & vessel).sum() >= 0.9 * vessel.sum(), click
        assert not (outline.mask & vessel).any(), click
        assert dice(outline.mask, lesion) >= 0.9, click


def test_nothing_to_outline_in_plain_liver() -> None:
    rng = np.random.default_rng(1)
    a = np.abs(1 + rng.normal(0, 0.3, (100, 100)))
    outline, _ = lesion_outline(_contrast(a, np.zeros(a.shape)), (50.0, 50.0), np.zeros(a.shape, dtype=bool))
    assert outline.confidence < 0.1


def _liver_beside(lesion: np.ndarray, vessel: np.ndarray) -> LiverReference | None:
    """The liver reference beside ``lesion`` on an abnormality of 1 (liver), 10 (lesion) and 30 (vessels)."""
    a = np.ones(lesion.shape)
    a[lesion] = 10.0
    a[vessel] = 30.0
    return liver_reference(_contrast(a, np.zeros(lesion.shape)), lesion, vessel, np.zeros(lesion.shape, dtype=bool),
                           spacing_mm=(0.3, 0.3), edge_px=6)


def test_the_liver_reference_sits_at_the_lesion_s_depth_clear_of_it_and_the_vessels() -> None:
    shape = (120, 200)
    lesion = _blob(shape, (60, 70), 15, 0.0, 0)
    vessel = np.zeros(shape, dtype=bool)
    vessel[20:100, 110:113] = True  # a vertical vessel at the lesion's right
    reference = _liver_beside(lesion, vessel)
    assert reference is not None
    disc = reference.mask(shape)
    assert abs(reference.centre_rc[0] - 60) <= 3  # the lesion's depth
    assert reference.radius_px == pytest.approx(np.sqrt(lesion.sum() / np.pi), abs=1.5)  # its size
    assert not (ndimage.binary_dilation(lesion, iterations=4) & disc).any()
    assert not (ndimage.binary_dilation(vessel, iterations=2) & disc).any()
    rows, cols = np.nonzero(disc)
    assert rows.min() >= 6 and cols.min() >= 6 and rows.max() < shape[0] - 6 and cols.max() < shape[1] - 6


def test_a_smaller_liver_reference_at_the_lesion_s_depth_beats_a_full_size_one_at_another_depth() -> None:
    # two horizontal vessels beside the lesion, and the image's edge on its other side, leave room at its depth
    # for discs of two thirds of its radius only; a full-size one fits 19 px (1.6 radii) shallower, where the
    # liver's level differs by attenuation (proposal-18's reference lay 34 px deeper than its lesion and read its
    # late phase 2.7 dB brighter)
    shape = (160, 200)
    lesion = _blob(shape, (50, 40), 12, 0.0, 0)
    vessel = np.zeros(shape, dtype=bool)
    vessel[40:42, 55:195] = True
    vessel[58:60, 55:195] = True
    reference = _liver_beside(lesion, vessel)
    assert reference is not None
    assert abs(reference.centre_rc[0] - 50) <= 3
    assert 0.5 * 12 <= reference.radius_px < 12
    assert not (ndimage.binary_dilation(vessel, iterations=2) & reference.mask(shape)).any()


def test_marks_accept_then_edited_and_counted() -> None:
    proposed = {"reference_frame": 3, "units": "px", "rois": [
        {"name": "lesion", "role": "lesion", "shape": "polygon", "points": [[1, 1], [9, 1], [9, 9]],
         "source": "proposed", "confidence": 0.8},
        {"name": "liver", "role": "parenchyma", "shape": "ellipse", "center": [20, 20], "radii": [4, 4],
         "source": "proposed", "confidence": 0.6},
        {"name": "lesion2", "role": "lesion", "shape": "ellipse", "center": [40, 40], "radii": [3, 3]}]}
    accepted = accept(proposed, ["lesion"])
    assert [r.get("source") for r in accepted["rois"]] == ["accepted", "proposed", None]
    assert proposed["rois"][0]["source"] == "proposed"  # the input is not changed
    moved = accept(proposed)
    moved["rois"][0]["points"][2] = [9, 12]
    del moved["rois"][1]["source"]  # a client that dropped the marks of an unchanged ROI
    edited = mark_edited(accept(proposed), moved)
    assert [r.get("source") for r in edited["rois"]] == ["edited", "accepted", None]
    assert edited["rois"][0]["confidence"] == 0.8
    assert proposal_state(edited) == {"proposed": 0, "accepted": 1, "edited": 1, "drawn": 1}


def test_roi_files_keep_the_marks_and_check_them() -> None:
    document = {"rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [5, 5],
                          "radii": [2, 2], "source": "accepted", "confidence": 0.75}]}
    again = parse_rois(document).to_json()["rois"][0]
    assert again["source"] == "accepted" and again["confidence"] == 0.75
    assert parse_rois(document).translated(2, 1).to_json()["rois"][0]["source"] == "accepted"
    for bad in ({"source": "guessed"}, {"confidence": 1.5}, {"confidence": "high"}, {"confidence": float("nan")}):
        with pytest.raises(RoiError):
            parse_rois({"rois": [{**document["rois"][0], **bad}]})
    plain = {"rois": [{"name": "lesion", "role": "lesion", "shape": "ellipse", "center": [5, 5], "radii": [2, 2]}]}
    assert "source" not in parse_rois(plain).to_json()["rois"][0]  # drawn by hand, as before


@pytest.mark.parametrize(("text", "expected"), [("120,80", (120.0, 80.0, None)), (" 12.5, 7 @ 40", (12.5, 7.0, 40))])
def test_clicks_are_read(text: str, expected: tuple) -> None:
    assert parse_click(text) == expected


@pytest.mark.parametrize("text", ["120", "1,2,3", "a,b", "1,2@-1", "1,2@x", "nan,3"])
def test_bad_clicks_say_the_form(text: str) -> None:
    with pytest.raises(InputError, match="X,Y"):
        parse_click(text)


def test_a_proposal_reads_frames_at_its_set_rates_and_every_sparse_frame() -> None:
    from ceuskit.propose.thinning import DENSE_READ_S, LATE_READ_FPS, READ_FPS, read_frames

    rng = np.random.default_rng(4)
    dense = np.arange(0, 180, 1 / 8) + rng.uniform(-0.01, 0.01, 1440)  # 8 frames/s, jittered
    sparse = np.arange(185, 240, 5.0)  # then one frame every 5 s
    times = np.concatenate([dense, sparse])
    injection_s, frame = 3.0, 333
    index = read_frames(times, frame, injection_s)
    kept = times[index]
    assert frame in index and np.all(np.diff(index) > 0)
    early = kept[kept - injection_s <= DENSE_READ_S]
    late = kept[(kept - injection_s > DENSE_READ_S + 1) & (kept < 180)]
    # the gaps are whole frames of 1/8 s, at least 0.9 of the target interval
    assert np.allclose(np.median(np.diff(early)), 1 / READ_FPS, atol=0.02)
    assert np.allclose(np.median(np.diff(late)), 1 / LATE_READ_FPS, atol=0.02)
    assert set(sparse) <= set(kept)
    assert np.diff(kept).min() >= 0.9 / READ_FPS


def test_late_frames_are_tracked_at_the_late_rate_and_the_others_take_interpolated_shifts() -> None:
    from ceuskit.propose.thinning import DENSE_READ_S, LATE_TRACK_FPS, interpolated_motion, read_frames

    times = np.arange(0, 150, 0.25)  # a clip read at 4 frames/s
    injection_s, frame = 2.0, 60
    index = read_frames(times, frame, injection_s, late_fps=LATE_TRACK_FPS)
    late = times[index][times[index] - injection_s > DENSE_READ_S + 1]
    assert np.allclose(np.median(np.diff(late)), 1 / LATE_TRACK_FPS) and frame in index
    # a tissue moving linearly in time: the interpolated whole-pixel shifts are the exact ones, rounded
    exact = np.stack([np.rint(0.3 * times), np.rint(-0.2 * times)], axis=1).astype(int)
    truth = np.stack([0.3 * times, -0.2 * times], axis=1)
    rejected = np.zeros(index.size, dtype=bool)
    rejected[-10] = True  # one tracked frame out of plane: its untracked neighbours are left out too
    tracked = np.ones(index.size, dtype=bool)
    shifts, out_rejected, out_tracked = interpolated_motion(times, index, np.rint(truth[index]).astype(int),
                                                            rejected, tracked)
    assert np.abs(shifts - truth).max() <= 1.0
    assert np.array_equal(shifts[index], exact[index])
    between = np.arange(index[-11] + 1, index[-9])
    assert out_rejected[between].all() and out_rejected.sum() == between.size
    assert out_tracked.all()
