"""Running a study: plan which lesions need analysing, analyse them, record each result as it arrives.

``plan_run`` compares every lesion's inputs (clip SHA-256, ROI document, analysis parameters) with those of
its newest analysis; ``run_study`` analyses the new or changed ones (serially, on a local Dask cluster or on
a scheduler: :mod:`ceuskit.study.execute`) and commits each result at once, so an interrupted run resumes
where it stopped.  ``analyse_task`` is what runs for one lesion, on a worker or in this process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ceuskit._version import __version__
from ceuskit.errors import CeusError, InputError
from ceuskit.models.drawn import max_step_s
from ceuskit.store import (
    Store,
    canonical_sha256,
    get_analysis,
    get_lesion,
    json_safe,
    record_analysis,
    update_clip_file,
    work_items,
)
from ceuskit.store.schema import utcnow
from ceuskit.study.execute import execute

__all__ = [
    "ProgressFn",
    "RunOptions",
    "RunSummary",
    "analyse_lesion",
    "analyse_task",
    "plan_run",
    "run_study",
    "software_version",
]

ProgressFn = Callable[[int, int, str], None]


def software_version() -> str:
    """Return the ceuskit version recorded with every analysis (``ceuskit.__version__``)."""
    return __version__


@dataclass(frozen=True)
class RunOptions:
    """Analysis options shared by every lesion of a run (per-lesion timing/range come from the manifest)."""

    model: str = "auto"
    motion: bool = True
    fps: float | None = None
    kinetics: str = "auto"  # bolus | replenishment | auto (ceuskit.kinetics)


@dataclass
class RunSummary:
    """What a run did: counts and the ids of the analysis records it wrote."""

    analysed: int = 0
    failed: int = 0
    up_to_date: int = 0
    total: int = 0
    analysis_ids: list[int] = field(default_factory=list)

    def line(self) -> str:
        """``"3 analysed (1 failed), 15 up to date"``."""
        failed = f" ({self.failed} failed)" if self.failed else ""
        return f"{self.analysed} analysed{failed}, {self.up_to_date} up to date"


def _curves(result: Any, *, max_points: int = 600) -> dict[str, Any] | None:
    """Return the TICs, fitted curves and lesion-minus-liver dB of an analysis, thinned for drawing.

    Fitted curves as drawn over the data; thinned to about ``max_points`` frames; the samples on either side of
    a break (a gap, a new clip, the end of a drawn stretch) are kept, so a thinned line never crosses one.
    ``max_step_s``: longer steps are gaps.
    """
    tic = getattr(result, "tic", None)
    if not tic or "time_s" not in tic:
        return None
    t = np.asarray(tic["time_s"], dtype=float)
    n = len(t)
    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else np.arange(0)
    series = [np.asarray(v, dtype=float) for v in (getattr(result, "fitted", None) or {}).values()]
    breaks = [np.diff(t) > max_step_s(t)] if n > 1 else []
    breaks += [np.diff(np.isfinite(v).astype(np.int8)) != 0 for v in series if v.shape == t.shape]
    if "clip" in tic and n > 1:
        breaks.append(np.diff(np.asarray(tic["clip"], dtype=float)) != 0)
    for changed in breaks:
        at = np.flatnonzero(changed)
        keep = np.union1d(keep, np.concatenate([at, at + 1]))

    def thin(values: Any) -> list[float | None]:
        return [None if not math.isfinite(v) else float(f"{v:.6g}") for v in np.asarray(values, float)[keep]]

    return {"tic": {k: thin(v) for k, v in tic.items()
                    if k in ("time_s", "clip") or k.endswith(("_power", "_smoothed"))},
            "fitted": {k: thin(v) for k, v in (getattr(result, "fitted", None) or {}).items()},
            "relative_db": {k: thin(v) for k, v in (getattr(result, "relative_db", None) or {}).items()},
            "refill_fitted": {k: thin(v) for k, v in (getattr(result, "refill_fitted", None) or {}).items()},
            "max_step_s": max_step_s(t) if n > 1 else None}


def _pipeline(name: str) -> Callable[..., Any]:
    """Return the pipeline's entry point or options class ``name`` (imported late, once per worker)."""
    import ceuskit.pipeline

    found: Callable[..., Any] = getattr(ceuskit.pipeline, name)
    return found


def _call_pipeline(name: str, *args: Any, **kwargs: Any) -> Any:
    """``ceuskit.pipeline.<name>(*args, **kwargs)``, looked up when called (picklable with ``partial``)."""
    return _pipeline(name)(*args, **kwargs)


