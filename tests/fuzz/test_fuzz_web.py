"""Hostile requests to the workstation API: random routes, ids, path segments, bodies and headers.

Property: never a server error (5xx) and never a body that echoes a traceback; without the token every
/api route but /api/health, signing in (POST /api/session) and the token check answers 401.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_settings import examples  # noqa: E402

TOKEN = "fuzz-token"
TEMPLATES = ["/api/studies", "/api/studies/{}", "/api/studies/{}/stats", "/api/studies/{}/table",
             "/api/studies/{}/export.csv", "/api/studies/{}/report", "/api/studies/{}/lesions", "/api/files",
             "/api/uploads", "/api/clips/{}", "/api/clips/{}/frames/{}", "/api/lesions/{}", "/api/lesions/{}/rois",
             "/api/lesions/{}/analyze", "/api/lesions/{}/map", "/api/lesions/{}/map/{}", "/api/jobs/{}",
             "/api/analyses/{}", "/api/login", "/api/health", "/api/session", "/api/users", "/api/audit",
             "/api/studies/{}/reading-sessions", "/api/reading-sessions", "/api/reading-sessions/{}",
             "/api/reading-sessions/{}/next", "/api/reading-sessions/{}/reads", "/api/reading-sessions/{}/reopen",
             "/api/reading-sessions/{}/close", "/static/{}", "/static/js/{}", "/{}"]
_segment = st.one_of(st.integers(-2**63, 2**63).map(str), st.sampled_from(["1", "0", "-1", "..", "%2e%2e", "..%2f..",
                                                                           "%00", "arrival_time_s", "app.js",
                                                                           "../../etc/passwd", "999999999999"]),
                     st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))
_body = st.one_of(st.none(), st.binary(max_size=64),
                  st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                                         st.text(max_size=10)),
                               lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                               max_leaves=8))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from fastapi.testclient import TestClient

    from ceuskit import store
    from ceuskit.simulate import simulate_cohort
    from ceuskit.study import import_manifest
    from ceuskit.web import Settings, create_app

    data = tmp_path_factory.mktemp("webfuzz")
    manifest = simulate_cohort(data / "cohort", n_patients=1, seed=3, duration_s=20.0)
    db_url = f"sqlite:///{data.parent / 'webfuzz.db'}"
    with store.Store(db_url) as db:
        import_manifest(db, manifest)
    app = create_app(Settings(db_url=db_url, data_dir=data, token=TOKEN, max_upload_bytes=4096))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@settings(settings.get_profile("ceuskit-fuzz"), max_examples=examples(1500))
@given(template=st.sampled_from(TEMPLATES), segments=st.lists(_segment, min_size=2, max_size=2),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]), body=_body,
       auth=st.sampled_from(["good", "none", "bad"]), query=st.dictionaries(st.sampled_from(["format", "x"]),
                                                                           st.text(max_size=6), max_size=2))
def test_api_never_fails_on_hostile_requests(client, template: str, segments: list[str], method: str, body: object,
                                             auth: str, query: dict[str, str]) -> None:
    quoted = [quote(segment, safe="%./") for segment in segments]  # what a browser would send
    path = template.format(*quoted) if "{}" in template else template
    headers = {"good": {"Authorization": f"Bearer {TOKEN}"}, "none": {},
               "bad": {"Authorization": "Bearer x" + TOKEN}}[auth]
    if method in ("POST", "PUT", "PATCH") and not path.endswith("/analyze") and not path.endswith("/map"):
        if isinstance(body, bytes | type(None)):
            kwargs = {"content": body or b""}
        else:
            kwargs = {"json": body}
    else:
        kwargs = {}
    try:
        response = client.request(method, path, headers=headers, params=query, **kwargs)
    except UnicodeEncodeError:  # the test client itself cannot send this path
        return
    assert response.status_code < 500, (method, path, response.status_code, response.text[:200])
    assert "Traceback" not in response.text
    protected = path.startswith("/api/") and not path.startswith(("/api/health", "/api/login", "/api/openapi",
                                                                  "/api/docs"))
    protected = protected and not (method == "POST" and path.rstrip("/") == "/api/session")  # signing in is open
    if auth != "good" and protected and response.status_code not in (404, 405, 411, 413):
        assert response.status_code == 401, (method, path, response.status_code)
