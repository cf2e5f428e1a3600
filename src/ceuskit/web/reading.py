"""Blinded reading sessions: administrators open, follow, reopen and close them; readers read.

A reader's item carries only what the player needs — the clip id, frame count, size and times after
injection, the display layout and the outline of the lesion to read — never a patient, a Ki-67, a grade,
the software's result or another reader's read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from ceuskit import store as st
from ceuskit.errors import ForbiddenError, RoiError
from ceuskit.roi import parse_rois
from ceuskit.store import reading
from ceuskit.web.context import Context, context
from ceuskit.web.security import Admin, Principal, SignedIn, client_address

__all__ = ["router"]

router = APIRouter(tags=["reading"])
Ctx = Annotated[Context, Depends(context)]


class NewReadingSession(BaseModel):
    """A reading session: its name, its readers (user names) and optionally a subset of the study's lesions."""

    name: str = Field(min_length=1, max_length=200)
    readers: list[str] = Field(min_length=1, max_length=100)
    lesions: list[int] | None = Field(default=None, max_length=100_000)


class Read(BaseModel):
    """A reader's labels of one item; ``onset_s`` = the frame where contrast arrives, in s after injection."""

    item: int
    arterial: str = Field(description="hyper, iso or hypo")
    washout: str = Field(description="yes or no")
    washout_timing: str | None = Field(default=None, description="early, late or none")
    late: str = Field(description="hyper, iso or hypo")
    onset_s: float | None = None


class Reopen(BaseModel):
    item: int
    reader: str = Field(min_length=1, max_length=64)


def _reader_id(principal: Principal) -> int:
    if principal.id is None:
        raise HTTPException(403, "the bootstrap token cannot read: sign in as a reader")
    return principal.id


@router.post("/api/studies/{study_id}/reading-sessions", status_code=201)
def open_session(study_id: int, body: NewReadingSession, principal: Admin, ctx: Ctx) -> dict[str, Any]:
    """Open a blinded reading session of the study's lesions for some readers (each in their own order)."""
    opened = reading.open_reading_session(ctx.db, study_id, body.name, body.readers, actor=principal.username,
                                          lesion_ids=body.lesions)
    ctx.reader_clips.forget()
    return opened


@router.get("/api/studies/{study_id}/reading-sessions")
def study_sessions(study_id: int, _: Admin, ctx: Ctx) -> list[dict[str, Any]]:
    """Return the study's reading sessions with every reader's progress."""
    st.get_study(ctx.db, study_id)
    return reading.list_reading_sessions(ctx.db, study_id=study_id)


@router.get("/api/reading-sessions")
def sessions(principal: SignedIn, ctx: Ctx) -> list[dict[str, Any]]:
    """Return reading sessions: every one for an administrator, a reader's own (with only their progress)."""
    if principal.is_admin:
        return reading.list_reading_sessions(ctx.db)
    return reading.list_reading_sessions(ctx.db, user_id=_reader_id(principal))


@router.get("/api/reading-sessions/{session_id}")
def session_detail(session_id: int, principal: SignedIn, ctx: Ctx) -> dict[str, Any]:
    """Return a session: for an administrator with its items and who read them, for its reader their progress only."""
    if principal.is_admin:
        return reading.get_reading_session(ctx.db, session_id)
    own = [s for s in reading.list_reading_sessions(ctx.db, user_id=_reader_id(principal)) if s["id"] == session_id]
    if not own:
        raise ForbiddenError("this reading session is not yours")
    return own[0]


def _target(lesion: dict[str, Any], spacing_mm: Any) -> dict[str, Any] | None:
    """Return the outline of the lesion to read (geometry only, pixel units), or None."""
    document = lesion.get("rois")
    if not document or not document.get("rois"):
        return None
    try:
        rois = parse_rois(document, pixel_spacing_mm=spacing_mm, source="ROIs")
    except RoiError:
        return None
    chosen = next((r for r in rois.lesions if r.name == lesion.get("roi_name")), None) or next(iter(rois.lesions), None)
    if chosen is None:
        return None
    shown = chosen.to_json()
    return {k: v for k, v in shown.items() if k in ("shape", "center", "radii", "points", "box")}


def blinded_item(ctx: Context, session_id: int, found: dict[str, Any]) -> dict[str, Any]:
    """Return what a reader's player gets for an item (see the module docstring for what it leaves out)."""
    lesion = st.get_lesion(ctx.db, found["lesion_id"])
    clip = st.get_clip(ctx.db, found["clip_id"])
    opened = ctx.clips.get(ctx.clip_path(clip["path"]))
    injection_s = float(lesion.get("injection_time_s") or 0.0)
    return {
        "session": session_id, "item": found["item"], "clip": clip["id"], "position": found["position"],
        "total": found["total"], "n_frames": opened.n_frames, "rows": opened.rows,
        "columns": opened.columns, "times_s": [round(float(t) - injection_s, 4) for t in opened.times],
        "layout": opened.layout, "regions": [{"role": r.role, "box": list(r.box)} for r in opened.regions],
        "target": _target(lesion, opened.pixel_spacing_mm),
    }


@router.get("/api/reading-sessions/{session_id}/next")
def next_item(session_id: int, principal: SignedIn, ctx: Ctx) -> dict[str, Any]:
    """Return the reader's next item in their own order, or ``{"done": true}`` when all are read."""
    found = reading.next_item(ctx.db, session_id, _reader_id(principal))
    if found is None:
        own = reading.list_reading_sessions(ctx.db, user_id=principal.id)
        progress = next((s["progress"][0] for s in own if s["id"] == session_id and s["progress"]), None)
        total = 0 if progress is None else progress["total"]
        return {"done": True, "session": session_id, "total": total}
    return blinded_item(ctx, session_id, found)


@router.post("/api/reading-sessions/{session_id}/reads", status_code=201)
def read(session_id: int, body: Read, principal: SignedIn, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Submit the read of an item: final (a second read of it is 409)."""
    labels = reading.ReadLabels(arterial=body.arterial, washout=body.washout, washout_timing=body.washout_timing,
                                late=body.late, onset_s=body.onset_s)
    return reading.record_read(ctx.db, session_id, _reader_id(principal), body.item, labels,
                               actor=principal.username, address=client_address(request))


@router.post("/api/reading-sessions/{session_id}/reopen")
def reopen(session_id: int, body: Reopen, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Reopen a reader's read of an item (audited with the read it removes)."""
    result = reading.reopen_item(ctx.db, session_id, body.item, body.reader, actor=principal.username,
                                 address=client_address(request))
    ctx.reader_clips.forget()
    return result


@router.post("/api/reading-sessions/{session_id}/close")
def close(session_id: int, principal: Admin, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Close a session: no more reads, its clips are no longer served to its readers."""
    result = reading.close_reading_session(ctx.db, session_id, actor=principal.username,
                                           address=client_address(request))
    ctx.reader_clips.forget()
    return result