def analyse_task(task: dict[str, Any], analyze_examination: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Analyse one lesion's examination (runs on a Dask worker or in-process); never raises.

    Every lesion is analysed as an examination, one clip or several (an examination of one clip is
    :func:`ceuskit.pipeline.analyze`'s single-clip analysis).

    Parameters
    ----------
    task : dict
        ``lesion_id``, ``clips`` (the examination's clips in manifest order: ``path``, ``rois`` (ROI document
        drawn on it), ``offset_s`` (explicit start or None)), ``roi_name``, ``parameters``
        (``injection_time_s``, ``dynamic_range_db``, ``model``, ``motion``, ``fps``, optionally ``kinetics``).
        The stored document is analysis.json plus ``curves`` (TICs, fits and relative dB, thinned) for
        the report's per-lesion panels. A lesion read from a curve table (its ROI document carries
        ``curves``: units, time column, columns) is read by :func:`ceuskit.curve_analysis.analyze_curves`.
    analyze_examination : callable, optional
        Replaces :func:`ceuskit.pipeline.analyze_examination` (same signature); for tests.

    Returns
    -------
    dict with ``lesion_id``, ``status`` ("ok"/"failed"), ``document`` and ``error``, plus
    ``started_at`` / ``finished_at``.
    """
    started = utcnow()
    out: dict[str, Any] = {"lesion_id": task["lesion_id"], "started_at": started, "document": None, "error": None}
    try:
        p = task["parameters"]
        options = _pipeline("AnalysisOptions")(  # kinetics is in the parameters only when not the default
            injection_time_s=p["injection_time_s"], dynamic_range_db=p["dynamic_range_db"], model=p["model"],
            motion=p["motion"], fps=p["fps"], kinetics=p.get("kinetics", "auto"))
        clips = task["clips"]
        curves = (clips[0].get("rois") or {}).get("curves") if len(clips) == 1 else None
        if curves is not None:  # a table of curves: the same reading, without frames
            from ceuskit.curve_analysis import analyze_curves

            columns = [tuple(pair) for pair in curves.get("columns") or []]
            result = analyze_curves(clips[0]["path"], options, units=curves.get("units"),
                                    time_column=curves.get("time_column"), columns=columns or None)
        else:  # clips: an examination, of one clip or several (one clip alone starts at 0 whatever its offset)
            offsets = [clip["offset_s"] for clip in clips]
            result = (analyze_examination or _pipeline("analyze_examination"))(
                [clip["path"] for clip in clips], [clip["rois"] for clip in clips], options,
                clip_offsets_s=None if all(o is None for o in offsets) else offsets)
        document = json_safe(getattr(result, "document", result))
        curves = _curves(result)
        if curves:
            document["curves"] = curves
        if task.get("roi_name") and not any(item.get("roi") == task["roi_name"] for item in document.get("lesions", [])):
            raise CeusError(f"the analysis has no lesion ROI named {task['roi_name']!r}")
        out.update(status="ok", document=document)
    except CeusError as exc:
        out.update(status="failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    except Exception as exc:  # a bug or an unforeseen input: recorded, never stops the other lesions
        out.update(status="failed", error=f"internal error: {type(exc).__name__}: {exc}".splitlines()[0])
    out["finished_at"] = utcnow()
    return out


def _current_sha(store: Store, clip: dict[str, Any]) -> str | None:
    from ceuskit.io.clip import source_sha256

    path = Path(clip["path"])
    if not path.exists():
        return None
    if path.is_dir():
        return source_sha256(path)
    stat = path.stat()
    if stat.st_size == clip.get("size_bytes") and stat.st_mtime_ns == clip.get("mtime_ns"):
        return str(clip["sha256"])
    sha = source_sha256(path)
    update_clip_file(store, int(clip["id"]), sha256=sha, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)
    return sha


def plan_run(store: Store, *, study: int | str | None = None, options: RunOptions = RunOptions(),
             retry_failed: bool = False, lesion_ids: Collection[int] | None = None,
             force: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Return the lesions a run must analyse (as tasks) and how many are up to date.

    ``lesion_ids`` restricts the run to those lesions; ``force`` analyses them even when up to date.
    """
    tasks, up_to_date = [], 0
    for item in work_items(store, study):
        if lesion_ids is not None and item["id"] not in lesion_ids:
            continue
        parameters = {"injection_time_s": item["injection_time_s"], "dynamic_range_db": item["dynamic_range_db"],
                      "model": options.model, "motion": options.motion, "fps": options.fps}
        if options.kinetics != "auto":  # the default leaves the hashes (and older analyses) as they were
            parameters["kinetics"] = options.kinetics
        parameter_hash = canonical_sha256(parameters)
        clips = item["clips"]
        shas = [_current_sha(store, clip) for clip in clips]
        if len(clips) <= 1:  # as before examinations: the analyses of older databases stay up to date
            input_hash = canonical_sha256({"clip_sha256": shas[0] if shas else None, "rois": item["rois_sha256"],
                                           "roi_name": item["roi_name"], "parameters": parameter_hash})
        else:  # any clip, ROI set or explicit offset changed: analysed again
            input_hash = canonical_sha256({
                "clips": [{"sha256": sha, "rois": clip["rois_sha256"], "offset_s": clip["offset_s"]}
                          for sha, clip in zip(shas, clips, strict=True)],
                "roi_name": item["roi_name"], "parameters": parameter_hash})
        if not force and item["latest_input_hash"] == input_hash and not (
                retry_failed and item["latest_status"] == "failed"):
            up_to_date += 1
            continue
        missing = [Path(clip["path"]).name for clip, sha in zip(clips, shas, strict=True) if sha is None]
        tasks.append({"lesion_id": item["id"], "missing": missing if clips else ["(no clip)"],
                      "clips": [{"path": clip["path"], "rois": clip["rois"], "offset_s": clip["offset_s"]}
                                for clip in clips],
                      "roi_name": item["roi_name"], "parameters": parameters, "parameter_hash": parameter_hash,
                      "input_hash": input_hash})
    return tasks, up_to_date


