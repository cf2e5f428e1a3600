"""Accounts, sessions, the audit log and blinded reading sessions, on SQLite and on a real PostgreSQL server.

Expected facts come from outside the code under test: argon2-cffi verifies the stored hashes, hashlib gives
the SHA-256 of the tokens, the database's own rows (read with plain SQL) show what is stored.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cohort_fakes import write_cohort
from old_databases import downgrade_to, migrate_to, table_rows, write_old_study
from sqlalchemy import create_engine, inspect, text

from ceuskit import store, study
from ceuskit.errors import AccountError, ConflictError, StoreError
from ceuskit.store import accounts, audit, reading
from ceuskit.store.schema import utcnow

PASSWORD = "correct horse battery"


def _dump(url: str) -> str:
    """Every value of every table, as text (what a stolen database would show)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return "\n".join(str(row) for table in inspect(conn).get_table_names()
                             for row in conn.execute(text(f'SELECT * FROM "{table}"')))
    finally:
        engine.dispose()


@pytest.fixture()
def db(db_url: str, tmp_path: Path) -> store.Store:
    s = store.Store(db_url)
    study.import_manifest(s, write_cohort(tmp_path / "cohort"))
    yield s
    s.close()


def test_users_are_stored_with_an_argon2id_hash_only(db: store.Store, db_url: str) -> None:
    created = accounts.add_user(db, "Ann.Reader", role="reader", password=PASSWORD, actor="cli:test")
    assert created["username"] == "ann.reader" and created["role"] == "reader" and not created["disabled"]
    engine = create_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE username = 'ann.reader'")).scalar_one()
    engine.dispose()
    assert stored.startswith("$argon2id$") and PasswordHasher().verify(stored, PASSWORD)
    assert PASSWORD not in _dump(db_url)
    assert [u["username"] for u in accounts.list_users(db)] == ["ann.reader"]
    with pytest.raises(ConflictError, match="exists already"):
        accounts.add_user(db, "ann.reader", role="reader", password=PASSWORD, actor="cli:test")
    events = audit.audit_events(db)
    assert (events[0]["actor"], events[0]["action"], events[0]["target"]) == ("cli:test", "user_add", "user:ann.reader")


@pytest.mark.parametrize(("name", "role", "password", "message"), [
    ("", "reader", PASSWORD, "user name"), ("a b", "reader", PASSWORD, "user name"),
    ("x" * 65, "reader", PASSWORD, "user name"), ("software", "reader", PASSWORD, "reserved"),
    ("bob", "owner", PASSWORD, "role"), ("bob", "reader", "short", "at least 12"),
    ("bob", "reader", " padded password ", "white space"), ("bob", "reader", "p" * 1025, "at most 1024")])
def test_bad_accounts_are_refused(db: store.Store, name: str, role: str, password: str, message: str) -> None:
    with pytest.raises(AccountError, match=message):
        accounts.add_user(db, name, role=role, password=password, actor="cli:test")
    assert accounts.list_users(db) == []


def test_sign_in_gives_the_same_failure_for_unknown_users_wrong_and_disabled(db: store.Store, db_url: str) -> None:
    accounts.add_user(db, "ann", role="reader", password=PASSWORD, actor="cli:test")
    outcome, user, cookie, csrf = accounts.sign_in(db, "ann", PASSWORD, address="127.0.0.1")
    assert outcome == "ok" and user["username"] == "ann" and user["via"] == "session"
    assert accounts.session_principal(db, cookie, idle_s=60, max_age_s=3600)["id"] == user["id"]
    assert accounts.valid_csrf(db, user["session_id"], csrf) and not accounts.valid_csrf(db, user["session_id"], "x")
    assert accounts.sign_in(db, "ann", PASSWORD + "x")[0] == "failed"
    assert accounts.sign_in(db, "nobody", PASSWORD)[0] == "failed"
    accounts.set_user_disabled(db, "ann", True, actor="cli:test")
    assert accounts.sign_in(db, "ann", PASSWORD)[0] == "failed"
    assert accounts.session_principal(db, cookie, idle_s=60, max_age_s=3600) is None  # disabling ends sessions
    dump = _dump(db_url)
    assert cookie not in dump and csrf not in dump
    assert hashlib.sha256(cookie.encode()).hexdigest() in dump
    failed = audit.audit_events(db, action="sign_in_failed")
    assert [e["detail"]["reason"] for e in failed] == ["disabled", "unknown user", "wrong password"]


