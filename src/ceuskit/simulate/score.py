"""Scoring an analysis against a phantom's ground truth: labels, onset, ROI placement and TIC error.

Every figure compares what ceuskit reported with what the simulator put in (``truth`` as written by
:func:`ceuskit.simulate.simulate_clip`), never with another ceuskit output:

* ``shift_error_px``: per frame, the distance between where the analysis put the ROIs (its applied shift;
  zero when motion compensation was not applied) and where the tissue really was, relative to the reference
  frame; reported as median, 95th percentile and maximum over the frames counted for the TIC error (below):
  before the contrast shows, nothing can be tracked and nothing needs to be;
* ``tic_error_db``: mean absolute dB difference between the measured lesion TIC and the noiseless in-plane
  truth over the measured in-plane frames whose truth lies at least 15 dB above the display's floor (−DR dB;
  below it log compression clips the signal whatever the ROI does); speckle alone gives a few tenths of a dB;
* ``out_of_plane_kept``: out-of-plane frames with contrast showing that the analysis did not reject (their
  values are not the lesion's);
* ``relative_peak_error_db``: the reported arterial relative enhancement minus the truth's: the noiseless
  lesion-to-liver ratio in dB, its median over the in-plane frames of the arterial window where the noiseless
  lesion stands within ``PhaseOptions.peak_plateau_db`` of its maximum (DESIGN's R at the lesion's peak);
* ``max_shift_px`` beside ``true_max_shift_px``: the largest applied shift the analysis reports, and the
  largest true displacement of the tissue from the reference frame over the clip;
* ``in_plane_rejected``: in-plane frames the analysis rejected; ``sparse_in_plane`` and ``sparse_kept``: the
  in-plane frames of a sparse late recording (after ``sparse_after_s``) and how many of them were measured;
* labels and the onset error against the pattern and the closed-form arrival time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ceuskit.phases import PhaseOptions
from ceuskit.simulate.phantom import LATE_PHASE_START_S

__all__ = ["DISPLAY_MARGIN_DB", "score_analysis"]

DISPLAY_MARGIN_DB = 15.0
"""TIC errors count frames whose true power lies this far above the display floor (−DR dB)."""


def _shift_errors(tic: Mapping[str, np.ndarray], truth: Mapping[str, Any], frames: np.ndarray) -> np.ndarray:
    true = np.asarray(truth["shifts_px"], dtype=float)
    true = true - true[int(truth["reference_frame"])]
    applied = np.stack([np.asarray(tic["shift_x_px"], float), np.asarray(tic["shift_y_px"], float)], axis=1)
    error_px: np.ndarray = np.hypot(*(applied[frames] - true[frames]).T)
    return error_px


def _true_relative_peak_db(truth: Mapping[str, Any], lesion: str, reference: str, in_plane: np.ndarray
                           ) -> float | None:
    """Return the noiseless lesion-to-liver ratio (dB) at the lesion's arterial peak, by DESIGN's definition."""
    opts = PhaseOptions()
    t = np.asarray(truth["frame_times_s"], dtype=float) - float(truth["injection_time_s"])
    les = np.asarray(truth["tic_truth"][lesion], dtype=float)
    ref = np.asarray(truth["tic_truth"][reference], dtype=float)
    window = in_plane & (t >= 0.0) & (t <= opts.arterial_end_s) & (les > 0) & (ref > 0)
    if not window.any():
        return None
    top = float(les[window].max())
    plateau = window & (les >= top * 10 ** (-opts.peak_plateau_db / 10))
    return float(np.median(10 * np.log10(les[plateau] / ref[plateau])))


def score_analysis(truth: Mapping[str, Any], document: Mapping[str, Any], tic: Mapping[str, np.ndarray], *,
                   lesion: str = "lesion") -> dict[str, Any]:
    """Compare one analysis (its ``document`` and ``tic`` table) with the phantom's ``truth``.

    Returns
    -------
    dict with ``labels_right`` (bool), ``label_errors`` (list of "feature: got X, truth Y"), ``onset_error_s``
    (None when either side has no onset), ``shift_error_px`` {median, p95, max}, ``tic_error_db``,
    ``relative_peak_error_db``, ``out_of_plane_kept``, ``measured_in_plane_fraction``, ``max_shift_px``,
    ``true_max_shift_px``, ``in_plane_rejected``, ``sparse_in_plane`` and ``sparse_kept``.
    """
    n = len(truth["frame_times_s"])
    out_of_plane = np.zeros(n, dtype=bool)
    out_of_plane[np.asarray(truth["out_of_plane_frames"], dtype=int)] = True
    measured = np.isfinite(np.asarray(tic[f"{lesion}_power"], dtype=float))
    in_plane = measured & ~out_of_plane
    reference = np.asarray(truth["tic_truth"][lesion], dtype=float)
    shows = reference >= 10 ** ((DISPLAY_MARGIN_DB - float(truth["dynamic_range_db"])) / 10)
    visible = in_plane & shows
    shift_err = _shift_errors(tic, truth, np.flatnonzero(visible))
    values, reference = np.asarray(tic[f"{lesion}_power"], dtype=float)[visible], reference[visible]
    tic_err = float(np.mean(np.abs(10 * np.log10(values / reference)))) if values.size else float("nan")
    reading = next(item for item in document["lesions"] if item["roi"] == lesion)
    pattern = truth["pattern"]
    got = {"arterial": reading["arterial_phase"]["enhancement"],
           "washout_timing": reading["portal_venous_phase"]["washout_timing"],
           "washout_degree": reading["portal_venous_phase"]["washout_degree"],
           "late": reading["late_phase"]["enhancement"]}
    expected = {key: pattern[key] for key in got}
    if truth["frame_times_s"][-1] - truth["injection_time_s"] < LATE_PHASE_START_S:
        expected["late"] = "not_assessed"  # the clip ends before the late phase
    errors = [f"{key}: got {value}, truth {expected[key]}" for key, value in got.items() if value != expected[key]]
    onset, true_onset = reading["arterial_phase"]["onset_s"], truth.get("onset_s")
    peak_db = reading["arterial_phase"]["relative_peak_db"]
    true_db = _true_relative_peak_db(truth, lesion, reading["reference"], ~out_of_plane)
    peak_error = None if peak_db is None or true_db is None else float(peak_db - true_db)
    true = np.asarray(truth["shifts_px"], dtype=float)
    rejected = np.asarray(tic["rejected"], dtype=bool)
    sparse = np.zeros(n, dtype=bool)
    sparse_after_s = float(truth["phantom"].get("sparse_after_s") or 0.0)
    if sparse_after_s > 0:
        sparse = (np.asarray(truth["frame_times_s"], dtype=float) > sparse_after_s) & ~out_of_plane
    return {
        "labels_right": not errors,
        "label_errors": errors,
        "onset_error_s": None if onset is None or true_onset is None else float(onset - true_onset),
        "relative_peak_error_db": peak_error,
        "shift_error_px": {"median": float(np.median(shift_err)) if shift_err.size else float("nan"),
                           "p95": float(np.percentile(shift_err, 95)) if shift_err.size else float("nan"),
                           "max": float(shift_err.max()) if shift_err.size else float("nan")},
        "tic_error_db": tic_err,
        "out_of_plane_kept": int((measured & out_of_plane & shows).sum()),
        "measured_in_plane_fraction": float(in_plane.sum() / max(1, (~out_of_plane).sum())),
        "max_shift_px": float(document["motion"]["max_shift_px"]),
        "true_max_shift_px": float(np.hypot(*(true - true[int(truth["reference_frame"])]).T).max()),
        "in_plane_rejected": int((rejected & ~out_of_plane).sum()),
        "sparse_in_plane": int(sparse.sum()),
        "sparse_kept": int((sparse & measured).sum()),
    }
