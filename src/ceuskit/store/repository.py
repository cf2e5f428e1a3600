"""Reading and writing a study database: the API the CLI and the web app use.

Every function takes a :class:`~ceuskit.store.database.Store`, runs in one transaction (all or
nothing) and returns plain JSON-ready dicts, never ORM objects, so callers need no session.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ceuskit.errors import ConflictError, StoreError
from ceuskit.store.database import Store
from ceuskit.store.schema import (
    AnalysisRecord,
    Clip,
    Lesion,
    LesionClip,
    Patient,
    ReaderRead,
    ReadingItem,
    ReadingRead,
    RoiSetRecord,
    Study,
    User,
    utcnow,
)

__all__ = [
    "DEFAULT_STUDY",
    "ClipInput",
    "LesionInput",
    "ReadInput",
    "add_lesion_clip",
    "canonical_sha256",
    "cohort_records",
    "get_analysis",
    "get_clip",
    "get_lesion",
    "get_study",
    "import_lesions",
    "json_safe",
    "latest_analysis",
    "list_studies",
    "reader_reads",
    "record_analysis",
    "record_reads",
    "remove_lesion_clip",
    "set_lesion_rois",
    "study_id_of",
    "update_clip_file",
    "work_items",
]

DEFAULT_STUDY = "default"


def canonical_sha256(document: Any) -> str:
    """SHA-256 of a JSON document in canonical form (sorted keys, no whitespace)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def json_safe(value: Any) -> Any:
    """The same document with NaN/inf as None and numpy scalars/arrays as Python numbers/lists.

    The form in which the study runner stores analysis documents and the web API returns them (strict JSON
    has no NaN).
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class ReadInput:
    """One reader's visual labels of one lesion (``arterial`` hyper/iso/hypo, ``washout`` yes/no, ``late``)."""

    patient: str
    lesion: str
    reader: str
    arterial: str | None = None
    washout: str | None = None
    late: str | None = None


@dataclass(frozen=True)
class ClipInput:
    """One clip of a lesion's examination with the ROI set drawn on it, ready to store.

    ``offset_s``: an explicit start, s after the examination's first frame (None: by acquisition time).
    """

    path: str
    sha256: str
    rois: dict[str, Any]
    size_bytes: int | None = None
    mtime_ns: int | None = None
    header: dict[str, Any] = field(default_factory=dict)
    offset_s: float | None = None


@dataclass(frozen=True)
class LesionInput:
    """One validated manifest row, ready to store.

    ``clip_*`` and ``rois`` describe the lesion's first clip; ``more_clips`` the further clips of its
    examination, in the manifest's order (:attr:`clips` lists them all).
    """

    patient: str
    lesion: str
    clip_path: str
    clip_sha256: str
    rois: dict[str, Any]
    clip_size_bytes: int | None = None
    clip_mtime_ns: int | None = None
    clip_header: dict[str, Any] = field(default_factory=dict)
    roi_name: str | None = None
    ki67_percent: float | None = None
    who_grade: str | None = None
    who_grade_source: str | None = None
    primary_site: str | None = None
    size_mm: float | None = None
    injection_time_s: float = 0.0
    dynamic_range_db: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)
    clip_offset_s: float | None = None
    more_clips: tuple[ClipInput, ...] = ()

    @property
    def clips(self) -> tuple[ClipInput, ...]:
        """Every clip of the examination, the first one first."""
        first = ClipInput(self.clip_path, self.clip_sha256, self.rois, self.clip_size_bytes, self.clip_mtime_ns,
                          self.clip_header, self.clip_offset_s)
        return (first, *self.more_clips)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


_MAX_ID = 2**63 - 1  # database integer keys are 64-bit signed


def _by_id(session: Session, model: type[Any], key: int) -> Any:
    """The row of ``model`` with primary key ``key``, or None — also for ids no database column can hold."""
    return session.get(model, key) if 0 <= key <= _MAX_ID else None


def _resolve_study(session: Session, study: int | str | None, *, create: bool = False) -> Study:
    if isinstance(study, int):
        found = _by_id(session, Study, study)
        if found is None:
            raise StoreError(f"no study with id {study}; list them with `ceuskit study stats` or GET /api/studies")
        return found
    if study is None:
        studies = session.scalars(select(Study).order_by(Study.id)).all()
        if len(studies) == 1:
            return studies[0]
        study = DEFAULT_STUDY
        if len(studies) > 1 and not any(s.name == study for s in studies):
            raise StoreError(f"the database holds {len(studies)} studies; name one with --study")
    found = session.scalars(select(Study).where(Study.name == study)).first()
    if found is None:
        if not create:
            raise StoreError(f"no study {study!r} in the database; import a manifest first "
                             "(`ceuskit study import MANIFEST.csv`)")
        found = Study(name=study, created_at=utcnow())
        session.add(found)
        session.flush()
    return found


