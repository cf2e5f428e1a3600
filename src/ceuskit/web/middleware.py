"""What every request goes through: the upload gate, the security headers, ``no-store`` for the API, the log line.

A plain ASGI middleware (Starlette's documented pattern for middleware that only looks at the request and
edits response headers): it costs a few microseconds per request, where ``@app.middleware("http")`` runs
every response body through an extra task and stream.
"""

from __future__ import annotations

import logging
import time

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ceuskit.web.context import Context
from ceuskit.web.security import CSRF_HEADER, SESSION_COOKIE, authenticate, security_headers

__all__ = ["AccessMiddleware"]

log = logging.getLogger("ceuskit.web")


class AccessMiddleware:
    """Refuse oversized or unauthorised uploads before their body is read.

    Add the security headers (and ``Cache-Control: no-store`` to API answers that set none); log method, route
    template, status and time.

    Parameters
    ----------
    app : ASGI app
        The app to wrap.
    ctx : Context
        The app's shared state (settings and store, for the upload gate).
    """

    def __init__(self, app: ASGIApp, ctx: Context) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection: gate uploads, add headers to the answer and log it.

        Parameters
        ----------
        scope, receive, send
            The ASGI connection, as the server hands it over.
        """
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        api = str(scope.get("path", "")).startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                headers = MutableHeaders(scope=message)
                security_headers(headers)
                if api:
                    headers.setdefault("Cache-Control", "no-store")  # patient data stays out of caches
            await send(message)

        refused = await self._upload_gate(scope)
        if refused is not None:
            await refused(scope, receive, send_with_headers)
        else:
            await self.app(scope, receive, send_with_headers)
        template = getattr(scope.get("route"), "path", "(unmatched)")  # e.g. /api/lesions/{lesion_id}
        log.info("%s %s %d %.0f ms", scope.get("method"), template, status[0], 1000 * (time.perf_counter() - start))

    async def _upload_gate(self, scope: Scope) -> JSONResponse | None:
        """No administrator (401/403), no or too large Content-Length (411/413) for ``POST /api/uploads``."""
        if scope.get("method") != "POST" or scope.get("path") != "/api/uploads":
            return None
        request = Request(scope)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        try:
            principal = await run_in_threadpool(
                authenticate, self.ctx, bearer=given if scheme.lower() == "bearer" else None,
                cookie=request.cookies.get(SESSION_COOKIE), method="POST", csrf=request.headers.get(CSRF_HEADER))
        except HTTPException as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        if not principal.is_admin:
            return JSONResponse({"detail": "administrators only: a reader sees only their reading sessions"},
                                status_code=403)
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            return JSONResponse({"detail": "an upload needs a Content-Length header"}, status_code=411)
        limit = self.ctx.settings.max_upload_bytes
        if int(declared) > limit + 64 * 1024:  # the multipart envelope is a few hundred bytes
            return JSONResponse({"detail": f"the upload is larger than the limit of {limit} bytes"},
                                status_code=413)
        return None
