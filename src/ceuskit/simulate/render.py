"""Rendering the phantom frame by frame: speckle, log compression, breathing, out-of-plane frames, layout."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.phases import ARTERIAL_WINDOW_S
from ceuskit.preprocess.linearize import power_to_grey
from ceuskit.quality import SATURATION_WINDOW_S
from ceuskit.roi import parse_rois
from ceuskit.simulate.anatomy import (
    VESSEL_GAIN,
    VESSEL_LABEL,
    Anatomy,
    attenuation,
    build_anatomy,
    encode_labels,
    true_labels,
    uses_anatomy,
)
from ceuskit.simulate.curves import truth_timing, vessel_curve
from ceuskit.simulate.destruction import frame_gains, kinetics_curves, kinetics_truth
from ceuskit.simulate.display import Overlay, apply_display
from ceuskit.simulate.phantom import Phantom
from ceuskit.simulate.realism import LESION_ROI_SCALE, episode_offset, fill_in_map, lesion_rim, sparse_times

__all__ = ["Layout", "layout_of", "render_frames"]


# frames
def _frame_times(ph: Phantom, rng: np.random.Generator) -> np.ndarray:
    n = int(math.floor(ph.duration_s * ph.fps)) + 1
    dt = np.full(n - 1, 1.0 / ph.fps)
    if ph.jitter > 0:
        dt *= 1.0 + rng.uniform(-ph.jitter, ph.jitter, n - 1)
    dt = np.round(dt * 1000.0) / 1000.0  # whole milliseconds, as a Frame Time Vector holds them
    return sparse_times(ph, np.concatenate([[0.0], np.cumsum(dt)]))


def _speckle(shape: tuple[int, int], rng: np.random.Generator, corr_px: float = 0.8) -> np.ndarray:
    """Unit-mean, spatially correlated, exponentially distributed intensity speckle."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap")
    im = ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap")
    power = re * re + im * im
    speckle: np.ndarray = power / power.mean()
    return speckle