def study_id_of(store: Store, study: int | str | None = None) -> int:
    """Id of the study named ``study`` (None: the only or the default study)."""
    with store.transaction() as session:
        return _resolve_study(session, study).id


def _clip_dict(clip: Clip | None) -> dict[str, Any] | None:
    if clip is None:
        return None
    return {"id": clip.id, "path": clip.path, "sha256": clip.sha256, "size_bytes": clip.size_bytes,
            "header": clip.header, "created_at": _iso(clip.created_at)}


def _analysis_dict(record: AnalysisRecord | None, *, document: bool = True) -> dict[str, Any] | None:
    if record is None:
        return None
    out = {"id": record.id, "lesion_id": record.lesion_id, "status": record.status, "error": record.error,
           "software_version": record.software_version, "parameters": record.parameters,
           "parameter_hash": record.parameter_hash, "input_hash": record.input_hash,
           "started_at": _iso(record.started_at), "finished_at": _iso(record.finished_at)}
    if document:
        out["document"] = record.document
    return out


def _lesion_dict(lesion: Lesion, patient: Patient) -> dict[str, Any]:
    roi = lesion.roi_set
    n_clips = len(lesion.exam_clips) or (1 if lesion.clip_id is not None else 0)
    return {"id": lesion.id, "study_id": patient.study_id, "patient_id": patient.id, "patient": patient.pseudonym,
            "lesion": lesion.label,
            "primary_site": lesion.primary_site, "ki67_percent": lesion.ki67_percent,
            "who_grade": lesion.who_grade, "who_grade_source": lesion.who_grade_source, "size_mm": lesion.size_mm,
            "injection_time_s": lesion.injection_time_s, "dynamic_range_db": lesion.dynamic_range_db,
            "extra": lesion.extra, "clip_id": lesion.clip_id, "n_clips": n_clips,
            "roi_name": None if roi is None else roi.roi_name,
            "rois_sha256": None if roi is None else roi.sha256}


def _latest(session: Session, lesion_ids: Sequence[int]) -> dict[int, AnalysisRecord]:
    if not lesion_ids:
        return {}
    newest = (select(AnalysisRecord.lesion_id, func.max(AnalysisRecord.id).label("id"))
              .where(AnalysisRecord.lesion_id.in_(lesion_ids)).group_by(AnalysisRecord.lesion_id).subquery())
    rows = session.scalars(select(AnalysisRecord).join(newest, AnalysisRecord.id == newest.c.id)).all()
    return {r.lesion_id: r for r in rows}


def _study_lesions(session: Session, study: Study) -> list[tuple[Lesion, Patient]]:
    rows = session.execute(
        select(Lesion, Patient).join(Patient, Lesion.patient_id == Patient.id)
        .where(Patient.study_id == study.id).order_by(Patient.pseudonym, Lesion.label, Lesion.id)
        .options(selectinload(Lesion.roi_sets), selectinload(Lesion.clip),
                 selectinload(Lesion.exam_clips).selectinload(LesionClip.clip))).all()
    return [(lesion, patient) for lesion, patient in rows]


def list_studies(store: Store) -> list[dict[str, Any]]:
    """Every study: ``id``, ``name``, ``created_at``, ``n_patients``, ``n_lesions``."""
    with store.transaction() as session:
        out = []
        for study in session.scalars(select(Study).order_by(Study.id)):
            n_patients = session.scalar(select(func.count(Patient.id)).where(Patient.study_id == study.id))
            n_lesions = session.scalar(select(func.count(Lesion.id)).join(Patient)
                                       .where(Patient.study_id == study.id))
            out.append({"id": study.id, "name": study.name, "created_at": _iso(study.created_at),
                        "n_patients": int(n_patients or 0), "n_lesions": int(n_lesions or 0)})
        return out


