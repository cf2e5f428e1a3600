"""What real recordings add that a plain phantom lacks.

Sparse late frames, lesions that fill in at once, and an out-of-plane episode placed at a chosen moment.

* **Sparse late frames.** Scanners often record a dense loop through the wash-in and then keep one frame every
  few seconds: after ``sparse_after_s`` seconds of recording, one frame every ``sparse_interval_s`` (± 10 %,
  whole milliseconds) until the end.
* **Fill-in.** A large lesion stays without contrast (dark inside the enhancing liver: tissue echo only) until
  ``fill_in_s`` after the injection, then fills from its rim to its centre within ``fill_in_duration_s``: a
  pixel at normalised elliptic radius ρ (0 centre, 1 rim) fills at ``fill_in_s + (1 − ρ)·duration``. Its rim
  is sharp (no blur), so the image changes abruptly and everywhere at once while the tissue does not move.
* **An out-of-plane episode at a chosen moment.** With ``out_of_plane_start_s`` the periodic out-of-plane
  episodes are phased so that one begins at that time after injection (e.g. on the lesion's arterial peak).

All three change nothing unless their Phantom fields are set.
"""

from __future__ import annotations

import numpy as np

from ceuskit.simulate.phantom import Phantom

__all__ = ["LESION_ROI_SCALE", "episode_offset", "fill_in_map", "lesion_rim", "roi_fill_fraction", "sparse_times"]

LESION_ROI_SCALE = 0.75
"""The simulated lesion ROI is the lesion's ellipse scaled by this (same centre)."""


def sparse_times(ph: Phantom, dense_s: np.ndarray) -> np.ndarray:
    """Frame times (s of recording).

    ``dense_s`` up to ``sparse_after_s``, then one frame every ``sparse_interval_s`` (± 10 %, its own random
    stream) up to the recording's end; ``dense_s`` unchanged when not sparse.
    """
    if ph.sparse_after_s <= 0:
        return dense_s
    rng = np.random.default_rng([ph.seed, 3])
    kept = dense_s[dense_s <= ph.sparse_after_s]
    late = []
    t = float(kept[-1])
    while True:
        t += ph.sparse_interval_s * (1.0 + rng.uniform(-0.1, 0.1))
        if t > dense_s[-1]:
            break
        late.append(round(t * 1000.0) / 1000.0)
    return np.concatenate([kept, np.asarray(late, dtype=float)])


def episode_offset(ph: Phantom, first_s: float, drawn_s: float) -> float:
    """Return the offset of the periodic out-of-plane episodes.

    The offset is in s after the first frame's time ``first_s``, after injection: ``drawn_s`` (random) unless
    ``out_of_plane_start_s`` places one episode's start.
    """
    if ph.out_of_plane_start_s is None:
        return drawn_s
    return float(np.mod(ph.out_of_plane_start_s - first_s, ph.out_of_plane_period_s))


def lesion_rim(inside: np.ndarray, soft: np.ndarray, ph: Phantom) -> np.ndarray:
    """Return the lesion's weight map.

    ``soft`` (its blurred indicator), or the sharp indicator ``inside`` for a lesion that fills in.
    """
    return inside.astype(float) if ph.fill_in_s > 0 else soft


def fill_in_map(ph: Phantom, rho: np.ndarray, t_inj_s: float) -> np.ndarray | float:
    """Return the fraction of each lesion pixel holding contrast at ``t_inj_s`` s after injection.

    1 when the lesion does not fill in. ``rho``: the pixels' normalised elliptic radius from the lesion's
    centre.
    """
    if ph.fill_in_s <= 0:
        return 1.0
    filled_at = ph.fill_in_s + (1.0 - np.minimum(rho, 1.0)) * ph.fill_in_duration_s
    filled: np.ndarray = (t_inj_s >= filled_at).astype(float)
    return filled


def roi_fill_fraction(ph: Phantom, t_inj_s: np.ndarray) -> np.ndarray:
    """Return the closed-form fraction of the lesion ROI holding contrast at each time.

    The ROI is the lesion scaled by :data:`LESION_ROI_SCALE`; the filled part is the pixels with ρ ≥ 1 − (t −
    fill_in_s)/duration, an area fraction 1 − (ρ*/scale)².
    """
    t = np.asarray(t_inj_s, dtype=float)
    if ph.fill_in_s <= 0:
        return np.ones(t.shape)
    front = 1.0 - (t - ph.fill_in_s) / ph.fill_in_duration_s  # pixels beyond this radius are filled
    inner = np.clip(front, 0.0, LESION_ROI_SCALE) / LESION_ROI_SCALE
    return np.where(front > 1.0, 0.0, 1.0 - inner**2)
