"""Rendering the phantom frame by frame: speckle, log compression, breathing, out-of-plane frames, layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.phases import ARTERIAL_WINDOW_S
from ceuskit.preprocess.linearize import power_to_grey
from ceuskit.quality import SATURATION_WINDOW_S
from ceuskit.roi import parse_rois
from ceuskit.simulate.anatomy import VESSEL_LABEL, encode_labels
from ceuskit.simulate.destruction import kinetics_truth
from ceuskit.simulate.display import Overlay, apply_display
from ceuskit.simulate.phantom import Phantom
from ceuskit.simulate.realism import LESION_ROI_SCALE
from ceuskit.simulate.scene import (
    NOISE_POWER,
    Layout,
    _speckle,
    build_scene,
    in_plane_contrast,
    layout_of,
    noiseless_image,
    view_of,
)

__all__ = ["Layout", "layout_of", "render_frames"]



def _burn_in_text(frame: np.ndarray, seed: int) -> None:
    """Fake burned-in annotation (blocks shaped like a text line) above the image region."""
    rng = np.random.default_rng(seed + 99)
    x = 6
    while x < frame.shape[1] - 12:
        w = int(rng.integers(3, 7))
        frame[6:16, x:x + w] = 220
        x += w + int(rng.integers(2, 6))


def _roi_document(ph: Phantom, reference_frame: int, layout: Layout, shift: np.ndarray,
                  labels: np.ndarray | None = None) -> dict[str, Any]:
    """Return the phantom's ROI file.

    Each lesion's inner ellipse (¾ of its radii, less on an irregular outline) and a liver polygon at the
    lesion's depth; with anatomy (``labels``, the true label image of the reference frame) the liver polygon
    is moved where it covers parenchyma only.
    """
    x0, y0 = layout.ceus_box[:2]
    cx, cy = ph.lesion_center_px
    rx, ry = ph.lesion_radii_px
    dx, dy = int(shift[0]), int(shift[1])
    inner = LESION_ROI_SCALE * (1.0 - ph.lesion_irregularity) if ph.lesion_irregularity else LESION_ROI_SCALE
    lesion = {"name": "lesion", "role": "lesion", "shape": "ellipse",
              "center": [x0 + cx + dx, y0 + cy + dy], "radii": [round(inner * rx, 1), round(inner * ry, 1)],
              "reference": "liver"}
    more = [{"name": f"lesion{k + 3}", "role": "lesion", "shape": "ellipse", "center": [x0 + mx + dx, y0 + my + dy],
             "radii": [round(inner * mrx, 1), round(inner * mry, 1)], "reference": "liver"}
            for k, (mx, my, mrx, mry, _pattern) in enumerate(ph.more_lesions)
            # a further lesion the (moved) probe does not show whole gets no ROI
            if 0 <= mx + dx - mrx and mx + dx + mrx < ph.columns and 0 <= my + dy - mry and my + dy + mry < ph.rows]
    # parenchyma: a polygon at a similar depth, well clear of the lesion
    lx = cx - rx - 14 if cx > ph.columns / 2 else cx + rx + 14
    half_w = 10
    pts = [[lx - half_w, cy - 18], [lx + half_w, cy - 18], [lx + half_w, cy + 18], [lx - half_w, cy + 18]]
    if lx - half_w < 4 or lx + half_w > ph.columns - 4:
        lx = cx
        pts = [[lx - 30, cy + ry + 10], [lx + 30, cy + ry + 10], [lx + 30, cy + ry + 26], [lx - 30, cy + ry + 26]]
    points = [[x0 + px + dx, y0 + py + dy] for px, py in pts]
    if labels is not None:
        points = _clear_of_anatomy(points, labels)
    liver = {"name": "liver", "role": "parenchyma", "shape": "polygon", "points": points}
    return {"reference_frame": int(reference_frame), "units": "px", "rois": [lesion, *more, liver]}


def _clear_of_anatomy(points: list[list[float]], labels: np.ndarray) -> list[list[float]]:
    """Return the liver polygon moved to where it and 3 px around it are parenchyma (label 2) only.

    It moves rows first, then columns, nearest first; it is unchanged when it is already or when no such place
    exists.
    """
    # scikit-image is unannotated (no stubs): its calls carry type: ignore[no-untyped-call] and are checked by the
    # tests, not by mypy; unused-ignore: without --strict mypy does not flag untyped calls
    from skimage.draw import polygon as draw_polygon

    clear = ndimage.binary_erosion(labels == 2, iterations=3)
    pts = np.asarray(points, dtype=float)
    offsets = sorted(((ox, oy) for ox in range(-90, 91, 3) for oy in range(-40, 41, 3)),
                     key=lambda o: (abs(o[1]), abs(o[0])))
    for ox, oy in offsets:
        rr, cc = draw_polygon(pts[:, 1] + oy, pts[:, 0] + ox)  # type: ignore[no-untyped-call, unused-ignore]
        if rr.size and rr.min() >= 0 and cc.min() >= 0 and rr.max() < labels.shape[0] and cc.max() < labels.shape[1] \
                and clear[rr, cc].all():
            return [[x + ox, y + oy] for x, y in points]
    return points


def _saturated_fraction(frames: np.ndarray, t_inj: np.ndarray, truth_tic: dict[str, list[float]],
                        masks: dict[str, np.ndarray], moves: np.ndarray, out_of_plane: np.ndarray,
                        window_s: float = SATURATION_WINDOW_S) -> dict[str, float]:
    """Per ROI, the fraction of its pixels at display white (255) near its first-pass peak.

    Frames count that are in-plane and within ``window_s`` of the ROI's own first-pass peak (its noiseless
    curve's maximum in the arterial window): the ``saturation`` flag's definition.
    """
    out = {}
    arterial = (t_inj >= ARTERIAL_WINDOW_S[0]) & (t_inj <= ARTERIAL_WINDOW_S[1])
    for name, mask in masks.items():
        curve = np.where(arterial, np.asarray(truth_tic[name]), -np.inf)
        peak_s = float(t_inj[int(np.argmax(curve))])
        near = np.flatnonzero((np.abs(t_inj - peak_s) <= window_s) & ~out_of_plane)
        at_white = [(frames[k][..., 0] if frames.ndim == 4 else frames[k])[
            np.roll(np.roll(mask, int(moves[k][1]), axis=0), int(moves[k][0]), axis=1)] >= 255 for k in near]
        out[name] = float(np.mean(np.concatenate(at_white))) if at_white else 0.0
    return out


def _region_weights(lesion_weight: np.ndarray, perfusion: np.ndarray, margin: int, shift: np.ndarray, ph: Phantom,
                    layout: Layout, masks: dict[str, np.ndarray], gain: float) -> dict[str, tuple[float, float]]:
    """Per ROI at the reference frame, the mean of gain × perfusion × (liver share, lesion share).

    Its noiseless mean is tissue + these weights times the liver's and the lesion's blood levels.
    """
    dx, dy = (int(v) for v in shift)
    view = (slice(margin - dy, margin - dy + ph.rows), slice(margin - dx, margin - dx + ph.columns))
    x0, y0, x1, y1 = layout.ceus_box
    out = {}
    for name, mask in masks.items():
        shares = []
        for share in (1 - lesion_weight[view], lesion_weight[view]):
            full = np.zeros((layout.rows, layout.columns))
            full[y0:y1, x0:x1] = gain * perfusion[view] * share
            shares.append(float(full[mask].mean()))
        out[name] = (shares[0], shares[1])
    return out


def _screen(ph: Phantom, frames: np.ndarray, times_s: np.ndarray, layout: Layout, roi_doc: dict[str, Any]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Return the scanner's screen over the grey frames.

    Colour map, colour bar, burned-in overlays (with their mask).

    ``overlays`` names go to :func:`ceuskit.simulate.display.default_overlays`; "lesion-marker" puts a yellow
    + on the lesion's centre in the reference frame (an overlay that touches an ROI).
    """
    if ph.colour_map is None and not ph.colour_bar and not ph.overlays:
        return frames, np.zeros(frames.shape[1:3], dtype=bool)
    items: list[str | Overlay] = [name for name in ph.overlays if name != "lesion-marker"]
    if "lesion-marker" in ph.overlays:
        cx, cy = roi_doc["rois"][0]["center"]
        items.append(Overlay("plus", (int(round(cx)), int(round(cy))), colour=(255, 255, 0)))
    # the elapsed-time counter shows time since the recording started
    return apply_display(frames, times_s - times_s[0], layout.ceus_box, colour_map=ph.colour_map,
                         colour_bar=ph.colour_bar, overlays=items, seed=ph.seed)



