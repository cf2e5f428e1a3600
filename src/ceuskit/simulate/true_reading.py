"""The reading of a phantom's true masks, noiseless, with how far each phase lies from its rule's threshold.

A phantom's ``pattern`` is what it is designed to read; what its true masks read is the pattern's curves after
the anatomy has rendered them (partial volume at the lesion's blurred edge, a rim, patches, vessels, depth
attenuation, perfusion) and the display (a dark curve rides on its black floor).
:func:`true_mask_reading` reads the noiseless image (:func:`ceuskit.simulate.scene.
noiseless_image`, the tissue held where the reference frame shows it: no breathing, no out-of-plane frames)
over the true lesion mask and the true parenchyma at its depth
(:func:`ceuskit.simulate.score_proposals.reading_masks`), by :func:`ceuskit.phases.characterise`, and says
for each phase how far it lies from a rule that would change its label:

* ``arterial_margin_db`` — the distance of R from the ±1.5 dB thresholds, the worst over ``peak_tolerance_s``
  either side of the lesion's arterial peak and over every time its smoothed curve lies within
  ``peak_tolerance_db`` of that peak (a noisy curve's peak moves a frame or two; a curve with two near-equal
  maxima could be read at either);
* ``washout_margin_db`` — with a wash-out, how far below the hypo threshold R stays over its deepest
  5-s stretch; without, how far above it R stays over its lowest (negative: the other label is near);
* ``washout_timing_margin_s`` — the wash-out onset's distance from the early/late boundary (60 s);
* ``late_margin_db`` — the late median R's distance from the ±1.5 dB thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ceuskit.phases import PhaseOptions, characterise
from ceuskit.simulate.phantom import Phantom
from ceuskit.simulate.scene import NOISE_POWER, build_scene, noiseless_image, view_of
from ceuskit.simulate.score_proposals import reading_masks
from ceuskit.timeseries import moving_average

__all__ = ["design_reading", "displayed_power", "label_margin_db", "true_mask_curves", "true_mask_reading"]


def displayed_power(power: np.ndarray, dynamic_range_db: float) -> np.ndarray:
    """Return the expected linearised display power of pixels whose echo power is exponential with mean ``power``.

    The display clips at black (``10^(−dynamic_range_db/10)``) and white (1): for an exponential speckle of mean
    p, E[clip(P, f, 1)] = p·((x+1)e^(−x) − (y+1)e^(−y)) + f·(1 − e^(−x)) + e^(−y), x = f/p, y = 1/p. What a ROI
    mean of the screen's pixels averages to, before noise of the mean: a dark curve rides on the black floor.

    Parameters
    ----------
    power : mean echo power per pixel (linear, 1 = white), > 0.
    dynamic_range_db : the display's dynamic range, dB.

    Returns
    -------
    array
        Expected displayed power, the shape of ``power``.
    """
    p = np.asarray(power, dtype=float)
    floor = 10 ** (-dynamic_range_db / 10)
    x, y = floor / p, 1.0 / p
    shown: np.ndarray = p * ((x + 1) * np.exp(-x) - (y + 1) * np.exp(-y)) + floor * (1 - np.exp(-x)) + np.exp(-y)
    return shown


def true_mask_curves(ph: Phantom, *, display: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the noiseless mean power over the true lesion and the true parenchyma at its depth, per frame.

    Parameters
    ----------
    ph : the phantom.
    display : average what the screen shows (receiver noise added, clipped at black and white, in expectation:
        :func:`displayed_power`) rather than the echo power itself.

    Returns
    -------
    tuple of arrays
        (t, lesion, parenchyma): frame times after injection (s) and linear power, the tissue held where the
        reference frame shows it.
    """
    scene = build_scene(ph)
    x0, y0, x1, y1 = scene.layout.ceus_box
    lesion, parenchyma = (mask[y0:y1, x0:x1] for mask in reading_masks(scene.labels))
    view = view_of(scene, scene.ref_frame)
    curves = np.empty((2, scene.times.size))
    for k in range(scene.times.size):
        image = noiseless_image(scene, view, k)
        if display:
            image = displayed_power(image + scene.gain * scene.frame_gain[k] * NOISE_POWER, ph.dynamic_range_db)
        curves[:, k] = image[lesion].mean(), image[parenchyma].mean()
    return scene.t_inj, curves[0], curves[1]


