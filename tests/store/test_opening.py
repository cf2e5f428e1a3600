"""A command that reads a study database never creates one: a missing database is one error line naming
``ceuskit study init``, and no file (nor folder, nor table) is left behind — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from ceuskit.cli import main

READING = {  # every command that uses an existing database, with the arguments it needs besides --db
    "study stats": ["study", "stats"],
    "study stats --json": ["study", "stats", "--json"],
    "study export": ["study", "export", "--out", "{out}/lesions.csv"],
    "study report": ["study", "report", "--out", "{out}/report"],
    "study run": ["study", "run", "--workers", "0"],
    "study import-reads": ["study", "import-reads", "{out}/reads.csv"],
    "user list": ["user", "list"],
    "user disable": ["user", "disable", "ann"],
    "user enable": ["user", "enable", "ann"],
    "user password": ["user", "password", "ann"],
    "user token": ["user", "token", "ann"],
    "user token --revoke": ["user", "token", "ann", "--revoke"],
    "audit": ["audit"],
    "audit --action": ["audit", "--action", "sign_in_failed"],
}


def _args(command: str, out: Path) -> list[str]:
    (out / "reads.csv").write_text("patient_id,lesion_id,reader,arterial,washout,late\np1,l1,ann,hyper,early,hypo\n")
    return [a.replace("{out}", str(out)) for a in READING[command]]


def _error(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("ceuskit: error: ")
    return captured.err


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(inspect(connection).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.parametrize("command", READING)
def test_a_reading_command_on_a_missing_database_creates_nothing(command: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    url = f"sqlite:///{tmp_path / 'new' / 'nothere.db'}"
    err = _error(capsys, [*_args(command, out), "--db", url])
    assert f"no study database at {url}; create it with `ceuskit study init --db {url}`" in err
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in out.iterdir()) == ["reads.csv"]


@pytest.mark.parametrize("command", READING)
def test_without_db_nothing_lands_in_the_current_folder(command: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The default --db is sqlite:///ceuskit.db in the current folder (DESIGN); reading never makes it."""
    out = tmp_path / "out"
    out.mkdir()
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    err = _error(capsys, _args(command, out))
    assert "no study database at sqlite:///ceuskit.db; create it with `ceuskit study init --db sqlite:///ceuskit.db`" \
        in err
    assert list(here.iterdir()) == []


@pytest.mark.postgres
def test_postgresql_without_the_schema_or_the_database(pg_server: str, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path) -> None:
    from conftest import fresh_pg_database

    empty = fresh_pg_database(pg_server)
    for command in READING:
        err = _error(capsys, [*_args(command, tmp_path), "--db", empty])
        assert "holds no ceuskit study database; create it with `ceuskit study init --db" in err, (command, err)
    assert _tables(empty) == []
    missing = empty.rsplit("/", 1)[0] + "/ceuskit_not_there"
    err = _error(capsys, ["user", "list", "--db", missing])
    assert 'database "ceuskit_not_there" does not exist' in err and "ceuskit study init --db" in err
    assert main(["study", "init", "--db", empty]) == 0 and "audit_events" in _tables(empty)
    capsys.readouterr()
    assert main(["user", "list", "--db", empty]) == 0
    assert "no users yet" in capsys.readouterr().out


def test_foreign_files_are_refused_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database\n" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE patients (name TEXT)")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (text, other)}
    err = _error(capsys, ["study", "stats", "--db", f"sqlite:///{text}"])
    assert f"{text} is not a study database" in err
    err = _error(capsys, ["audit", "--db", f"sqlite:///{other}"])
    assert f"sqlite:///{other} holds no ceuskit study database; create it with `ceuskit study init" in err
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (text, other)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "other.db"]


def test_init_and_user_add_make_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'folder' / 'study.db'}"
    assert main(["study", "init", "--db", url]) == 0
    assert capsys.readouterr().out == f"database ready: {url}\n"
    assert "audit_events" in _tables(url)
    assert main(["user", "list", "--db", url]) == 0
    assert "no users yet" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # user add without --db: the README's default, ceuskit.db here
    assert main(["user", "add", "ann", "--role", "admin"]) == 0
    assert (tmp_path / "ceuskit.db").is_file()
    assert main(["user", "list"]) == 0 and "ann" in capsys.readouterr().out
