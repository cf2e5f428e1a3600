"""Every role against every endpoint: anonymous 401, a reader 403 outside their reading, an administrator
everywhere; the CSRF rule for every state-changing route of a cookie session.

The route list is checked against the app's OpenAPI document (tests/web/test_api.py), so a new endpoint
without a row here fails that test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ceuskit.store import accounts

from .conftest import PASSWORDS, TOKEN, ReaderStudy, sign_in

# (method, path template, who may: "any" signed-in user, "reader" (their own session), "admin")
ROLE_MATRIX = [
    ("GET", "/api/session", "any"), ("DELETE", "/api/session", "any"), ("GET", "/api/users", "admin"),
    ("GET", "/api/studies", "admin"), ("POST", "/api/studies", "admin"), ("GET", "/api/studies/{study_id}", "admin"),
    ("GET", "/api/studies/{study_id}/stats", "admin"), ("GET", "/api/studies/{study_id}/table", "admin"),
    ("GET", "/api/studies/{study_id}/export.csv", "admin"), ("GET", "/api/studies/{study_id}/report", "admin"),
    ("POST", "/api/studies/{study_id}/lesions", "admin"),
    ("POST", "/api/studies/{study_id}/reading-sessions", "admin"),
    ("GET", "/api/studies/{study_id}/reading-sessions", "admin"), ("GET", "/api/files", "admin"),
    ("POST", "/api/uploads", "admin"), ("GET", "/api/clips/{clip_id}", "admin"),
    ("GET", "/api/clips/{clip_id}/frames/{index}", "any"), ("GET", "/api/lesions/{lesion_id}", "admin"),
    ("PUT", "/api/lesions/{lesion_id}/rois", "admin"), ("POST", "/api/lesions/{lesion_id}/analyze", "admin"),
    ("POST", "/api/lesions/{lesion_id}/map", "admin"), ("GET", "/api/lesions/{lesion_id}/map/{name}", "admin"),
    ("POST", "/api/lesions/{lesion_id}/propose", "admin"), ("POST", "/api/lesions/{lesion_id}/carry", "admin"),
    ("GET", "/api/jobs/{job_id}", "admin"), ("GET", "/api/analyses/{analysis_id}", "admin"),
    ("GET", "/api/reading-sessions", "any"), ("GET", "/api/reading-sessions/{session_id}", "any"),
    ("GET", "/api/reading-sessions/{session_id}/next", "reader"),
    ("POST", "/api/reading-sessions/{session_id}/reads", "reader"),
    ("POST", "/api/reading-sessions/{session_id}/reopen", "admin"),
    ("POST", "/api/reading-sessions/{session_id}/close", "admin"), ("GET", "/api/audit", "admin"),
    ("GET", "/api/pacs", "admin"), ("GET", "/api/pacs/studies", "admin"), ("POST", "/api/pacs/lesions", "admin"),
    ("POST", "/api/lesions/{lesion_id}/push", "admin"), ("POST", "/api/lesions/{lesion_id}/clips", "admin"),
    ("DELETE", "/api/lesions/{lesion_id}/clips/{position}", "admin"),
]
STATE_CHANGING = [(m, p) for m, p, _ in ROLE_MATRIX if m in ("POST", "PUT", "DELETE")]


@dataclass
class World:
    app: Any
    admin: TestClient
    reader: TestClient
    outsider: TestClient
    anonymous: TestClient
    ids: dict[str, Any]
    csrf: dict[str, str]


def _client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)  # no lifespan: the fixture's own client owns it


def _world(app: Any, anonymous: TestClient, reader_study: ReaderStudy) -> World:
    admin, reader, outsider = _client(app), _client(app), _client(app)
    csrf = {"boss": sign_in(admin, "boss"), "ann": sign_in(reader, "ann"), "bob": sign_in(outsider, "bob")}
    opened = admin.post("/api/studies/1/reading-sessions", headers={"X-CSRF-Token": csrf["boss"]},
                        json={"name": "matrix", "readers": ["ann"], "lesions": reader_study.lesion_ids[:2]})
    assert opened.status_code == 201, opened.text
    item = reader.get(f"/api/reading-sessions/{opened.json()['id']}/next").json()
    ids = {"study_id": 1, "lesion_id": reader_study.lesion_ids[0], "clip_id": item["clip"], "index": 0,
           "analysis_id": 1, "job_id": "nope", "name": "arrival_time_s", "session_id": opened.json()["id"],
           "item": item["item"], "other_clip": reader_study.clip_ids[2], "position": 5}
    return World(app, admin, reader, outsider, anonymous, ids, csrf)


@pytest.fixture(scope="module")
def world(reader_study: ReaderStudy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app and one set of sign-ins for the whole matrix (requests that would end a session or start
    work use throw-away sessions or ids that do not exist: see ``_request``)."""
    import shutil

    from ceuskit.web import Settings, create_app

    copy = tmp_path_factory.mktemp("roles") / "reader-study.db"
    shutil.copy(reader_study.db_url.removeprefix("sqlite:///"), copy)
    app = create_app(Settings(db_url=f"sqlite:///{copy}", data_dir=reader_study.data, token=TOKEN,
                              max_upload_bytes=64 * 1024))
    with TestClient(app) as anonymous:
        yield _world(app, anonymous, reader_study)


