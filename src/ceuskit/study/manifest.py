"""Study manifests and reader CSVs: read and validate them, store them, de-identify on the way in.

``read_manifest`` checks every row (required fields, numbers and their ranges, WHO grade vs Ki-67, clip
and ROI files present — an examination's several, ``;``-separated, see :mod:`~ceuskit.study.files` —,
ROI documents valid, no duplicate lesion) before anything is stored;
``import_manifest`` stores all rows in one transaction, de-identifying patients and DICOM clips when asked.
``read_reads`` / ``import_reads`` do the same for readers' visual labels.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ceuskit.errors import InputError, ManifestError
from ceuskit.store import ClipInput, Imported, LesionInput, ReadInput, Store, import_lesions, record_reads
from ceuskit.study.files import (
    CURVE_COLUMNS,
    clip_from_file,
    clip_header_summary,
    injection_from_clips,
    row_clips,
)
from ceuskit.study.lesions import lesion_input, who_grade_of
from ceuskit.timeseries import MAX_INJECTION_LEAD_S

__all__ = [
    "ENHANCEMENT_LABELS",
    "KNOWN_COLUMNS",
    "READ_COLUMNS",
    "REQUIRED_COLUMNS",
    "WASHOUT_LABELS",
    "clip_header_summary",
    "import_manifest",
    "import_reads",
    "pseudonym",
    "read_manifest",
    "read_reads",
]

REQUIRED_COLUMNS = ("patient_id", "lesion_id", "clip", "roi", "ki67")
KNOWN_COLUMNS = REQUIRED_COLUMNS + ("primary_site", "who_grade", "injection_time_s", "dynamic_range_db", "size_mm",
                                    "roi_name", "reader", "arterial", "washout", "late", "clip_offset_s",
                                    *CURVE_COLUMNS)
READ_COLUMNS = ("patient_id", "lesion_id", "reader", "arterial", "washout", "late")
ENHANCEMENT_LABELS = ("hypo", "iso", "hyper")
WASHOUT_LABELS = {"early": "early", "late": "late", "none": "none", "no": "none", "false": "none", "0": "none",
                  "yes": "yes", "true": "yes", "1": "yes"}


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


PSEUDONYM_KEY_VARIABLE = "CEUSKIT_PSEUDONYM_KEY"
"""The environment variable holding the secret behind a study's pseudonyms."""


def pseudonym_key_is_set() -> bool:
    """Whether ``CEUSKIT_PSEUDONYM_KEY`` holds a secret (without one, anyone can recompute the pseudonyms).

    Returns
    -------
    bool
        True when the variable is set and not empty.
    """
    return bool(os.environ.get(PSEUDONYM_KEY_VARIABLE))


def _pseudonym_key(study: str) -> bytes:
    """Return the secret behind pseudonyms, UIDs and date shifts.

    It is ``CEUSKIT_PSEUDONYM_KEY`` (set it for real data: without it the key is derived from the study's name
    and pseudonyms can be recomputed by anyone).
    """
    return os.environ.get(PSEUDONYM_KEY_VARIABLE, f"ceuskit:{study}").encode()


def pseudonym(patient_id: str, *, study: str) -> str:
    """Return a stable pseudonym for a patient id (keyed by ``CEUSKIT_PSEUDONYM_KEY`` when set)."""
    from ceuskit.io.deid import pseudonym as keyed_pseudonym

    return keyed_pseudonym(patient_id, _pseudonym_key(study))


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


