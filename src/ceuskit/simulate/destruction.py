"""Destruction–replenishment and level steps in the simulator: curves, and the phantom clip's hooks.

A high-MI **destruction** lasts ``flash_frames`` frames: each shows the echo ``flash_db`` brighter (the
high-MI pulses light tissue and bursting bubbles); after the last one (its time is the refill's ``t_d``)
only a fraction ``residual`` of the bubbles in the image plane is left and the plane refills from the blood,
each region with its own rate β (Wei et al., Circulation 1998)::

    visible(t) = C(t) · (residual + (1 − residual) · (1 − e^(−β·(t − t_d))))

so an ROI whose blood level C is steady reads exactly ``y = b + A·(1 − e^(−β·(t − t_d)))`` with
``b = floor + residual·C`` and ``A = (1 − residual)·C`` (its relative blood volume). A later destruction
starts the refill again from ``residual``. Under a bolus, C(t) still changes after ``t_d``: its A is then
the value at ``t_d`` (approximate, said so in the truth).

A **level step** multiplies every echo from its time on by ``10^(dB/10)`` (gain, depth or plane change):
every ROI moves by the same dB, so lesion-to-liver ratios are unchanged.

The phantom clip (:class:`~ceuskit.simulate.Phantom`) gets these from fields appended to it
(``destruction_times_s``, ``flash_frames``, ``flash_db``, ``refill_beta_per_s``, ``destruction_residual``,
``infusion``, ``lesion_volume_ratio``, ``level_steps``); :func:`kinetics_curves` and :func:`frame_gains`
are the rendering hooks and :func:`kinetics_truth` the truth they add. :func:`replenishment_curves` builds
the same curves without a clip, and :func:`real_case_curves` is the issue's real recording (issue 19).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ceuskit.simulate.curves import contrast_curves
from ceuskit.simulate.phantom import Phantom

__all__ = ["flash_frames", "frame_gains", "kinetics_curves", "kinetics_truth", "real_case_curves",
           "refill_fraction", "replenishment_curves"]


def flash_frames(times_s: np.ndarray, destructions_s: Sequence[float], n_frames: int) -> list[np.ndarray]:
    """Return the indices of each destruction's flash frames.

    The ``n_frames`` samples from the first at or after its time.

    Parameters
    ----------
    times_s : (T,) increasing sample times, s.
    destructions_s : the destructions' start times, s, increasing.
    n_frames : flash frames per destruction (1–10).

    Returns
    -------
    One int array per destruction that fits in the recording (a destruction past the end is dropped).
    """
    out = []
    for moment in destructions_s:
        first = int(np.searchsorted(times_s, moment - 1e-9))
        if first + n_frames < times_s.size:  # at least one frame of refill after it
            out.append(np.arange(first, first + n_frames))
    return out


def refill_fraction(times_s: np.ndarray, flashes: Sequence[np.ndarray], beta_per_s: float, residual: float
                    ) -> np.ndarray:
    """Fraction of the blood's bubbles visible in the image plane at each sample (1 before any destruction).

    Parameters
    ----------
    times_s : (T,) s.  flashes : each destruction's flash frame indices (:func:`flash_frames`).
    beta_per_s : refill rate β, s⁻¹.  residual : fraction left by a destruction, 0–1.

    Returns
    -------
    (T,) fraction; during a flash it keeps the level before the flash.
    """
    fraction = np.ones(times_s.size)
    for k, frames in enumerate(flashes):
        t_d = float(times_s[frames[-1]])
        stop = times_s.size if k + 1 == len(flashes) else int(flashes[k + 1][0])
        after = np.arange(frames[-1] + 1, stop)
        fraction[frames] = fraction[frames[0] - 1] if frames[0] > 0 else 1.0
        fraction[after] = residual + (1 - residual) * (1 - np.exp(-beta_per_s * (times_s[after] - t_d)))
    return fraction


def _step_gain(times_s: np.ndarray, steps: Sequence[tuple[float, float]]) -> np.ndarray:
    gain = np.ones(times_s.size)
    for moment, db in steps:
        gain[times_s >= moment] *= 10 ** (db / 10)
    return gain


def _flash_gain(n: int, flashes: Sequence[np.ndarray], flash_db: float) -> np.ndarray:
    gain = np.ones(n)
    for frames in flashes:
        gain[frames] = 10 ** (flash_db / 10)
    return gain


def replenishment_curves(times_s: np.ndarray, blood: Mapping[str, np.ndarray], betas_per_s: Mapping[str, float],
                         *, destructions_s: Sequence[float] = (), flash_frame_count: int = 3,
                         flash_db: float = 15.0, residual: float = 0.05, floor: float = 1e-5,
                         steps: Sequence[tuple[float, float]] = ()) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Noiseless ROI curves with destructions, refills and level steps, and their truth.

    Parameters
    ----------
    times_s : (T,) increasing sample times, s.
    blood : ROI name → (T,) contrast power the ROI would show without destruction (its blood level C).
    betas_per_s : ROI name → refill rate β, s⁻¹.
    destructions_s : destruction start times, s.
    flash_frame_count : flash frames per destruction.  flash_db : their brightening, dB.
    residual : bubbles left after a destruction, fraction.  floor : tissue echo power under the contrast.
    steps : (time s, dB) level steps applied to everything from that time on.

    Returns
    -------
    (curves: name → (T,) linear power, truth) with truth ``{"destructions": [{"flash_frames", "t_d_s"}],
    "refills": {name: [{"destruction_s", "blood_volume", "beta_per_s", "baseline"}]}, "steps": [...]}``;
    A and b are in the units of the curves after the steps in force at ``t_d``.
    """
    t = np.asarray(times_s, dtype=float)
    flashes = flash_frames(t, destructions_s, flash_frame_count)
    step = _step_gain(t, steps)
    flash = _flash_gain(t.size, flashes, flash_db)
    curves, refills = {}, {}
    for name, level in blood.items():
        c = np.asarray(level, dtype=float)
        fraction = refill_fraction(t, flashes, betas_per_s[name], residual)
        curves[name] = step * flash * (floor + c * fraction)
        refills[name] = [{"destruction_s": float(t[f[-1]]),
                          "blood_volume": float(step[f[-1]] * (1 - residual) * c[f[-1]]),
                          "beta_per_s": float(betas_per_s[name]),
                          "baseline": float(step[f[-1]] * (floor + residual * c[f[-1]]))} for f in flashes]
    truth = {"destructions": [{"flash_frames": f.tolist(), "t_d_s": float(t[f[-1]])} for f in flashes],
             "refills": refills, "steps": [{"time_s": float(m), "db": float(d)} for m, d in steps]}
    return curves, truth


