"""Cohort studies: import a manifest, analyse every lesion (locally or on Dask), tabulate, test, export.

A *study* lives in a database (:mod:`ceuskit.store`).  ``import_manifest`` validates every manifest row
before storing anything; ``run_study`` analyses only lesions whose inputs changed (clip SHA-256, ROI
document or analysis parameters), committing each result as it arrives, so an interrupted run resumes
where it stopped; ``cohort_frame`` flattens the newest analyses into one row per lesion; ``cohort_stats``
computes the statistics of :mod:`ceuskit.stats` over that table; ``export_table`` writes it.
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ceuskit import stats
from ceuskit._atomic import atomic_path
from ceuskit.errors import CeusError, InputError, ManifestError, RoiError
from ceuskit.store import (
    LesionInput,
    ReadInput,
    Store,
    canonical_sha256,
    cohort_records,
    get_analysis,
    get_lesion,
    import_lesions,
    reader_reads,
    record_analysis,
    record_reads,
    update_clip_file,
    work_items,
)
from ceuskit.store.schema import utcnow

__all__ = [
    "CORRELATION_PARAMETERS",
    "PATTERN_NAMES",
    "RunOptions",
    "RunSummary",
    "analyse_lesion",
    "cohort_frame",
    "cohort_stats",
    "export_table",
    "import_manifest",
    "import_reads",
    "read_manifest",
    "read_reads",
    "run_demo",
    "run_study",
    "software_version",
    "study_stats",
]

REQUIRED_COLUMNS = ("patient_id", "lesion_id", "clip", "roi", "ki67")
KNOWN_COLUMNS = REQUIRED_COLUMNS + ("primary_site", "who_grade", "injection_time_s", "dynamic_range_db", "size_mm",
                                    "roi_name", "reader", "arterial", "washout", "late")
READ_COLUMNS = ("patient_id", "lesion_id", "reader", "arterial", "washout", "late")
ENHANCEMENT_LABELS = ("hypo", "iso", "hyper")
WASHOUT_LABELS = {"early": "early", "late": "late", "none": "none", "no": "none", "false": "none", "0": "none",
                  "yes": "yes", "true": "yes", "1": "yes"}
PATTERN_NAMES = ("arterial_hyper", "arterial_iso", "arterial_hypo", "washout", "washout_early", "washout_late",
                 "late_hypo", "late_iso", "late_hyper")
ROI_PARAMETERS = ("arrival_time_s", "time_to_peak_s", "rise_time_s", "peak_enhancement", "peak_enhancement_db",
                  "mean_transit_time_s", "wash_in_rate", "wash_out_rate", "wash_in_auc", "wash_out_auc",
                  "wash_in_wash_out_auc", "wash_in_perfusion_index", "fall_time_s")
CORRELATION_PARAMETERS = ("arterial_onset_s", "time_to_peak_s", "rise_time_s", "peak_enhancement_db",
                          "arterial_relative_peak_db", "washout_onset_s", "late_relative_db",
                          "mean_transit_time_s", "wash_in_rate", "wash_out_rate")
"""Lesion parameters correlated with Ki-67 by ``cohort_stats`` (names as in the export)."""

MODELS = ("auto", "lognormal", "gamma", "ldrw", "fpt")
ProgressFn = Callable[[int, int, str], None]


def software_version() -> str:
    """The installed ceuskit version."""
    try:
        from importlib.metadata import version

        return version("ceuskit")
    except Exception:
        return "unknown"


# ----------------------------------------------------------------------------------------------- import


def _float(line: int, name: str, text: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False) -> float | None:
    if text.strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ManifestError(f"line {line}: {name} {text!r} is not a number") from None
    if not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) or (
            high is not None and value > high):
        bound = f"{'>' if low_open else '≥'} {low}" + (f" and ≤ {high}" if high is not None else "")
        raise ManifestError(f"line {line}: {name} {text!r} must be {bound}")
    return value


def _hash_path(path: Path) -> str:
    from ceuskit.io.clip import source_sha256

    return source_sha256(path)


_HEADER_KEYWORDS = ("Modality", "Manufacturer", "ManufacturerModelName", "SOPClassUID", "TransferSyntaxUID",
                    "NumberOfFrames", "Rows", "Columns", "PhotometricInterpretation", "FrameTime", "CineRate",
                    "RecommendedDisplayFrameRate")


def clip_header_summary(path: Path) -> dict[str, Any]:
    """Non-identifying facts about a clip file: format, size, and for DICOM a few technical tags."""
    summary: dict[str, Any] = {"name": path.name, "format": "folder" if path.is_dir() else path.suffix.lower().lstrip(".")}
    if path.is_dir():
        return summary
    summary["size_bytes"] = path.stat().st_size
    try:
        from ceuskit.io.dicom import read_dataset

        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = read_dataset(fh)
    except Exception:  # not DICOM, or damaged: the summary says what it can
        return summary
    summary["format"] = "dicom"
    for keyword in _HEADER_KEYWORDS:
        source = dataset.file_meta if keyword == "TransferSyntaxUID" and "file_meta" in dir(dataset) else dataset
        value = getattr(source, keyword, None)
        if value is not None and value != "":
            summary[keyword] = value if isinstance(value, int | float) else str(value)
    return summary


def _roi_document(line: int, path: Path, roi_name: str | None) -> dict[str, Any]:
    from ceuskit.roi import load_rois, parse_rois

    try:
        if path.suffix.lower() == ".json":
            document = json.loads(path.read_text(encoding="utf-8"))
            roi_set = parse_rois(document, pixel_spacing_mm=(1.0, 1.0), source=path.name)
        else:
            roi_set = load_rois(path)
            document = roi_set.to_json()
    except (RoiError, UnicodeDecodeError, ValueError, RecursionError, OSError) as exc:  # ValueError: JSON, huge ints
        raise ManifestError(f"line {line}: roi {path.name}: {str(exc).splitlines()[0]}") from None
    names = [r.name for r in roi_set.lesions]
    if roi_name is not None and roi_name not in names:
        raise ManifestError(f"line {line}: roi_name {roi_name!r} is not a lesion ROI of {path.name} "
                            f"(lesion ROIs: {', '.join(names)})")
    return document


def _pseudonym_key(study: str) -> bytes:
    """The secret behind pseudonyms, UIDs and date shifts: ``CEUSKIT_PSEUDONYM_KEY`` (set it for real data:
    without it the key is derived from the study's name and pseudonyms can be recomputed by anyone)."""
    return os.environ.get("CEUSKIT_PSEUDONYM_KEY", f"ceuskit:{study}").encode()


def pseudonym(patient_id: str, *, study: str) -> str:
    """A stable pseudonym for a patient id (keyed by ``CEUSKIT_PSEUDONYM_KEY`` when set)."""
    from ceuskit.io.deid import pseudonym as keyed_pseudonym

    return keyed_pseudonym(patient_id, _pseudonym_key(study))


def _grade(line: int, ki67: float | None, given: str) -> tuple[str | None, str | None]:
    derived = stats.who_grade(ki67)
    given = given.strip().upper()
    if not given:
        return derived, None if derived is None else "ki67"
    if given not in ("G1", "G2", "G3", "NEC"):
        raise ManifestError(f"line {line}: who_grade {given!r} must be G1, G2, G3 or NEC")
    expected = "G3" if given == "NEC" else given
    if derived is not None and derived != expected:
        raise ManifestError(f"line {line}: who_grade {given} disagrees with ki67 {ki67:g} % ({derived} by WHO "
                            "2019); correct one of them or leave who_grade empty")
    return given, "manifest"


def _read_csv(path: Path, required: Sequence[str], kind: str) -> list[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise InputError(f"{kind} {path} does not exist")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise ManifestError(f"{path.name} line 1: missing column(s) {', '.join(missing)}; "
                                    f"required: {', '.join(required)}")
            reader.fieldnames = header
            rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None})
                    for row in reader]
    except UnicodeDecodeError:
        raise ManifestError(f"{path.name}: not a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise ManifestError(f"{path.name}: not a readable CSV file ({exc})") from None
    if not rows:
        raise ManifestError(f"{path.name}: no rows below the header")
    return rows


def _read_labels(line: int, row: dict[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for phase in ("arterial", "late"):
        value = row.get(phase, "").lower() or None
        if value is not None and value not in ENHANCEMENT_LABELS:
            raise ManifestError(f"line {line}: {phase} {value!r} must be one of {', '.join(ENHANCEMENT_LABELS)}")
        out[phase] = value
    washout = row.get("washout", "").lower() or None
    if washout is not None and washout not in WASHOUT_LABELS:
        raise ManifestError(f"line {line}: washout {washout!r} must be early, late, none, yes or no")
    out["washout"] = None if washout is None else WASHOUT_LABELS[washout]
    return out


def read_manifest(path: str | Path, *, deidentify: bool = False, study: str = "default"
                  ) -> tuple[list[LesionInput], list[ReadInput]]:
    """Read and validate a study manifest (DESIGN: "Study manifest"); nothing is stored.

    Every row is checked (required fields, numbers and their ranges, WHO grade vs Ki-67, clip and ROI
    files present, ROI documents valid, no duplicate lesion).  ``deidentify`` replaces patient ids by
    keyed pseudonyms and drops unknown (free-text) columns.

    Raises
    ------
    ManifestError
        Naming the first bad line (and how many more lines are bad).
    """
    path = Path(path)
    base = path.resolve().parent
    lesions: list[LesionInput] = []
    reads: list[ReadInput] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in _read_csv(path, REQUIRED_COLUMNS, "manifest"):
        try:
            lesions.append(_manifest_row(line, row, base, seen, deidentify=deidentify, study=study))
            if row.get("reader"):
                labels = _read_labels(line, row)
                reads.append(ReadInput(lesions[-1].patient, lesions[-1].lesion, row["reader"], **labels))
        except ManifestError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 1} more bad line(s))" if len(problems) > 1 else ""
        first = " ".join(problems[0].split())  # one line even when a quoted field held line breaks
        raise ManifestError(f"{path.name} {first}{more}; nothing was imported")
    return lesions, reads


def _manifest_row(line: int, row: dict[str, str], base: Path, seen: dict[tuple[str, str], int], *,
                  deidentify: bool, study: str) -> LesionInput:
    for column in ("patient_id", "lesion_id", "clip", "roi"):
        if not row.get(column):
            raise ManifestError(f"line {line}: {column} is empty")
    key = (row["patient_id"], row["lesion_id"])
    if key in seen:
        raise ManifestError(f"line {line}: lesion {row['lesion_id']!r} of this patient repeats line {seen[key]}")
    seen[key] = line
    ki67 = _float(line, "ki67", row["ki67"], low=0.0, high=100.0)
    grade, grade_source = _grade(line, ki67, row.get("who_grade", ""))
    injection = _float(line, "injection_time_s", row.get("injection_time_s", ""), low=0.0)
    dynamic_range = _float(line, "dynamic_range_db", row.get("dynamic_range_db", ""), low=0.0, low_open=True)
    size = _float(line, "size_mm", row.get("size_mm", ""), low=0.0, low_open=True)
    try:  # a NUL byte or an over-long name is not a path; a device or FIFO is not a clip (reading it hangs)
        clip_path, roi_path = (base / row["clip"]).resolve(), (base / row["roi"]).resolve()
        clip_found, roi_found = clip_path.is_file() or clip_path.is_dir(), roi_path.is_file()
    except (OSError, ValueError) as exc:
        raise ManifestError(f"line {line}: clip {row['clip']!r} or roi {row['roi']!r} is not a usable path "
                            f"({exc})") from None
    if not clip_found:
        raise ManifestError(f"line {line}: clip {row['clip']} not found as a file or folder (paths are relative "
                            "to the manifest)")
    if not roi_found:
        raise ManifestError(f"line {line}: roi {row['roi']} not found as a file (paths are relative to the "
                            "manifest)")
    roi_name = row.get("roi_name") or None
    document = _roi_document(line, roi_path, roi_name)
    extra = {} if deidentify else {k: v for k, v in row.items() if k not in KNOWN_COLUMNS and v}
    stat = clip_path.stat()
    patient = pseudonym(row["patient_id"], study=study) if deidentify else row["patient_id"]
    return LesionInput(
        patient=patient, lesion=row["lesion_id"], clip_path=str(clip_path), clip_sha256=_hash_path(clip_path),
        clip_size_bytes=None if clip_path.is_dir() else stat.st_size,
        clip_mtime_ns=None if clip_path.is_dir() else stat.st_mtime_ns,
        clip_header=clip_header_summary(clip_path), rois=document, roi_name=roi_name, ki67_percent=ki67,
        who_grade=grade, who_grade_source=grade_source, primary_site=row.get("primary_site") or None,
        size_mm=size, injection_time_s=0.0 if injection is None else injection,
        dynamic_range_db=60.0 if dynamic_range is None else dynamic_range, extra=extra)


def import_manifest(store: Store, path: str | Path, *, deidentify: bool = False, study: str = "default",
                    deid_dir: str | Path | None = None) -> dict[str, int]:
    """Validate ``path`` and store all its lesions in one transaction (nothing on any error).

    With ``deidentify`` patient ids become keyed pseudonyms, free-text columns are dropped, and every clip
    (DICOM only) is de-identified into ``deid_dir`` (default: ``deidentified/`` beside the manifest) —
    the study then refers to those copies, never to the originals.
    """
    lesions, reads = read_manifest(path, deidentify=deidentify, study=study)
    if deidentify:
        folder = Path(deid_dir) if deid_dir is not None else Path(path).resolve().parent / "deidentified"
        lesions = _deidentified_clips(lesions, folder, key=_pseudonym_key(study))
    return import_lesions(store, lesions, study=study, reads=reads)


def _deidentified_clips(lesions: Sequence[LesionInput], folder: Path, *, key: bytes) -> list[LesionInput]:
    """De-identified copies of the lesions' clips in ``folder``/<pseudonym>/ (all, or none on any error)."""
    import dataclasses
    import re

    from ceuskit.io.deid import DeidOptions, deidentify_file

    done: dict[str, Path] = {}
    try:
        out = []
        for lesion in lesions:
            source = Path(lesion.clip_path)
            if source.is_dir() or clip_header_summary(source).get("format") != "dicom":
                raise ManifestError(f"clip {source.name} of patient {lesion.patient} is not a DICOM file: "
                                    "--deidentify cleans DICOM clips only; de-identify it yourself and import "
                                    "without --deidentify")
            target = done.get(str(source))
            if target is None:
                safe = re.sub(r"[^A-Za-z0-9_.-]", "_", lesion.lesion)
                target = folder / lesion.patient / f"{safe}.dcm"
                if target.exists():
                    raise ManifestError(f"{target} exists already; remove it or choose another --deid-dir")
                deidentify_file(source, target, DeidOptions(key=key), patient_alias=lesion.patient)
                done[str(source)] = target
            stat = target.stat()
            out.append(dataclasses.replace(
                lesion, clip_path=str(target), clip_sha256=_hash_path(target), clip_size_bytes=stat.st_size,
                clip_mtime_ns=stat.st_mtime_ns, clip_header=clip_header_summary(target)))
        return out
    except BaseException:
        for written in done.values():
            written.unlink(missing_ok=True)
        raise


def read_reads(path: str | Path, *, deidentify: bool = False, study: str = "default") -> list[ReadInput]:
    """Read and validate a reader CSV (patient_id, lesion_id, reader, arterial, washout, late)."""
    path = Path(path)
    reads, problems = [], []
    for line, row in _read_csv(path, READ_COLUMNS, "reads file"):
        try:
            for column in ("patient_id", "lesion_id", "reader"):
                if not row.get(column):
                    raise ManifestError(f"line {line}: {column} is empty")
            patient = pseudonym(row["patient_id"], study=study) if deidentify else row["patient_id"]
            reads.append(ReadInput(patient, row["lesion_id"], row["reader"], **_read_labels(line, row)))
        except ManifestError as exc:
            problems.append(str(exc))
    if problems:
        more = f" (and {len(problems) - 1} more bad line(s))" if len(problems) > 1 else ""
        raise ManifestError(f"{path.name} {problems[0]}{more}; nothing was imported")
    return reads


def import_reads(store: Store, path: str | Path, *, deidentify: bool = False, study: str | None = None) -> int:
    """Validate a reader CSV and store every read in one transaction; returns how many."""
    return record_reads(store, read_reads(path, deidentify=deidentify, study=study or "default"), study=study)


# -------------------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class RunOptions:
    """Analysis options shared by every lesion of a run (per-lesion timing/range come from the manifest)."""

    model: str = "auto"
    motion: bool = True
    fps: float | None = None


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


def _json_safe(value: Any) -> Any:
    """The same document with NaN/inf as None and numpy scalars/arrays as Python numbers/lists."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _curves(result: Any, *, max_points: int = 600) -> dict[str, Any] | None:
    """The TICs, fitted curves and lesion-minus-liver dB of an analysis, thinned to ``max_points`` frames."""
    tic = getattr(result, "tic", None)
    if not tic or "time_s" not in tic:
        return None
    n = len(tic["time_s"])
    keep = np.unique(np.linspace(0, n - 1, min(n, max_points)).round().astype(int)) if n else np.arange(0)

    def thin(values: Any) -> list[float | None]:
        return [None if not math.isfinite(v) else float(f"{v:.6g}") for v in np.asarray(values, float)[keep]]

    return {"tic": {k: thin(v) for k, v in tic.items() if k == "time_s" or k.endswith(("_power", "_smoothed"))},
            "fitted": {k: thin(v) for k, v in (getattr(result, "fitted", None) or {}).items()},
            "relative_db": {k: thin(v) for k, v in (getattr(result, "relative_db", None) or {}).items()}}


def analyse_task(task: dict[str, Any], analyze: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Analyse one lesion (runs on a Dask worker or in-process); never raises.

    Parameters
    ----------
    task : dict
        ``lesion_id``, ``clip_path``, ``rois`` (ROI document), ``roi_name``, ``parameters``
        (``injection_time_s``, ``dynamic_range_db``, ``model``, ``motion``, ``fps``).
        The stored document is analysis.json plus ``curves`` (TICs, fits and relative dB, thinned) for
        the report's per-lesion panels.
    analyze : callable, optional
        Replaces :func:`ceuskit.pipeline.analyze` (same signature); for tests.

    Returns
    -------
    dict with ``lesion_id``, ``status`` ("ok"/"failed"), ``document`` and ``error``, plus
    ``started_at`` / ``finished_at``.
    """
    started = utcnow()
    out: dict[str, Any] = {"lesion_id": task["lesion_id"], "started_at": started, "document": None, "error": None}
    try:
        if analyze is None:
            from ceuskit.pipeline import analyze as pipeline_analyze

            analyze = pipeline_analyze
        p = task["parameters"]
        result = analyze(task["clip_path"], task["rois"], injection_time_s=p["injection_time_s"],
                         dynamic_range_db=p["dynamic_range_db"], model=p["model"], motion=p["motion"], fps=p["fps"])
        document = _json_safe(getattr(result, "document", result))
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
    path = Path(clip["path"])
    if not path.exists():
        return None
    if path.is_dir():
        return _hash_path(path)
    stat = path.stat()
    if stat.st_size == clip.get("size_bytes") and stat.st_mtime_ns == clip.get("mtime_ns"):
        return str(clip["sha256"])
    sha = _hash_path(path)
    update_clip_file(store, int(clip["id"]), sha256=sha, size_bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)
    return sha


def plan_run(store: Store, *, study: int | str | None = None, options: RunOptions = RunOptions(),
             retry_failed: bool = False, lesion_ids: Collection[int] | None = None,
             force: bool = False) -> tuple[list[dict[str, Any]], int]:
    """The lesions a run must analyse (as tasks) and how many are up to date.

    ``lesion_ids`` restricts the run to those lesions; ``force`` analyses them even when up to date.
    """
    tasks, up_to_date = [], 0
    for item in work_items(store, study):
        if lesion_ids is not None and item["id"] not in lesion_ids:
            continue
        parameters = {"injection_time_s": item["injection_time_s"], "dynamic_range_db": item["dynamic_range_db"],
                      "model": options.model, "motion": options.motion, "fps": options.fps}
        parameter_hash = canonical_sha256(parameters)
        clip = item["clip"]
        sha = None if clip is None else _current_sha(store, clip)
        input_hash = canonical_sha256({"clip_sha256": sha, "rois": item["rois_sha256"], "roi_name": item["roi_name"],
                                       "parameters": parameter_hash})
        if not force and item["latest_input_hash"] == input_hash and not (
                retry_failed and item["latest_status"] == "failed"):
            up_to_date += 1
            continue
        tasks.append({"lesion_id": item["id"], "clip_path": None if clip is None else clip["path"],
                      "clip_found": sha is not None, "rois": item["rois"], "roi_name": item["roi_name"],
                      "parameters": parameters, "parameter_hash": parameter_hash, "input_hash": input_hash})
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
            "finished_at": now, "error": f"clip file {Path(task['clip_path'] or '?').name} not found; "
                                         "restore it or re-import the manifest"}


