"""Signing in and out over HTTP: the cookie's attributes, one answer for unknown users and wrong passwords
(throttling: test_throttle.py), sign-out and idle time-out, the security headers, the audit entries — and no
password or token in the database, the logs or the audit log."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ceuskit.web import Settings, create_app

from .conftest import PASSWORDS, TOKEN, ReaderStudy, sign_in


def _db_text(app: Any) -> str:
    path = app.state.context.settings.db_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def test_sign_in_sets_a_strict_http_only_cookie_and_returns_a_csrf_token(anonymous: TestClient) -> None:
    response = anonymous.post("/api/session", json={"username": "ann", "password": PASSWORDS["ann"]})
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "ann" and body["role"] == "reader" and len(body["csrf_token"]) >= 43
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("ceuskit_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # plain http on this machine
    assert response.headers["cache-control"] == "no-store"
    assert anonymous.get("/api/session").json()["username"] == "ann"


def test_the_cookie_is_secure_over_https(reader_app: Any) -> None:
    with TestClient(reader_app, base_url="https://testserver") as client:
        response = client.post("/api/session", json={"username": "ann", "password": PASSWORDS["ann"]})
        assert "Secure" in response.headers["set-cookie"]


def test_unknown_user_and_wrong_password_get_the_same_401(anonymous: TestClient) -> None:
    wrong = anonymous.post("/api/session", json={"username": "ann", "password": "not her password"})
    unknown = anonymous.post("/api/session", json={"username": "nobody", "password": "not her password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong user name or password"}
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert anonymous.get("/api/session").status_code == 401


def test_sign_out_ends_the_session_on_the_server(reader_app: Any) -> None:
    client = TestClient(reader_app)
    csrf = sign_in(client, "boss")
    stolen = client.cookies.get("ceuskit_session")
    response = client.delete("/api/session", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204 and 'ceuskit_session=""' in response.headers["set-cookie"]
    assert client.get("/api/session").status_code == 401
    replay = TestClient(reader_app)
    replay.cookies.set("ceuskit_session", stolen)
    assert replay.get("/api/studies").status_code == 401  # a copied cookie is worthless after sign-out


def test_an_idle_session_times_out(reader_study: ReaderStudy, tmp_path: Path) -> None:
    import shutil

    shutil.copy(reader_study.db_url.removeprefix("sqlite:///"), tmp_path / "idle.db")
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'idle.db'}", data_dir=reader_study.data, token=TOKEN,
                              session_idle_s=1.0))
    with TestClient(app) as client:
        sign_in(client, "boss")
        assert client.get("/api/studies").status_code == 200
        time.sleep(1.3)
        assert client.get("/api/studies").status_code == 401


def test_a_page_load_gets_its_own_csrf_token(reader_app: Any) -> None:
    client = TestClient(reader_app)
    first = sign_in(client, "boss")
    second = client.get("/api/session").json()["csrf_token"]
    assert second != first
    for token in (first, second):
        assert client.post("/api/studies", json={"name": f"s{token[:6]}x"},
                           headers={"X-CSRF-Token": token}).status_code == 201


def test_bearer_tokens_keep_working_and_the_bootstrap_token_is_an_admin(reader_app: Any) -> None:
    client = TestClient(reader_app)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    assert client.get("/api/session").json() == {"username": "bootstrap", "role": "admin", "via": "bootstrap",
                                                 "csrf_token": None}
    assert client.post("/api/studies", json={"name": "by script"}).status_code == 201
    assert client.delete("/api/session").status_code == 400
    assert client.post("/api/login", json={"token": TOKEN}).json()["role"] == "admin"
    assert client.post("/api/login", json={"token": "nope"}).status_code == 401


@pytest.mark.parametrize("path", ["/", "/login", "/read", "/static/style.css", "/api/health", "/api/studies",
                                  "/api/openapi.json", "/nowhere", "/api/session"])
def test_every_response_carries_the_content_security_policy(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    policy = response.headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'" and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_have_no_inline_script(anonymous: TestClient) -> None:
    for path in ("/", "/login", "/read"):
        html = anonymous.get(path).text
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
        assert scripts and all('src="/static/' in attrs and body.strip() == "" for attrs, body in scripts), path
        assert not re.search(r"\son[a-z]+\s*=", html), path  # no inline event handlers
        assert "style=" not in html, path


def test_sign_ins_are_audited_without_secrets(reader_app: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = TestClient(reader_app)
    assert client.post("/api/session", json={"username": "ann", "password": "a wrong password"}).status_code == 401
    csrf = sign_in(client, "ann")
    cookie = client.cookies.get("ceuskit_session")
    client.delete("/api/session", headers={"X-CSRF-Token": csrf})
    admin = TestClient(reader_app)
    admin.headers["Authorization"] = f"Bearer {TOKEN}"
    events = admin.get("/api/audit", params={"limit": 10}).json()
    assert [(e["actor"], e["action"]) for e in events[:3]] == [("ann", "sign_out"), ("ann", "sign_in"),
                                                               ("ann", "sign_in_failed")]
    assert events[2]["detail"] == {"reason": "wrong password"} and events[1]["address"] == "testclient"
    assert admin.get("/api/audit", params={"action": "sign_in_failed"}).json()[0]["actor"] == "ann"
    assert admin.get("/api/audit", params={"action": "dance"}).status_code == 400
    secrets = [PASSWORDS["ann"], "a wrong password", csrf, cookie, TOKEN]
    for where in (str(events), _db_text(reader_app), caplog.text):
        for secret in secrets:
            assert secret not in where


@pytest.mark.parametrize("path", ["/", "/login", "/read"])
def test_pages_answer_head_like_get_without_a_body(anonymous: TestClient, path: str) -> None:
    got, head = anonymous.get(path), anonymous.head(path)
    assert head.status_code == got.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["content-type"] == got.headers["content-type"] and head.headers["cache-control"] == "no-store"