def get_study(store: Store, study: int | str | None = None) -> dict[str, Any]:
    """A study with its patients and their lesions (each lesion with its newest analysis's status)."""
    with store.transaction() as session:
        found = _resolve_study(session, study)
        pairs = _study_lesions(session, found)
        latest = _latest(session, [lesion.id for lesion, _ in pairs])
        patients: dict[int, dict[str, Any]] = {}
        for lesion, patient in pairs:
            entry = patients.setdefault(patient.id, {"id": patient.id, "patient": patient.pseudonym, "lesions": []})
            item = _lesion_dict(lesion, patient)
            item["analysis"] = _analysis_dict(latest.get(lesion.id), document=False)
            entry["lesions"].append(item)
        return {"id": found.id, "name": found.name, "created_at": _iso(found.created_at),
                "patients": list(patients.values())}


def _exam_clips(lesion: Lesion) -> list[dict[str, Any]]:
    """The lesion's clips in manifest order, each with its ``position``, ``offset_s`` (explicit start or None),
    ``rois`` (the ROI document drawn on it, None before any) and ``rois_sha256``."""
    rois = {r.position: r for r in lesion.roi_sets}
    entries = [(item.position, item.clip, item.offset_s) for item in lesion.exam_clips]
    if not entries and lesion.clip is not None:  # a lesion stored without its clip list (never by this module)
        entries = [(0, lesion.clip, None)]
    out = []
    for position, clip, offset in entries:
        entry = _clip_dict(clip) or {}
        roi = rois.get(position)
        entry.update(position=position, offset_s=offset, mtime_ns=clip.mtime_ns,
                     rois=None if roi is None else roi.document, rois_sha256=None if roi is None else roi.sha256)
        out.append(entry)
    return out


def get_lesion(store: Store, lesion_id: int) -> dict[str, Any]:
    """One lesion with its first clip (``clip``) and ROI document (``rois``), every clip of its examination
    (``clips``, see :func:`work_items`) and its newest analysis."""
    with store.transaction() as session:
        lesion = _by_id(session, Lesion, lesion_id)
        if lesion is None:
            raise StoreError(f"no lesion with id {lesion_id}")
        out = _lesion_dict(lesion, lesion.patient)
        out["clip"] = _clip_dict(lesion.clip)
        out["rois"] = None if lesion.roi_set is None else lesion.roi_set.document
        out["clips"] = _exam_clips(lesion)
        out["analysis"] = _analysis_dict(_latest(session, [lesion.id]).get(lesion.id))
        return out


def get_clip(store: Store, clip_id: int) -> dict[str, Any]:
    """One clip: ``id``, ``path``, ``sha256``, ``size_bytes``, ``header`` summary, ``created_at``."""
    with store.transaction() as session:
        clip = _by_id(session, Clip, clip_id)
        if clip is None:
            raise StoreError(f"no clip with id {clip_id}")
        result = _clip_dict(clip)
        assert result is not None
        return result


def update_clip_file(store: Store, clip_id: int, *, sha256: str, size_bytes: int | None,
                     mtime_ns: int | None) -> None:
    """Record a clip file's current hash, size and modification time."""
    with store.transaction() as session:
        clip = _by_id(session, Clip, clip_id)
        if clip is None:
            raise StoreError(f"no clip with id {clip_id}")
        clip.sha256, clip.size_bytes, clip.mtime_ns = sha256, size_bytes, mtime_ns


def set_lesion_rois(store: Store, lesion_id: int, document: dict[str, Any], *,
                    roi_name: str | None = None, position: int = 0) -> dict[str, Any]:
    """Replace the ROI document (DESIGN's ROI JSON) drawn on the lesion's clip at ``position`` (0: the first);
    the next run re-analyses the lesion."""
    with store.transaction() as session:
        lesion = _by_id(session, Lesion, lesion_id)
        if lesion is None:
            raise StoreError(f"no lesion with id {lesion_id}")
        if position != 0 and position not in {item.position for item in lesion.exam_clips}:
            raise StoreError(f"no clip at position {position} of lesion {lesion_id} "
                             f"(it has {len(lesion.exam_clips)})")
        _put_rois(session, lesion, document, roi_name, position)
        session.flush()
        return _lesion_dict(lesion, lesion.patient)