def run_study(store: Store, *, study: int | str | None = None, workers: int | None = None,
              scheduler: str | None = None, options: RunOptions = RunOptions(), retry_failed: bool = False,
              progress: ProgressFn | None = None, analyze: Callable[..., Any] | None = None,
              lesion_ids: Collection[int] | None = None, force: bool = False) -> RunSummary:
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
    analyze : callable, optional
        Replaces :func:`ceuskit.pipeline.analyze` (tests); must be picklable for Dask.
    lesion_ids : collection of int, optional
        Only these lesions (database ids).
    force : bool
        Analyse the selected lesions even when their inputs did not change.
    """
    if options.model not in MODELS:
        raise InputError(f"model {options.model!r} is not one of {', '.join(MODELS)}")
    if options.fps is not None and not (math.isfinite(options.fps) and options.fps > 0):
        raise InputError(f"fps {options.fps!r} must be a positive number of frames per second")
    if workers is not None and workers < 0:
        raise InputError(f"workers must be 0 (serial) or more, got {workers}")
    tasks, up_to_date = plan_run(store, study=study, options=options, retry_failed=retry_failed,
                                 lesion_ids=lesion_ids, force=force)
    summary = RunSummary(up_to_date=up_to_date, total=len(tasks) + up_to_date)
    runnable = []
    for task in tasks:
        if task["clip_found"]:
            runnable.append(task)
        else:
            _record(store, task, _missing_clip(task), summary)
    if progress is not None:
        progress(summary.analysed, len(tasks), "")
    if not runnable:
        return summary
    by_id = {t["lesion_id"]: t for t in runnable}
    for result in _execute(runnable, workers=workers, scheduler=scheduler, analyze=analyze):
        _record(store, by_id[result["lesion_id"]], result, summary)
        if progress is not None:
            progress(summary.analysed, len(tasks), f"lesion {result['lesion_id']}: {result['status']}")
    return summary


def analyse_lesion(store: Store, lesion_id: int, *, options: RunOptions = RunOptions(),
                   analyze: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Analyse one lesion now, in this process, record the result and return the analysis record.

    The web app's "analyse this lesion" (e.g. after its ROIs were edited); a failure is recorded and
    returned with ``status`` "failed", not raised.
    """
    lesion = get_lesion(store, lesion_id)
    summary = run_study(store, study=int(lesion["study_id"]), workers=0, options=options, analyze=analyze,
                        lesion_ids={lesion_id}, force=True)
    return get_analysis(store, summary.analysis_ids[-1])


