"""Helpers the store's modules share.

Finding rows (a study by id or name, a row by id, a study's lesions, the newest analyses) and turning them
into the plain dicts the API returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ceuskit.errors import StoreError
from ceuskit.store.schema import AnalysisRecord, Clip, Lesion, LesionClip, Patient, Study, utcnow

DEFAULT_STUDY = "default"  # the study a manifest goes into when none is named

_MAX_ID = 2**63 - 1  # database integer keys are 64-bit signed


def iso(value: datetime | None) -> str | None:
    """``value`` in ISO 8601, or None."""
    return None if value is None else value.isoformat()


def by_id(session: Session, model: type[Any], key: int) -> Any:
    """Return the row of ``model`` with primary key ``key``, or None.

    None also for ids no database column can hold.
    """
    return session.get(model, key) if 0 <= key <= _MAX_ID else None


def resolve_study(session: Session, study: int | str | None, *, create: bool = False) -> Study:
    """Return the study with id ``study`` (int) or name ``study`` (str), or the only/default one (None).

    Raises
    ------
    StoreError
        No such study (and not ``create``), or several studies and none named.
    """
    if isinstance(study, int):
        found: Study | None = by_id(session, Study, study)
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
    named = session.scalars(select(Study).where(Study.name == study)).first()
    if named is None:
        if not create:
            raise StoreError(f"no study {study!r} in the database; import a manifest first "
                             "(`ceuskit study import MANIFEST.csv`)")
        named = Study(name=study, created_at=utcnow())
        session.add(named)
        session.flush()
    return named


def clip_dict(clip: Clip | None) -> dict[str, Any] | None:
    """Return a clips row as the API returns it (None for None)."""
    if clip is None:
        return None
    return {"id": clip.id, "path": clip.path, "sha256": clip.sha256, "size_bytes": clip.size_bytes,
            "header": clip.header, "created_at": iso(clip.created_at)}


def analysis_dict(record: AnalysisRecord | None, *, document: bool = True) -> dict[str, Any] | None:
    """Return an analyses row as the API returns it, with its ``document`` unless told not (None for None)."""
    if record is None:
        return None
    out = {"id": record.id, "lesion_id": record.lesion_id, "status": record.status, "error": record.error,
           "software_version": record.software_version, "parameters": record.parameters,
           "parameter_hash": record.parameter_hash, "input_hash": record.input_hash,
           "started_at": iso(record.started_at), "finished_at": iso(record.finished_at)}
    if document:
        out["document"] = record.document
    return out


def lesion_dict(lesion: Lesion, patient: Patient) -> dict[str, Any]:
    """Return a lesion with its patient, clinical facts, first clip id, clip count, ROI set name and hash."""
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


def exam_clips(lesion: Lesion) -> list[dict[str, Any]]:
    """Return the lesion's clips in manifest order.

    Each clip as :func:`clip_dict`, with its ``position``, ``offset_s`` (explicit start or None), ``mtime_ns``,
    ``rois`` (the ROI document drawn on it, None before any) and ``rois_sha256``.
    """
    rois = {r.position: r for r in lesion.roi_sets}
    entries = [(item.position, item.clip, item.offset_s) for item in lesion.exam_clips]
    if not entries and lesion.clip is not None:  # a lesion stored without its clip list (never by this package)
        entries = [(0, lesion.clip, None)]
    out = []
    for position, clip, offset in entries:
        entry = clip_dict(clip) or {}
        roi = rois.get(position)
        entry.update(position=position, offset_s=offset, mtime_ns=clip.mtime_ns,
                     rois=None if roi is None else roi.document, rois_sha256=None if roi is None else roi.sha256)
        out.append(entry)
    return out


def latest(session: Session, lesion_ids: Sequence[int]) -> dict[int, AnalysisRecord]:
    """Return the newest analysis of each of the lesions (those analysed), by lesion id."""
    if not lesion_ids:
        return {}
    newest = (select(AnalysisRecord.lesion_id, func.max(AnalysisRecord.id).label("id"))
              .where(AnalysisRecord.lesion_id.in_(lesion_ids)).group_by(AnalysisRecord.lesion_id).subquery())
    rows = session.scalars(select(AnalysisRecord).join(newest, AnalysisRecord.id == newest.c.id)).all()
    return {r.lesion_id: r for r in rows}


def study_lesions(session: Session, study: Study) -> list[tuple[Lesion, Patient]]:
    """Every lesion of ``study`` with its patient, by pseudonym and label, clips and ROI sets loaded."""
    rows = session.execute(
        select(Lesion, Patient).join(Patient, Lesion.patient_id == Patient.id)
        .where(Patient.study_id == study.id).order_by(Patient.pseudonym, Lesion.label, Lesion.id)
        .options(selectinload(Lesion.roi_sets), selectinload(Lesion.clip),
                 selectinload(Lesion.exam_clips).selectinload(LesionClip.clip))).all()
    return [(lesion, patient) for lesion, patient in rows]


def lesions_with_latest(session: Session, study: Study
                        ) -> tuple[list[tuple[Lesion, Patient]], dict[int, AnalysisRecord]]:
    """Return a study's (lesion, patient) pairs (:func:`study_lesions`) and each lesion's newest analysis by id."""
    pairs = study_lesions(session, study)
    return pairs, latest(session, [lesion.id for lesion, _ in pairs])


def lesion_with_examination(lesion: Lesion, patient: Patient) -> dict[str, Any]:
    """Return :func:`lesion_dict` with the lesion's first clip, ROI document and examination.

    The keys added are ``clip`` (:func:`clip_dict`), ``rois`` and ``clips`` (:func:`exam_clips`).
    """
    out = lesion_dict(lesion, patient)
    out["clip"] = clip_dict(lesion.clip)
    out["rois"] = None if lesion.roi_set is None else lesion.roi_set.document
    out["clips"] = exam_clips(lesion)
    return out