def label_margin_db(r_db: float, options: PhaseOptions | None = None) -> float:
    """Return how far ``r_db`` lies inside its label's range (hyper, iso or hypo), dB.

    Parameters
    ----------
    r_db : a lesion-to-parenchyma ratio, dB.
    options : the thresholds (default :class:`ceuskit.phases.PhaseOptions`).

    Returns
    -------
    float
        The distance to the nearest threshold that would change the label.
    """
    opts = options or PhaseOptions()
    if r_db >= opts.hyper_db:
        return r_db - opts.hyper_db
    if r_db <= opts.hypo_db:
        return opts.hypo_db - r_db
    return min(opts.hyper_db - r_db, r_db - opts.hypo_db)


def _sustained_max(t: np.ndarray, r_db: np.ndarray, start: int, duration_s: float) -> np.ndarray:
    """Per sample from ``start`` on, the largest R from it to the first sample ``duration_s`` later (NaN if none).

    A run of the wash-out rule lasts from its first sample to one at least ``duration_s`` later
    (:func:`ceuskit.phases.characterise`); its largest R is how far above the hypo threshold the run stays.
    """
    out = np.full(t.size, np.nan)
    for i in range(start, t.size):
        end = int(np.searchsorted(t, t[i] + duration_s, side="left"))
        if end < t.size:
            out[i] = np.nanmax(r_db[i:end + 1])
    return out


def design_reading(t: np.ndarray, lesion: np.ndarray, parenchyma: np.ndarray, *, peak_tolerance_s: float = 0.25,
                   peak_tolerance_db: float = 0.1, options: PhaseOptions | None = None) -> dict[str, Any]:
    """Return the labels of a lesion's curves and each phase's margin (module docstring).

    Parameters
    ----------
    t : (n,) s after injection.  lesion, parenchyma : (n,) linear power.
    peak_tolerance_s : times this close to the lesion's arterial peak count for the arterial margin …
    peak_tolerance_db : … and so do times whose smoothed lesion power lies this close to that peak (dB).
    options : the characterisation's thresholds and windows.

    Returns
    -------
    dict
        ``arterial``, ``washout`` (bool), ``washout_timing``, ``late`` labels; ``arterial_db``, ``late_db``;
        the margins ``arterial_margin_db``, ``washout_margin_db``, ``washout_timing_margin_s`` (None without a
        wash-out), ``late_margin_db`` (None when the late phase is not assessed).
    """
    opts = options or PhaseOptions()
    found = characterise(t, lesion, parenchyma, onset_s=None, options=opts)
    r_db = found["relative_db"]
    arterial, pv, late = found["arterial_phase"], found["portal_venous_phase"], found["late_phase"]
    smooth = moving_average(t, lesion, opts.smoothing_s)
    window = (t >= 0) & (t <= opts.arterial_end_s)
    near_peak = window & ((10 * np.log10(smooth / np.max(smooth[window])) >= -peak_tolerance_db)
                          | (np.abs(t - arterial["peak_time_s"]) <= peak_tolerance_s))
    label = arterial["enhancement"]
    margins = [label_margin_db(float(v), opts) if _label_of(float(v), opts) == label else -label_margin_db(float(v), opts)
               for v in r_db[near_peak]]
    peak = int(np.searchsorted(t, arterial["peak_time_s"]))
    sustained = _sustained_max(t, r_db, peak, opts.washout_min_duration_s)
    lowest = float(np.nanmin(sustained)) if np.isfinite(sustained).any() else float("nan")
    washout_margin = opts.hypo_db - lowest if pv["washout"] else lowest - opts.hypo_db
    onset = pv["washout_onset_s"]
    return {"arterial": label, "washout": pv["washout"], "washout_timing": pv["washout_timing"],
            "late": late["enhancement"], "arterial_db": arterial["relative_peak_db"], "late_db": late["relative_db"],
            "arterial_margin_db": round(min(margins), 3),
            "washout_margin_db": round(washout_margin, 3) if label != "hypo" else None,
            "washout_timing_margin_s": None if onset is None else round(abs(onset - opts.early_washout_s), 3),
            "late_margin_db": None if late["relative_db"] is None else round(label_margin_db(late["relative_db"], opts), 3)}


def _label_of(r_db: float, opts: PhaseOptions) -> str:
    return "hyper" if r_db >= opts.hyper_db else "hypo" if r_db <= opts.hypo_db else "iso"


def true_mask_reading(ph: Phantom, *, display: bool = True, **settings: Any) -> dict[str, Any]:
    """Return :func:`design_reading` of the phantom's true masks, noiseless (module docstring).

    Parameters
    ----------
    ph : the phantom.
    display : read what the screen shows (:func:`true_mask_curves`).
    **settings : passed to :func:`design_reading`.

    Returns
    -------
    dict
        As :func:`design_reading`.
    """
    return design_reading(*true_mask_curves(ph, display=display), **settings)