def test_five_failures_within_fifteen_minutes_throttle_the_user(db: store.Store, db_url: str) -> None:
    accounts.add_user(db, "ann", role="reader", password=PASSWORD, actor="cli:test")
    for _ in range(5):
        assert accounts.sign_in(db, "ann", "wrong password!")[0] == "failed"
    assert accounts.sign_in(db, "ann", PASSWORD)[0] == "throttled"  # even the right password: not even checked
    assert accounts.sign_in(db, "bob", "wrong password!")[0] == "failed"  # another user name is not affected
    engine = create_engine(db_url)
    with engine.begin() as conn:  # the failures age out of the 15-minute window
        conn.execute(text("UPDATE audit_events SET at = :at WHERE action = 'sign_in_failed'"),
                     {"at": utcnow() - timedelta(minutes=16)})
    engine.dispose()
    assert accounts.sign_in(db, "ann", PASSWORD)[0] == "ok"
    assert audit.count_events(db, action="sign_in_throttled") == 1


def test_a_success_resets_the_failure_count(db: store.Store) -> None:
    accounts.add_user(db, "ann", role="reader", password=PASSWORD, actor="cli:test")
    for _ in range(4):
        accounts.sign_in(db, "ann", "wrong password!")
    assert accounts.sign_in(db, "ann", PASSWORD)[0] == "ok"
    for _ in range(4):
        accounts.sign_in(db, "ann", "wrong password!")
    assert accounts.sign_in(db, "ann", PASSWORD)[0] == "ok"


def test_sessions_time_out_when_idle_or_old_and_end_on_sign_out(db: store.Store) -> None:
    accounts.add_user(db, "ann", role="admin", password=PASSWORD, actor="cli:test")
    _, user, cookie, _ = accounts.sign_in(db, "ann", PASSWORD)
    later = utcnow() + timedelta(minutes=31)
    assert accounts.session_principal(db, cookie, idle_s=1800, max_age_s=43200, now=later) is None
    assert accounts.session_principal(db, cookie, idle_s=1800, max_age_s=43200) is None  # ended for good
    _, user, cookie, _ = accounts.sign_in(db, "ann", PASSWORD)
    assert accounts.session_principal(db, cookie, idle_s=1800, max_age_s=60,
                                      now=utcnow() + timedelta(seconds=61)) is None
    _, user, cookie, _ = accounts.sign_in(db, "ann", PASSWORD)
    accounts.end_session(db, user["session_id"], actor="ann")
    assert accounts.session_principal(db, cookie, idle_s=1800, max_age_s=43200) is None
    assert accounts.session_principal(db, "not-a-session", idle_s=1800, max_age_s=43200) is None


def test_csrf_tokens_per_page_load_keep_the_newest_sixteen(db: store.Store) -> None:
    accounts.add_user(db, "ann", role="admin", password=PASSWORD, actor="cli:test")
    _, user, _, first = accounts.sign_in(db, "ann", PASSWORD)
    issued = [accounts.issue_csrf_token(db, user["session_id"]) for _ in range(accounts.MAX_CSRF_TOKENS)]
    assert not accounts.valid_csrf(db, user["session_id"], first)
    assert all(accounts.valid_csrf(db, user["session_id"], token) for token in issued)


def test_api_tokens_are_shown_once_stored_hashed_and_revocable(db: store.Store, db_url: str) -> None:
    accounts.add_user(db, "script", role="admin", password=PASSWORD, actor="cli:test")
    token = accounts.new_api_token(db, "script", actor="cli:test")
    assert len(token) >= 43
    assert accounts.token_principal(db, token)["username"] == "script"
    assert accounts.token_principal(db, token + "x") is None
    dump = _dump(db_url)
    assert token not in dump and hashlib.sha256(token.encode()).hexdigest() in dump
    assert accounts.list_users(db)[0]["active_tokens"] == 1
    accounts.set_user_disabled(db, "script", True, actor="cli:test")
    assert accounts.token_principal(db, token) is None
    accounts.set_user_disabled(db, "script", False, actor="cli:test")
    assert accounts.token_principal(db, token) is not None
    assert accounts.revoke_api_tokens(db, "script", actor="cli:test") == 1
    assert accounts.token_principal(db, token) is None