def _put_rois(session: Session, lesion: Lesion, document: dict[str, Any], roi_name: str | None,
              position: int = 0) -> None:
    digest = canonical_sha256(document)
    found = next((r for r in lesion.roi_sets if r.position == position), None)
    if found is None:
        lesion.roi_sets.append(RoiSetRecord(position=position, document=document, roi_name=roi_name, sha256=digest,
                                            updated_at=utcnow()))
    elif found.sha256 != digest or found.roi_name != roi_name:
        found.document, found.roi_name = document, roi_name
        found.sha256, found.updated_at = digest, utcnow()


def _clip_row(session: Session, clip: ClipInput, known: dict[str, Clip]) -> Clip:
    """The clips row of ``clip.path`` (the newest one for that path), created or updated."""
    row = known.get(clip.path) or session.scalars(
        select(Clip).where(Clip.path == clip.path).order_by(Clip.id.desc())).first()
    if row is None:
        row = Clip(path=clip.path, created_at=utcnow(), sha256=clip.sha256)
        session.add(row)
    row.sha256, row.header = clip.sha256, clip.header
    row.size_bytes, row.mtime_ns = clip.size_bytes, clip.mtime_ns
    known[clip.path] = row
    session.flush()
    return row


def _put_clips(session: Session, lesion: Lesion, clips: Sequence[ClipInput], roi_name: str | None,
               known: dict[str, Clip]) -> None:
    """Make the lesion's examination exactly ``clips`` (positions 0 …), each with its ROI set."""
    rows = [_clip_row(session, clip, known) for clip in clips]
    existing = {item.position: item for item in lesion.exam_clips}
    for position, (clip, row) in enumerate(zip(clips, rows, strict=True)):
        item = existing.get(position)
        if item is None:
            lesion.exam_clips.append(LesionClip(position=position, clip_id=row.id, offset_s=clip.offset_s))
        else:
            item.clip_id, item.offset_s = row.id, clip.offset_s
        _put_rois(session, lesion, clip.rois, roi_name, position)
    for item in [i for i in lesion.exam_clips if i.position >= len(clips)]:
        lesion.exam_clips.remove(item)
    for roi in [r for r in lesion.roi_sets if r.position >= len(clips)]:
        lesion.roi_sets.remove(roi)
    lesion.clip_id = rows[0].id


def _current_clips(lesion: Lesion) -> list[ClipInput]:
    rois = {r.position: r.document for r in lesion.roi_sets}
    return [ClipInput(item.clip.path, item.clip.sha256, rois.get(item.position, {}), item.clip.size_bytes,
                      item.clip.mtime_ns, item.clip.header, item.offset_s) for item in lesion.exam_clips]


def add_lesion_clip(store: Store, lesion_id: int, clip: ClipInput, *, roi_name: str | None = None
                    ) -> dict[str, Any]:
    """Add a clip (a late-phase sweep, say) to a lesion's examination, after its other clips; returns the
    lesion (as :func:`get_lesion`).  ``clip.rois`` is the ROI set drawn on it (may list no ROI yet)."""
    with store.transaction() as session:
        lesion = _by_id(session, Lesion, lesion_id)
        if lesion is None:
            raise StoreError(f"no lesion with id {lesion_id}")
        current = _current_clips(lesion)
        if any(Path(c.path) == Path(clip.path) for c in current):
            raise ConflictError("this clip is part of the lesion's examination already")
        name = roi_name if roi_name is not None else (lesion.roi_set.roi_name if lesion.roi_set else None)
        _put_clips(session, lesion, [*current, clip], name, {})
        session.flush()
    return get_lesion(store, lesion_id)


def remove_lesion_clip(store: Store, lesion_id: int, position: int) -> dict[str, Any]:
    """Take the clip at ``position`` (≥ 1: the first clip is the lesion's own) out of the lesion's examination,
    with the ROI set drawn on it; later clips move up one place.  The clip's file and row stay (other lesions
    may use them).  Returns the lesion (as :func:`get_lesion`)."""
    with store.transaction() as session:
        lesion = _by_id(session, Lesion, lesion_id)
        if lesion is None:
            raise StoreError(f"no lesion with id {lesion_id}")
        current = _current_clips(lesion)
        if not 1 <= position < len(current):
            raise StoreError(f"no clip at position {position} of lesion {lesion_id} to remove (its further clips "
                             f"are at 1 … {len(current) - 1}; the first one stays)")
        name = lesion.roi_set.roi_name if lesion.roi_set else None
        _put_clips(session, lesion, [c for k, c in enumerate(current) if k != position], name, {})
        session.flush()
    return get_lesion(store, lesion_id)


