"""The phantom's scene: frame times, motion, layout, and its noiseless contrast image on any frame.

:func:`build_scene` draws everything a clip's frames share (in the order of the phantom's random stream, so a
phantom renders as before); :func:`noiseless_image` is the noiseless echo power of the image region on one
frame (what an ROI sees in the lesion's plane, before speckle, noise and log compression), used by
:func:`ceuskit.simulate.render.render_frames` and by the true-mask reading
(:mod:`ceuskit.simulate.true_reading`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.simulate.anatomy import (
    VESSEL_GAIN,
    Anatomy,
    attenuation,
    build_anatomy,
    true_labels,
    uses_anatomy,
)
from ceuskit.simulate.curves import truth_timing, vessel_curve
from ceuskit.simulate.destruction import frame_gains, kinetics_curves
from ceuskit.simulate.phantom import Phantom
from ceuskit.simulate.realism import episode_offset, fill_in_map, lesion_rim, sparse_times

__all__ = ["NOISE_POWER", "Layout", "Scene", "build_scene", "in_plane_contrast", "layout_of", "noiseless_image", "view_of"]

NOISE_POWER = 10 ** (-55 / 10)
"""Mean power of the receiver noise added to every pixel (exponential), before the receive gain."""


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


@dataclass
class Scene:
    """What every frame of one phantom clip shares (canvas arrays are the tissue, which breathing moves).

    Attributes
    ----------
    ph : the phantom.  rng : its random stream, drawn up to the frames' own speckle.
    times, t_inj : (n,) frame times, s of recording and s after injection.  shifts : (n, 2) tissue shift (dx, dy).
    out_of_plane : (n,) bool.  layout : the screen.  margin : canvas border, px.
    rho : canvas normalised elliptic radius of the main lesion.  inside : its ellipse (bool).
    lesion_weight : its smoothed weight.  perfusion : canvas perfusion factor.  tissue_speckle : canvas speckle.
    anatomy : irregular lesions, vessels … (None: one uniform ellipse).  liver_curve, lesion_curve : (n,)
    contrast power.  frame_gain : (n,) flash and level-step factor.  timing : :func:`truth_timing`.
    ref_frame : the frame the ROIs and true masks are drawn on.  labels : true label image of that frame.
    layers : per-frame contrast of the anatomy's parts (None without anatomy).  depth : (rows, 1) attenuation.
    gain : receive gain, linear.
    """

    ph: Phantom
    rng: np.random.Generator
    times: np.ndarray
    t_inj: np.ndarray
    shifts: np.ndarray
    out_of_plane: np.ndarray
    layout: Layout
    margin: int
    rho: np.ndarray
    inside: np.ndarray
    lesion_weight: np.ndarray
    perfusion: np.ndarray
    tissue_speckle: np.ndarray
    anatomy: Anatomy | None
    liver_curve: np.ndarray
    lesion_curve: np.ndarray
    frame_gain: np.ndarray
    timing: dict[str, Any]
    ref_frame: int
    labels: np.ndarray
    layers: _Layers | None
    depth: np.ndarray
    gain: float


def build_scene(ph: Phantom) -> Scene:
    """Return the scene of ``ph``: everything its frames share, drawn from its random stream.

    Parameters
    ----------
    ph : the phantom.

    Returns
    -------
    Scene
        Its ``rng`` is left where the frames' own speckle begins.
    """
    rng = np.random.default_rng(ph.seed)
    times = _frame_times(ph, rng)
    t_inj = times - ph.lead_in_s
    shifts = _shifts(ph, times, rng)
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
    liver_curve, lesion_curve = kinetics_curves(ph, t_inj)  # the bolus, or with destructions and refills
    timing = truth_timing(ph)
    peak_time_s = float(timing["peak_time_s"] or 0.0)
    # the ROIs are drawn where the lesion shows best: the in-plane frame nearest its arterial peak
    ref_frame = int(np.argmin(np.where(out_of_plane, np.inf, np.abs(t_inj - peak_time_s))))
    shown = anatomy or Anatomy(((inside, lesion_weight, np.ones(1), ph.pattern),), np.zeros_like(inside),
                               np.zeros(1))
    labels = true_labels(shown, _view(ph, margin, shifts[ref_frame]), layout.ceus_box, (layout.rows, layout.columns))
    layers = _layers(ph, anatomy, t_inj, liver_curve) if anatomy is not None else None
    return Scene(ph, rng, times, t_inj, shifts, out_of_plane, layout, margin, rho, inside, lesion_weight, perfusion,
                 tissue_speckle, anatomy, liver_curve, lesion_curve, frame_gains(ph, t_inj), timing, ref_frame, labels,
                 layers, attenuation(ph), 10 ** (ph.gain_db / 10))


def in_plane_contrast(scene: Scene, view: tuple[slice, slice], k: int) -> np.ndarray:
    """Return the contrast power (perfusion included) of the canvas window ``view`` in frame ``k``, in plane."""
    local_perfusion = scene.perfusion[view]
    if scene.layers is None:
        filled = fill_in_map(scene.ph, scene.rho[view], float(scene.t_inj[k]))
        w = scene.lesion_weight[view]
        return np.asarray(local_perfusion * ((1 - w) * scene.liver_curve[k] + w * filled * scene.lesion_curve[k]))
    return np.asarray(local_perfusion * _mixture(scene.layers, view, k, scene.liver_curve[k]))


def noiseless_image(scene: Scene, view: tuple[slice, slice], k: int, in_plane: np.ndarray | None = None
                    ) -> np.ndarray:
    """Return the noiseless echo power of the image region showing canvas window ``view`` in frame ``k``.

    Tissue plus in-plane contrast, after the receive gain, the frame's gain and depth attenuation: what an ROI
    sees in the lesion's plane.

    Parameters
    ----------
    scene : the clip's :class:`Scene`.  view : canvas window (rows, columns slices; see :func:`view_of`).
    k : frame index.  in_plane : its :func:`in_plane_contrast`, when already computed.

    Returns
    -------
    (rows, columns) linear power.
    """
    ph = scene.ph
    noiseless = scene.gain * scene.frame_gain[k] * (ph.tissue_power + (
        in_plane_contrast(scene, view, k) if in_plane is None else in_plane))
    if ph.attenuation_db:
        noiseless = noiseless * scene.depth
    return np.asarray(noiseless)


def view_of(scene: Scene, k: int) -> tuple[slice, slice]:
    """Return the canvas window the image region shows in frame ``k``."""
    return _view(scene.ph, scene.margin, scene.shifts[k])
