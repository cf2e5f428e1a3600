"""User accounts: Argon2-hashed passwords, API tokens for scripts, browser sessions with CSRF tokens.

Passwords are hashed with Argon2id by argon2-cffi (its RFC 9106 defaults: 64 MiB, 3 passes) and never kept
or returned in clear.  API tokens, session cookies and CSRF tokens are 256-bit random strings from
:func:`secrets.token_urlsafe`; the database keeps only their SHA-256 (a random secret of that length needs
no slow hash, and the hash lets the server find it in one indexed lookup).  Every change is written to the
audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ceuskit.errors import AccountError, ConflictError
from ceuskit.store.audit import add_event, sign_in_failures
from ceuskit.store.database import Store
from ceuskit.store.schema import ApiToken, User, WebSession, as_utc, utcnow

__all__ = [
    "MAX_CSRF_TOKENS",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "SignIn",
    "add_user",
    "check_password_strength",
    "check_username",
    "end_session",
    "generate_password",
    "get_user",
    "issue_csrf_token",
    "list_users",
    "new_api_token",
    "revoke_api_tokens",
    "session_principal",
    "set_password",
    "set_user_disabled",
    "sign_in",
    "token_principal",
    "token_sha256",
    "valid_csrf",
]

ROLES = ("admin", "reader")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # Argon2 reads it all; a megabyte "password" is an attack, not a password
MAX_CSRF_TOKENS = 16  # per browser session: one per page load, the oldest forgotten first
RESERVED_NAMES = ("software", "bootstrap", "cli", "admin-token")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TOUCH_EVERY_S = 30.0  # a session's last-seen time is written at most this often


def _hasher() -> Any:
    try:
        from argon2 import PasswordHasher
    except ImportError:
        raise AccountError("accounts need argon2-cffi: pip install 'ceuskit[web]'") from None
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Return a hash to verify against when the user is unknown.

    Verifying it makes that answer take as long as a wrong password does.
    """
    return str(_hasher().hash(secrets.token_urlsafe(16)))


def token_sha256(token: str) -> str:
    """SHA-256 (hex) of a random token: what the database keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_username(name: str) -> str:
    """Return the user name, lower-cased, if it is 1–64 of [a-z0-9._-] starting with a letter or digit."""
    normal = name.strip().lower()
    if not _USERNAME.fullmatch(normal):
        raise AccountError(f"user name {name!r} must be 1–64 characters of a–z, 0–9, '.', '_' or '-', "
                           "starting with a letter or digit")
    if normal in RESERVED_NAMES:
        raise AccountError(f"user name {normal!r} is reserved; choose another")
    return normal


def check_password_strength(password: str) -> None:
    """Refuse a password shorter than :data:`MIN_PASSWORD_LENGTH` or longer than 1024 characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if password != password.strip() or "\n" in password or "\x00" in password:
        raise AccountError("the password may not start or end with white space or hold a line break or NUL")