def import_lesions(store: Store, rows: Sequence[LesionInput], *, study: str = DEFAULT_STUDY,
                   reads: Sequence[ReadInput] = ()) -> dict[str, int]:
    """Insert or update lesions (and reader reads) in one transaction: all rows are stored or none.

    Returns
    -------
    dict with ``study_id``, ``patients`` (new), ``lesions_new``, ``lesions_updated``, ``reads``.
    """
    counts = {"patients": 0, "lesions_new": 0, "lesions_updated": 0, "reads": 0}
    with store.transaction() as session:
        found = _resolve_study(session, study, create=True)
        patients = {p.pseudonym: p for p in session.scalars(select(Patient).where(Patient.study_id == found.id))}
        known: dict[str, Clip] = {}
        for row in rows:
            patient = patients.get(row.patient)
            if patient is None:
                patient = Patient(study_id=found.id, pseudonym=row.patient)
                session.add(patient)
                session.flush()
                patients[row.patient] = patient
                counts["patients"] += 1
            lesion = session.scalars(select(Lesion).where(Lesion.patient_id == patient.id,
                                                          Lesion.label == row.lesion)).first()
            if lesion is None:
                lesion = Lesion(patient_id=patient.id, label=row.lesion)
                session.add(lesion)
                counts["lesions_new"] += 1
            else:
                counts["lesions_updated"] += 1
            lesion.primary_site, lesion.ki67_percent = row.primary_site, row.ki67_percent
            lesion.who_grade, lesion.who_grade_source = row.who_grade, row.who_grade_source
            lesion.size_mm, lesion.injection_time_s = row.size_mm, row.injection_time_s
            lesion.dynamic_range_db, lesion.extra = row.dynamic_range_db, row.extra
            session.flush()
            _put_clips(session, lesion, row.clips, row.roi_name, known)
        session.flush()
        counts["reads"] = _put_reads(session, found, reads)
        counts["study_id"] = found.id
    return counts


def _put_reads(session: Session, study: Study, reads: Sequence[ReadInput]) -> int:
    if not reads:
        return 0
    index = {(p.pseudonym, lesion.label): lesion for lesion, p in _study_lesions(session, study)}
    for read in reads:
        lesion = index.get((read.patient, read.lesion))
        if lesion is None:
            raise StoreError(f"reader read for unknown lesion {read.lesion!r} of patient {read.patient!r}; "
                             "import the manifest first")
        record = session.scalars(select(ReaderRead).where(ReaderRead.lesion_id == lesion.id,
                                                          ReaderRead.reader == read.reader)).first()
        if record is None:
            record = ReaderRead(lesion_id=lesion.id, reader=read.reader, created_at=utcnow())
            session.add(record)
        record.arterial, record.washout, record.late = read.arterial, read.washout, read.late
    return len(reads)


def record_reads(store: Store, reads: Sequence[ReadInput], *, study: int | str | None = None) -> int:
    """Insert or replace reader reads in one transaction; returns how many were stored."""
    with store.transaction() as session:
        return _put_reads(session, _resolve_study(session, study), reads)


def _manifest_washout(washout: str | None, timing: str | None) -> str | None:
    """A blinded read's wash-out in the manifest's words: early / late, yes (timing not given) or none."""
    if washout is None:
        return None
    if washout == "no":
        return "none"
    return timing if timing in ("early", "late") else "yes"


def reader_reads(store: Store, study: int | str | None = None) -> list[dict[str, Any]]:
    """Every reader read of a study: ``lesion_id``, ``reader``, ``arterial``, ``washout``, ``late``,
    ``onset_s`` (s after injection, None when not read) and ``source`` ("manifest" or "session").

    Reads imported from a manifest come first; a reader's blinded read of the same lesion (reading
    sessions, under their user name) replaces it, and of several blinded reads the newest counts.
    """
    with store.transaction() as session:
        found = _resolve_study(session, study)
        rows = session.scalars(select(ReaderRead).join(Lesion).join(Patient)
                               .where(Patient.study_id == found.id).order_by(ReaderRead.id)).all()
        merged: dict[tuple[int, str], dict[str, Any]] = {}
        for r in rows:
            merged[(r.lesion_id, r.reader)] = {"lesion_id": r.lesion_id, "reader": r.reader, "arterial": r.arterial,
                                               "washout": r.washout, "late": r.late, "onset_s": None,
                                               "source": "manifest"}
        blinded = session.execute(
            select(ReadingRead, ReadingItem.lesion_id, User.username)
            .join(ReadingItem, ReadingRead.item_id == ReadingItem.id).join(User, ReadingRead.user_id == User.id)
            .join(Lesion, ReadingItem.lesion_id == Lesion.id).join(Patient, Lesion.patient_id == Patient.id)
            .where(Patient.study_id == found.id).order_by(ReadingRead.created_at, ReadingRead.id)).all()
        for read, lesion_id, username in blinded:
            merged[(lesion_id, username)] = {"lesion_id": lesion_id, "reader": username, "arterial": read.arterial,
                                             "washout": _manifest_washout(read.washout, read.washout_timing),
                                             "late": read.late, "onset_s": read.onset_s, "source": "session"}
        return list(merged.values())