def test_a_new_password_ends_sessions(db: store.Store) -> None:
    accounts.add_user(db, "ann", role="reader", password=PASSWORD, actor="cli:test")
    _, _, cookie, _ = accounts.sign_in(db, "ann", PASSWORD)
    accounts.set_password(db, "ann", "another long password", actor="cli:test")
    assert accounts.session_principal(db, cookie, idle_s=60, max_age_s=3600) is None
    assert accounts.sign_in(db, "ann", PASSWORD)[0] == "failed"
    assert accounts.sign_in(db, "ann", "another long password")[0] == "ok"
    with pytest.raises(AccountError, match="no user"):
        accounts.set_password(db, "nobody", "another long password", actor="cli:test")


def _readers(db: store.Store, *names: str) -> dict[str, int]:
    return {name: accounts.add_user(db, name, role="reader", password=PASSWORD, actor="cli:test")["id"]
            for name in names}


LABELS = reading.ReadLabels(arterial="hyper", washout="yes", washout_timing="early", late="hypo", onset_s=11.5)


def test_reading_session_gives_each_reader_every_lesion_once_in_their_own_order(db: store.Store) -> None:
    ids = _readers(db, "ann", "bob")
    opened = reading.open_reading_session(db, 1, "round 1", ["ann", "bob"], actor="boss")
    assert opened["n_items"] == 10
    orders: dict[str, list[int]] = {}
    for name, user_id in ids.items():
        seen = []
        while (item := reading.next_item(db, opened["id"], user_id)) is not None:
            assert item["position"] == len(seen) + 1 and item["total"] == 10
            assert reading.next_item(db, opened["id"], user_id)["item"] == item["item"]  # same until read
            reading.record_read(db, opened["id"], user_id, item["item"], LABELS, actor=name)
            seen.append(item["lesion_id"])
        orders[name] = seen
    lesions = sorted(lesion["id"] for p in store.get_study(db, 1)["patients"] for lesion in p["lesions"])
    assert sorted(orders["ann"]) == sorted(orders["bob"]) == lesions
    assert orders["ann"] != orders["bob"]  # independent random orders: equal with probability 1/10!
    progress = {p["reader"]: (p["done"], p["total"]) for p in reading.list_reading_sessions(db)[0]["progress"]}
    assert progress == {"ann": (10, 10), "bob": (10, 10)}
    reads = [r for r in store.reader_reads(db) if r["source"] == "session"]
    assert len(reads) == 20 and {r["washout"] for r in reads} == {"early"} and {r["onset_s"] for r in reads} == {11.5}


def test_a_read_is_final_until_an_admin_reopens_it(db: store.Store) -> None:
    ids = _readers(db, "ann")
    session_id = reading.open_reading_session(db, 1, "final", ["ann"], actor="boss")["id"]
    item = reading.next_item(db, session_id, ids["ann"])
    reading.record_read(db, session_id, ids["ann"], item["item"], LABELS, actor="ann")
    with pytest.raises(ConflictError, match="final"):
        reading.record_read(db, session_id, ids["ann"], item["item"], LABELS, actor="ann")
    reopened = reading.reopen_item(db, session_id, item["item"], "ann", actor="boss")
    assert reopened["removed"]["arterial"] == "hyper"
    assert reading.next_item(db, session_id, ids["ann"])["item"] == item["item"]
    reading.record_read(db, session_id, ids["ann"], item["item"],
                        reading.ReadLabels(arterial="iso", washout="no", washout_timing="none", late="iso"),
                        actor="ann")
    event = audit.audit_events(db, action="read_reopen")[0]
    assert event["actor"] == "boss" and event["detail"]["removed"]["onset_s"] == 11.5
    assert event["target"] == f"reading_item:{item['item']}"