def generate_password() -> str:
    """Return a random password of 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def _user_dict(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role, "disabled": bool(user.disabled),
            "created_at": as_utc(user.created_at).isoformat()}


def _find(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username.strip().lower())).first()
    if user is None:
        raise AccountError(f"no user {username.strip().lower()!r}; list them with `ceuskit user list`")
    return user


def add_user(store: Store, username: str, *, role: str, password: str, actor: str) -> dict[str, Any]:
    """Create a user (``role`` admin or reader) with an Argon2 hash of ``password``; returns the user."""
    name = check_username(username)
    if role not in ROLES:
        raise AccountError(f"role {role!r} must be one of {', '.join(ROLES)}")
    check_password_strength(password)
    digest = _hasher().hash(password)
    with store.transaction() as session:
        if session.scalars(select(User.id).where(User.username == name)).first() is not None:
            raise ConflictError(f"user {name!r} exists already")
        now = utcnow()
        user = User(username=name, role=role, password_hash=digest, disabled=False, created_at=now,
                    password_changed_at=now)
        session.add(user)
        session.flush()
        add_event(session, actor, "user_add", target=f"user:{name}", detail={"role": role})
        return _user_dict(user)


def get_user(store: Store, username: str) -> dict[str, Any]:
    """One user: ``id``, ``username``, ``role``, ``disabled``, ``created_at``."""
    with store.transaction() as session:
        return _user_dict(_find(session, username))


def list_users(store: Store) -> list[dict[str, Any]]:
    """Every user with ``active_tokens`` and ``active_sessions`` counts (never the tokens themselves)."""
    with store.transaction() as session:
        tokens = dict(session.execute(select(ApiToken.user_id, func.count(ApiToken.id))
                                      .where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id)).all())
        sessions = dict(session.execute(select(WebSession.user_id, func.count(WebSession.id))
                                        .where(WebSession.ended_at.is_(None)).group_by(WebSession.user_id)).all())
        return [{**_user_dict(u), "active_tokens": int(tokens.get(u.id, 0)),
                 "active_sessions": int(sessions.get(u.id, 0))}
                for u in session.scalars(select(User).order_by(User.username))]


def _end_sessions(session: Session, user_id: int) -> None:
    session.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
                    .values(ended_at=utcnow()))


def set_user_disabled(store: Store, username: str, disabled: bool, *, actor: str) -> dict[str, Any]:
    """Disable (ending every session; tokens stop working) or enable a user."""
    with store.transaction() as session:
        user = _find(session, username)
        user.disabled = disabled
        if disabled:
            _end_sessions(session, user.id)
        add_event(session, actor, "user_disable" if disabled else "user_enable", target=f"user:{user.username}")
        return _user_dict(user)


def set_password(store: Store, username: str, password: str, *, actor: str) -> None:
    """Replace a user's password (ending their browser sessions)."""
    check_password_strength(password)
    digest = _hasher().hash(password)
    with store.transaction() as session:
        user = _find(session, username)
        user.password_hash, user.password_changed_at = digest, utcnow()
        _end_sessions(session, user.id)
        add_event(session, actor, "user_password", target=f"user:{user.username}")


def new_api_token(store: Store, username: str, *, actor: str) -> str:
    """Return a new API token for ``username`` (shown once: only its SHA-256 is stored)."""
    token = secrets.token_urlsafe(32)
    with store.transaction() as session:
        user = _find(session, username)
        session.add(ApiToken(user_id=user.id, token_sha256=token_sha256(token), created_at=utcnow()))
        add_event(session, actor, "user_token", target=f"user:{user.username}")
    return token


def revoke_api_tokens(store: Store, username: str, *, actor: str) -> int:
    """Revoke every API token of ``username``; returns how many were active."""
    with store.transaction() as session:
        user = _find(session, username)
        result = session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                                 .values(revoked_at=utcnow()))
        count = int(getattr(result, "rowcount", 0) or 0)
        add_event(session, actor, "user_token_revoke", target=f"user:{user.username}", detail={"revoked": count})
        return count


def _principal(user: User, via: str, session_id: int | None = None) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role, "via": via, "session_id": session_id}


def token_principal(store: Store, token: str) -> dict[str, Any] | None:
    """Return the active user an API token belongs to (``via`` "token"), or None."""
    if not token or len(token) > 512:
        return None
    with store.transaction() as session:
        row = session.execute(select(ApiToken, User).join(User, ApiToken.user_id == User.id)
                              .where(ApiToken.token_sha256 == token_sha256(token))).first()
        if row is None:
            return None
        record, user = row
        if record.revoked_at is not None or user.disabled:
            return None
        now = utcnow()
        if record.last_used_at is None or (now - as_utc(record.last_used_at)).total_seconds() > _TOUCH_EVERY_S:
            record.last_used_at = now
        return _principal(user, "token")


class SignIn:
    """Outcomes of :func:`sign_in` besides success."""

    FAILED = "failed"
    THROTTLED = "throttled"