def _execute(tasks: list[dict[str, Any]], *, workers: int | None, scheduler: str | None,
             analyze: Callable[..., Any] | None) -> Iterable[dict[str, Any]]:
    if scheduler is None and workers == 0:
        for task in tasks:
            yield analyse_task(task, analyze)
        return
    try:
        import dask
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("parallel runs need dask[distributed]: pip install 'ceuskit[study]', "
                         "or run serially with --workers 0") from None
    cluster = None
    try:
        if scheduler is not None:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise InputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); check the address "
                                 "or drop --scheduler to use a local cluster") from None
        else:
            n = workers if workers is not None else max(1, min(os.cpu_count() or 1, len(tasks)))
            # Dask's nanny makes glibc hand freed memory back at 64 KiB; the analysis allocates and frees
            # frame-sized arrays all the time, and that trimming cost ~20 % of a worker's speed.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 128 << 20}):
                cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", silence_logs=50)
            client = Client(cluster)
        with client:
            futures = [client.submit(analyse_task, task, analyze, key=f"ceuskit-lesion-{task['lesion_id']}-"
                                     f"{task['input_hash'][:12]}", pure=False) for task in tasks]
            for future in as_completed(futures):
                try:
                    yield future.result()
                except Exception as exc:  # worker died: record the lesion as failed, keep going
                    task = tasks[futures.index(future)]
                    now = utcnow()
                    yield {"lesion_id": task["lesion_id"], "status": "failed", "document": None,
                           "started_at": now, "finished_at": now,
                           "error": f"worker failed: {type(exc).__name__}: {exc}".splitlines()[0]}
    finally:
        if cluster is not None:
            cluster.close()


