"""``ceuskit audit`` filters: every action and every actor, against a log that holds each action.

The log is made by the real code paths where the command line reaches them (``user add``, sign-ins through
:func:`ceuskit.store.accounts.sign_in`, throttling after five failures) and by ``record_event`` for the
actions of the browser and the reading sessions; what each filter must return is read from the SQLite file
with the standard library's sqlite3, not through ceuskit.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ceuskit.cli import main
from ceuskit.store import Store
from ceuskit.store.accounts import sign_in
from ceuskit.store.audit import ACTIONS, record_event

ACTORS = ("ann", "bob", "bootstrap", "cli:tester")


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('audit') / 'audit.db'}"
    assert main(["study", "init", "--db", url]) == 0
    assert main(["user", "add", "ann", "--role", "admin", "--db", url]) == 0
    with Store(url) as store:
        for _ in range(5):
            assert sign_in(store, "Ann", "not her password", address="127.0.0.1")[0] == "failed"
        assert sign_in(store, "ann", "still not it")[0] == "throttled"
        assert sign_in(store, "nobody", "whatever")[0] == "failed"
        for k, action in enumerate(ACTIONS):  # each action, again, by each kind of actor
            record_event(store, ACTORS[k % len(ACTORS)], action, target=f"lesion:{k}", detail={"k": k})
    return url


def _expected(url: str, where: str, *values: str, limit: int = 200) -> list[int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        rows = connection.execute(f"SELECT id FROM audit_events WHERE {where} ORDER BY id DESC LIMIT {limit}",
                                  values).fetchall()
    return [row[0] for row in rows]


def _listed(capsys: pytest.CaptureFixture[str], *args: str) -> list[int]:
    capsys.readouterr()
    assert main(["audit", "--json", *args]) == 0
    return [e["id"] for e in json.loads(capsys.readouterr().out)]


def test_the_log_holds_every_action(log: str) -> None:
    with sqlite3.connect(log.removeprefix("sqlite:///")) as connection:
        held = {row[0] for row in connection.execute("SELECT DISTINCT action FROM audit_events")}
    assert held == set(ACTIONS)


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_filter(log: str, action: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(log, "action = ?", action)
    assert expected and _listed(capsys, "--action", action, "--db", log) == expected
    assert main(["audit", "--action", action, "--db", log]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(expected) and all(f" {action} " in line for line in lines)


@pytest.mark.parametrize("actor", [*ACTORS, "nobody", "Ann", "CLI:TESTER"])
def test_each_actor_filter_whatever_its_case(log: str, actor: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(log, "lower(actor) = ?", actor.lower())
    assert expected and _listed(capsys, "--user", actor, "--db", log) == expected


def test_filters_combine_and_spellings_are_forgiven(log: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = _expected(log, "actor = ? AND action = ?", "ann", "sign_in_failed")
    assert len(expected) == 5
    assert _listed(capsys, "--user", "ann", "--action", "sign_in_failed", "--db", log) == expected
    assert _listed(capsys, "--user", "ann", "--action", "Sign-In-Failed", "--db", log) == expected
    assert _listed(capsys, "--action", "sign_in_failed", "--limit", "2", "--db", log) == \
        _expected(log, "action = ?", "sign_in_failed", limit=2)
    assert _listed(capsys, "--db", log) == _expected(log, "1 = 1")


def test_no_match_says_how_much_the_log_holds(log: str, capsys: pytest.CaptureFixture[str]) -> None:
    total = len(_expected(log, "1 = 1", limit=10_000))
    assert main(["audit", "--user", "bob", "--action", "sign_in", "--db", log]) == 0
    assert capsys.readouterr().out == f"no entry matches --user bob and --action sign_in (the audit log holds {total})\n"
    assert main(["audit", "--action", "dance", "--db", log]) == 2
    assert "not an audited action" in capsys.readouterr().err


def test_an_empty_log_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["study", "init", "--db", url]) == 0
    capsys.readouterr()
    assert main(["audit", "--action", "sign_in_failed", "--db", url]) == 0
    assert capsys.readouterr().out == "the audit log is empty\n"
