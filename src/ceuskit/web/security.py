"""Who is asking, and may they: bearer tokens, session cookies, CSRF tokens, roles, security headers.

Built from FastAPI's security utilities (:class:`~fastapi.security.HTTPBearer`,
:class:`~fastapi.security.APIKeyCookie`) over :mod:`ceuskit.store.accounts`:

* ``Authorization: Bearer TOKEN`` — the bootstrap administrator's token (``CEUSKIT_TOKEN``) or a user's API
  token (``ceuskit user token NAME``), for scripts; a bearer request needs no CSRF token.
* the ``ceuskit_session`` cookie set by ``POST /api/session`` (HttpOnly, SameSite=Strict, Secure over
  https) — its state-changing requests (POST, PUT, PATCH, DELETE) need the header ``X-CSRF-Token`` with a
  token that session was given, or they get 403.

A request with neither gets 401; a reader on an administrator's endpoint gets 403.

Frame requests come in bursts of dozens a second from one player: :func:`frame_viewer` remembers who a
credential belongs to for five seconds (by its SHA-256), so signing out, a disabled user or a revoked token
stops a player's frames within five seconds; every other route checks the database each time.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders

from ceuskit.store import accounts
from ceuskit.web.context import Context, context
from ceuskit.web.principal import Principal

__all__ = ["CSRF_HEADER", "SESSION_COOKIE", "Admin", "FrameViewer", "Principal", "SignedIn", "admin", "authenticate",
           "clear_session_cookie", "frame_viewer", "client_address", "security_headers", "set_session_cookie", "signed_in"]

SESSION_COOKIE = "ceuskit_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BEARER = HTTPBearer(auto_error=False, description="The bootstrap token (CEUSKIT_TOKEN) or a user's API token "
                                                  "(`ceuskit user token NAME`).")
COOKIE = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                      description="Browser session from POST /api/session; state changes need X-CSRF-Token.")

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")
"""Every page and API response: scripts and styles only from this server's files (no inline script), no
framing by any site."""
REPORT_CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
"""The cohort report (a self-contained document with its own style sheet and embedded figures): no script
at all, no framing."""


def _unauthorised() -> HTTPException:
    return HTTPException(401, "sign in (POST /api/session) or send Authorization: Bearer TOKEN",
                         headers={"WWW-Authenticate": "Bearer"})


def authenticate(ctx: Context, *, bearer: str | None, cookie: str | None, method: str,
                 csrf: str | None) -> Principal:
    """Return the principal of a request's credentials (bearer token first), or an HTTPException (401, 403 CSRF)."""
    settings = ctx.settings
    if bearer is not None:
        if secrets.compare_digest(bearer.encode("utf-8", "surrogateescape"),
                                  settings.token.encode("utf-8", "surrogateescape")):
            return Principal(id=None, username="bootstrap", role="admin", via="bootstrap")
        found = accounts.token_principal(ctx.db, bearer)
        if found is None:
            raise _unauthorised()
        return Principal(id=found["id"], username=found["username"], role=found["role"], via="token")
    if cookie:
        found = accounts.session_principal(ctx.db, cookie, idle_s=settings.session_idle_s,
                                           max_age_s=settings.session_max_s)
        if found is not None:
            principal = Principal(id=found["id"], username=found["username"], role=found["role"], via="session",
                                  session_id=found["session_id"])
            if method.upper() not in SAFE_METHODS and not accounts.valid_csrf(ctx.db, found["session_id"], csrf):
                raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (GET /api/session gives one)")
            return principal
    raise _unauthorised()


def signed_in(request: Request, ctx: Annotated[Context, Depends(context)],
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
              cookie: Annotated[str | None, Depends(COOKIE)]) -> Principal:
    """Dependency: any signed-in principal (401 without credentials, 403 without the CSRF header)."""
    principal = authenticate(ctx, bearer=None if credentials is None else credentials.credentials, cookie=cookie,
                             method=request.method, csrf=request.headers.get(CSRF_HEADER))
    request.state.principal = principal
    return principal


async def frame_viewer(request: Request, ctx: Annotated[Context, Depends(context)],
                       credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
                       cookie: Annotated[str | None, Depends(COOKIE)]) -> Principal:
    """Dependency of frame requests: :func:`signed_in`, its answer remembered for a few seconds per credential.

    Remembered by SHA-256 of the credential so a player's burst of frames costs no database query each.

    Parameters
    ----------
    request : Request
        The request (its method and CSRF header).
    ctx : Context
        The app's shared state (``viewers`` remembers the answers).
    credentials, cookie
        The bearer token and the session cookie, from FastAPI's security utilities.

    Returns
    -------
    Principal
        Who is asking.

    Raises
    ------
    HTTPException
        401 without valid credentials.
    """
    bearer = None if credentials is None else credentials.credentials
    secret = bearer if bearer is not None else cookie
    key = None if not secret else ("bearer" if bearer is not None else "cookie", accounts.token_sha256(secret))
    found = None if key is None else ctx.viewers.get(key)
    if found is None:
        found = await run_in_threadpool(authenticate, ctx, bearer=bearer, cookie=cookie, method=request.method,
                                        csrf=request.headers.get(CSRF_HEADER))
        if key is not None:
            ctx.viewers.put(key, found)
    request.state.principal = found
    return found


def admin(principal: Annotated[Principal, Depends(signed_in)]) -> Principal:
    """Dependency: an administrator (403 for a reader)."""
    if not principal.is_admin:
        raise HTTPException(403, "administrators only: a reader sees only their reading sessions")
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
Admin = Annotated[Principal, Depends(admin)]
FrameViewer = Annotated[Principal, Depends(frame_viewer)]


def client_address(request: Request) -> str | None:
    """Return the client's address, for the audit log of sign-ins and changes."""
    return None if request.client is None else request.client.host


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """Set the session cookie: HttpOnly, SameSite=Strict, Secure when served over https.

    No expiry: the server ends idle and old sessions.
    """
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                           path="/")


def security_headers(headers: MutableHeaders) -> None:
    """Add the headers every response carries (a response may set its own Content-Security-Policy first)."""
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