def _label_names(ph: Phantom) -> dict[str, int]:
    names = {"lesion": 1, "parenchyma": 2}
    names.update({f"lesion{k + 3}": k + 3 for k in range(len(ph.more_lesions))})
    names["vessel"] = VESSEL_LABEL
    return names


def _lesion_truth(ph: Phantom, layout: Layout, shift: np.ndarray) -> list[dict[str, Any]]:
    """Each lesion's name, label, pattern, centre (full-frame px on the reference frame) and radii."""
    x0, y0 = layout.ceus_box[:2]
    dx, dy = float(shift[0]), float(shift[1])
    specs = [(ph.lesion_center_px[0], ph.lesion_center_px[1], *ph.lesion_radii_px, ph.pattern), *ph.more_lesions]
    return [{"name": "lesion" if k == 0 else f"lesion{k + 2}", "label": 1 if k == 0 else k + 2, "pattern": pattern,
             "center_px": [x0 + cx + dx, y0 + cy + dy], "radii_px": [rx, ry]}
            for k, (cx, cy, rx, ry, pattern) in enumerate(specs)]


def render_frames(ph: Phantom, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Render the phantom: uint8 frames, times, shifts and noiseless per-ROI truth.  Returns a dict."""
    spec = ph.pattern_spec()
    scene = build_scene(ph)
    rng, times, t_inj, shifts, out_of_plane = scene.rng, scene.times, scene.t_inj, scene.shifts, scene.out_of_plane
    layout, margin, perfusion, anatomy = scene.layout, scene.margin, scene.perfusion, scene.anatomy
    n, ref_frame, labels, timing = times.size, scene.ref_frame, scene.labels, scene.timing
    hypoechoic = scene.lesion_weight if anatomy is None else anatomy.bmode_weight()
    bmode_reflectivity = 10 ** (-22 / 10) * (1.0 - 0.5 * hypoechoic)
    roi_doc = _roi_document(ph, ref_frame, layout, shifts[ref_frame], labels if anatomy is not None else None)
    frames = np.zeros((n, layout.rows, layout.columns) + ((3,) if ph.rgb else ()), dtype=np.uint8)
    base = np.zeros((layout.rows, layout.columns), dtype=np.uint8)
    _burn_in_text(base, ph.seed)
    rois = parse_rois(roi_doc)
    roi_masks_ref = {r.name: r.mask(layout.rows, layout.columns) for r in rois.rois}
    truth_tic: dict[str, list[float]] = {name: [] for name in roi_masks_ref}
    x0, y0, x1, y1 = layout.ceus_box
    gain, frame_gain, depth = scene.gain, scene.frame_gain, scene.depth
    for k in range(n):
        view = view_of(scene, k)
        local_perfusion = perfusion[view]
        in_plane = in_plane_contrast(scene, view, k)
        noiseless = noiseless_image(scene, view, k, in_plane)  # the truth: what the ROI sees in the lesion's plane
        contrast = in_plane if not out_of_plane[k] else local_perfusion[::-1, ::-1] * scene.liver_curve[k]
        contrast_speckle = _speckle((ph.rows, ph.columns), rng)
        speckle = scene.tissue_speckle[view] if not out_of_plane[k] else _speckle((ph.rows, ph.columns), rng)
        power = ph.tissue_power * speckle + contrast * contrast_speckle
        if ph.attenuation_db:
            power = power * depth
        power += NOISE_POWER * rng.exponential(1.0, power.shape)
        power *= gain * frame_gain[k]
        frame = base.copy()
        frame[y0:y1, x0:x1] = np.round(power_to_grey(power, ph.dynamic_range_db)).astype(np.uint8)
        if layout.bmode_box is not None:
            bx0, by0, bx1, by1 = layout.bmode_box
            bpower = bmode_reflectivity[view] * speckle if not out_of_plane[k] else 10 ** (-22 / 10) * speckle
            if ph.attenuation_db:
                bpower = bpower * depth
            frame[by0:by1, bx0:bx1] = np.round(power_to_grey(bpower, ph.dynamic_range_db)).astype(np.uint8)
        frames[k] = frame[..., None] if ph.rgb else frame
        # noiseless truth, ROI following the tissue: ROI drawn at the reference frame's shift
        full = np.zeros((layout.rows, layout.columns))
        full[y0:y1, x0:x1] = noiseless
        rdx, rdy = int(shifts[k][0] - shifts[ref_frame][0]), int(shifts[k][1] - shifts[ref_frame][1])
        for name, mask in roi_masks_ref.items():
            moved = np.roll(np.roll(mask, rdy, axis=0), rdx, axis=1)
            truth_tic[name].append(float(full[moved].mean()))
        if progress is not None:
            progress(k + 1, n)
    weights = _region_weights(scene.lesion_weight, perfusion, margin, shifts[ref_frame], ph, layout, roi_masks_ref, gain)
    saturated = _saturated_fraction(frames, t_inj, truth_tic, roi_masks_ref, shifts - shifts[ref_frame], out_of_plane)
    frames, overlay_mask = _screen(ph, frames, times, layout, roi_doc)
    truth = {
        "generator": "ceuskit.simulate",
        "phantom": asdict(ph),
        "pattern": {"arterial": spec.arterial, "washout": spec.washout != "none", "washout_timing": spec.washout,
                    "washout_degree": spec.degree, "late": spec.late},
        "onset_s": timing["onset_s"],
        "liver_onset_s": timing["liver_onset_s"],
        "arrival_time_s": timing["arrival_time_s"],
        "lesion_peak_time_s": timing["peak_time_s"],
        "washout_onset_s": timing["washout_onset_s"],
        "injection_time_s": ph.lead_in_s,
        "recording_start_s": float(t_inj[0]),
        "baseline_observed": bool(timing["onset_s"] is not None and timing["onset_s"] > t_inj[0] + 1.0),
        "saturated_fraction": saturated,
        "overlay_pixels": int(overlay_mask.sum()),
        "overlay_in_roi": {name: int((mask & overlay_mask).sum()) for name, mask in roi_masks_ref.items()},
        "dynamic_range_db": ph.dynamic_range_db,
        "frame_times_s": times.tolist(),
        "shifts_px": shifts.tolist(),
        "out_of_plane_frames": np.flatnonzero(out_of_plane).tolist(),
        "reference_frame": ref_frame,
        "ceus_box": list(layout.ceus_box),
        "bmode_box": None if layout.bmode_box is None else list(layout.bmode_box),
        "tic_truth": truth_tic,
        "masks": {"frame": ref_frame, "shape": list(labels.shape), "encoding": "run-length [value, count, …], rows",
                  "labels": _label_names(ph), "runs": encode_labels(labels)},
        "lesions": _lesion_truth(ph, layout, shifts[ref_frame]),
        **(kinetics_truth(ph, t_inj, weights) if ph.destruction_times_s or ph.level_steps else {}),
    }
    return {"frames": frames, "times": times, "roi": roi_doc, "truth": truth, "layout": layout}

