"""Blinded reading sessions: a study's lesions read by each reader in their own random order.

An administrator opens a session for some readers; each reader asks for their next item, reads it and
submits labels once (a read is final: a second one is a :class:`~ceuskit.errors.ConflictError`); only an
administrator can reopen an item, and that is audited with the read it removed.  Reads go into the study's
agreement statistics under the reader's user name.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ceuskit.errors import AccountError, ConflictError, ForbiddenError, StoreError
from ceuskit.store._rows import by_id, resolve_study, study_lesions
from ceuskit.store.audit import add_event
from ceuskit.store.database import Store
from ceuskit.store.schema import (
    Lesion,
    Patient,
    ReadingAssignment,
    ReadingItem,
    ReadingRead,
    ReadingSession,
    User,
    as_utc,
    utcnow,
)

__all__ = [
    "ENHANCEMENT_LABELS",
    "WASHOUT_LABELS",
    "WASHOUT_TIMINGS",
    "ReadLabels",
    "close_reading_session",
    "get_reading_session",
    "list_reading_sessions",
    "next_item",
    "open_reading_session",
    "reader_clip_ids",
    "record_read",
    "reopen_item",
]

ENHANCEMENT_LABELS = ("hyper", "iso", "hypo")
WASHOUT_LABELS = ("yes", "no")
WASHOUT_TIMINGS = ("early", "late", "none")
MAX_ONSET_S = 3600.0


@dataclass(frozen=True)
class ReadLabels:
    """One reader's labels of one lesion.

    ``arterial`` and ``late`` hyper / iso / hypo, ``washout`` yes / no, ``washout_timing`` early / late / none
    (None: not given), ``onset_s`` = when contrast arrives, in s after injection (None: not visible).
    """

    arterial: str
    washout: str
    late: str
    washout_timing: str | None = None
    onset_s: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("arterial", ENHANCEMENT_LABELS), ("late", ENHANCEMENT_LABELS),
                              ("washout", WASHOUT_LABELS)):
            if getattr(self, name) not in allowed:
                raise StoreError(f"{name} {getattr(self, name)!r} must be one of {', '.join(allowed)}")
        if self.washout_timing is not None and self.washout_timing not in WASHOUT_TIMINGS:
            raise StoreError(f"washout_timing {self.washout_timing!r} must be one of {', '.join(WASHOUT_TIMINGS)}")
        if self.washout_timing is not None and (self.washout == "no") != (self.washout_timing == "none"):
            raise StoreError("washout_timing must be 'none' exactly when washout is 'no' (or left out)")
        if self.onset_s is not None and not (math.isfinite(self.onset_s) and -MAX_ONSET_S <= self.onset_s
                                             <= MAX_ONSET_S):
            raise StoreError(f"onset_s must be a number of seconds within ±{MAX_ONSET_S:g}, or null")


def _session_or_error(session: Session, session_id: int) -> ReadingSession:
    found: ReadingSession | None = by_id(session, ReadingSession, session_id)
    if found is None:
        raise StoreError(f"no reading session with id {session_id}")
    return found


def open_reading_session(store: Store, study_id: int, name: str, readers: Sequence[str], *, actor: str,
                         lesion_ids: Sequence[int] | None = None) -> dict[str, Any]:
    """Open a reading session of a study's lesions (all with a clip, or ``lesion_ids``) for ``readers``.

    Every reader gets their own random order (the operating system's random source).  Readers must be
    active users with the reader role (an administrator sees every result, so cannot read blinded).
    """
    names = [r.strip().lower() for r in readers]
    if not names:
        raise AccountError("a reading session needs at least one reader")
    if len(set(names)) != len(names):
        raise AccountError("a reader is listed twice")
    with store.transaction() as session:
        study = resolve_study(session, study_id)
        if session.scalars(select(ReadingSession.id).where(ReadingSession.study_id == study.id,
                                                           ReadingSession.name == name)).first() is not None:
            raise ConflictError(f"the study has a reading session named {name!r} already; choose another name")
        users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
        for reader in names:
            user = users.get(reader)
            if user is None:
                raise AccountError(f"no user {reader!r}; add readers with `ceuskit user add NAME --role reader`")
            if user.role != "reader" or user.disabled:
                raise AccountError(f"user {reader!r} is {'disabled' if user.disabled else 'an ' + user.role}: "
                                   "only active readers read blinded")
        lesions = [lesion for lesion, _ in study_lesions(session, study) if lesion.clip_id is not None]
        if lesion_ids is not None:
            wanted = set(lesion_ids)
            unknown = wanted - {lesion.id for lesion in lesions}
            if unknown:
                raise StoreError(f"lesion(s) {sorted(unknown)} are not lesions with a clip in this study")
            lesions = [lesion for lesion in lesions if lesion.id in wanted]
        if not lesions:
            raise StoreError("the study has no lesion with a clip to read")
        record = ReadingSession(study_id=study.id, name=name, status="open", created_by=actor, created_at=utcnow())
        session.add(record)
        session.flush()
        items = [ReadingItem(session_id=record.id, lesion_id=lesion.id) for lesion in lesions]
        session.add_all(items)
        session.flush()
        shuffle = secrets.SystemRandom().shuffle
        for reader in names:
            order = list(items)
            shuffle(order)
            session.add_all(ReadingAssignment(session_id=record.id, user_id=users[reader].id, item_id=item.id,
                                              position=position) for position, item in enumerate(order))
        add_event(session, actor, "reading_session_open", target=f"reading_session:{record.id}",
                  detail={"study": study.id, "readers": names, "n_items": len(items)})
        return {"id": record.id, "name": name, "study_id": study.id, "readers": names, "n_items": len(items)}


def _progress(session: Session, session_id: int, user_id: int | None = None) -> list[dict[str, Any]]:
    query = (select(User.username, func.count(ReadingAssignment.id), func.count(ReadingRead.id))
             .join(User, ReadingAssignment.user_id == User.id)
             .outerjoin(ReadingRead, (ReadingRead.item_id == ReadingAssignment.item_id)
                        & (ReadingRead.user_id == ReadingAssignment.user_id))
             .where(ReadingAssignment.session_id == session_id).group_by(User.username).order_by(User.username))
    if user_id is not None:
        query = query.where(ReadingAssignment.user_id == user_id)
    return [{"reader": name, "total": int(total), "done": int(done)} for name, total, done in session.execute(query)]


def _session_dict(session: Session, record: ReadingSession, user_id: int | None = None) -> dict[str, Any]:
    return {"id": record.id, "study_id": record.study_id, "name": record.name, "status": record.status,
            "created_at": as_utc(record.created_at).isoformat(),
            "closed_at": None if record.closed_at is None else as_utc(record.closed_at).isoformat(),
            "progress": _progress(session, record.id, user_id)}


def list_reading_sessions(store: Store, *, study_id: int | None = None, user_id: int | None = None,
                          open_only: bool = False) -> list[dict[str, Any]]:
    """Return reading sessions (of a study, or those ``user_id`` reads, with only that reader's progress)."""
    query = select(ReadingSession).order_by(ReadingSession.id)
    if study_id is not None:
        query = query.where(ReadingSession.study_id == study_id)
    if user_id is not None:
        query = query.where(ReadingSession.id.in_(select(ReadingAssignment.session_id)
                                                  .where(ReadingAssignment.user_id == user_id)))
    if open_only:
        query = query.where(ReadingSession.status == "open")
    with store.transaction() as session:
        return [_session_dict(session, record, user_id) for record in session.scalars(query)]


def get_reading_session(store: Store, session_id: int) -> dict[str, Any]:
    """Return a session with its items (lesion, patient) and, per item, which readers have read it.

    For administrators.
    """
    with store.transaction() as session:
        record = _session_or_error(session, session_id)
        out = _session_dict(session, record)
        rows = session.execute(select(ReadingItem, Lesion, Patient).join(Lesion, ReadingItem.lesion_id == Lesion.id)
                               .join(Patient, Lesion.patient_id == Patient.id)
                               .where(ReadingItem.session_id == session_id)
                               .order_by(Patient.pseudonym, Lesion.label)).all()
        reads = session.execute(select(ReadingRead.item_id, User.username).join(User, ReadingRead.user_id == User.id)
                                .join(ReadingItem, ReadingRead.item_id == ReadingItem.id)
                                .where(ReadingItem.session_id == session_id)).all()
        done: dict[int, list[str]] = {}
        for item_id, username in reads:
            done.setdefault(item_id, []).append(username)
        out["items"] = [{"item": item.id, "lesion_id": lesion.id, "patient": patient.pseudonym, "lesion": lesion.label,
                         "read_by": sorted(done.get(item.id, []))} for item, lesion, patient in rows]
        return out


def _assigned(session: Session, record: ReadingSession, user_id: int) -> None:
    if session.scalars(select(ReadingAssignment.id).where(ReadingAssignment.session_id == record.id,
                                                          ReadingAssignment.user_id == user_id)).first() is None:
        raise ForbiddenError("this reading session is not yours")


def next_item(store: Store, session_id: int, user_id: int) -> dict[str, Any] | None:
    """Return the reader's next unread item in their order, or None when every item is read.

    Returns ``item`` (id), ``lesion_id`` and ``clip_id`` (for the caller to build the blinded view — never to
    be shown), ``position`` (1-based), ``total`` and ``done``.
    """
    with store.transaction() as session:
        record = _session_or_error(session, session_id)
        _assigned(session, record, user_id)
        if record.status != "open":
            raise StoreError("this reading session is closed")
        read_items = select(ReadingRead.item_id).where(ReadingRead.user_id == user_id)
        assignments = session.scalars(select(ReadingAssignment).where(
            ReadingAssignment.session_id == session_id, ReadingAssignment.user_id == user_id)
            .order_by(ReadingAssignment.position)).all()
        done = int(session.scalar(select(func.count(ReadingRead.id)).join(ReadingItem)
                                  .where(ReadingItem.session_id == session_id, ReadingRead.user_id == user_id)) or 0)
        pending = session.scalars(select(ReadingAssignment).where(
            ReadingAssignment.session_id == session_id, ReadingAssignment.user_id == user_id,
            ReadingAssignment.item_id.not_in(read_items)).order_by(ReadingAssignment.position)).first()
        if pending is None:
            return None
        if pending.shown_at is None:
            pending.shown_at = utcnow()
        item = session.get(ReadingItem, pending.item_id)
        lesion = session.get(Lesion, item.lesion_id) if item is not None else None
        if item is None or lesion is None:
            raise StoreError("the lesion of this item was deleted")
        return {"item": item.id, "lesion_id": lesion.id, "clip_id": lesion.clip_id, "position": done + 1,
                "total": len(assignments), "done": done}


def record_read(store: Store, session_id: int, user_id: int, item_id: int, labels: ReadLabels, *, actor: str,
                address: str | None = None) -> dict[str, Any]:
    """Store a reader's final read of an item they were shown (:func:`next_item`) and have not read.

    A read of an item not shown yet, or a second read, is a ConflictError.
    """
    with store.transaction() as session:
        record = _session_or_error(session, session_id)
        _assigned(session, record, user_id)
        if record.status != "open":
            raise StoreError("this reading session is closed")
        assignment = session.scalars(select(ReadingAssignment).where(
            ReadingAssignment.session_id == session_id, ReadingAssignment.user_id == user_id,
            ReadingAssignment.item_id == item_id)).first()
        if assignment is None:
            raise StoreError(f"no item {item_id} in your reading session")
        if assignment.shown_at is None:
            raise ConflictError(f"item {item_id} has not been shown to you yet: read the items in the order "
                                "GET …/next gives them")
        if session.scalars(select(ReadingRead.id).where(ReadingRead.item_id == item_id,
                                                        ReadingRead.user_id == user_id)).first() is not None:
            raise ConflictError("you have read this item already; a read is final (an administrator can reopen it)")
        now = utcnow()
        seconds = None if assignment.shown_at is None else (now - as_utc(assignment.shown_at)).total_seconds()
        read = ReadingRead(item_id=item_id, user_id=user_id, created_at=now, reading_time_s=seconds, **asdict(labels))
        session.add(read)
        session.flush()
        add_event(session, actor, "read", target=f"reading_item:{item_id}", address=address,
                  detail={"session": session_id, **asdict(labels)})
        return {"id": read.id, "item": item_id, "reading_time_s": seconds}


def reopen_item(store: Store, session_id: int, item_id: int, reader: str, *, actor: str,
                address: str | None = None) -> dict[str, Any]:
    """Remove a reader's read of an item so they read it again; the audit entry keeps the removed read."""
    with store.transaction() as session:
        record = _session_or_error(session, session_id)
        user = session.scalars(select(User).where(User.username == reader.strip().lower())).first()
        if user is None:
            raise AccountError(f"no user {reader!r}")
        assignment = session.scalars(select(ReadingAssignment).where(
            ReadingAssignment.session_id == record.id, ReadingAssignment.user_id == user.id,
            ReadingAssignment.item_id == item_id)).first()
        read = session.scalars(select(ReadingRead).where(ReadingRead.item_id == item_id,
                                                         ReadingRead.user_id == user.id)).first()
        if assignment is None or read is None:
            raise StoreError(f"{user.username} has no read of item {item_id} in this session to reopen")
        removed = {"arterial": read.arterial, "washout": read.washout, "washout_timing": read.washout_timing,
                   "late": read.late, "onset_s": read.onset_s, "read_at": as_utc(read.created_at).isoformat()}
        session.delete(read)
        assignment.shown_at = None
        add_event(session, actor, "read_reopen", target=f"reading_item:{item_id}", address=address,
                  detail={"session": session_id, "reader": user.username, "removed": removed})
        return {"item": item_id, "reader": user.username, "removed": removed}


def close_reading_session(store: Store, session_id: int, *, actor: str, address: str | None = None) -> dict[str, Any]:
    """Close a session: no more reads, and its clips are no longer served to its readers."""
    with store.transaction() as session:
        record = _session_or_error(session, session_id)
        if record.status != "closed":
            record.status, record.closed_at = "closed", utcnow()
            add_event(session, actor, "reading_session_close", target=f"reading_session:{session_id}",
                      address=address)
        return _session_dict(session, record)


def reader_clip_ids(store: Store, user_id: int) -> set[int]:
    """Ids of the clips of the items in the reader's open sessions."""
    with store.transaction() as session:
        rows = session.scalars(select(Lesion.clip_id).join(ReadingItem, ReadingItem.lesion_id == Lesion.id)
                               .join(ReadingAssignment, ReadingAssignment.item_id == ReadingItem.id)
                               .join(ReadingSession, ReadingSession.id == ReadingItem.session_id)
                               .where(ReadingAssignment.user_id == user_id, ReadingSession.status == "open"))
        return {int(clip_id) for clip_id in rows if clip_id is not None}