@pytest.fixture()
def own_world(reader_app: Any, anonymous: TestClient, reader_study: ReaderStudy) -> World:
    """A world of its own, for a test that changes it."""
    return _world(reader_app, anonymous, reader_study)


def _request(client: TestClient, method: str, template: str, ids: dict[str, Any], csrf: str | None,
             *, harmless: bool = False, sign_out_as: str | None = None) -> Any:
    """One request of the matrix; ``harmless``: a variant that reaches the handler but starts no work and
    closes no reading session; ``sign_out_as``: sign out a throw-away session of that user, not the client's."""
    if method == "DELETE" and template == "/api/session" and sign_out_as is not None:
        client = _client(client.app)
        csrf = sign_in(client, sign_out_as)
    if harmless and template.endswith("/close"):
        ids = {**ids, "session_id": 10**6}
    path = template.format(**ids)
    body: dict[str, Any] | None = None
    if template.endswith("/reads"):
        body = {"item": ids["item"], "arterial": "hyper", "washout": "yes", "washout_timing": "early",
                "late": "hypo", "onset_s": 10.0}
    elif template.endswith("/reopen"):
        body = {"item": ids["item"], "reader": "ann"}
    elif template.endswith("/reading-sessions"):
        body = {"name": "another", "readers": ["cy"]}  # cy: in no other session of this matrix
    elif template == "/api/studies":
        body = {"name": "role check"}
    elif method in ("POST", "PUT") and not template.endswith(("/analyze", "/map", "/close", "/uploads")):
        body = {}
    if harmless and template.endswith(("/analyze", "/map", "/push", "/propose", "/carry")):
        path = template.format(**{**ids, "lesion_id": 10**6})  # a 404 proves access without starting a job
    params = {"format": "docx"} if harmless and template.endswith("/report") else None
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    return client.request(method, path, json=body, headers=headers, params=params)


@pytest.mark.parametrize(("method", "template", "who"), ROLE_MATRIX)
def test_anonymous_gets_401(world: World, method: str, template: str, who: str) -> None:
    response = _request(world.anonymous, method, template, world.ids, None)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "template", "who"), ROLE_MATRIX)
def test_a_reader_only_reads(world: World, method: str, template: str, who: str) -> None:
    response = _request(world.reader, method, template, world.ids, world.csrf["ann"], sign_out_as="ann")
    if who == "admin":
        assert response.status_code == 403, response.text
        assert "administrators only" in response.json()["detail"]
    else:
        assert response.status_code < 400, response.text[:200]


