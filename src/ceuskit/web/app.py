"""The workstation's server: a FastAPI app with the REST API of DESIGN and the browser UI (no CDN).

Routers by concern: :mod:`~ceuskit.web.auth` (sign-in, sessions), :mod:`~ceuskit.web.studies`,
:mod:`~ceuskit.web.clips`, :mod:`~ceuskit.web.lesions`, :mod:`~ceuskit.web.examination` (a lesion's
clips on one time axis), :mod:`~ceuskit.web.reading` (blinded reading
sessions), :mod:`~ceuskit.web.audit` and :mod:`~ceuskit.web.pacs` (the hospital PACS); who may call what is decided in :mod:`~ceuskit.web.security`.

Access: every ``/api/…`` route but ``/api/health``, ``POST /api/session`` and ``POST /api/login`` needs a
session cookie or a bearer token; administrators may do everything, readers only read.  Files: only inside
the data folder, uploads checked for size and type before their body is read.  Every response carries a
Content-Security-Policy (no inline script, no framing).  Logs: method, route template, status and
duration only — never a query, a body, a path, a user, a token or a pseudonym.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ceuskit import store as st
from ceuskit._version import __version__
from ceuskit.errors import AccountError, CeusError, ConflictError, ForbiddenError, ReportError, StoreError
from ceuskit.web.audit import router as audit_router
from ceuskit.web.auth import router as auth_router
from ceuskit.web.clips import router as clips_router
from ceuskit.web.context import Context, Settings
from ceuskit.web.examination import router as examination_router
from ceuskit.web.files import PathRefused
from ceuskit.web.lesions import router as lesions_router
from ceuskit.web.middleware import AccessMiddleware
from ceuskit.web.pacs import pacs_router
from ceuskit.web.proposals import router as proposals_router
from ceuskit.web.reading import router as reading_router
from ceuskit.web.security import admin
from ceuskit.web.studies import router as studies_router

__all__ = ["Settings", "create_app", "load_or_create_token"]

log = logging.getLogger("ceuskit.web")
STATIC = Path(__file__).parent / "static"
PAGES = {"/": "index.html", "/login": "login.html", "/read": "read.html"}


def _status(exc: CeusError, message: str) -> int:
    """Return the HTTP status of a user-caused error."""
    if isinstance(exc, PathRefused | ForbiddenError):
        return 403
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, ReportError):
        return 503  # the server lacks Chromium to print the PDF
    if isinstance(exc, StoreError) and not isinstance(exc, AccountError) and message.startswith("no "):
        return 404
    return 400


def create_app(settings: Settings) -> FastAPI:
    """Make the app for ``settings`` (``ceuskit serve`` runs it with uvicorn; tests use it directly)."""
    settings.data_dir.resolve().mkdir(parents=True, exist_ok=True)
    ctx = Context(settings=settings, db=st.Store(settings.db_url))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(title="ceuskit workstation", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.context = ctx
    app.state.store, app.state.jobs, app.state.clips = ctx.db, ctx.jobs, ctx.clips

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the offending input, which fails on undecodable bytes (a 500) and
        # would repeat whatever the client sent (a password, say); where and what is wrong is enough.
        errors = [{"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", "")),
                   "type": str(error.get("type", ""))} for error in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(CeusError)
    async def ceus_error(request: Request, exc: CeusError) -> JSONResponse:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return JSONResponse({"detail": message}, status_code=_status(exc, message))

    @app.get("/api/health", tags=["health"])
    async def health() -> dict[str, Any]:  # on the event loop: answers even when every worker thread is busy
        return {"status": "ok", "version": __version__}

    for router in (auth_router, studies_router, clips_router, lesions_router, examination_router, reading_router,
                   audit_router, proposals_router):
        app.include_router(router)
    # the hospital PACS: administrators only
    app.include_router(pacs_router(pacs=settings.pacs, db=ctx.db, jobs=ctx.jobs, data_dir=ctx.data_dir,
                                   dependencies=[Depends(admin)]))

    def page(name: str) -> Any:
        def serve() -> FileResponse:
            return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})

        return serve

    for path, name in PAGES.items():
        app.add_api_route(path, page(name), methods=["GET", "HEAD"], include_in_schema=False)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/index.html", include_in_schema=False)
    def index_alias() -> RedirectResponse:
        return RedirectResponse("/")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(AccessMiddleware, ctx=ctx)
    return app


def load_or_create_token(data_dir: Path) -> tuple[str, bool]:
    """``CEUSKIT_TOKEN``, else the token stored in the data folder, else a new one stored there (0600).

    Returns the token and whether it was created now (the caller prints it once).
    """
    import os

    if os.environ.get("CEUSKIT_TOKEN"):
        return os.environ["CEUSKIT_TOKEN"], False
    path = data_dir / ".ceuskit" / "token"
    if path.is_file():
        return path.read_text(encoding="ascii").strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    return token, True