def test_reading_session_rules(db: store.Store) -> None:
    ids = _readers(db, "ann", "bob")
    accounts.add_user(db, "boss", role="admin", password=PASSWORD, actor="cli:test")
    with pytest.raises(AccountError, match="an admin"):
        reading.open_reading_session(db, 1, "x", ["boss"], actor="boss")
    with pytest.raises(AccountError, match="no user"):
        reading.open_reading_session(db, 1, "x", ["carl"], actor="boss")
    with pytest.raises(AccountError, match="twice"):
        reading.open_reading_session(db, 1, "x", ["ann", "ann"], actor="boss")
    with pytest.raises(StoreError, match="no study"):
        reading.open_reading_session(db, 99, "x", ["ann"], actor="boss")
    first = store.get_study(db, 1)["patients"][0]["lesions"][0]["id"]
    only = reading.open_reading_session(db, 1, "subset", ["ann"], actor="boss", lesion_ids=[first])
    assert only["n_items"] == 1
    with pytest.raises(ConflictError, match="named 'subset'"):
        reading.open_reading_session(db, 1, "subset", ["ann"], actor="boss")
    with pytest.raises(AccountError, match="not yours"):
        reading.next_item(db, only["id"], ids["bob"])
    clip = store.get_lesion(db, first)["clip_id"]
    assert reading.reader_clip_ids(db, ids["ann"]) == {clip} and reading.reader_clip_ids(db, ids["bob"]) == set()
    reading.close_reading_session(db, only["id"], actor="boss")
    assert reading.reader_clip_ids(db, ids["ann"]) == set()
    with pytest.raises(StoreError, match="closed"):
        reading.next_item(db, only["id"], ids["ann"])
    with pytest.raises(StoreError, match="washout_timing"):
        reading.ReadLabels(arterial="hyper", washout="no", washout_timing="early", late="iso")
    with pytest.raises(StoreError, match="arterial"):
        reading.ReadLabels(arterial="bright", washout="no", washout_timing="none", late="iso")
    with pytest.raises(StoreError, match="onset_s"):
        reading.ReadLabels(arterial="iso", washout="no", washout_timing="none", late="iso", onset_s=float("nan"))


def test_blinded_reads_replace_manifest_reads_of_the_same_reader(db: store.Store, tmp_path: Path) -> None:
    study.import_reads(db, tmp_path / "cohort" / "reads.csv")
    ids = _readers(db, "reader1")
    session_id = reading.open_reading_session(db, 1, "again", ["reader1"], actor="boss")["id"]
    item = reading.next_item(db, session_id, ids["reader1"])
    reading.record_read(db, session_id, ids["reader1"], item["item"],
                        reading.ReadLabels(arterial="hypo", washout="yes", washout_timing=None, late="hyper",
                                           onset_s=None), actor="reader1")
    reads = {(r["lesion_id"], r["reader"]): r for r in store.reader_reads(db)}
    assert len(reads) == 20
    replaced = reads[(item["lesion_id"], "reader1")]
    assert (replaced["arterial"], replaced["washout"], replaced["late"], replaced["source"]) == (
        "hypo", "yes", "hyper", "session")


OLD_TABLES = ("studies", "patients", "clips", "lesions", "rois", "analyses", "reader_reads")


def test_migration_0002_keeps_a_0001_database_and_downgrades(db_url: str, tmp_path: Path) -> None:
    migrate_to(db_url, "0001")  # a 0001 database with a study and manifest reads, as that version stored it
    lesions, _ = study.read_manifest(write_cohort(tmp_path / "cohort"))
    write_old_study(db_url, lesions, study.read_reads(tmp_path / "cohort" / "reads.csv"))
    before = table_rows(db_url, OLD_TABLES)
    assert len(before["lesions"]) == 10 and len(before["reader_reads"]) == 20
    migrate_to(db_url, "0002")
    assert table_rows(db_url, OLD_TABLES) == before
    with store.Store(db_url, migrate=False) as new:
        assert len(store.reader_reads(new)) == 20
        accounts.add_user(new, "ann", role="reader", password=PASSWORD, actor="cli:test")
    version, tables = downgrade_to(db_url, "0001")
    assert version == "0001" and "users" not in tables and "reading_reads" not in tables
    assert table_rows(db_url, OLD_TABLES) == before