def _shifts(ph: Phantom, times_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tissue displacement (dx, dy) px per frame: a sinusoid, or irregular cos⁴ breathing (Lujan et al. 1999).

    With ``breathing_irregularity`` > 0 each cycle gets its own period and depth (± that fraction); the cos⁴
    waveform rests at end-expiration (−amplitude) for most of the cycle and peaks briefly at +amplitude.
    """
    ax, ay = ph.breathing_amplitude_px
    phase = 2 * math.pi * times_s / ph.breathing_period_s + rng.uniform(0, 2 * math.pi)
    if ph.breathing_irregularity <= 0:
        return np.round(np.stack([ax * np.sin(phase + 0.6), ay * np.sin(phase)], axis=1)).astype(int)
    own = np.random.default_rng([ph.seed, 1])  # its own stream: default phantoms stay as they were
    irregular = ph.breathing_irregularity
    start = -own.uniform(0, ph.breathing_period_s)
    starts, periods, depths = [], [], []
    while start <= times_s[-1]:
        period = ph.breathing_period_s * (1 + irregular * own.uniform(-1, 1))
        starts.append(start)
        periods.append(period)
        depths.append(1 + irregular * own.uniform(-1, 1))
        start += period
    cycle = np.searchsorted(np.asarray(starts), times_s, side="right") - 1
    u = (times_s - np.asarray(starts)[cycle]) / np.asarray(periods)[cycle]
    depth = np.asarray(depths)[cycle]
    wave_y = 2 * np.cos(math.pi * u) ** 4 - 1
    wave_x = 2 * np.cos(math.pi * (u + 0.04)) ** 4 - 1  # a little hysteresis between the two directions
    return np.round(np.stack([ax * depth * wave_x, ay * depth * wave_y], axis=1)).astype(int)


def _out_of_plane(ph: Phantom, t_inj: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Frames where the probe left the lesion's plane: random single frames and/or periodic episodes."""
    out = np.zeros(t_inj.size, dtype=bool)
    if ph.out_of_plane_fraction > 0:
        k = max(1, int(round(ph.out_of_plane_fraction * t_inj.size)))
        candidates = np.flatnonzero(t_inj > ph.liver_arrival_s + 5)
        out[rng.choice(candidates, size=min(k, candidates.size), replace=False)] = True
    if ph.out_of_plane_period_s > 0:
        own = np.random.default_rng([ph.seed, 2])
        offset = episode_offset(ph, float(t_inj[0]), own.uniform(0, ph.out_of_plane_period_s))
        into_period = np.mod(t_inj - t_inj[0] - offset, ph.out_of_plane_period_s)
        out |= into_period < ph.out_of_plane_duration_s
    return out


@dataclass
class Layout:
    """Where the screen's parts lie: its size (rows, columns) and the CEUS (and B-mode) image boxes."""

    rows: int
    columns: int
    ceus_box: tuple[int, int, int, int]
    bmode_box: tuple[int, int, int, int] | None


def layout_of(ph: Phantom) -> Layout:
    """Return the screen layout of ``ph``: margins for the overlays, side by side when ``ph.dual``."""
    top, side, gap = 24, 12, 16
    if not ph.dual:
        box = (side, top, side + ph.columns, top + ph.rows)
        return Layout(top + ph.rows + 8, 2 * side + ph.columns, box, None)
    left = (side, top, side + ph.columns, top + ph.rows)
    right = (side + ph.columns + gap, top, side + 2 * ph.columns + gap, top + ph.rows)
    ceus, bmode = (left, right) if ph.ceus_side == "left" else (right, left)
    return Layout(top + ph.rows + 8, 2 * side + 2 * ph.columns + gap, ceus, bmode)


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


def _view(ph: Phantom, margin: int, shift: np.ndarray) -> tuple[slice, slice]:
    """Return the canvas window the image region shows when the tissue is displaced by ``shift`` (dx, dy)."""
    dx, dy = (int(v) for v in shift)
    return slice(margin - dy, margin - dy + ph.rows), slice(margin - dx, margin - dx + ph.columns)


@dataclass
class _Layers:
    """Per-frame contrast of every anatomical part, and where each part is on the canvas."""

    anatomy: Anatomy
    lesion_curves: list[np.ndarray]
    vessel_curve: np.ndarray


def _layers(ph: Phantom, anatomy: Anatomy, t_inj: np.ndarray, liver_curve: np.ndarray) -> _Layers:
    curves = [kinetics_curves(replace(ph, pattern=pattern), t_inj)[1] for *_rest, pattern in anatomy.lesions]
    return _Layers(anatomy, curves, vessel_curve(ph, t_inj, gain=VESSEL_GAIN))


def _mixture(layers: _Layers, view: tuple[slice, slice], k: int, liver_now: float) -> np.ndarray:
    """Contrast power (before perfusion) of the canvas window ``view`` in frame ``k``.

    Liver, lesions (their modulation) and vessels weighted by their smoothed masks, vessels over lesions.
    """
    vessel = layers.anatomy.vessel_weight[view]
    total = vessel * layers.vessel_curve[k]
    covered = vessel.copy()
    for (_mask, weight, modulation, _pattern), curve in zip(layers.anatomy.lesions, layers.lesion_curves,
                                                           strict=True):
        w = weight[view] * (1.0 - vessel)
        total = total + w * modulation[view] * curve[k]
        covered = covered + w
    return np.asarray(total + np.clip(1.0 - covered, 0.0, 1.0) * liver_now)


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
    rng = np.random.default_rng(ph.seed)
    spec = ph.pattern_spec()
    times = _frame_times(ph, rng)
    t_inj = times - ph.lead_in_s
    shifts = _shifts(ph, times, rng)
    n = times.size
    out_of_plane = _out_of_plane(ph, t_inj, rng)
    layout = layout_of(ph)
    margin = int(np.abs(shifts).max() + 24)
    canvas_shape = (ph.rows + 2 * margin, ph.columns + 2 * margin)
    yy, xx = np.mgrid[0:canvas_shape[0], 0:canvas_shape[1]].astype(float)
    cx, cy = ph.lesion_center_px[0] + margin, ph.lesion_center_px[1] + margin
    rx, ry = ph.lesion_radii_px
    rho_squared = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    inside = rho_squared <= 1.0
    rho = np.sqrt(rho_squared)  # normalised elliptic radius
    lesion_weight = lesion_rim(inside, ndimage.gaussian_filter(inside.astype(float), 1.0), ph)
    perfusion = 1.0 + 0.15 * ndimage.gaussian_filter(rng.standard_normal(canvas_shape), 6.0) * 6.0
    perfusion = np.clip(perfusion, 0.6, 1.4)
    tissue_speckle = _speckle(canvas_shape, rng)
    anatomy = build_anatomy(ph, canvas_shape, margin) if uses_anatomy(ph) else None
    hypoechoic = lesion_weight if anatomy is None else anatomy.bmode_weight()
    bmode_reflectivity = 10 ** (-22 / 10) * (1.0 - 0.5 * hypoechoic)
    liver_curve, lesion_curve = kinetics_curves(ph, t_inj)  # the bolus, or with destructions and refills
    frame_gain = frame_gains(ph, t_inj)  # flash frames and level steps (1 without them)
    timing = truth_timing(ph)
    peak_time_s = float(timing["peak_time_s"] or 0.0)
    # the ROIs are drawn where the lesion shows best: the in-plane frame nearest its arterial peak
    ref_frame = int(np.argmin(np.where(out_of_plane, np.inf, np.abs(t_inj - peak_time_s))))
    shown = anatomy or Anatomy(((inside, lesion_weight, np.ones(1), ph.pattern),), np.zeros_like(inside),
                               np.zeros(1))
    labels = true_labels(shown, _view(ph, margin, shifts[ref_frame]), layout.ceus_box, (layout.rows, layout.columns))
    roi_doc = _roi_document(ph, ref_frame, layout, shifts[ref_frame], labels if anatomy is not None else None)
    layers = _layers(ph, anatomy, t_inj, liver_curve) if anatomy is not None else None
    depth = attenuation(ph)
    frames = np.zeros((n, layout.rows, layout.columns) + ((3,) if ph.rgb else ()), dtype=np.uint8)
    base = np.zeros((layout.rows, layout.columns), dtype=np.uint8)
    _burn_in_text(base, ph.seed)
    rois = parse_rois(roi_doc)
    roi_masks_ref = {r.name: r.mask(layout.rows, layout.columns) for r in rois.rois}
    truth_tic: dict[str, list[float]] = {name: [] for name in roi_masks_ref}
    x0, y0, x1, y1 = layout.ceus_box
    gain = 10 ** (ph.gain_db / 10)
    for k in range(n):
        dx, dy = (int(v) for v in shifts[k])
        view = (slice(margin - dy, margin - dy + ph.rows), slice(margin - dx, margin - dx + ph.columns))
        w, local_perfusion = lesion_weight[view], perfusion[view]
        if layers is None:
            filled = fill_in_map(ph, rho[view], float(t_inj[k]))
            in_plane = local_perfusion * ((1 - w) * liver_curve[k] + w * filled * lesion_curve[k])
        else:
            in_plane = local_perfusion * _mixture(layers, view, k, liver_curve[k])
        noiseless = gain * frame_gain[k] * (ph.tissue_power + in_plane)  # the truth: what the ROI sees in the lesion's plane
        if ph.attenuation_db:
            noiseless = noiseless * depth
        contrast = in_plane if not out_of_plane[k] else local_perfusion[::-1, ::-1] * liver_curve[k]
        contrast_speckle = _speckle((ph.rows, ph.columns), rng)
        speckle = tissue_speckle[view] if not out_of_plane[k] else _speckle((ph.rows, ph.columns), rng)
        power = ph.tissue_power * speckle + contrast * contrast_speckle
        if ph.attenuation_db:
            power = power * depth
        power += 10 ** (-55 / 10) * rng.exponential(1.0, power.shape)
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
    weights = _region_weights(lesion_weight, perfusion, margin, shifts[ref_frame], ph, layout, roi_masks_ref, gain)
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