def _record(store: Store, task: dict[str, Any], result: dict[str, Any], summary: RunSummary) -> None:
    summary.analysis_ids.append(record_analysis(
        store, task["lesion_id"], status=result["status"], document=result["document"], error=result["error"],
        software_version=software_version(), parameters=task["parameters"], parameter_hash=task["parameter_hash"],
        input_hash=task["input_hash"], started_at=result["started_at"], finished_at=result["finished_at"]))
    summary.analysed += 1
    summary.failed += result["status"] == "failed"


def _missing_clip(task: dict[str, Any]) -> dict[str, Any]:
    now = utcnow()
    return {"lesion_id": task["lesion_id"], "status": "failed", "document": None, "started_at": now,
            "finished_at": now, "error": f"clip file {', '.join(task['missing'])} not found; "
                                         "restore it or re-import the manifest"}


def run_study(store: Store, *, study: int | str | None = None, workers: int | None = None,
              scheduler: str | None = None, options: RunOptions = RunOptions(), retry_failed: bool = False,
              progress: ProgressFn | None = None, lesion_ids: Collection[int] | None = None, force: bool = False,
              analyze_examination: Callable[..., Any] | None = None) -> RunSummary:
    """Analyse every new or changed lesion of a study, committing each result as it arrives.

    Parameters
    ----------
    store : Store
    study : int, str or None
        Study id or name (None: the only / default study).
    workers : int, optional
        Dask LocalCluster worker processes on 127.0.0.1 (default: CPU count, at most the number of
        lesions); 0 analyses serially in this process.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a LocalCluster.
    options : RunOptions
        Model, motion compensation and fps override for every lesion.
    retry_failed : bool
        Analyse again lesions whose newest analysis failed even when their inputs did not change.
    progress : callable(done, total, label), optional
    analyze_examination : callable, optional
        Replaces :func:`ceuskit.pipeline.analyze_examination`, which analyses every lesion (tests, progress);
        must be picklable for Dask.
    lesion_ids : collection of int, optional
        Only these lesions (database ids).
    force : bool
        Analyse the selected lesions even when their inputs did not change.
    """
    from ceuskit.kinetics import check_kinetics
    from ceuskit.pipeline import MODELS

    if options.model not in MODELS:
        raise InputError(f"model {options.model!r} is not one of {', '.join(MODELS)}")
    check_kinetics(options.kinetics)
    if options.fps is not None and not (math.isfinite(options.fps) and options.fps > 0):
        raise InputError(f"fps {options.fps!r} must be a positive number of frames per second")
    if workers is not None and workers < 0:
        raise InputError(f"workers must be 0 (serial) or more, got {workers}")
    tasks, up_to_date = plan_run(store, study=study, options=options, retry_failed=retry_failed,
                                 lesion_ids=lesion_ids, force=force)
    summary = RunSummary(up_to_date=up_to_date, total=len(tasks) + up_to_date)
    runnable = []
    for task in tasks:
        if not task["missing"]:
            runnable.append(task)
        else:
            _record(store, task, _missing_clip(task), summary)
    if progress is not None:
        progress(summary.analysed, len(tasks), "")
    if not runnable:
        return summary
    by_id = {t["lesion_id"]: t for t in runnable}
    for result in execute(analyse_task, runnable, workers=workers, scheduler=scheduler,
                          analyze=analyze_examination):
        _record(store, by_id[result["lesion_id"]], result, summary)
        if progress is not None:
            progress(summary.analysed, len(tasks), f"lesion {result['lesion_id']}: {result['status']}")
    return summary


def analyse_lesion(store: Store, lesion_id: int, *, options: RunOptions = RunOptions(),
                   analyze_examination: Callable[..., Any] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Analyse one lesion now, in this process, record the result and return the analysis record.

    The web app's "analyse this lesion" (e.g. after its ROIs were edited); a failure is recorded and
    returned with ``status`` "failed", not raised.  ``progress`` (frames done, total) goes to the pipeline
    when ``analyze_examination`` is not replaced.
    """
    if progress is not None:
        analyze_examination = analyze_examination or partial(_call_pipeline, "analyze_examination",
                                                             progress=progress)
    lesion = get_lesion(store, lesion_id)
    summary = run_study(store, study=int(lesion["study_id"]), workers=0, options=options,
                        analyze_examination=analyze_examination, lesion_ids={lesion_id}, force=True)
    return get_analysis(store, summary.analysis_ids[-1])
