"""An examination end to end: clips + ROIs → TICs → fits → parameters → phase reading → analysis.json.

:func:`analyze` reads one clip; :func:`analyze_examination` reads the clips of one examination (a continuous
loop, then late-phase sweeps) on one time axis. Both are used by the command line, the study runner and the
web app. Each clip is measured on its own (its ROIs, reference frame, layout, overlays and motion
compensation), then the curves are joined with their gaps (:mod:`ceuskit.timeline`) and read once
(:mod:`ceuskit.characterisation`).
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit import quality
from ceuskit._atomic import atomic_folder
from ceuskit._json import numpy_default
from ceuskit._version import __version__
from ceuskit.characterisation import Reading, read_timeline
from ceuskit.errors import AnalysisError, InputError, RoiError
from ceuskit.feed import clip_frames, display_maps
from ceuskit.io import open_clip
from ceuskit.io.clip import Clip
from ceuskit.io.examination import acquisition_time, injection_from_header, place_clips
from ceuskit.io.rois import load_rois
from ceuskit.kinetics import KINETICS, check_kinetics
from ceuskit.phases import PhaseOptions
from ceuskit.pixels import Box
from ceuskit.preprocess.display import DisplayMap, display_map_of
from ceuskit.preprocess.linearize import DEFAULT_DYNAMIC_RANGE_DB, check_dynamic_range
from ceuskit.preprocess.overlays import BackgroundOverlays
from ceuskit.quality import Flag
from ceuskit.roi import RoiSet, check_reference_frame, parse_rois, roi_areas
from ceuskit.tic import TicResult, extract_tics, tic_table
from ceuskit.timeline import Timeline, join
from ceuskit.timeseries import check_injection_time, moving_average

__all__ = ["KINETICS", "MODELS", "Analysis", "AnalysisOptions", "analyze", "analyze_examination", "check_options",
           "tic_columns", "write_outputs"]

MODELS = ("auto", "lognormal", "gamma", "ldrw", "fpt")

MIN_FRAMES = 8
"""An examination needs at least this many frames in all (a sweep may be short; a loop may not)."""

RoiInput = str | Path | RoiSet | Mapping[str, Any]
ClipInput = str | Path | Clip


@dataclass(frozen=True)
class AnalysisOptions:
    """How to read a clip, an examination or a table of curves: every setting of :func:`analyze`.

    One object for :func:`analyze`, :func:`analyze_examination` and
    :func:`ceuskit.curve_analysis.analyze_curves`; their keyword settings are shorthand for
    :meth:`with_settings`. The whole object (the injection time resolved to seconds) is recorded in the document's
    ``provenance.options`` and hashed into ``provenance.options_hash``.

    Parameters
    ----------
    injection_time_s : injection moment, seconds after the (earliest) clip's first frame (negative: before it),
        or "auto" for the DICOM Contrast/Bolus Start Time (0018,1042) against the acquisition time.
    dynamic_range_db : the display dynamic range used to linearise grey values.
    model : "auto" (lowest AIC per curve) or one of "lognormal", "gamma", "ldrw", "fpt".
    motion : motion compensation with frame rejection.
    overlays : find burned-in overlays (timer, markers, callipers) and leave them out of tracking and TICs.
    max_shift_mm : the largest displacement motion compensation looks for.
    phases : thresholds and windows of the phase characterisation.
    kinetics : "auto" (replenishment fits after a destruction followed by refill), "bolus" (none) or
        "replenishment" (after every destruction); the bolus reading always uses the recording before the
        first destruction.
    fps, layout : how a clip given as a path is opened (:func:`ceuskit.io.open_clip`).
    size_mm, at_risk : lesion size and HCC-risk status, for the CEUS LI-RADS decision support.
    """

    injection_time_s: float | str = 0.0
    dynamic_range_db: float = DEFAULT_DYNAMIC_RANGE_DB
    model: str = "auto"
    motion: bool = True
    overlays: bool = True
    max_shift_mm: float = 8.0
    phases: PhaseOptions = field(default_factory=PhaseOptions)
    kinetics: str = "auto"
    fps: float | None = None
    layout: str = "auto"
    size_mm: float | None = None
    at_risk: bool | None = None

    @property
    def injection_s(self) -> float:
        """The injection time in seconds, once "auto" has been resolved from the header.

        Raises
        ------
        InputError
            The injection time is still "auto" (or another word).
        """
        if isinstance(self.injection_time_s, str):
            raise InputError(f"injection time {self.injection_time_s!r} has not been resolved to seconds")
        return float(self.injection_time_s)

    def with_settings(self, **settings: Any) -> AnalysisOptions:
        """Return a copy with the named settings changed (the field names of this class).

        Raises
        ------
        TypeError
            A name that is not a setting.
        """
        names = [f.name for f in fields(self)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise TypeError(f"unknown analysis setting(s) {', '.join(unknown)}; the settings are {', '.join(names)}")
        return replace(self, **settings) if settings else self

    def to_json(self) -> dict[str, Any]:
        """Return the options as a JSON-ready dict."""
        return asdict(self)

    def digest(self) -> str:
        """Return the first 16 hex digits of the SHA-256 of the options' sorted JSON."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze`: the analysis.json document and the TIC table (columns → arrays)."""

    document: dict[str, Any]
    tic: dict[str, np.ndarray] = field(repr=False)
    fitted: dict[str, np.ndarray] = field(repr=False)
    relative_db: dict[str, np.ndarray] = field(repr=False)
    refill_fitted: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # replenishment fits

    def to_json(self) -> str:
        """Return the analysis.json document as indented strict JSON."""
        return json.dumps(self.document, indent=2, allow_nan=False)