# ------------------------------------------------------------------------------------------ cohort table


def _lesion_result(document: dict[str, Any] | None, roi_name: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    if not document:
        return {}, {}
    lesions = document.get("lesions") or []
    chosen = next((item for item in lesions if roi_name and item.get("roi") == roi_name), None)
    if chosen is None and lesions:
        chosen = lesions[0]
    if chosen is None:
        return {}, {}
    roi = (document.get("rois") or {}).get(chosen.get("roi"), {})
    return chosen, roi


def _flatten(record: dict[str, Any]) -> dict[str, Any]:
    analysis = record.get("analysis") or {}
    document = analysis.get("document") if analysis.get("status") == "ok" else None
    lesion, roi = _lesion_result(document, record.get("roi_name"))
    arterial = lesion.get("arterial_phase") or {}
    portal = lesion.get("portal_venous_phase") or {}
    late = lesion.get("late_phase") or {}
    fit = roi.get("fit") or {}
    parameters = roi.get("parameters") or {}
    lirads = lesion.get("lirads")
    row: dict[str, Any] = {
        "lesion_db_id": record["id"], "patient_id": record["patient"], "lesion_id": record["lesion"],
        "primary_site": record["primary_site"], "ki67": record["ki67_percent"], "who_grade": record["who_grade"],
        "size_mm": record["size_mm"], "injection_time_s": record["injection_time_s"],
        "dynamic_range_db": record["dynamic_range_db"], "clip_sha256": record.get("clip_sha256"),
        "analysis_id": analysis.get("id"), "analysis_status": analysis.get("status"),
        "analysis_error": analysis.get("error"), "software_version": analysis.get("software_version"),
        "roi": lesion.get("roi"), "reference": lesion.get("reference"),
        "arterial_enhancement": arterial.get("enhancement"), "arterial_onset_s": arterial.get("onset_s"),
        "arterial_relative_peak_db": arterial.get("relative_peak_db"),
        "washout": portal.get("washout"), "washout_onset_s": portal.get("washout_onset_s"),
        "washout_timing": portal.get("washout_timing"), "washout_degree": portal.get("washout_degree"),
        "late_enhancement": late.get("enhancement"), "late_relative_db": late.get("relative_db"),
        "pattern": lesion.get("pattern"),
        "lirads": lirads.get("category") if isinstance(lirads, dict) else lirads,
        "fit_model": fit.get("model"), "fit_r2": fit.get("r2"), "fit_success": fit.get("success"),
        "area_mm2": roi.get("area_mm2"),
    }
    for name in ROI_PARAMETERS:
        row[name] = parameters.get(name)
    return row


def cohort_frame(store: Store, study: int | str | None = None, *, reads: bool = True) -> pd.DataFrame:
    """One row per lesion: ids, clinical fields, analysis status and every parameter and label.

    Columns include ``patient_id``, ``lesion_id``, ``primary_site``, ``ki67`` (%), ``who_grade``,
    ``size_mm``, ``arterial_enhancement``, ``arterial_onset_s``, ``washout``, ``washout_onset_s``,
    ``late_enhancement``, the lesion ROI's fitted parameters (``time_to_peak_s``, …) and, when reader reads
    exist, ``read_<reader>_arterial`` / ``_washout`` / ``_late``.
    """
    records = cohort_records(store, study)
    frame = pd.DataFrame([_flatten(r) for r in records])
    if frame.empty:
        frame = pd.DataFrame(columns=list(_flatten({"id": 0, "patient": "", "lesion": "", "primary_site": None,
                                                    "ki67_percent": None, "who_grade": None, "size_mm": None,
                                                    "injection_time_s": 0.0, "dynamic_range_db": 60.0})))
    numeric = ["ki67", "size_mm", "arterial_onset_s", "arterial_relative_peak_db", "washout_onset_s",
               "late_relative_db", "fit_r2", "area_mm2", *ROI_PARAMETERS]
    for column in numeric:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if reads and not frame.empty:
        for read in reader_reads(store, study):
            for phase in ("arterial", "washout", "late"):
                column = f"read_{read['reader']}_{phase}"
                if column not in frame:
                    frame[column] = None
                frame.loc[frame["lesion_db_id"] == read["lesion_id"], column] = read[phase]
    return frame


def _software_washout(row: pd.Series) -> str | None:
    if row.get("analysis_status") != "ok" or row.get("washout") is None:
        return None
    return "yes" if bool(row["washout"]) else "none"


def _binary_washout(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return "none" if value == "none" else "yes"


def _agreement(frame: pd.DataFrame) -> list[dict[str, Any]]:
    readers = sorted({c[len("read_"):].rsplit("_", 1)[0] for c in frame.columns if c.startswith("read_")})
    if not readers:
        return []
    raters: dict[str, dict[str, list[Any]]] = {"software": {
        "arterial": [v if v in ENHANCEMENT_LABELS else None for v in frame["arterial_enhancement"]],
        "washout": [_software_washout(r) for _, r in frame.iterrows()],
        "late": [v if v in ENHANCEMENT_LABELS else None for v in frame["late_enhancement"]]}}
    for reader in readers:
        raters[reader] = {
            "arterial": [v if v in ENHANCEMENT_LABELS else None for v in frame[f"read_{reader}_arterial"]],
            "washout": [_binary_washout(v) for v in frame[f"read_{reader}_washout"]],
            "late": [v if v in ENHANCEMENT_LABELS else None for v in frame[f"read_{reader}_late"]]}
    pairs = [(r, "software") for r in readers] + [(a, b) for i, a in enumerate(readers) for b in readers[i + 1:]]
    out = []
    for a, b in pairs:
        for phase in ("arterial", "washout", "late"):
            categories = ("none", "yes") if phase == "washout" else ENHANCEMENT_LABELS
            weights = None if phase == "washout" else "linear"
            result = stats.cohen_kappa(raters[a][phase], raters[b][phase], categories=categories, weights=weights)
            out.append({"rater_a": a, "rater_b": b, "label": phase, **result})
    return out


def cohort_stats(frame: pd.DataFrame, *, parameters: Sequence[str] = CORRELATION_PARAMETERS) -> dict[str, Any]:
    """The cohort statistics of ``ceuskit study stats`` from a :func:`cohort_frame` table.

    Returns
    -------
    dict with ``n_patients``, ``n_lesions``, ``n_analysed``, ``n_failed``, ``patterns`` ({name: {n, of,
    percent, ci95}}), ``correlations`` ([{x, y, method, rho, p_value, p_exact, ci95, n, …}] against
    Ki-67), ``by_grade`` and ``by_primary_site`` ({parameter: Kruskal–Wallis result}), ``roc``
    (onset for G2+ vs G1) and ``agreement`` (Cohen's kappa, reader vs software and reader vs reader).
    """
    ok = frame[frame["analysis_status"] == "ok"] if not frame.empty else frame
    patterns: dict[str, Any] = {}
    for phase, column in (("arterial", "arterial_enhancement"), ("late", "late_enhancement")):
        assessed = ok[ok[column].isin(ENHANCEMENT_LABELS)] if not ok.empty else ok
        for label in ("hyper", "iso", "hypo") if phase == "arterial" else ("hypo", "iso", "hyper"):
            patterns[f"{phase}_{label}"] = stats.proportion(int((assessed[column] == label).sum()) if len(assessed)
                                                            else 0, len(assessed))
    washout = ok[ok["washout"].notna()] if not ok.empty else ok
    n_wash = len(washout)
    patterns["washout"] = stats.proportion(int(washout["washout"].astype(bool).sum()) if n_wash else 0, n_wash)
    for timing in ("early", "late"):
        hits = int((washout["washout_timing"] == timing).sum()) if n_wash else 0
        patterns[f"washout_{timing}"] = stats.proportion(hits, n_wash)
    patterns = {name: patterns[name] for name in PATTERN_NAMES}
    correlations = []
    for name in parameters:
        result = stats.spearman(ok[name].to_numpy(float), ok["ki67"].to_numpy(float))
        correlations.append({"x": name, "y": "ki67", "method": "spearman", **result})
    grades = ok["who_grade"].where(ok["who_grade"].notna(), None).tolist()
    primaries = ok["primary_site"].where(ok["primary_site"].notna(), None).tolist()
    by_grade = {name: stats.compare_groups(ok[name].to_numpy(float), ["G3" if g == "NEC" else g for g in grades])
                for name in parameters}
    by_primary = {name: stats.compare_groups(ok[name].to_numpy(float), primaries) for name in parameters}
    has_grade = ok["who_grade"].notna()
    roc = stats.roc_auc(ok.loc[has_grade, "arterial_onset_s"].to_numpy(float),
                        (ok.loc[has_grade, "who_grade"] != "G1").to_numpy(bool))
    return {
        "n_patients": int(frame["patient_id"].nunique()) if not frame.empty else 0,
        "n_lesions": len(frame),
        "n_analysed": len(ok),
        "n_failed": int((frame["analysis_status"] == "failed").sum()) if not frame.empty else 0,
        "patterns": patterns,
        "correlations": correlations,
        "by_grade": by_grade,
        "by_primary_site": by_primary,
        "roc": {"x": "arterial_onset_s", "positive": "G2+", "negative": "G1", **roc},
        "agreement": _agreement(frame),
    }


def study_stats(store: Store, study: int | str | None = None) -> dict[str, Any]:
    """:func:`cohort_stats` of a stored study (what ``ceuskit study stats --json`` prints)."""
    return cohort_stats(cohort_frame(store, study))


def export_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write the cohort table to ``out`` (.csv, .parquet or .xlsx by suffix), atomically."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".xlsx"):
        raise InputError(f"cannot export to {out.name}: use a .csv, .parquet or .xlsx file name")
    with atomic_path(out) as tmp:
        table = frame.copy()
        for column in table.columns:  # mixed None/str/bool columns: plain strings for parquet and Excel
            if table[column].dtype == object:
                table[column] = table[column].map(lambda v: None if v is None else str(v) if not isinstance(
                    v, str) else v)
        if suffix == ".csv":
            table.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            table.to_parquet(tmp, index=False)
        else:
            table.to_excel(tmp, index=False, sheet_name="lesions")
    return out


# ------------------------------------------------------------------------------------------------- demo


def run_demo(out_dir: str | Path, *, n_patients: int = 18, seed: int = 0, workers: int | None = None,
             echo: Callable[[str], None] = print) -> Path:
    """Simulate the seed-like cohort, import it, analyse it, compute statistics, write the report.

    Prints (through ``echo``) the seed-vs-ceuskit table and returns the path of ``report.html``.
    """
    from ceuskit.report import seed_comparison, write_report
    from ceuskit.simulate import simulate_cohort

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = simulate_cohort(out / "cohort", n_patients=n_patients, seed=seed)
    db_path = out / "demo.db"
    for stale in (db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name(db_path.name + "-shm")):
        stale.unlink(missing_ok=True)
    with Store(f"sqlite:///{db_path}") as store:
        import_manifest(store, manifest)
        reads_path = manifest.with_name("reads.csv")
        if reads_path.is_file():
            import_reads(store, reads_path)
        summary = run_study(store, workers=workers)
        echo(summary.line())
        frame = cohort_frame(store)
        result = cohort_stats(frame)
        for line in seed_comparison(result):
            echo(line)
        report = write_report(store, out / "report", frame=frame, result=result)
    echo(f"report: {report}")
    return report
