"""Signing in and out: ``POST|GET|DELETE /api/session``, the token check ``POST /api/login``, ``GET /api/users``."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ceuskit.store import accounts
from ceuskit.store.audit import record_event
from ceuskit.web.context import Context, context
from ceuskit.web.hashing import PoolBusy
from ceuskit.web.security import (
    Admin,
    SignedIn,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)
from ceuskit.web.throttle import Refusal, wait_text

__all__ = ["router"]

router = APIRouter(tags=["session"])
Ctx = Annotated[Context, Depends(context)]


class Credentials(BaseModel):
    """A user name and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=accounts.MAX_PASSWORD_LENGTH + 1)


class TokenBody(BaseModel):
    token: str = Field(max_length=512)


@router.post("/api/session", responses={401: {"description": "wrong user name or password"},
                                        429: {"description": "too many attempts: wait Retry-After seconds"},
                                        503: {"description": "too many sign-ins being checked: wait Retry-After"}})
async def sign_in(body: Credentials, request: Request, response: Response, ctx: Ctx) -> Any:
    """Sign in: sets the session cookie and returns ``username``, ``role`` and a ``csrf_token``.

    Attempts are throttled per address, user name and both (:mod:`ceuskit.web.throttle`) before the password
    is checked, and checked on a small pool of their own (:mod:`ceuskit.web.hashing`).
    """
    address = client_address(request) or "unknown"
    name = body.username.strip().lower()[:64]
    ticket = ctx.guard.admit(name, address)
    if isinstance(ticket, Refusal):
        if ctx.guard.first_refusal(address):
            await run_in_threadpool(record_event, ctx.db, name, "sign_in_throttled", address=address,
                                    detail={"reason": ticket.reason, "retry_after_s": ticket.retry_after_s})
        return JSONResponse({"detail": ticket.message, "retry_after_s": ticket.retry_after_s}, status_code=429,
                            headers={"Retry-After": str(ticket.retry_after_s)})
    try:
        outcome, user, token, csrf = await ctx.hashing.run(accounts.sign_in, ctx.db, body.username, body.password,
                                                           max_failures=None, address=address)
    except PoolBusy as busy:
        ctx.guard.cancel(ticket)
        return JSONResponse({"detail": f"the server is checking many sign-ins; try again in {wait_text(busy.retry_after_s)}",
                             "retry_after_s": busy.retry_after_s}, status_code=503,
                            headers={"Retry-After": str(busy.retry_after_s)})
    except BaseException:
        ctx.guard.cancel(ticket)
        raise
    ctx.guard.settle(ticket, ok=outcome == "ok")
    if user is None or token is None:
        raise HTTPException(401, "wrong user name or password")
    set_session_cookie(response, request, token)
    response.headers["Cache-Control"] = "no-store"
    return {"username": user["username"], "role": user["role"], "csrf_token": csrf}


@router.get("/api/session")
def who_am_i(principal: SignedIn, response: Response, ctx: Ctx) -> dict[str, Any]:
    """Return the signed-in user, with a fresh CSRF token for this page when signed in by cookie."""
    csrf = None if principal.session_id is None else accounts.issue_csrf_token(ctx.db, principal.session_id)
    response.headers["Cache-Control"] = "no-store"
    return {"username": principal.username, "role": principal.role, "via": principal.via, "csrf_token": csrf}


@router.delete("/api/session", status_code=204)
def sign_out(principal: SignedIn, request: Request, ctx: Ctx) -> Response:
    """Sign out: the session ends on the server and the browser forgets its cookie."""
    if principal.session_id is None:
        raise HTTPException(400, "a bearer token is not a browser session; revoke it with "
                                 "`ceuskit user token NAME --revoke`")
    accounts.end_session(ctx.db, principal.session_id, actor=principal.username, address=client_address(request))
    ctx.viewers.clear()  # this process's frames stop at once (see security.frame_viewer)
    response = Response(status_code=204)
    clear_session_cookie(response, request)
    return response


@router.post("/api/login")
def check_token(body: TokenBody, ctx: Ctx) -> dict[str, Any]:
    """Check an API token (for scripts): its user name and role, or 401."""
    if secrets.compare_digest(body.token.encode("utf-8", "surrogateescape"),
                              ctx.settings.token.encode("utf-8", "surrogateescape")):
        return {"ok": True, "username": "bootstrap", "role": "admin"}
    found = accounts.token_principal(ctx.db, body.token)
    if found is None:
        raise HTTPException(401, "wrong access token")
    return {"ok": True, "username": found["username"], "role": found["role"]}


@router.get("/api/users")
def users(_: Admin, ctx: Ctx, role: str | None = None) -> list[dict[str, Any]]:
    """Every user (administrators only): ``username``, ``role``, ``disabled``, token and session counts."""
    found = accounts.list_users(ctx.db)
    return [u for u in found if role is None or u["role"] == role]