def sign_in(store: Store, username: str, password: str, *, max_failures: int | None = 5, window_s: float = 900.0,
            address: str | None = None) -> tuple[str, dict[str, Any] | None, str | None, str | None]:
    """Check a user name and password and open a browser session.

    The same answer, taking the same time, for an unknown user, a disabled one and a wrong password.  After
    ``max_failures`` failures for one user name within ``window_s`` seconds every further try is refused
    unchecked until the oldest of them leaves the window (``max_failures`` None: no such lock, the caller
    throttles — the workstation does, per user name and address, see :mod:`ceuskit.web.throttle`).

    Returns
    -------
    (outcome, user, session_token, csrf_token): outcome "ok" (with the user, the session cookie's value
    and a CSRF token), or :attr:`SignIn.FAILED` / :attr:`SignIn.THROTTLED` (with Nones).
    """
    name = username.strip().lower()[:64]
    hasher = _hasher()
    with store.transaction() as session:
        if max_failures is not None and sign_in_failures(session, name, window_s=window_s) >= max_failures:
            add_event(session, name, "sign_in_throttled", address=address)
            return SignIn.THROTTLED, None, None, None
        user = session.scalars(select(User).where(User.username == name)).first()
        ok = False
        try:
            from argon2.exceptions import InvalidHashError, VerificationError

            ok = bool(hasher.verify(user.password_hash if user is not None else _dummy_hash(),
                                    password[:MAX_PASSWORD_LENGTH + 1]))
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok or user is None or user.disabled or len(password) > MAX_PASSWORD_LENGTH:
            add_event(session, name, "sign_in_failed", address=address,
                      detail={"reason": "unknown user" if user is None else "disabled" if user.disabled
                              else "wrong password"})
            return SignIn.FAILED, None, None, None
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hasher.hash(password)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = utcnow()
        record = WebSession(user_id=user.id, token_sha256=token_sha256(token), csrf_sha256=[token_sha256(csrf)],
                            created_at=now, last_seen_at=now)
        session.add(record)
        session.flush()
        add_event(session, name, "sign_in", address=address, detail={"session": record.id})
        return "ok", _principal(user, "session", record.id), token, csrf


def session_principal(store: Store, token: str, *, idle_s: float, max_age_s: float,
                      now: datetime | None = None) -> dict[str, Any] | None:
    """Return the user of a browser session cookie (``via`` "session"), or None.

    None when the session is unknown, ended, idle for more than ``idle_s`` seconds, older than ``max_age_s``
    seconds, or its user is disabled.
    """
    if not token or len(token) > 512:
        return None
    now = now or utcnow()
    with store.transaction() as session:
        row = session.execute(select(WebSession, User).join(User, WebSession.user_id == User.id)
                              .where(WebSession.token_sha256 == token_sha256(token))).first()
        if row is None:
            return None
        record, user = row
        if record.ended_at is not None or user.disabled:
            return None
        idle = (now - as_utc(record.last_seen_at)).total_seconds()
        if idle > idle_s or (now - as_utc(record.created_at)).total_seconds() > max_age_s:
            record.ended_at = now
            return None
        if idle > _TOUCH_EVERY_S:
            record.last_seen_at = now
        return _principal(user, "session", record.id)


def end_session(store: Store, session_id: int, *, actor: str, address: str | None = None) -> None:
    """Sign a browser session out."""
    with store.transaction() as session:
        record = session.get(WebSession, session_id)
        if record is not None and record.ended_at is None:
            record.ended_at = utcnow()
            add_event(session, actor, "sign_out", address=address, detail={"session": session_id})


def issue_csrf_token(store: Store, session_id: int) -> str:
    """Return a further CSRF token for an open browser session.

    One per page load; the oldest beyond 16 expire.
    """
    csrf = secrets.token_urlsafe(32)
    with store.transaction() as session:
        record = session.get(WebSession, session_id)
        if record is None:
            raise AccountError("the session has ended; sign in again")
        record.csrf_sha256 = [*list(record.csrf_sha256 or []), token_sha256(csrf)][-MAX_CSRF_TOKENS:]
    return csrf


def valid_csrf(store: Store, session_id: int, csrf: str | None) -> bool:
    """Whether ``csrf`` is one of the session's CSRF tokens (compared in constant time)."""
    if not csrf or len(csrf) > 512:
        return False
    digest = token_sha256(csrf)
    with store.transaction() as session:
        record = session.get(WebSession, session_id)
        known = list(record.csrf_sha256 or []) if record is not None else []
    return any(secrets.compare_digest(digest, item) for item in known)

