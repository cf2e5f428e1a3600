"""Scoring ROI proposals against a phantom's truth: where a reader clicks, true masks on any frame, Dice.

Everything here reads only the truth file (its masks, shifts, pattern and timing), never ceuskit's analysis:

* :func:`click_frame` — the frame a reader clicks on: the lesion's arterial peak (the simulator's reference
  frame), or for a lesion iso in the arterial phase the in-plane frame 15 s into its wash-out, where it shows.
* :func:`true_mask` — a true mask moved to any frame by the truth's per-frame tissue shifts.
* :func:`inner_half_clicks` — points in the inner half of a lesion: from its centroid, at most half-way to its
  outline along a random direction.
* :func:`truth_rois` — the ROIs of the true masks: the lesion, and the true parenchyma at the lesion's depth
  (its rows) at least 6 px from every lesion and vessel: what "the reading from the true masks" reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import ndimage

from ceuskit.roi import RoiSet, rois_from_label_mask
from ceuskit.simulate.anatomy import decode_labels, truth_masks

__all__ = ["click_frame", "dice", "inner_half_clicks", "reading_masks", "true_labels", "true_mask", "truth_rois"]

CLEARANCE_PX = 6
"""The true-mask reading's parenchyma keeps this far from every lesion and vessel, px."""


def click_frame(truth: Mapping[str, Any]) -> int:
    """Return the frame a reader clicks on (module docstring)."""
    if truth["pattern"]["arterial"] != "iso" or truth.get("washout_onset_s") is None:
        return int(truth["reference_frame"])
    t = np.asarray(truth["frame_times_s"]) - float(truth["injection_time_s"])
    score = np.abs(t - float(truth["washout_onset_s"]) - 15.0)
    score[np.asarray(truth["out_of_plane_frames"], dtype=int)] = np.inf
    return int(np.argmin(score))


def true_mask(truth: Mapping[str, Any], name: str, frame: int) -> np.ndarray:
    """Return true mask ``name`` ("lesion", "lesion3", "parenchyma", "vessel") where ``frame`` shows it."""
    masks = truth_masks(truth["masks"])
    shifts = np.asarray(truth["shifts_px"])
    dx, dy = (int(v) for v in shifts[frame] - shifts[int(truth["masks"]["frame"])])
    return np.roll(np.roll(masks[name], dy, axis=0), dx, axis=1)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two bool masks (0 when both are empty)."""
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 0.0


def inner_half_clicks(lesion: np.ndarray, n: int, *, seed: int = 0) -> list[tuple[float, float]]:
    """``n`` clicks (x, y) in the inner half of ``lesion``.

    Its centroid first, then random directions, each at a random fraction (≤ ½) of the way from the centroid
    to the outline.
    """
    rows, cols = np.nonzero(lesion)
    cy, cx = float(rows.mean()), float(cols.mean())
    out = [(cx, cy)]
    rng = np.random.default_rng(seed)
    while len(out) < n:
        angle = rng.uniform(0, 2 * np.pi)
        reach = 0.0
        while True:
            r, c = int(round(cy + (reach + 0.5) * np.sin(angle))), int(round(cx + (reach + 0.5) * np.cos(angle)))
            if not (0 <= r < lesion.shape[0] and 0 <= c < lesion.shape[1]) or not lesion[r, c]:
                break
            reach += 0.5
        t = rng.uniform(0.0, 0.5)
        out.append((cx + t * reach * np.cos(angle), cy + t * reach * np.sin(angle)))
    return out


def reading_masks(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the true-mask reading's (lesion, parenchyma) masks from a true label image.

    The lesion is label 1; the parenchyma is label 2 in the lesion's rows, at least :data:`CLEARANCE_PX` from
    every lesion and vessel.

    Parameters
    ----------
    labels : a true label image (0 outside the image, 1 lesion, 2 parenchyma, 3… further lesions, vessels).

    Returns
    -------
    tuple of bool arrays
        (lesion, parenchyma), the shape of ``labels``.
    """
    lesion = labels == 1
    anything = (labels != 0) & (labels != 2)
    clear = (labels == 2) & (ndimage.distance_transform_edt(~anything) > CLEARANCE_PX)
    rows = np.nonzero(lesion.any(axis=1))[0]
    band = np.zeros(lesion.shape, dtype=bool)
    band[rows.min():rows.max() + 1, :] = True
    return lesion, clear & band


def truth_rois(truth: Mapping[str, Any], frame: int) -> RoiSet:
    """Return the true lesion (label 1) and parenchyma at its depth (label 2) as ROIs drawn on ``frame``."""
    lesion, parenchyma = reading_masks(true_labels(truth, frame))
    labels = np.zeros(lesion.shape, dtype=np.uint8)
    labels[parenchyma] = 2
    labels[lesion] = 1
    return rois_from_label_mask(labels, reference_frame=frame, source="true masks")


def true_labels(truth: Mapping[str, Any], frame: int) -> np.ndarray:
    """Return the truth's label image where ``frame`` shows it (moved by the truth's tissue shifts)."""
    labels = decode_labels(truth["masks"]["runs"], truth["masks"]["shape"])
    shifts = np.asarray(truth["shifts_px"])
    dx, dy = (int(v) for v in shifts[frame] - shifts[int(truth["masks"]["frame"])])
    return np.roll(np.roll(labels, dy, axis=0), dx, axis=1)