def real_case_curves(seed: int = 0, *, noise: float = 0.08, steps: bool = True
                     ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, Any]]:
    """Return the issue's real recording (issue 19), rebuilt as curves.

    2.6 Hz for 149 s, contrast rising over ~6 s from ~6 s to a plateau, level steps of −3 dB at 67 s and −9 dB
    at 80 s in both ROIs, a three-sample destruction pulse at 94 s, then a level below the pre-flash one that
    refills.

    Parameters
    ----------
    seed : noise seed.  noise : relative (lognormal) noise of each ROI mean.  steps : include the level steps.

    Returns
    -------
    (times_s (T,), {"lesion", "liver"} → (T,) linear power, truth of :func:`replenishment_curves` plus
    ``"arrival_s"``, the rise's start).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, 149.0, 1 / 2.6)
    rise = 0.5 * (1 + np.tanh((t - 9.0) / 1.5))  # from ~6 s to ~12 s
    blood = {"lesion": 10 ** (-14 / 10) * rise, "liver": 10 ** (-17 / 10) * rise}
    curves, truth = replenishment_curves(t, blood, {"lesion": 0.25, "liver": 0.12}, destructions_s=(94.0,),
                                         flash_frame_count=3, flash_db=12.0, residual=0.1, floor=10 ** (-45 / 10),
                                         steps=((67.0, -3.0), (80.0, -9.0)) if steps else ())
    noisy = {name: curve * rng.lognormal(0.0, noise, t.size) for name, curve in curves.items()}
    return t, noisy, {**truth, "arrival_s": 6.0}


# the phantom clip's hooks (simulate.render)
def kinetics_curves(ph: Phantom, t_inj_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the phantom's contrast power (liver, lesion) with its destructions and refills.

    Without destructions and infusion this is :func:`ceuskit.simulate.contrast_curves` unchanged. With
    ``infusion`` the blood level rises from the liver's arrival to a steady ``peak_power`` (liver) and
    ``lesion_volume_ratio × peak_power`` (lesion) instead of the pattern's bolus.

    Parameters
    ----------
    ph : the phantom.  t_inj_s : (T,) frame times after injection, s.

    Returns
    -------
    (liver, lesion), each (T,) contrast power above the tissue.
    """
    if ph.infusion:
        rise = 0.5 * (1 + np.tanh((t_inj_s - ph.liver_arrival_s - 4.0) / 1.5))
        liver, lesion = ph.peak_power * rise, ph.lesion_volume_ratio * ph.peak_power * rise
    else:
        liver, lesion = contrast_curves(ph, t_inj_s)
    if not ph.destruction_times_s:
        return liver, lesion
    flashes = flash_frames(t_inj_s, ph.destruction_times_s, ph.flash_frames)
    beta_liver, beta_lesion = ph.refill_beta_per_s
    return (liver * refill_fraction(t_inj_s, flashes, beta_liver, ph.destruction_residual),
            lesion * refill_fraction(t_inj_s, flashes, beta_lesion, ph.destruction_residual))


