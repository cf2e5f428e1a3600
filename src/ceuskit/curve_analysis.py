"""Curves without a clip: a curve table → the same reading, outputs and quality flags as a clip.

:func:`analyze_curves` reads a table of time–intensity curves (:func:`ceuskit.io.curves.read_curves`), turns
its intensities into linear echo power, places them on a :class:`~ceuskit.timeline.Timeline` as a clip's
measured curves would be, and hands them to the same reading step (:func:`ceuskit.characterisation.read_timeline`).
Nothing downstream knows whether the curves came from frames or from a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit._version import __version__
from ceuskit.characterisation import Reading, read_timeline
from ceuskit.errors import CurveError, InputError
from ceuskit.io.curves import CurveTable, read_curves
from ceuskit.pipeline import Analysis, AnalysisOptions, check_options, tic_columns, write_outputs
from ceuskit.preprocess.linearize import grey_to_power
from ceuskit.preprocess.motion import MotionResult
from ceuskit.roi import Roi, RoiSet
from ceuskit.tic import TicResult
from ceuskit.timeline import join
from ceuskit.timeseries import check_injection_time

__all__ = ["analyze_curves", "curve_power"]

MIN_SAMPLES = 8
"""A curve table needs at least this many samples (as a clip needs frames)."""


def curve_power(table: CurveTable, dynamic_range_db: float) -> np.ndarray:
    """Return the table's intensities as linear echo power (n, T).

    Grey through the display's log compression over ``dynamic_range_db``, dB as 10^(dB/10), power as given.
    """
    if table.units == "grey":
        return np.asarray(grey_to_power(table.values, dynamic_range_db), dtype=np.float64)
    if table.units == "db":
        return np.asarray(10.0 ** (table.values / 10.0))
    return np.asarray(table.values, dtype=np.float64)


def _roi_set(table: CurveTable) -> RoiSet:
    """Return the curves as ROIs (names and roles; shape "curve": there is no image to draw them on)."""
    rois = tuple(Roi(name, table.roles[name], "curve", {"column": name}) for name in table.names)
    found = RoiSet(rois)
    if not found.lesions or not found.parenchyma:
        missing = "lesion" if not found.lesions else "liver reference (parenchyma)"
        raise CurveError(f"{Path(table.source).name}: the curves hold no {missing}: a reading compares a lesion "
                         "with its liver reference; give both (--column lesion=NAME --column parenchyma=NAME)")
    return found


def _document(table: CurveTable, reading: Reading, opts: AnalysisOptions, rois: RoiSet, motion: MotionResult
              ) -> dict[str, Any]:
    t = table.times_s
    duration = float(t[-1] - t[0])
    source = {"source": table.source, "sha256": table.sha256, "kind": "curves", "format": table.format,
              "units": table.units, "n_frames": int(t.size), "duration_s": round(duration, 4),
              "frame_rate_hz": round((t.size - 1) / duration, 4) if duration > 0 else None,
              "pixel_spacing_mm": None, "injection_time_s": opts.injection_s,
              "dynamic_range_db": opts.dynamic_range_db if table.units == "grey" else None,
              "layout": None, "display": None, "overlay_pixels": 0}
    roi_set = {"reference_frame": 0, "units": "px",
               "rois": [{"name": r.name, "role": r.role, "shape": "curve"} for r in rois.rois]}
    clip = {**source, "offset_s": 0.0, "acquired": None, "motion": motion.to_json(), "roi_set": roi_set}
    return {
        "ceuskit_version": __version__,
        "clip": source,
        "clips": [clip],
        "motion": clip["motion"],
        "curves": {"format": table.format, "units": table.units, "time_column": table.time_column,
                   "roles": dict(table.roles), "roles_from": table.roles_from},
        "rois": reading.rois,
        "roi_set": roi_set,
        "lesions": reading.lesions,
        **reading.kinetics,
        "quality": [flag.to_json() for flag in reading.flags],
        "provenance": {"software": f"ceuskit {__version__}", "options": opts.to_json(),
                       "options_hash": opts.digest(),
                       "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "input": {"kind": "curves", "units": table.units, "format": table.format}},
    }


def analyze_curves(curves: str | Path | CurveTable, options: AnalysisOptions | None = None, *,
                   out_dir: str | Path | None = None, units: str | None = None, time_column: str | None = None,
                   columns: Sequence[tuple[str, str]] | None = None, **settings: Any) -> Analysis:
    """Read a table of time–intensity curves as a clip's curves are read.

    Parameters
    ----------
    curves : a curve file or folder (:func:`ceuskit.io.curves.read_curves`), or a table already read.
    options : how to read it, as for a clip (:class:`ceuskit.pipeline.AnalysisOptions`): its
        ``injection_time_s`` counts from the table's time zero ("auto" is refused: a table states no contrast
        start time), ``dynamic_range_db`` linearises grey intensities (unused for power and dB); there are no
        images, so motion and overlays are off and fps and layout unused.
    out_dir : when given, ``analysis.json`` and ``tic.csv`` are written there atomically.
    units, time_column, columns : as :func:`ceuskit.io.curves.read_curves` (ignored for a table given).
    **settings : fields of ``options`` to change, as for :func:`ceuskit.pipeline.analyze`.

    Returns
    -------
    Analysis
        The same document, TIC table and curves as a clip's (its ``clip`` says ``"kind": "curves"``).

    Raises
    ------
    CurveError
        An unreadable table, or one without a lesion and its liver reference.
    InputError
        Bad options, an injection time outside the recording, "auto" injection time.
    """
    table = curves if isinstance(curves, CurveTable) else read_curves(curves, time_column=time_column,
                                                                      columns=columns, units=units)
    opts = replace((options or AnalysisOptions()).with_settings(**settings), motion=False, overlays=False)
    if isinstance(opts.injection_time_s, str):
        raise InputError("a curve table states no contrast injection time: give --injection-time in seconds after "
                         "its time zero")
    check_options(opts)
    if table.times_s.size < MIN_SAMPLES:
        raise CurveError(f"{Path(table.source).name}: {table.times_s.size} samples are too few for a time–intensity "
                         "analysis")
    start = float(table.times_s[0])
    check_injection_time(opts.injection_s - start, float(table.times_s[-1] - start))
    rois = _roi_set(table)
    power = curve_power(table, opts.dynamic_range_db)
    n = table.times_s.size
    motion = MotionResult.still(n, "curves read from a table: no images to track")
    tics = TicResult(table.times_s - opts.injection_s, {name: power[i] for i, name in enumerate(table.names)},
                     motion, {}, {name: np.zeros(n) for name in table.names}, {})
    timeline = join([tics], [Path(table.source).name])
    areas = {name: (None, table.areas_mm2.get(name)) for name in table.names}
    reading = read_timeline(timeline, rois, model=opts.model, phases=opts.phases, areas=areas,
                            size_mm=opts.size_mm, at_risk=opts.at_risk, kinetics=opts.kinetics)
    document = _document(table, reading, opts, rois, motion)
    analysis = Analysis(document, tic_columns([tics], timeline, opts, reading.refill_fitted), reading.fitted,
                        reading.relative_db, reading.refill_fitted)
    if out_dir is not None:
        write_outputs(analysis, out_dir)
    return analysis