@pytest.mark.parametrize(("method", "template", "who"), ROLE_MATRIX)
def test_an_administrator_may_do_everything_but_read_blinded(world: World, method: str, template: str,
                                                             who: str) -> None:
    response = _request(world.admin, method, template, world.ids, world.csrf["boss"], harmless=True,
                        sign_out_as="boss")
    unconfigured = "no PACS configured" in response.text  # a 503 of the PACS routes: but let in
    assert response.status_code < 500 or unconfigured, response.text
    if who == "reader":  # reading is the reader's act: an administrator has no items of their own
        assert response.status_code == 403 and "not yours" in response.json()["detail"]
    else:
        assert response.status_code not in (401, 403), response.text


@pytest.mark.parametrize(("method", "template", "who"), [r for r in ROLE_MATRIX if r[2] != "admin"])
def test_another_reader_gets_nothing_of_this_session(world: World, method: str, template: str, who: str) -> None:
    if template in ("/api/session", "/api/reading-sessions"):
        response = _request(world.outsider, method, template, world.ids, world.csrf["bob"], sign_out_as="bob")
        assert response.status_code < 400
        if template == "/api/reading-sessions":
            assert response.json() == []  # bob sees no session of ann's
        return
    response = _request(world.outsider, method, template, world.ids, world.csrf["bob"])
    assert response.status_code == 403, response.text[:200]


def test_a_reader_gets_frames_of_their_open_sessions_only(own_world: World) -> None:
    world = own_world
    own = world.reader.get(f"/api/clips/{world.ids['clip_id']}/frames/0")
    assert own.status_code == 200 and own.headers["content-type"] == "image/png"
    other = world.reader.get(f"/api/clips/{world.ids['other_clip']}/frames/0")
    assert other.status_code == 403
    closed = world.admin.post(f"/api/reading-sessions/{world.ids['session_id']}/close",
                              headers={"X-CSRF-Token": world.csrf["boss"]})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert world.reader.get(f"/api/clips/{world.ids['clip_id']}/frames/0").status_code == 403
    assert world.reader.get(f"/api/reading-sessions/{world.ids['session_id']}/next").status_code == 400


def test_a_readers_api_token_has_the_readers_rights(own_world: World) -> None:
    world = own_world
    from ceuskit.store import Store

    with Store(world.app.state.context.settings.db_url) as db:
        token = accounts.new_api_token(db, "ann", actor="cli:test")
    client = _client(world.app)
    client.headers["Authorization"] = f"Bearer {token}"
    assert client.get("/api/studies").status_code == 403
    assert client.get(f"/api/reading-sessions/{world.ids['session_id']}/next").status_code == 200
    assert client.get("/api/session").json() == {"username": "ann", "role": "reader", "via": "token",
                                                 "csrf_token": None}


@pytest.mark.parametrize(("method", "template"), STATE_CHANGING)
@pytest.mark.parametrize("csrf", [None, "forged-token"])
def test_state_changes_of_a_cookie_session_need_the_csrf_header(world: World, method: str, template: str,
                                                                csrf: str | None) -> None:
    response = _request(world.admin, method, template, world.ids, csrf)
    assert response.status_code == 403, response.text
    assert "X-CSRF-Token" in response.json()["detail"]
    assert world.admin.get("/api/session").status_code == 200  # the session is still there


@pytest.mark.parametrize(("method", "template"), [r for r in STATE_CHANGING if r[1] != "/api/session"])
def test_bearer_requests_need_no_csrf_header(world: World, method: str, template: str) -> None:
    client = _client(world.app)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    response = _request(client, method, template, world.ids, None, harmless=True)
    assert response.status_code != 401 and "X-CSRF-Token" not in response.text, response.text


def test_a_csrf_token_of_another_session_does_not_count(own_world: World) -> None:
    world = own_world
    other = _client(world.app)
    foreign = sign_in(other, "boss")
    response = world.admin.post("/api/studies", json={"name": "csrf"}, headers={"X-CSRF-Token": foreign})
    assert response.status_code == 403
    assert world.admin.post("/api/studies", json={"name": "csrf"},
                            headers={"X-CSRF-Token": world.csrf["boss"]}).status_code == 201
    assert PASSWORDS  # the fixture's users signed in with their passwords
