"""``ceuskit serve``: options, the access token (environment, or generated once and kept), loopback default.

uvicorn.run is replaced by a recorder: these tests check what the command hands to the server, not the server.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ceuskit.cli import main


@pytest.fixture()
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    monkeypatch.delenv("CEUSKIT_TOKEN", raising=False)
    return calls


def test_a_token_is_generated_once_printed_once_and_required(recorded: list[dict], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["serve", "--data", str(tmp_path), "--db", f"sqlite:///{tmp_path / 's.db'}", "--port", "8123"]
    assert main(argv) == 0
    token_file = tmp_path / ".ceuskit" / "token"
    token = token_file.read_text().strip()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600 and len(token) >= 24
    first = capsys.readouterr().out
    assert token in first and "http://127.0.0.1:8123/" in first
    assert "no user accounts yet: add an administrator with `ceuskit user add NAME --role admin" in first
    assert recorded[0]["host"] == "127.0.0.1" and recorded[0]["port"] == 8123
    assert main(argv) == 0
    assert token not in capsys.readouterr().out  # printed at the first start only
    with TestClient(recorded[1]["app"]) as client:
        assert client.get("/api/studies").status_code == 401
        assert client.get("/api/studies", headers={"Authorization": f"Bearer {token}"}).json() == []


def test_the_environment_token_wins_and_is_not_stored(recorded: list[dict], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CEUSKIT_TOKEN", "from-the-environment")
    assert main(["serve", "--data", str(tmp_path), "--db", f"sqlite:///{tmp_path / 's.db'}"]) == 0
    assert not (tmp_path / ".ceuskit" / "token").exists()
    assert "from-the-environment" not in capsys.readouterr().out
    with TestClient(recorded[0]["app"]) as client:
        assert client.get("/api/studies", headers={"Authorization": "Bearer from-the-environment"}).status_code == 200


def test_a_missing_data_folder_is_a_one_line_error(recorded: list[dict], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ceuskit: error: --data") and err.count("\n") == 1
    assert recorded == []


def test_no_hint_once_an_administrator_exists(recorded: list[dict], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["user", "add", "boss", "--role", "admin", "--db", db]) == 0
    capsys.readouterr()
    assert main(["serve", "--data", str(tmp_path), "--db", db]) == 0
    assert "no user accounts" not in capsys.readouterr().out


def test_forwarded_addresses_are_believed_only_from_named_proxies(recorded: list[dict], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert main(["serve", "--data", str(tmp_path), "--db", db]) == 0
    assert recorded[0]["proxy_headers"] is False  # uvicorn would believe 127.0.0.1 by default
    assert main(["serve", "--data", str(tmp_path), "--db", db, "--trusted-proxy", "127.0.0.1",
                 "--trusted-proxy", "10.0.0.0/8"]) == 0
    assert recorded[1]["proxy_headers"] is True
    assert recorded[1]["forwarded_allow_ips"] == ["127.0.0.1/32", "10.0.0.0/8"]
    capsys.readouterr()
    assert main(["serve", "--data", str(tmp_path), "--db", db, "--trusted-proxy", "proxy.example.org"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ceuskit: error: --trusted-proxy 'proxy.example.org'") and err.count("\n") == 1
    assert len(recorded) == 2
