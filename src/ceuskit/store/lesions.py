"""A study's lesions and their examinations.

Storing them (:func:`import_lesions`), one lesion with its clips, a clip, a lesion's ROI sets, and adding or
taking out a clip of its examination.

A lesion's examination is its clips in order (``lesion_clips`` rows, positions 0, 1, …; position 0 the
continuous loop), each with the ROI set drawn on it (``roi_sets`` at the same position).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ceuskit.errors import ConflictError, StoreError
from ceuskit.store._rows import (
    DEFAULT_STUDY,
    analysis_dict,
    by_id,
    clip_dict,
    latest,
    lesion_dict,
    lesion_with_examination,
    resolve_study,
)
from ceuskit.store.database import Store
from ceuskit.store.inputs import ClipInput, Imported, LesionInput, ReadInput, canonical_sha256
from ceuskit.store.reads import put_reads
from ceuskit.store.schema import Clip, Lesion, LesionClip, Patient, RoiSetRecord, utcnow

__all__ = ["add_lesion_clip", "get_clip", "get_lesion", "import_lesions", "lesion_id_of", "remove_lesion_clip",
           "set_lesion_rois", "update_clip_file"]


def _lesion(session: Session, lesion_id: int) -> Lesion:
    found: Lesion | None = by_id(session, Lesion, lesion_id)
    if found is None:
        raise StoreError(f"no lesion with id {lesion_id}")
    return found


def _clip(session: Session, clip_id: int) -> Clip:
    found: Clip | None = by_id(session, Clip, clip_id)
    if found is None:
        raise StoreError(f"no clip with id {clip_id}")
    return found


def get_lesion(store: Store, lesion_id: int) -> dict[str, Any]:
    """One lesion with its examination and its newest analysis.

    Parameters
    ----------
    store : Store
        The database.
    lesion_id : int
        The lesion's database id.

    Returns
    -------
    dict
        The lesion (patient, clinical facts, ``roi_name``, ``rois_sha256``, ``n_clips`` …) with its first clip
        (``clip``) and ROI document (``rois``), every clip of its examination (``clips``, see
        :func:`~ceuskit.store.analyses.work_items`) and its newest analysis (``analysis``, with its document, or None).

    Raises
    ------
    StoreError
        No such lesion.
    """
    with store.transaction() as session:
        lesion = _lesion(session, lesion_id)
        out = lesion_with_examination(lesion, lesion.patient)
        out["analysis"] = analysis_dict(latest(session, [lesion.id]).get(lesion.id))
        return out


def lesion_id_of(store: Store, patient: str, lesion: str, *, study: int | str | None = None) -> int | None:
    """Return the id of a patient's lesion of a study, or None when the patient has no lesion of that label.

    Parameters
    ----------
    store : Store
        The database.
    patient, lesion : str
        The patient's pseudonym and the lesion's label.
    study : int, str or None
        A study id or name (None: the only or the default study).

    Returns
    -------
    int or None
        The lesion's database id.

    Raises
    ------
    StoreError
        No such study.
    """
    with store.transaction() as session:
        found = resolve_study(session, study)
        return session.scalar(select(Lesion.id).join(Patient, Lesion.patient_id == Patient.id).where(
            Patient.study_id == found.id, Patient.pseudonym == patient, Lesion.label == lesion))


def get_clip(store: Store, clip_id: int) -> dict[str, Any]:
    """One clip: ``id``, ``path``, ``sha256``, ``size_bytes``, ``header`` summary, ``created_at``.

    Parameters
    ----------
    store : Store
        The database.
    clip_id : int
        The clip's database id.

    Returns
    -------
    dict
        The clip.

    Raises
    ------
    StoreError
        No such clip.
    """
    with store.transaction() as session:
        result = clip_dict(_clip(session, clip_id))
        assert result is not None
        return result


def update_clip_file(store: Store, clip_id: int, *, sha256: str, size_bytes: int | None,
                     mtime_ns: int | None) -> None:
    """Record a clip file's current hash, size and modification time.

    Parameters
    ----------
    store : Store
        The database.
    clip_id : int
        The clip's database id.
    sha256 : str
        The file's content hash now.
    size_bytes, mtime_ns : int or None
        Its size and modification time now (None for a folder).

    Raises
    ------
    StoreError
        No such clip.
    """
    with store.transaction() as session:
        clip = _clip(session, clip_id)
        clip.sha256, clip.size_bytes, clip.mtime_ns = sha256, size_bytes, mtime_ns


def set_lesion_rois(store: Store, lesion_id: int, document: dict[str, Any], *,
                    roi_name: str | None = None, position: int = 0) -> dict[str, Any]:
    """Replace the ROI document drawn on one clip of a lesion; the next run re-analyses the lesion.

    Parameters
    ----------
    store : Store
        The database.
    lesion_id : int
        The lesion's database id.
    document : dict
        DESIGN's ROI JSON.
    roi_name : str or None
        The lesion ROI to read.
    position : int
        The clip's position in the examination (0: the first).

    Returns
    -------
    dict
        The lesion (without clips or analysis).

    Raises
    ------
    StoreError
        No such lesion, or no clip at ``position``.
    """
    with store.transaction() as session:
        lesion = _lesion(session, lesion_id)
        if position != 0 and position not in {item.position for item in lesion.exam_clips}:
            raise StoreError(f"no clip at position {position} of lesion {lesion_id} "
                             f"(it has {len(lesion.exam_clips)})")
        _put_rois(session, lesion, document, roi_name, position)
        session.flush()
        return lesion_dict(lesion, lesion.patient)


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
    """Return the clips row of ``clip.path`` (the newest one for that path), created or updated."""
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
    """Add a clip (a late-phase sweep, say) to a lesion's examination, after its other clips.

    Parameters
    ----------
    store : Store
        The database.
    lesion_id : int
        The lesion's database id.
    clip : ClipInput
        The clip, with the ROI set drawn on it (may list no ROI yet).
    roi_name : str or None
        The lesion ROI to read (None: the lesion's as before).

    Returns
    -------
    dict
        The lesion, as :func:`get_lesion`.

    Raises
    ------
    StoreError
        No such lesion.
    ConflictError
        The clip is part of the examination already.
    """
    with store.transaction() as session:
        lesion = _lesion(session, lesion_id)
        current = _current_clips(lesion)
        if any(Path(c.path) == Path(clip.path) for c in current):
            raise ConflictError("this clip is part of the lesion's examination already")
        name = roi_name if roi_name is not None else (lesion.roi_set.roi_name if lesion.roi_set else None)
        _put_clips(session, lesion, [*current, clip], name, {})
        session.flush()
    return get_lesion(store, lesion_id)


def remove_lesion_clip(store: Store, lesion_id: int, position: int) -> dict[str, Any]:
    """Take a further clip and the ROI set drawn on it out of a lesion's examination.

    Later clips move up one place.  The clip's file and row stay (other lesions may use them).

    Parameters
    ----------
    store : Store
        The database.
    lesion_id : int
        The lesion's database id.
    position : int
        The clip's position, ≥ 1 (the first clip is the lesion's own).

    Returns
    -------
    dict
        The lesion, as :func:`get_lesion`.

    Raises
    ------
    StoreError
        No such lesion, or no further clip at ``position``.
    """
    with store.transaction() as session:
        lesion = _lesion(session, lesion_id)
        current = _current_clips(lesion)
        if not 1 <= position < len(current):
            raise StoreError(f"no clip at position {position} of lesion {lesion_id} to remove (its further clips "
                             f"are at 1 … {len(current) - 1}; the first one stays)")
        name = lesion.roi_set.roi_name if lesion.roi_set else None
        _put_clips(session, lesion, [c for k, c in enumerate(current) if k != position], name, {})
        session.flush()
    return get_lesion(store, lesion_id)


def import_lesions(store: Store, rows: Sequence[LesionInput], *, study: int | str = DEFAULT_STUDY,
                   reads: Sequence[ReadInput] = ()) -> Imported:
    """Insert or update lesions (and reader reads) in one transaction: all rows are stored or none.

    A row whose patient already has a lesion of that label updates it (clinical facts, clips, ROI sets).

    Parameters
    ----------
    store : Store
        The database.
    rows : sequence of LesionInput
        The lesions with their examinations.
    study : int or str
        The study's id, or its name (a study of a new name is made).
    reads : sequence of ReadInput
        Reader reads of those (or earlier) lesions.

    Returns
    -------
    Imported
        ``study_id``, ``lesion_ids`` (each row's lesion, in order), and the counts ``patients`` (new),
        ``lesions_new``, ``lesions_updated``, ``reads``.

    Raises
    ------
    StoreError
        No study of that id, or a read of a lesion the study does not hold (then nothing is stored).
    """
    counts = {"patients": 0, "lesions_new": 0, "lesions_updated": 0}
    ids: list[int] = []
    with store.transaction() as session:
        found = resolve_study(session, study, create=True)
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
            ids.append(lesion.id)
        session.flush()
        n_reads = put_reads(session, found, reads)
        return Imported(patients=counts["patients"], lesions_new=counts["lesions_new"],
                        lesions_updated=counts["lesions_updated"], reads=n_reads, study_id=found.id, lesion_ids=ids)
