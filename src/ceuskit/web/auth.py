"""Signing in and out: ``POST|GET|DELETE /api/session``, the token check ``POST /api/login``, ``GET /api/users``."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ceuskit.store import accounts
from ceuskit.web.context import Context, context
from ceuskit.web.security import (
    Admin,
    SignedIn,
    clear_session_cookie,
    client_address,
    set_session_cookie,
)

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
                                        429: {"description": "too many failed sign-ins for this user"}})
def sign_in(body: Credentials, request: Request, response: Response, ctx: Ctx) -> Any:
    """Sign in: sets the session cookie and returns ``username``, ``role`` and a ``csrf_token``."""
    settings = ctx.settings
    outcome, user, token, csrf = accounts.sign_in(ctx.db, body.username, body.password,
                                                  max_failures=settings.max_sign_in_failures,
                                                  window_s=settings.sign_in_window_s, address=client_address(request))
    if outcome == accounts.SignIn.THROTTLED:
        minutes = round(settings.sign_in_window_s / 60)
        return JSONResponse({"detail": f"too many failed sign-ins for this user; try again within {minutes} minutes"},
                            status_code=429, headers={"Retry-After": str(int(settings.sign_in_window_s))})
    if user is None or token is None:
        raise HTTPException(401, "wrong user name or password")
    set_session_cookie(response, request, token)
    response.headers["Cache-Control"] = "no-store"
    return {"username": user["username"], "role": user["role"], "csrf_token": csrf}


@router.get("/api/session")
def who_am_i(principal: SignedIn, response: Response, ctx: Ctx) -> dict[str, Any]:
    """The signed-in user, with a fresh CSRF token for this page when signed in by cookie."""
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