def read_manifest(path: str | Path, *, deidentify: bool = False, study: str = "default", pacs: Any = None
                  ) -> tuple[list[LesionInput], list[ReadInput]]:
    """Read and validate a study manifest (DESIGN: "Study manifest"); nothing is stored.

    Every row is checked (required fields, numbers and their ranges, WHO grade vs Ki-67, clip and ROI
    files present, ROI documents valid, no duplicate lesion).  ``deidentify`` replaces patient ids by
    keyed pseudonyms and drops unknown (free-text) columns.  A ``clip`` cell ``dicomweb:STUDY/SERIES[/INSTANCE]``
    is fetched through ``pacs`` (a :class:`ceuskit.pacs.cache.ClipResolver`) into its cache, and the clip's
    header summary records where it came from (``pacs``).

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
            lesions.append(_manifest_row(line, row, base, seen, deidentify=deidentify, study=study, pacs=pacs))
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
                  deidentify: bool, study: str, pacs: Any = None) -> LesionInput:
    for column in ("patient_id", "lesion_id", "clip"):  # roi: empty for a curve table (checked with the clip)
        if not row.get(column):
            raise ManifestError(f"line {line}: {column} is empty")
    key = (row["patient_id"], row["lesion_id"])
    if key in seen:
        raise ManifestError(f"line {line}: lesion {row['lesion_id']!r} of this patient repeats line {seen[key]}")
    seen[key] = line
    ki67 = _float(line, "ki67", row["ki67"], low=0.0, high=100.0)
    try:  # checked here, so that a line's first problem is reported in the order of its columns
        who_grade_of(ki67, row.get("who_grade"))
    except InputError as exc:
        raise ManifestError(f"line {line}: {exc}") from None
    injection = None if row.get("injection_time_s", "").strip().lower() == "auto" else \
        _float(line, "injection_time_s", row.get("injection_time_s", ""), low=-MAX_INJECTION_LEAD_S)
    dynamic_range = _float(line, "dynamic_range_db", row.get("dynamic_range_db", ""), low=0.0, low_open=True)
    size = _float(line, "size_mm", row.get("size_mm", ""), low=0.0, low_open=True)
    roi_name = row.get("roi_name") or None
    clips = row_clips(line, row, base, roi_name=roi_name, pacs=pacs)
    if row.get("injection_time_s", "").strip().lower() == "auto":
        injection = injection_from_clips(line, clips)
    extra = {} if deidentify else {k: v for k, v in row.items() if k not in KNOWN_COLUMNS and v}
    patient = pseudonym(row["patient_id"], study=study) if deidentify else row["patient_id"]
    return lesion_input(patient, row["lesion_id"], clips, ki67_percent=ki67, who_grade=row.get("who_grade"),
                        primary_site=row.get("primary_site") or None, size_mm=size,
                        injection_time_s=0.0 if injection is None else injection,
                        dynamic_range_db=60.0 if dynamic_range is None else dynamic_range, roi_name=roi_name,
                        extra=extra)


def import_manifest(store: Store, path: str | Path, *, deidentify: bool = False, study: str = "default",
                    deid_dir: str | Path | None = None, pacs: Any = None) -> Imported:
    """Validate ``path`` and store all its lesions in one transaction (nothing on any error).

    With ``deidentify`` patient ids become keyed pseudonyms, free-text columns are dropped, and every clip
    (DICOM only) is de-identified into ``deid_dir`` (default: ``deidentified/`` beside the manifest) —
    the study then refers to those copies, never to the originals (nor to their PACS references).
    ``pacs`` resolves ``dicomweb:`` clips (see :func:`read_manifest`).
    """
    lesions, reads = read_manifest(path, deidentify=deidentify, study=study, pacs=pacs)
    if deidentify:
        folder = Path(deid_dir) if deid_dir is not None else Path(path).resolve().parent / "deidentified"
        lesions = _deidentified_clips(lesions, folder, key=_pseudonym_key(study))
    return import_lesions(store, lesions, study=study, reads=reads)


def _deidentified_clips(lesions: Sequence[LesionInput], folder: Path, *, key: bytes) -> list[LesionInput]:
    """De-identified copies of the lesions' clips in ``folder``/<pseudonym>/ (all, or none on any error).

    An examination's further clips are named after the lesion with ``-clipK`` (K = 2, 3, …).
    """
    import dataclasses
    import re

    from ceuskit.io.deid import DeidOptions, deidentify_file

    done: dict[str, Path] = {}

    def copy(lesion: LesionInput, clip: ClipInput, position: int) -> ClipInput:
        source = Path(clip.path)
        if source.is_dir() or clip_header_summary(source).get("format") != "dicom":
            raise ManifestError(f"clip {source.name} of patient {lesion.patient} is not a DICOM file: "
                                "--deidentify cleans DICOM clips only; de-identify it yourself and import "
                                "without --deidentify")
        target = done.get(str(source))
        if target is None:
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", lesion.lesion) + (f"-clip{position + 1}" if position else "")
            target = folder / lesion.patient / f"{safe}.dcm"
            if target.exists():
                raise ManifestError(f"{target} exists already; remove it or choose another --deid-dir")
            deidentify_file(source, target, DeidOptions(key=key), patient_alias=lesion.patient)
            done[str(source)] = target
        return clip_from_file(target, rois=clip.rois, offset_s=clip.offset_s)  # no PACS provenance: a copy

    try:
        out = []
        for lesion in lesions:
            out.append(dataclasses.replace(lesion, clips=tuple(copy(lesion, clip, k)
                                                               for k, clip in enumerate(lesion.clips))))
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
