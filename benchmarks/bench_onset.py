"""The onset as a reader sees it, against the simulator's truth: clips, curve tables, maps, flags, drawn fits.

Truth: where the noiseless curve, in dB, has risen 5 % of its way from its pre-contrast level to its arterial
peak (:mod:`ceuskit.simulate.curves`, :mod:`ceuskit.simulate.curve_cases`). Figures:

* onset error (s, median and max |error|) on the real-world and slow-rise phantom clips and on the curve cases
  read as tables, and its change between ``--dynamic-range`` 30 and 60 (s, max);
* the baseline a competent user would write — 5 % of the rise in *linear power* on the same smoothed curve
  (the former rule, kept as ``scale="power"``) — measured the same way, and the ratios new / baseline;
* the arrival map's median per ROI against the truth (slow-rise phantoms);
* ``onset_disagreement`` flags where the fit misses the wash-in (two-supplies) and elsewhere (should be none);
* the drawn fits: largest departure of the drawn pre-arrival level from the measured baseline (dB).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

RANGES_DB = (30.0, 60.0)


def _old_onset(analysis: Any, window_end_s: float = 45.0) -> float:
    from ceuskit.onset import ArrivalOptions, find_arrivals

    t = np.asarray(analysis.tic["time_s"], dtype=float)
    found = find_arrivals(t, np.asarray(analysis.tic["lesion_power"], dtype=float)[None, :],
                          window_s=(0.0, window_end_s), options=ArrivalOptions(scale="power"))
    return float(found["arrival_time_s"][0])


def _summary(errors: list[float]) -> str:
    values = np.abs(np.asarray([e for e in errors if np.isfinite(e)]))
    return f"median {np.median(values):.2f} s, max {values.max():.2f} s (n {values.size})"


def _error(value: float | None, truth: float) -> float:
    return float("nan") if value is None else value - truth


def _clips(root: Path, figures: dict[str, object]) -> None:
    from ceuskit.pipeline import analyze
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.cases import REAL_WORLD, SLOW_RISES

    new, old, moved_new, moved_old, baseline_db, missing = [], [], [], [], [], []
    for name, ph in {**REAL_WORLD, **SLOW_RISES}.items():
        sim = simulate_clip(root, ph, name=name)
        truth = sim.truth_data
        onsets, olds = {}, {}
        for dr in sorted({*RANGES_DB, ph.dynamic_range_db}):
            analysis = analyze(sim.dicom, sim.roi, injection_time_s=ph.lead_in_s, dynamic_range_db=dr)
            onsets[dr] = analysis.document["lesions"][0]["arterial_phase"]["onset_s"]
            olds[dr] = _old_onset(analysis)
            if dr == ph.dynamic_range_db and truth["baseline_observed"]:
                new.append(_error(onsets[dr], truth["onset_s"]))  # NaN (left out) where there is no onset
                old.append(_error(olds[dr], truth["onset_s"]))
                baseline_db.append(_drawn_baseline_departure_db(analysis, truth["onset_s"]))
        if truth["baseline_observed"] and None in (onsets[60.0], onsets[30.0], olds[60.0], olds[30.0]):
            missing.append(name)  # no onset at one of the ranges: the rise there is below the minimum enhancement
        elif truth["baseline_observed"]:
            moved_new.append(abs(onsets[60.0] - onsets[30.0]))
            moved_old.append(abs(olds[60.0] - olds[30.0]))
    figures["clips onset error"] = _summary(new)
    figures["clips onset error, linear-power rule"] = _summary(old)
    figures["clips onset error ratio (median, new / linear)"] = round(
        float(np.median(np.abs(new)) / np.median(np.abs(old))), 3)
    figures["clips onset change 30↔60 dB (max)"] = f"{max(moved_new):.3f} s (linear-power rule {max(moved_old):.2f} s)"
    figures["clips without an onset at 30 or 60 dB (of those with a baseline)"] = \
        f"{len(missing)}/{len(missing) + len(moved_new)}" + (f": {', '.join(missing)}" if missing else "")
    figures["drawn fit pre-arrival level vs measured baseline (max)"] = f"{np.nanmax(baseline_db):.2f} dB"


def _drawn_baseline_departure_db(analysis: Any, onset_s: float) -> float:
    from ceuskit.timeseries import moving_average

    t = np.asarray(analysis.tic["time_s"], dtype=float)
    drawn = np.asarray(analysis.fitted["lesion"], dtype=float)
    before = (t < onset_s - 1.0) & np.isfinite(drawn)
    if not before.any():
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        data_db = 10 * np.log10(moving_average(t, np.asarray(analysis.tic["lesion_power"], dtype=float), 1.0))
        return float(np.max(np.abs(10 * np.log10(drawn[before]) - np.nanmedian(data_db[t < onset_s - 1.0]))))


def _curve_tables(figures: dict[str, object]) -> None:
    from ceuskit.curve_analysis import analyze_curves
    from ceuskit.io.curves import CurveTable
    from ceuskit.simulate.curve_cases import CURVE_CASES, curve_case
    from ceuskit.simulate.exports import as_units

    errors, moved, flagged, unflagged = [], [], 0, 0
    for name in CURVE_CASES:
        for seed in range(5):
            case = curve_case(name, seed=seed)
            grey = np.vstack([as_units(case.power[n], "grey") for n in case.power])
            table = CurveTable(name, "", "table", case.times_s, tuple(case.power), grey, "grey",
                               {"lesion": "lesion", "liver": "parenchyma"}, "names")
            onsets = {}
            for dr in (30.0, 45.0, 60.0):
                document = analyze_curves(table, dynamic_range_db=dr).document
                onsets[dr] = document["lesions"][0]["arterial_phase"]["onset_s"]
                codes = {f["code"] for f in document["quality"] if f["roi"] == "lesion"}
                if name == "two-supplies":
                    flagged += "onset_disagreement" in codes
                else:
                    unflagged += "onset_disagreement" in codes
            truth = case.truth["onset_s"]["lesion"]
            if truth is not None:
                errors.append(onsets[60.0] - truth)
                moved.append(max(onsets.values()) - min(onsets.values()))
    figures["curve tables onset error"] = _summary(errors)
    figures["curve tables onset change 30–60 dB (max)"] = f"{max(moved):.3f} s"
    figures["onset_disagreement on two-supplies / on the rest"] = f"{flagged}/15 / {unflagged}/75"


def _maps(root: Path, figures: dict[str, object]) -> None:
    from ceuskit.feed import clip_frames
    from ceuskit.io import open_clip
    from ceuskit.io.rois import load_rois
    from ceuskit.maps import parametric_maps
    from ceuskit.simulate import simulate_clip
    from ceuskit.simulate.cases import SLOW_RISES

    errors = []
    for name, ph in SLOW_RISES.items():
        sim = simulate_clip(root, ph, name=f"map-{name}")
        with open_clip(sim.dicom) as clip:
            rois = load_rois(sim.roi, pixel_spacing_mm=clip.pixel_spacing_mm)
            masks = rois.masks(clip.rows, clip.columns)
            maps = parametric_maps(clip_frames(clip), rois, block_px=4, injection_time_s=ph.lead_in_s,
                                   dynamic_range_db=ph.dynamic_range_db)
        for roi, key in (("lesion", "onset_s"), ("liver", "liver_onset_s")):
            errors.append(float(np.nanmedian(maps["arrival_time_s"][masks[roi]])) - sim.truth_data[key])
    figures["arrival map median per ROI error (slow rises)"] = _summary(errors)


def run() -> dict[str, object]:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _curve_tables(figures)
        _clips(root, figures)
        _maps(root, figures)
    return figures