def frame_gains(ph: Phantom, t_inj_s: np.ndarray) -> np.ndarray:
    """Return the factor on each frame's whole echo: the flash frames' brightening times the level steps.

    Parameters
    ----------
    ph : the phantom.  t_inj_s : (T,) frame times after injection, s.

    Returns
    -------
    (T,) linear factor (1 without destructions and steps).
    """
    flashes = flash_frames(t_inj_s, ph.destruction_times_s, ph.flash_frames)
    gain: np.ndarray = _flash_gain(t_inj_s.size, flashes, ph.flash_db) * _step_gain(t_inj_s, ph.level_steps)
    return gain


def kinetics_truth(ph: Phantom, t_inj_s: np.ndarray, weights: Mapping[str, tuple[float, float]]) -> dict[str, Any]:
    """Return the truth the destructions and steps add to a phantom's truth file.

    Parameters
    ----------
    ph : the phantom.  t_inj_s : (T,) frame times after injection, s.
    weights : ROI name → (liver, lesion) mean over the ROI of gain × perfusion × each region's share at the
        reference frame: the ROI's noiseless mean is tissue + liver weight × liver blood + lesion weight ×
        lesion blood.

    Returns
    -------
    ``{"destructions": [{"flash_frames", "start_s", "t_d_s"}], "refills": {ROI: [{"destruction_s",
    "blood_volume", "beta_per_s"}]}, "steps": [{"time_s", "db"}], "kinetics": "infusion"|"bolus"}``; times
    after injection. β of an ROI is its dominant region's; A = (1 − residual) × the blood level at t_d.
    """
    flashes = flash_frames(t_inj_s, ph.destruction_times_s, ph.flash_frames)
    if ph.infusion:
        steady = (ph.peak_power, ph.lesion_volume_ratio * ph.peak_power)
        levels = [steady for _ in flashes]
    else:
        liver, lesion = contrast_curves(ph, t_inj_s)
        levels = [(float(liver[f[-1]]), float(lesion[f[-1]])) for f in flashes]
    step = _step_gain(t_inj_s, ph.level_steps)
    refills: dict[str, list[dict[str, float]]] = {}
    for name, (w_liver, w_lesion) in weights.items():
        beta = ph.refill_beta_per_s[1] if w_lesion > w_liver else ph.refill_beta_per_s[0]
        refills[name] = [{"destruction_s": float(t_inj_s[f[-1]]),
                          "blood_volume": float(step[f[-1]] * (1 - ph.destruction_residual)
                                                * (w_liver * level[0] + w_lesion * level[1])),
                          "beta_per_s": float(beta)} for f, level in zip(flashes, levels, strict=True)]
    return {"kinetics": "infusion" if ph.infusion else "bolus",
            "destructions": [{"flash_frames": f.tolist(), "start_s": float(t_inj_s[f[0]]),
                              "t_d_s": float(t_inj_s[f[-1]])} for f in flashes],
            "refills": refills, "steps": [{"time_s": float(m), "db": float(d)} for m, d in ph.level_steps]}