@dataclass(frozen=True)
class _Measured:
    """One clip measured on the examination's time axis."""

    clip: Clip
    start_s: float  # first frame, s after the earliest clip's first frame
    rois: RoiSet
    tics: TicResult
    overlay_pixels: int
    display: DisplayMap  # the CEUS region's display map, fitted once
    digest: Future[str]  # the clip's SHA-256, hashed while it was read


def check_options(opts: AnalysisOptions) -> None:
    """Raise :class:`~ceuskit.errors.InputError` for a setting that cannot be used (range, model, kinetics, size)."""
    check_dynamic_range(opts.dynamic_range_db)
    if opts.model not in MODELS:
        raise InputError(f"model {opts.model!r} is not one of {', '.join(MODELS)}")
    check_kinetics(opts.kinetics)
    if opts.size_mm is not None and (not np.isfinite(opts.size_mm) or opts.size_mm <= 0):
        raise InputError(f"lesion size {opts.size_mm!r} mm must be a positive number")


def _centred_in(bounds: tuple[float, float, float, float], box: tuple[int, int, int, int]) -> bool:
    """Whether the centre of an ROI's pixel extent (x0, y0, x1, y1) lies in a region's box (x1, y1 exclusive)."""
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def _place_rois(clip: Clip, rois: RoiSet) -> RoiSet:
    """Move each ROI drawn on the B-mode half of a dual display onto the CEUS half.

    An ROI whose centre lies on the B-mode half goes to the CEUS half (same anatomy, the same place in its half); an
    ROI centred on neither half is refused rather than left without a curve.
    """
    bmode, ceus = clip.bmode_region, clip.ceus_region
    if bmode is None:
        return rois
    dx, dy = ceus.box[0] - bmode.box[0], ceus.box[1] - bmode.box[1]
    placed = []
    for roi in rois.rois:
        if _centred_in(roi.bounds(), ceus.box):
            placed.append(roi)
        elif _centred_in(roi.bounds(), bmode.box):
            placed.append(roi.translated(dx, dy))
        else:
            x0, y0, x1, y1 = roi.bounds()
            raise RoiError(f"ROI {roi.name!r} (x {x0:.0f}…{x1:.0f}, y {y0:.0f}…{y1:.0f}) lies on neither half of the dual "
                           f"display (CEUS {list(ceus.box)}, B-mode {list(bmode.box)}): redraw it inside one half")
    return RoiSet(tuple(placed), rois.reference_frame)


def _load_roi_set(rois: RoiInput, clip: Clip) -> RoiSet:
    if isinstance(rois, RoiSet):
        return rois
    if isinstance(rois, Mapping):
        return parse_rois(rois, pixel_spacing_mm=clip.pixel_spacing_mm)
    return load_rois(rois, pixel_spacing_mm=clip.pixel_spacing_mm)