def record_analysis(store: Store, lesion_id: int, *, status: str, document: dict[str, Any] | None,
                    error: str | None, software_version: str, parameters: dict[str, Any],
                    parameter_hash: str, input_hash: str, started_at: datetime | None = None,
                    finished_at: datetime | None = None) -> int:
    """Append one analysis result (``status`` "ok" or "failed") of a lesion; returns its id."""
    if status not in ("ok", "failed"):
        raise ValueError(f"status must be 'ok' or 'failed', got {status!r}")
    with store.transaction() as session:
        if _by_id(session, Lesion, lesion_id) is None:
            raise StoreError(f"no lesion with id {lesion_id}")
        record = AnalysisRecord(lesion_id=lesion_id, status=status, document=document, error=error,
                                software_version=software_version, parameters=parameters,
                                parameter_hash=parameter_hash, input_hash=input_hash, started_at=started_at,
                                finished_at=finished_at or utcnow())
        session.add(record)
        session.flush()
        return record.id


def get_analysis(store: Store, analysis_id: int) -> dict[str, Any]:
    """One analysis record with its full ``document`` (analysis.json)."""
    with store.transaction() as session:
        result = _analysis_dict(_by_id(session, AnalysisRecord, analysis_id))
        if result is None:
            raise StoreError(f"no analysis with id {analysis_id}")
        return result


def latest_analysis(store: Store, lesion_id: int) -> dict[str, Any] | None:
    """The newest analysis of a lesion, or None."""
    with store.transaction() as session:
        return _analysis_dict(_latest(session, [lesion_id]).get(lesion_id))


def work_items(store: Store, study: int | str | None = None) -> list[dict[str, Any]]:
    """Every lesion of a study with what its analysis needs and its newest analysis's hash and status.

    Each item: the lesion dict plus ``clip`` (the first clip, with ``mtime_ns``), ``rois`` (its document),
    ``clips`` (every clip of the examination in manifest order: ``id``, ``path``, ``sha256``, ``size_bytes``,
    ``mtime_ns``, ``header``, ``position``, ``offset_s``, ``rois``, ``rois_sha256``), ``latest_input_hash``
    and ``latest_status`` (None when never analysed).
    """
    with store.transaction() as session:
        found = _resolve_study(session, study)
        pairs = _study_lesions(session, found)
        latest = _latest(session, [lesion.id for lesion, _ in pairs])
        items = []
        for lesion, patient in pairs:
            item = _lesion_dict(lesion, patient)
            clip = _clip_dict(lesion.clip)
            if clip is not None and lesion.clip is not None:
                clip["mtime_ns"] = lesion.clip.mtime_ns
            item["clip"] = clip
            item["rois"] = None if lesion.roi_set is None else lesion.roi_set.document
            item["clips"] = _exam_clips(lesion)
            record = latest.get(lesion.id)
            item["latest_input_hash"] = None if record is None else record.input_hash
            item["latest_status"] = None if record is None else record.status
            items.append(item)
        return items


def cohort_records(store: Store, study: int | str | None = None) -> list[dict[str, Any]]:
    """Every lesion of a study with its newest analysis (full document) under ``analysis``."""
    with store.transaction() as session:
        found = _resolve_study(session, study)
        pairs = _study_lesions(session, found)
        latest = _latest(session, [lesion.id for lesion, _ in pairs])
        out = []
        for lesion, patient in pairs:
            item = _lesion_dict(lesion, patient)
            item["clip_sha256"] = None if lesion.clip is None else lesion.clip.sha256
            item["analysis"] = _analysis_dict(latest.get(lesion.id))
            out.append(item)
        return out
