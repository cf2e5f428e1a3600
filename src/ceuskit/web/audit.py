"""``GET /api/audit`` (administrators): the audit log, newest first, filtered and paged."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from ceuskit.store.audit import ACTIONS, audit_events
from ceuskit.web.context import Context, context
from ceuskit.web.security import Admin

__all__ = ["router"]

router = APIRouter(tags=["audit"])


@router.get("/api/audit")
def audit(_: Admin, ctx: Annotated[Context, Depends(context)],
          limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
          before: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="Entries older than this id.")] = None,
          actor: Annotated[str | None, Query(max_length=100)] = None,
          action: Annotated[str | None, Query(max_length=40)] = None) -> list[dict[str, Any]]:
    """Audit entries: ``id``, ``at`` (UTC), ``actor``, ``action``, ``target``, ``detail``, ``address``."""
    if action is not None and action not in ACTIONS:
        raise HTTPException(400, f"action must be one of {', '.join(ACTIONS)}")
    return audit_events(ctx.db, limit=limit, before_id=before, actor=actor, action=action)