def _measure(clip: Clip, rois_in: RoiInput, start_s: float, opts: AnalysisOptions,
             progress: Callable[[int, int], None] | None) -> _Measured:
    """One clip's ROIs and TICs, its times counted after the injection."""
    rois = _place_rois(clip, _load_roi_set(rois_in, clip))
    check_reference_frame(rois, clip.n_frames)
    for lesion in rois.lesions:
        if rois.reference_of(lesion) is None:
            raise RoiError("no parenchyma ROI: add a liver ROI with role 'parenchyma' to compare the lesion with")
    digest = _in_background(clip.sha256)  # the file is hashed while it is read
    regions: Future[list[tuple[Box, DisplayMap]]] = Future()
    # overlays are found while the display maps are fitted and the clip is read; the reading waits for them
    search = BackgroundOverlays(clip, regions.result) if opts.overlays else None
    try:
        displays = display_maps(clip, bmode=opts.overlays or opts.motion)
        found_in = [(clip.ceus_region.box, displays.ceus)]
        if opts.overlays and clip.bmode_region is not None:  # markers on the B-mode half must not pull its tracking
            found_in.append((clip.bmode_region.box, displays.bmode or display_map_of(clip, box=clip.bmode_region.box)))
    except BaseException as exc:
        regions.set_exception(exc)  # the overlay thread stops too
        raise
    regions.set_result(found_in)
    tics = extract_tics(clip_frames(clip, displays), rois, dynamic_range_db=opts.dynamic_range_db, motion=opts.motion,
                        max_shift_mm=opts.max_shift_mm, injection_time_s=opts.injection_s - start_s,
                        exclude=None if search is None else search.result, progress=progress)
    overlays = 0 if search is None else int(search.result().sum())
    return _Measured(clip, start_s, rois, tics, overlays, displays.ceus, digest)


