"""The audit log: who did what, when.

Sign-ins (and failed ones), user changes, ROI edits, analyses, reads, exports and reports.

Entries name their target by database id (``lesion:12``, ``study:1``), never by a patient pseudonym, and
carry no password or token.  Actors are user names, ``bootstrap`` (the ``CEUSKIT_TOKEN`` administrator) or
``cli:OSUSER`` for command-line changes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ceuskit.store.database import Store
from ceuskit.store.schema import AuditEvent, as_utc, utcnow

__all__ = ["ACTIONS", "audit_events", "count_events", "record_event", "sign_in_failures"]

ACTIONS = ("sign_in", "sign_in_failed", "sign_in_throttled", "sign_out", "user_add", "user_disable", "user_enable",
           "user_password", "user_token", "user_token_revoke", "study_add", "lesion_add", "clip_add", "clip_remove",
           "upload", "rois_edit", "analysis", "map", "reading_session_open", "reading_session_close", "read",
           "read_reopen", "export", "report", "pacs_fetch", "pacs_push", "rois_propose", "rois_carry")
"""Every action the log records."""


def add_event(session: Session, actor: str, action: str, *, target: str | None = None,
              detail: dict[str, Any] | None = None, address: str | None = None) -> AuditEvent:
    """Add one entry inside an open transaction (so it is committed with the change it records, or not at all)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
    event = AuditEvent(at=utcnow(), actor=actor[:100], action=action, target=None if target is None else target[:100],
                       detail=dict(detail or {}), address=None if address is None else address[:64])
    session.add(event)
    return event


def record_event(store: Store, actor: str, action: str, *, target: str | None = None,
                 detail: dict[str, Any] | None = None, address: str | None = None) -> int:
    """Append one entry in its own transaction; returns its id."""
    with store.transaction() as session:
        event = add_event(session, actor, action, target=target, detail=detail, address=address)
        session.flush()
        return event.id


def _event_dict(event: AuditEvent) -> dict[str, Any]:
    return {"id": event.id, "at": as_utc(event.at).isoformat(), "actor": event.actor, "action": event.action,
            "target": event.target, "detail": event.detail, "address": event.address}


def audit_events(store: Store, *, limit: int = 200, before_id: int | None = None, actor: str | None = None,
                 action: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
    """Entries newest first.

    ``id``, ``at`` (ISO 8601, UTC), ``actor``, ``action``, ``target``, ``detail``, ``address``; ``before_id``
    pages back, the other arguments filter.
    """
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 10_000)))
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if actor is not None:
        query = query.where(_actor_is(actor))
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    with store.transaction() as session:
        return [_event_dict(e) for e in session.scalars(query)]


def _actor_is(actor: str) -> ColumnElement[bool]:
    """Entries of ``actor``, whatever its case.

    User names are stored in lower case (``Ann`` signs in as ``ann``), command-line actors as ``cli:OSUSER``.
    """
    return func.lower(AuditEvent.actor) == actor.strip().lower()


def count_events(store: Store, *, action: str | None = None, actor: str | None = None) -> int:
    """How many entries (of one action and/or actor, or all) the log holds."""
    query = select(func.count(AuditEvent.id))
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor is not None:
        query = query.where(_actor_is(actor))
    with store.transaction() as session:
        return int(session.scalar(query) or 0)


def sign_in_failures(session: Session, username: str, *, window_s: float, now: datetime | None = None) -> int:
    """Failed sign-ins of ``username`` within the last ``window_s`` seconds, after its last successful one."""
    now = now or utcnow()
    since = now - timedelta(seconds=window_s)
    last_ok = session.scalar(select(func.max(AuditEvent.at)).where(
        AuditEvent.actor == username, AuditEvent.action == "sign_in", AuditEvent.at >= since))
    start = max(since, as_utc(last_ok)) if last_ok is not None else since
    query = select(func.count(AuditEvent.id)).where(AuditEvent.actor == username,
                                                    AuditEvent.action == "sign_in_failed")
    query = query.where(AuditEvent.at > start) if last_ok is not None else query.where(AuditEvent.at >= start)
    return int(session.scalar(query) or 0)
