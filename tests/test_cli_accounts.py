"""``ceuskit user …`` and ``ceuskit audit``: passwords and tokens printed once and never stored in clear,
bad input as one line (exit 2) that changes nothing; the stored hash is checked with argon2-cffi itself."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from ceuskit import store
from ceuskit.cli import main
from ceuskit.store import accounts


@pytest.fixture()
def db(tmp_path: Path) -> str:
    """A new, empty study database, made as the README says (`ceuskit study init`)."""
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    assert main(["study", "init", "--db", url]) == 0
    return url


def _one_line_error(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ceuskit: error: ") and message in err, err


def _all_text(url: str) -> str:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(str(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"'))


def test_user_add_prints_a_generated_password_once(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "Ann", "--role", "admin", "--db", db]) == 0
    out = capsys.readouterr().out
    password = re.search(r"password \(shown once\): (\S+)", out).group(1)
    assert "added admin ann" in out and len(password) >= 20
    with store.Store(db) as s:
        assert accounts.sign_in(s, "ann", password)[0] == "ok"
    assert password not in _all_text(db)
    with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
        digest = conn.execute("SELECT password_hash FROM users").fetchone()[0]
    assert PasswordHasher().verify(digest, password)


def test_password_from_stdin_is_not_echoed(db: str, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long chosen password\n"))
    assert main(["user", "add", "bob", "--role", "reader", "--password-stdin", "--db", db]) == 0
    captured = capsys.readouterr()
    assert "a long chosen password" not in captured.out + captured.err
    with store.Store(db) as s:
        assert accounts.sign_in(s, "bob", "a long chosen password")[0] == "ok"


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "add", "bad name", "--role", "reader"], "", "user name"),
    (["user", "add", "carl", "--role", "owner"], "", "role 'owner' must be one of admin, reader"),
    (["user", "add", "carl", "--role", "reader", "--password-stdin"], "short\n", "at least 12 characters"),
    (["user", "add", "carl", "--role", "reader", "--password-stdin"], "", "held no password"),
    (["user", "disable", "nobody"], "", "no user 'nobody'"),
    (["user", "token", "nobody"], "", "no user 'nobody'"),
    (["user", "password", "nobody"], "", "no user 'nobody'"),
    (["audit", "--action", "dance"], "", "not an audited action"),
])
def test_bad_input_is_one_line_and_changes_nothing(db: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str,
                                                   message: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    _one_line_error(capsys, [*args, "--db", db], message)
    with store.Store(db) as s:
        assert accounts.list_users(s) == []


def test_a_second_user_of_the_same_name_is_refused(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "ann", "--role", "reader", "--db", db]) == 0
    capsys.readouterr()
    _one_line_error(capsys, ["user", "add", "ANN", "--role", "admin", "--db", db], "user 'ann' exists already")


def test_list_disable_enable_token_and_audit(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "ann", "--role", "reader", "--db", db]) == 0
    assert main(["user", "add", "boss", "--role", "admin", "--db", db]) == 0
    assert main(["user", "token", "boss", "--db", db]) == 0
    out = capsys.readouterr().out
    token = re.search(r"API token for boss \(shown once\): (\S+)", out).group(1)
    with store.Store(db) as s:
        assert accounts.token_principal(s, token)["role"] == "admin"
    assert token not in _all_text(db)
    assert main(["user", "disable", "ann", "--db", db]) == 0
    assert main(["user", "list", "--json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [(u["username"], u["role"], u["disabled"], u["active_tokens"]) for u in listed] == [
        ("ann", "reader", True, 0), ("boss", "admin", False, 1)]
    assert main(["user", "enable", "ann", "--db", db]) == 0
    assert main(["user", "list", "--db", db]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^ann\s+reader\s+active\s+0\s+0", table, re.M)
    assert main(["user", "token", "boss", "--revoke", "--db", db]) == 0
    assert "revoked 1 API token(s) of boss" in capsys.readouterr().out
    assert main(["audit", "--json", "--db", db]) == 0
    events = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in events] == ["user_token_revoke", "user_enable", "user_disable", "user_token",
                                             "user_add", "user_add"]
    assert all(e["actor"].startswith("cli") for e in events)
    assert main(["audit", "--action", "user_add", "--db", db]) == 0
    text = capsys.readouterr().out
    assert text.count("user_add") == 2 and "user:ann" in text and "user:boss" in text
    assert token not in text


def test_password_reset_prints_the_new_one_once(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "ann", "--role", "reader", "--db", db]) == 0
    first = re.search(r"shown once\): (\S+)", capsys.readouterr().out).group(1)
    assert main(["user", "password", "ann", "--db", db]) == 0
    second = re.search(r"shown once\): (\S+)", capsys.readouterr().out).group(1)
    with store.Store(db) as s:
        assert accounts.sign_in(s, "ann", first)[0] == "failed"
        assert accounts.sign_in(s, "ann", second)[0] == "ok"


def test_empty_lists_say_what_to_do(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "list", "--db", db]) == 0
    assert "ceuskit user add NAME --role admin" in capsys.readouterr().out
    assert main(["audit", "--db", db]) == 0
    assert "empty" in capsys.readouterr().out