def _in_background(work: Callable[[], str]) -> Future[str]:
    """Run ``work`` on a thread of its own; its result is the future's."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="ceuskit-background")
    future = pool.submit(work)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future


def analyze(clip: ClipInput, rois: RoiInput, options: AnalysisOptions | None = None, *,
            out_dir: str | Path | None = None, progress: Callable[[int, int], None] | None = None,
            **settings: Any) -> Analysis:
    """Analyse one clip: TICs per ROI, bolus fits, parameters and each lesion's phase characterisation.

    Parameters
    ----------
    clip : a path (DICOM, video, frame folder, .npy/.npz) or an open :class:`Clip`.
    rois : an ROI file path (JSON, PNG/NIfTI label mask), a parsed ROI document or a :class:`RoiSet`.
    options : how to read it (:class:`AnalysisOptions`; default: its defaults).
    out_dir : when given, ``analysis.json`` and ``tic.csv`` are written there atomically (the figure is the
        report layer's: :func:`ceuskit.report.write_analysis` writes all three).
    progress : called with (frames done, total frames).
    **settings : fields of :class:`AnalysisOptions` to change, e.g. ``injection_time_s=4.0, motion=False``.

    Returns
    -------
    Analysis
        The analysis.json document, the TIC table and the fitted curves.
    """
    return analyze_examination([clip], [rois], options, out_dir=out_dir, progress=progress, **settings)


def analyze_examination(clips: Sequence[ClipInput], rois: Sequence[RoiInput], options: AnalysisOptions | None = None,
                        *, clip_offsets_s: Sequence[float | None] | None = None, out_dir: str | Path | None = None,
                        progress: Callable[[int, int], None] | None = None, **settings: Any) -> Analysis:
    """Analyse the clips of one examination on one time axis (a loop, then late-phase sweeps).

    Parameters
    ----------
    clips : the examination's clips, in any order (paths or open clips).
    rois : one ROI input per clip, in the same order (each clip keeps its own ROIs and reference frame;
        the ROIs carry the same names in every clip).
    options : how to read them (:class:`AnalysisOptions`); its ``injection_time_s`` counts from the earliest
        clip's first frame.
    clip_offsets_s : per clip, its first frame in seconds after the earliest clip's first frame, or None to
        place it by its DICOM acquisition time (:func:`ceuskit.io.examination.place_clips`).
    out_dir, progress, **settings : as for :func:`analyze`.

    Returns
    -------
    Analysis
        Its document lists every clip (``clips``: source, sha256, offset_s, acquired, …) and keeps ``clip`` for
        the earliest; its TIC table has a ``clip`` column (the clip's index in time order).
    """
    opts = (options or AnalysisOptions()).with_settings(**settings)
    if len(clips) == 0 or len(clips) != len(rois):
        raise InputError(f"give one ROI file per clip, in the same order ({len(clips)} clip(s), {len(rois)} ROI "
                         "file(s))")
    opened: list[Clip] = []
    try:
        for clip in clips:
            opened.append(clip if isinstance(clip, Clip) else open_clip(clip, fps=opts.fps, layout=opts.layout))
        return _analyze_open(opened, list(rois), clip_offsets_s, opts, out_dir=out_dir, progress=progress)
    finally:
        for clip, given in zip(opened, clips, strict=False):
            if not isinstance(given, Clip):
                clip.close()


def _injection(clips: Sequence[Clip], offsets: Sequence[float | None] | None, given: float | str
               ) -> tuple[float, str | None]:
    if isinstance(given, str):
        if given != "auto":
            raise InputError(f"injection time {given!r} is neither a number of seconds nor 'auto'")
        return injection_from_header(clips, offsets)
    return float(given), None


def _analyze_open(clips: list[Clip], rois_in: list[RoiInput], offsets: Sequence[float | None] | None,
                  opts: AnalysisOptions, *, out_dir: str | Path | None, progress: Callable[[int, int], None] | None
                  ) -> Analysis:
    check_options(opts)
    starts = place_clips(clips, offsets)
    injection_s, agent = _injection(clips, offsets, opts.injection_time_s)
    order = sorted(range(len(clips)), key=starts.__getitem__)
    frames = sum(clip.n_frames for clip in clips)
    if frames < MIN_FRAMES:  # before the injection check: a single frame has no time for an injection to precede
        raise AnalysisError(f"{frames} frame(s) is too few for a time–intensity analysis; a CEUS cine loop is needed")
    check_injection_time(injection_s, max(start + clip.duration_s for start, clip in zip(starts, clips, strict=True)))
    opts = replace(opts, injection_time_s=injection_s)
    total, done = frames, 0
    measured = []
    for j in order:
        def relay(k: int, _n: int, before: int = done) -> None:
            if progress is not None:
                progress(before + k, total)

        measured.append(_measure(clips[j], rois_in[j], starts[j], opts, relay if progress is not None else None))
        done += clips[j].n_frames
    timeline = join([m.tics for m in measured], [Path(m.clip.source).name for m in measured])
    first = measured[0]
    areas = roi_areas(first.rois, first.tics.masks, first.clip.pixel_spacing_mm)
    reading = read_timeline(timeline, first.rois, model=opts.model, phases=opts.phases, areas=areas,
                            size_mm=opts.size_mm, at_risk=opts.at_risk, kinetics=opts.kinetics)
    document = _document(measured, reading, opts, agent)
    analysis = Analysis(document, tic_columns([m.tics for m in measured], timeline, opts, reading.refill_fitted),
                        reading.fitted, reading.relative_db, reading.refill_fitted)
    if out_dir is not None:
        write_outputs(analysis, out_dir)
    return analysis


def _clip_flags(measured: Sequence[_Measured]) -> list[Flag]:
    """Return the flags of each clip's own measurement (display, motion, overlays), named by clip if several."""
    flags = []
    for k, part in enumerate(measured):
        tics = part.tics
        found = quality.display_flag(part.display.note)
        found += quality.motion_flag(tics.motion.tracked, tics.motion.rejected, tics.motion.quality,
                                     tics.motion.applied)
        found += quality.overlay_flags(tics.overlay_pixels)
        if len(measured) > 1:
            found = [Flag(f.code, f.roi, f.severity, f"clip {k + 1}: {f.message}") for f in found]
        flags += found
    return flags


def _clip_json(part: _Measured, opts: AnalysisOptions) -> dict[str, Any]:
    clip = part.clip
    moment = acquisition_time(clip)
    return {"source": str(clip.source), "sha256": part.digest.result(), "offset_s": round(part.start_s, 4),
            "acquired": None if moment is None else moment.isoformat(), "n_frames": clip.n_frames,
            "duration_s": round(clip.duration_s, 4), "frame_rate_hz": round(clip.frame_rate_hz, 4),
            "pixel_spacing_mm": None if clip.pixel_spacing_mm is None else [round(v, 6) for v in clip.pixel_spacing_mm],
            "injection_time_s": round(opts.injection_s - part.start_s, 4),
            "dynamic_range_db": opts.dynamic_range_db, "layout": clip.layout,
            "display": part.display.to_json(), "overlay_pixels": part.overlay_pixels}


def _document(measured: Sequence[_Measured], reading: Reading, opts: AnalysisOptions, agent: str | None
              ) -> dict[str, Any]:
    clips = [{**_clip_json(part, opts), "motion": part.tics.motion.to_json(), "roi_set": part.rois.to_json()}
             for part in measured]
    first = {k: v for k, v in clips[0].items() if k not in ("motion", "roi_set", "offset_s", "acquired")}
    first["injection_time_s"] = opts.injection_s
    if agent is not None:
        first["contrast_agent"] = agent
    return {
        "ceuskit_version": __version__,
        "clip": first,
        "clips": clips,
        "motion": clips[0]["motion"],
        "rois": reading.rois,
        "roi_set": clips[0]["roi_set"],
        "lesions": reading.lesions,
        **reading.kinetics,
        "quality": [flag.to_json() for flag in _clip_flags(measured) + reading.flags],
        "provenance": {"software": f"ceuskit {__version__}", "options": opts.to_json(),
                       "options_hash": opts.digest(),
                       "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       "python": platform.python_version()},
    }


def tic_columns(tics: Sequence[TicResult], timeline: Timeline, opts: AnalysisOptions,
                refills: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return the columns of ``tic.csv``.

    The clips' TIC tables one after the other (in time order), with the clip's index, each ROI's smoothed power,
    its display level in dB (``NAME_display_db``: the median of its pixels' dB, the curve the onset is read on)
    and the replenishment fits (``NAME_refill_fit``, where refills were fitted).
    """
    parts = [tic_table(part) for part in tics]
    columns = {"clip": timeline.segment}
    for key in parts[0]:
        columns[key] = np.concatenate([part[key] for part in parts])
    for i, name in enumerate(timeline.names):
        columns[f"{name}_power_smoothed"] = moving_average(timeline.times_s, timeline.power[i],
                                                           opts.phases.smoothing_s)
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[f"{name}_display_db"] = 10.0 * np.log10(timeline.display_power[i])
    for name, values in refills.items():
        columns[f"{name}_refill_fit"] = values
    return columns


def write_outputs(analysis: Analysis, out_dir: str | Path, *,
                  figures: Mapping[str, Callable[[Path], object]] | None = None) -> Path:
    """Write analysis.json and tic.csv into ``out_dir`` atomically; returns the analysis.json path.

    ``figures`` maps further file names to functions that write them (the report layer passes its plots);
    everything goes into a temporary folder first and is moved in afterwards, analysis.json last, so an
    interrupted or failed run never leaves a partial analysis.json.
    """
    out = Path(out_dir)
    with atomic_folder(out, last=("analysis.json",)) as tmp:
        _write_tic_csv(analysis.tic, tmp / "tic.csv")
        for name, draw in (figures or {}).items():
            draw(tmp / name)
        (tmp / "analysis.json").write_text(json.dumps(analysis.document, indent=2, default=numpy_default,
                                                      allow_nan=False))
    return out / "analysis.json"


def _write_tic_csv(columns: Mapping[str, np.ndarray], path: Path) -> None:
    names = list(columns)
    data = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    with open(path, "w") as fh:
        fh.write(",".join(names) + "\n")
        for row in data:
            fh.write(",".join("" if not np.isfinite(v) else (str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.6g}")
                              for v in row) + "\n")
