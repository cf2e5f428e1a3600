"""The phantom's anatomy (issue 24) checked against its own definitions: outlines, rims, heterogeneity, vessels,
further lesions, attenuation, true masks, and examinations whose anatomy moves with the probe."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage
from skimage.measure import regionprops

from ceuskit.errors import InputError
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.simulate import Phantom, contrast_curves, render_frames, truth_masks
from ceuskit.simulate.anatomy import RIM_CORE_FRACTION, decode_labels, encode_labels, uses_anatomy
from ceuskit.simulate.curves import vessel_curve
from ceuskit.simulate.examination import probe_moves_within, simulate_examination

SHORT = {"duration_s": 30.0, "fps": 4.0}


def _power(frames: np.ndarray, dynamic_range_db: float) -> np.ndarray:
    return grey_to_power(frames.astype(np.float32), dynamic_range_db)


def test_defaults_use_no_anatomy_and_an_anatomy_seed_alone_changes_nothing():
    ph = Phantom(**SHORT)
    assert not uses_anatomy(ph)
    a, b = render_frames(ph), render_frames(replace(ph, anatomy_seed=7))
    assert np.array_equal(a["frames"], b["frames"])
    assert a["roi"] == b["roi"]


def test_true_mask_of_the_default_lesion_is_its_ellipse_where_the_reference_frame_shows_it():
    ph = Phantom(**SHORT)
    truth = render_frames(ph)["truth"]
    masks = truth_masks(truth["masks"])
    x0, y0 = truth["ceus_box"][:2]
    dx, dy = truth["shifts_px"][truth["masks"]["frame"]]
    yy, xx = np.mgrid[0:masks["lesion"].shape[0], 0:masks["lesion"].shape[1]]
    (cx, cy), (rx, ry) = ph.lesion_center_px, ph.lesion_radii_px
    ellipse = ((xx - x0 - dx - cx) / rx) ** 2 + ((yy - y0 - dy - cy) / ry) ** 2 <= 1.0
    assert np.array_equal(masks["lesion"], ellipse)
    assert masks["parenchyma"].sum() + ellipse.sum() == ph.rows * ph.columns  # the rest of the image is liver
    assert not masks["vessel"].any()


def test_labels_round_trip_through_their_run_length_code():
    labels = np.random.default_rng(0).integers(0, 4, (17, 23)).astype(np.uint8)
    assert np.array_equal(decode_labels(encode_labels(labels), labels.shape), labels)


def test_an_irregular_outline_is_star_shaped_within_its_irregularity_of_the_ellipse():
    irregularity = 0.3
    ph = Phantom(**SHORT, lesion_irregularity=irregularity)
    truth = render_frames(ph)["truth"]
    lesion = truth_masks(truth["masks"])["lesion"]
    cx, cy = truth["lesions"][0]["center_px"]
    rx, ry = ph.lesion_radii_px
    edge = lesion & ~ndimage.binary_erosion(lesion)
    rows, cols = np.nonzero(edge)
    rho = np.hypot((cols - cx) / rx, (rows - cy) / ry)
    assert rho.max() <= 1 + irregularity + 0.1 and rho.min() >= 1 - irregularity - 0.1
    assert np.abs(rho - 1).max() > irregularity / 4  # not an ellipse
    # star-shaped: every pixel on the segment from the centre to an inside pixel is inside
    for r, c in zip(rows[::7], cols[::7], strict=True):
        t = np.linspace(0, 1, 50)
        assert lesion[np.round(cy + t * (r - cy)).astype(int), np.round(cx + t * (c - cx)).astype(int)].mean() > 0.95


def test_a_rim_enhancing_lesion_s_core_enhances_its_stated_fraction_of_the_rim():
    ph = Phantom(duration_s=40.0, fps=8.0, lesion_rim_px=6.0, lesion_radii_px=(30.0, 26.0))
    rendered = render_frames(ph)
    truth = rendered["truth"]
    lesion = truth_masks(truth["masks"])["lesion"]
    core = ndimage.binary_erosion(lesion, iterations=6 + 3)
    rim = lesion & ~ndimage.binary_erosion(lesion, iterations=6 - 2) & ndimage.binary_erosion(lesion, iterations=2)
    ref = truth["masks"]["frame"]
    frames = rendered["frames"][ref - 4:ref + 5].astype(float)  # no breathing: the masks hold for every frame
    power = _power(frames, ph.dynamic_range_db).mean(axis=0) - ph.tissue_power
    assert power[core].mean() / power[rim].mean() == pytest.approx(RIM_CORE_FRACTION, abs=0.05)


def test_heterogeneity_keeps_the_lesion_s_mean_and_spreads_its_pixels():
    base = Phantom(duration_s=40.0, fps=8.0)
    plain, patchy = render_frames(base), render_frames(replace(base, lesion_heterogeneity=0.6))
    lesion = truth_masks(plain["truth"]["masks"])["lesion"]
    ref = plain["truth"]["masks"]["frame"]
    images = [ndimage.gaussian_filter(_power(r["frames"][ref - 8:ref + 9], base.dynamic_range_db).mean(axis=0), 2)
              for r in (plain, patchy)]
    assert images[1][lesion].mean() == pytest.approx(images[0][lesion].mean(), rel=0.06)
    inner = ndimage.binary_erosion(lesion, iterations=4)
    assert images[1][inner].std() > 2 * images[0][inner].std()


def test_vessels_are_long_thin_outside_the_lesion_and_enhance_early_and_bright():
    ph = Phantom(**SHORT, vessels=3, seed=4)
    truth = render_frames(ph)["truth"]
    masks = truth_masks(truth["masks"])
    assert masks["vessel"].any() and not (masks["vessel"] & masks["lesion"]).any()
    distance = ndimage.distance_transform_edt(~masks["lesion"])
    assert distance[masks["vessel"]].min() >= 2.0
    long_ones = [r for r in regionprops(ndimage.label(masks["vessel"])[0]) if r.axis_major_length >= 30]
    assert long_ones and all(r.axis_major_length / max(r.axis_minor_length, 1) >= 5 for r in long_ones)
    t = np.arange(0, 60, 0.1)
    _liver, lesion = contrast_curves(ph, t)
    vessel = vessel_curve(ph, t, gain=2.5)
    first = {name: t[np.argmax(curve > 0.05 * curve.max())] for name, curve in (("vessel", vessel), ("lesion", lesion))}
    assert first["vessel"] < first["lesion"] - 1.0
    assert vessel.max() > 2 * lesion.max()


def test_further_lesions_have_their_labels_rois_and_patterns():
    ph = Phantom(**SHORT, more_lesions=((40.0, 130.0, 10.0, 8.0, "hypo-none-hypo"),))
    rendered = render_frames(ph)
    truth = rendered["truth"]
    masks = truth_masks(truth["masks"])
    assert masks["lesion3"].sum() == pytest.approx(np.pi * 10 * 8, rel=0.08)
    assert [item["name"] for item in truth["lesions"]] == ["lesion", "lesion3"]
    assert truth["lesions"][1]["pattern"] == "hypo-none-hypo"
    assert "lesion3" in {roi["name"] for roi in rendered["roi"]["rois"]}
    with pytest.raises(InputError):
        replace(ph, more_lesions=((40.0, 130.0, 10.0, 8.0, "no-such"),)).check()


def test_attenuation_darkens_the_deep_rows_by_its_stated_decibels():
    ph = Phantom(duration_s=34.0, fps=4.0, attenuation_db=12.0)
    rendered = render_frames(ph)
    x0, y0, x1, y1 = rendered["truth"]["ceus_box"]
    # liver near its contrast peak (far above the electronic noise), in columns clear of the lesion
    liver = _power(rendered["frames"][-20:, y0:y1, x0:x0 + 50], ph.dynamic_range_db).mean(axis=(0, 2))
    top, bottom = liver[:10].mean(), liver[-10:].mean()
    expected = 12.0 * (ph.rows - 10) / (ph.rows - 1)  # the two bands' centres are that far apart in depth
    assert 10 * np.log10(top / bottom) == pytest.approx(expected, abs=1.0)


def test_probe_moves_stay_within_the_largest_and_keep_the_lesion_in_view():
    ph = Phantom(lesion_center_px=(60.0, 50.0))
    moves = probe_moves_within(52.0, 20, seed=3, phantom=ph)
    lengths = np.hypot(*np.array(moves).T)
    assert lengths.max() <= 52.5 and lengths.min() >= 52 / 4 - 0.5
    for dx, dy in moves:
        assert 26 <= 60 + dx <= ph.columns - 26 and 22 <= 50 + dy <= ph.rows - 22


def test_an_examination_s_anatomy_moves_with_the_probe(tmp_path):
    ph = Phantom(vessels=2, lesion_irregularity=0.2, more_lesions=((150.0, 120.0, 9.0, 8.0, "hypo-none-hypo"),))
    exam = simulate_examination(tmp_path, ph, loop_s=20.0, sweeps_s=(30.0,), sweep_duration_s=3.0,
                                probe_moves_px=((-12.0, 7.0),))
    loop, sweep = exam.truth_data["clips"]
    labels = []
    for clip in (loop, sweep):  # each clip's labels moved back by its breathing shift and probe move
        image = decode_labels(clip["masks"]["runs"], clip["masks"]["shape"])
        dx, dy = clip["shifts_px"][clip["masks"]["frame"]]
        mx, my = clip["probe_move_px"]
        labels.append(np.roll(np.roll(image, -int(dy + my), 0), -int(dx + mx), 1))
    inner = (slice(40, 140), slice(40, 180))
    assert np.array_equal(labels[0][inner], labels[1][inner])
