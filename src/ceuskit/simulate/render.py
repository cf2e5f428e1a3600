"""Rendering the phantom frame by frame: speckle, log compression, breathing, out-of-plane frames, layout."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.preprocess.linearize import power_to_grey
from ceuskit.roi import parse_rois
from ceuskit.simulate.curves import contrast_curves, truth_timing
from ceuskit.simulate.phantom import Phantom

__all__ = ["Layout", "layout_of", "render_frames"]


# frames
def _frame_times(ph: Phantom, rng: np.random.Generator) -> np.ndarray:
    n = int(math.floor(ph.duration_s * ph.fps)) + 1
    dt = np.full(n - 1, 1.0 / ph.fps)
    if ph.jitter > 0:
        dt *= 1.0 + rng.uniform(-ph.jitter, ph.jitter, n - 1)
    dt = np.round(dt * 1000.0) / 1000.0  # whole milliseconds, as a Frame Time Vector holds them
    return np.concatenate([[0.0], np.cumsum(dt)])


def _speckle(shape: tuple[int, int], rng: np.random.Generator, corr_px: float = 0.8) -> np.ndarray:
    """Unit-mean, spatially correlated, exponentially distributed intensity speckle."""
    re = ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap")
    im = ndimage.gaussian_filter(rng.standard_normal(shape), corr_px, mode="wrap")
    power = re * re + im * im
    return power / power.mean()


def _shifts(ph: Phantom, times_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ax, ay = ph.breathing_amplitude_px
    phase = 2 * math.pi * times_s / ph.breathing_period_s + rng.uniform(0, 2 * math.pi)
    return np.round(np.stack([ax * np.sin(phase + 0.6), ay * np.sin(phase)], axis=1)).astype(int)


@dataclass
class Layout:
    rows: int
    columns: int
    ceus_box: tuple[int, int, int, int]
    bmode_box: tuple[int, int, int, int] | None


def layout_of(ph: Phantom) -> Layout:
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


def _roi_document(ph: Phantom, reference_frame: int, layout: Layout, shift: np.ndarray) -> dict[str, Any]:
    x0, y0 = layout.ceus_box[:2]
    cx, cy = ph.lesion_center_px
    rx, ry = ph.lesion_radii_px
    dx, dy = int(shift[0]), int(shift[1])
    lesion = {"name": "lesion", "role": "lesion", "shape": "ellipse",
              "center": [x0 + cx + dx, y0 + cy + dy], "radii": [round(0.75 * rx, 1), round(0.75 * ry, 1)],
              "reference": "liver"}
    # parenchyma: a polygon at a similar depth, well clear of the lesion
    lx = cx - rx - 14 if cx > ph.columns / 2 else cx + rx + 14
    half_w = 10
    pts = [[lx - half_w, cy - 18], [lx + half_w, cy - 18], [lx + half_w, cy + 18], [lx - half_w, cy + 18]]
    if lx - half_w < 4 or lx + half_w > ph.columns - 4:
        lx = cx
        pts = [[lx - 30, cy + ry + 10], [lx + 30, cy + ry + 10], [lx + 30, cy + ry + 26], [lx - 30, cy + ry + 26]]
    liver = {"name": "liver", "role": "parenchyma", "shape": "polygon",
             "points": [[x0 + px + dx, y0 + py + dy] for px, py in pts]}
    return {"reference_frame": int(reference_frame), "units": "px", "rois": [lesion, liver]}


def render_frames(ph: Phantom, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Render the phantom: uint8 frames, times, shifts and noiseless per-ROI truth.  Returns a dict."""
    rng = np.random.default_rng(ph.seed)
    spec = ph.pattern_spec()
    times = _frame_times(ph, rng)
    t_inj = times - ph.lead_in_s
    shifts = _shifts(ph, times, rng)
    n = times.size
    out_of_plane = np.zeros(n, dtype=bool)
    if ph.out_of_plane_fraction > 0:
        k = max(1, int(round(ph.out_of_plane_fraction * n)))
        candidates = np.flatnonzero(t_inj > ph.liver_arrival_s + 5)
        out_of_plane[rng.choice(candidates, size=min(k, candidates.size), replace=False)] = True
    layout = layout_of(ph)
    margin = int(max(ph.breathing_amplitude_px) + 24)
    canvas_shape = (ph.rows + 2 * margin, ph.columns + 2 * margin)
    yy, xx = np.mgrid[0:canvas_shape[0], 0:canvas_shape[1]].astype(float)
    cx, cy = ph.lesion_center_px[0] + margin, ph.lesion_center_px[1] + margin
    rx, ry = ph.lesion_radii_px
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    lesion_weight = ndimage.gaussian_filter(inside.astype(float), 1.0)
    perfusion = 1.0 + 0.15 * ndimage.gaussian_filter(rng.standard_normal(canvas_shape), 6.0) * 6.0
    perfusion = np.clip(perfusion, 0.6, 1.4)
    tissue_speckle = _speckle(canvas_shape, rng)
    bmode_reflectivity = 10 ** (-22 / 10) * (1.0 - 0.5 * lesion_weight)
    liver_curve, lesion_curve = contrast_curves(ph, t_inj)
    timing = truth_timing(ph)
    peak_time_s = float(timing["peak_time_s"] or 0.0)
    ref_frame = int(np.argmin(np.abs(t_inj - peak_time_s)))
    roi_doc = _roi_document(ph, ref_frame, layout, shifts[ref_frame])
    frames = np.zeros((n, layout.rows, layout.columns) + ((3,) if ph.rgb else ()), dtype=np.uint8)
    base = np.zeros((layout.rows, layout.columns), dtype=np.uint8)
    _burn_in_text(base, ph.seed)
    rois = parse_rois(roi_doc)
    roi_masks_ref = {r.name: r.mask(layout.rows, layout.columns) for r in rois.rois}
    truth_tic: dict[str, list[float]] = {name: [] for name in roi_masks_ref}
    x0, y0, x1, y1 = layout.ceus_box
    for k in range(n):
        dx, dy = (int(v) for v in shifts[k])
        view = (slice(margin - dy, margin - dy + ph.rows), slice(margin - dx, margin - dx + ph.columns))
        w = lesion_weight[view] if not out_of_plane[k] else np.zeros((ph.rows, ph.columns))
        local_perfusion = perfusion[view] if not out_of_plane[k] else perfusion[view][::-1, ::-1]
        contrast = local_perfusion * ((1 - w) * liver_curve[k] + w * lesion_curve[k])
        noiseless = ph.tissue_power + contrast
        contrast_speckle = _speckle((ph.rows, ph.columns), rng)
        speckle = tissue_speckle[view] if not out_of_plane[k] else _speckle((ph.rows, ph.columns), rng)
        power = ph.tissue_power * speckle + contrast * contrast_speckle
        power += 10 ** (-55 / 10) * rng.exponential(1.0, power.shape)
        frame = base.copy()
        frame[y0:y1, x0:x1] = np.round(power_to_grey(power, ph.dynamic_range_db)).astype(np.uint8)
        if layout.bmode_box is not None:
            bx0, by0, bx1, by1 = layout.bmode_box
            bpower = bmode_reflectivity[view] * speckle if not out_of_plane[k] else 10 ** (-22 / 10) * speckle
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
    truth = {
        "generator": "ceuskit.simulate",
        "phantom": asdict(ph),
        "pattern": {"arterial": spec.arterial, "washout": spec.washout != "none", "washout_timing": spec.washout,
                    "washout_degree": spec.degree, "late": spec.late},
        "onset_s": timing["arrival_time_s"],
        "lesion_peak_time_s": timing["peak_time_s"],
        "washout_onset_s": timing["washout_onset_s"],
        "injection_time_s": ph.lead_in_s,
        "dynamic_range_db": ph.dynamic_range_db,
        "frame_times_s": times.tolist(),
        "shifts_px": shifts.tolist(),
        "out_of_plane_frames": np.flatnonzero(out_of_plane).tolist(),
        "reference_frame": ref_frame,
        "ceus_box": list(layout.ceus_box),
        "bmode_box": None if layout.bmode_box is None else list(layout.bmode_box),
        "tic_truth": truth_tic,
    }
    return {"frames": frames, "times": times, "roi": roi_doc, "truth": truth, "layout": layout}

