"""HTTP for DICOMweb: one configured ``requests`` session, bounded retries, errors as one-line PacsErrors.

Messages never quote a request URL or a library's exception text: both may carry study UIDs.  They name the
server by its base URL and say what happened (unreachable, refused credentials, not found, broke off).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from ceuskit._version import __version__
from ceuskit.errors import PacsError, PacsNotFoundError
from ceuskit.pacs.config import PacsTarget

__all__ = ["BearerAuth", "TransferBroken", "check_status", "make_session", "pacs_error", "with_retries"]

T = TypeVar("T")
RETRY_STATUS = frozenset({408, 429, 502, 503, 504})


class TransferBroken(Exception):
    """A response ended before its announced end (internal; becomes a PacsError)."""


class BearerAuth(AuthBase):
    """``Authorization: Bearer TOKEN`` on every request (the token is never shown by ``repr``)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Return ``request`` with the bearer token in its ``Authorization`` header."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class _Session(requests.Session):
    """A session that sends the QIDO wildcards ``*`` and ``?`` unescaped in query strings.

    Both are legal there (RFC 3986 3.4) and some servers (Orthanc 1.10's DICOMweb plugin) match the
    escaped forms ``%2A``/``%3F`` literally, so ``PatientID=SIM*`` would find nothing.
    """

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        if prepared.url and "?" in prepared.url:
            head, _, query = prepared.url.partition("?")
            query = re.sub(r"%2[aA]", "*", query)
            prepared.url = head + "?" + re.sub(r"%3[fF]", "?", query)
        return prepared


def make_session(target: PacsTarget) -> requests.Session:
    """Return a session that verifies TLS (system store or the target's CA bundle) and sends its credentials."""
    session = _Session()
    session.verify = target.transport.verify
    credentials = target.credentials
    if credentials.token:
        session.auth = BearerAuth(credentials.token)
    elif credentials.username and credentials.password is not None:
        session.auth = HTTPBasicAuth(credentials.username, credentials.password)
    session.headers["User-Agent"] = f"ceuskit/{__version__}"
    return session


def check_status(response: requests.Response) -> None:
    """Raise ``requests.HTTPError`` for a 4xx/5xx answer (without the URL: see :func:`pacs_error`)."""
    if response.status_code >= 400:
        raise requests.HTTPError(f"HTTP {response.status_code}", response=response)


def _reason(exc: BaseException) -> str:
    """Return a short cause from an exception chain, with no URL in it."""
    text = repr(exc)
    found = re.search(r"certificate verify failed: ([^'\")\]]+)", text)
    if found:
        return "certificate verify failed: " + found.group(1).strip().rstrip(".")
    for needle, words in (("Connection refused", "connection refused"),
                          ("Name or service not known", "host name not found"),
                          ("nodename nor servname", "host name not found"),
                          ("Temporary failure in name resolution", "host name not found"),
                          ("No route to host", "no route to host"),
                          ("Network is unreachable", "network unreachable"),
                          ("Connection reset", "connection reset"),
                          ("RemoteDisconnected", "connection closed by the server")):
        if needle in text:
            return words
    return type(exc).__name__


def pacs_error(exc: BaseException, target: PacsTarget, *, not_found: str) -> tuple[PacsError, bool]:
    """Return the PacsError for ``exc`` and whether trying again may help (for :func:`with_retries`)."""
    where = f"the PACS at {target.label}"
    if isinstance(exc, PacsError):
        return exc, False
    if isinstance(exc, requests.exceptions.SSLError):
        return PacsError(f"{where}: TLS failed ({_reason(exc)}); if the site uses its own certificate "
                         "authority, give its CA bundle (--ca-bundle FILE or ca_bundle in the PACS config)"), False
    if isinstance(exc, requests.exceptions.Timeout):
        return PacsError(f"{where} did not answer within {target.transport.timeout_s:g} s "
                         "(raise --timeout if the server is slow)"), True
    if isinstance(exc, (TransferBroken, requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)):
        return PacsError(f"the connection to {where} broke off during the transfer; nothing incomplete was kept, "
                         "try again"), True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = _reason(exc)
        if reason in ("connection reset", "connection closed by the server"):
            return PacsError(f"the connection to {where} broke off ({reason}); nothing incomplete was kept, "
                             "try again"), True
        return PacsError(f"cannot reach {where} ({reason}); check the URL and that the server is running"), False
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in (401, 403):
            given = target.credentials.source
            hint = ("set CEUSKIT_PACS_USERNAME and CEUSKIT_PACS_PASSWORD, or CEUSKIT_PACS_TOKEN, or a PACS config "
                    "entry" if given == "none" else f"check the credentials from the {given}")
            return PacsError(f"{where} refused our credentials (HTTP {status}); {hint}"), False
        if status == 404:
            return PacsNotFoundError(not_found), False
        if status in RETRY_STATUS:
            return PacsError(f"{where} is busy or unavailable (HTTP {status}); try again later"), True
        return PacsError(f"{where} refused the request (HTTP {status})"), False
    if isinstance(exc, requests.RequestException):
        return PacsError(f"{where}: the request failed ({type(exc).__name__})"), False
    if isinstance(exc, ValueError):  # a malformed answer (JSON, multipart) from the server
        return PacsError(f"{where} sent an answer ceuskit cannot read ({type(exc).__name__})"), False
    raise exc


def with_retries(call: Callable[[], T], target: PacsTarget, *, not_found: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call()``, trying again after transient failures.

    At most ``target.transport.retries`` more times, with exponential back-off, after transient failures:
    timeouts, broken transfers, HTTP 408/429/502/503/504.

    Raises
    ------
    PacsError
        The last failure, as one line without identifiers (PacsNotFoundError for HTTP 404).
    """
    attempts = 1 + max(0, target.transport.retries)
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified below; anything else is re-raised there
            error, transient = pacs_error(exc, target, not_found=not_found)
            if not transient or attempt == attempts - 1:
                raise error from None
            sleep(min(30.0, target.transport.backoff_s * 2 ** attempt))
    raise AssertionError("unreachable")  # pragma: no cover
