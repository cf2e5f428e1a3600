"""Sign-in throttling (OWASP ASVS 4.0.3, 2.2.1): the guessing address is slowed, its victim is not locked out.

The API tests sign in for real (Argon2id, argon2-cffi's defaults) from several client addresses; the guard's
own tests run on a clock of their own, so an hour of guessing takes no time.  Expected waits come from the
policy's parameters (first wait, doubling, cap), the ASVS figure is the standard's: no more than 100 failed
attempts per hour on one account.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ceuskit import store
from ceuskit.store import audit
from ceuskit.web.throttle import Refusal, SignInGuard, ThrottlePolicy, Ticket

from .conftest import PASSWORDS

ATTACKER, OFFICE, HOME = ("192.0.2.66", 40000), ("198.51.100.7", 40001), ("203.0.113.9", 40002)
POLICY = ThrottlePolicy()


def _client(app: Any, address: tuple[str, int]) -> TestClient:
    return TestClient(app, client=address)


def _try(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/session", json={"username": username, "password": password})


def test_wrong_passwords_from_one_address_throttle_that_address_not_the_user(reader_app: Any) -> None:
    attacker, office = _client(reader_app, ATTACKER), _client(reader_app, OFFICE)
    for _ in range(POLICY.pair_free):
        assert _try(attacker, "bob", "guess guess").status_code == 401
    throttled = _try(attacker, "bob", PASSWORDS["bob"])  # even the right password is not checked from there
    assert throttled.status_code == 429 and "set-cookie" not in throttled.headers
    assert throttled.headers["retry-after"] == str(int(POLICY.first_delay_s))
    assert throttled.json()["detail"] == ("too many failed sign-ins for this user from this address; "
                                          f"try again in {int(POLICY.first_delay_s)} s")
    signed_in = _try(office, "bob", PASSWORDS["bob"])  # bob, elsewhere, gets in
    assert signed_in.status_code == 200 and signed_in.json()["username"] == "bob"
    assert _try(attacker, "ann", PASSWORDS["ann"]).status_code == 200  # the address may still sign others in


def test_an_unknown_user_name_is_throttled_like_a_known_one(reader_app: Any) -> None:
    answers = {}
    for name, address in (("bob", ATTACKER), ("ghost", HOME)):
        attacker = _client(reader_app, address)
        for _ in range(POLICY.pair_free):
            assert _try(attacker, name, "guess guess").status_code == 401
        refused = _try(attacker, name, "guess guess")
        answers[name] = (refused.status_code, refused.headers["retry-after"], refused.json())
    assert answers["bob"] == answers["ghost"]  # no hint which accounts exist


def test_refusals_are_audited_once_per_minute_with_the_peer_address(reader_app: Any) -> None:
    attacker = _client(reader_app, ATTACKER)
    for _ in range(POLICY.pair_free + 3):
        _try(attacker, "bob", "guess guess")
    with store.Store(reader_app.state.context.settings.db_url) as db:
        throttled = audit.audit_events(db, action="sign_in_throttled")
        failed = audit.audit_events(db, action="sign_in_failed")
    assert len(throttled) == 1 and throttled[0]["address"] == ATTACKER[0]
    assert throttled[0]["detail"] == {"reason": "pair", "retry_after_s": int(POLICY.first_delay_s)}
    assert len(failed) == POLICY.pair_free and {e["address"] for e in failed} == {ATTACKER[0]}


def test_the_per_address_rate_refuses_early_whatever_the_names(reader_app: Any) -> None:
    attacker = _client(reader_app, ATTACKER)
    codes = [_try(attacker, f"name{i}", "guess guess").status_code for i in range(POLICY.attempts_per_minute + 2)]
    assert codes == [401] * POLICY.attempts_per_minute + [429, 429]
    refused = _try(attacker, "ann", PASSWORDS["ann"])
    assert refused.status_code == 429 and refused.json()["detail"].startswith(
        "too many sign-in attempts from this address; try again in ")
    assert 1 <= int(refused.headers["retry-after"]) <= 60


class Clock:
    """Monotonic seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(guard: SignInGuard, name: str, address: str) -> Ticket | Refusal:
    ticket = guard.admit(name, address)
    if isinstance(ticket, Ticket):
        guard.settle(ticket, ok=False)
    return ticket


def test_the_wait_doubles_per_failure_up_to_its_cap_and_always_ends() -> None:
    clock = Clock()
    guard = SignInGuard(POLICY, clock=clock)
    for _ in range(POLICY.pair_free):
        assert isinstance(_fail(guard, "dave", "a"), Ticket)
    waits = []
    for _ in range(8):
        refused = guard.admit("dave", "a")
        assert isinstance(refused, Refusal) and refused.reason == "pair"
        waits.append(refused.retry_after_s)
        clock.now += refused.retry_after_s  # wait as told: the next attempt is let through
        assert isinstance(_fail(guard, "dave", "a"), Ticket)
    expected = [min(POLICY.max_delay_s, POLICY.first_delay_s * 2 ** k) for k in range(8)]
    assert waits == expected  # 30, 60, 120, 240, 480, 900, 900, 900 s: slower and slower, never locked
    ticket = guard.admit("dave", "b")  # dave from another address is not slowed
    assert isinstance(ticket, Ticket)
    guard.settle(ticket, ok=True)


def test_in_flight_attempts_count_so_concurrent_guesses_cannot_slip_through() -> None:
    guard = SignInGuard(ThrottlePolicy(in_flight_per_address=100), clock=Clock())
    admitted = [guard.admit("dave", "a") for _ in range(POLICY.pair_free + 3)]
    assert sum(isinstance(t, Ticket) for t in admitted) == POLICY.pair_free
    for ticket in admitted[:POLICY.pair_free]:
        assert isinstance(ticket, Ticket)
        guard.cancel(ticket)  # never checked (server busy): not a failure
    assert isinstance(guard.admit("dave", "a"), Ticket)


def test_one_address_may_have_only_a_few_attempts_checked_at_once() -> None:
    guard = SignInGuard(POLICY, clock=Clock())
    admitted = [guard.admit(f"user{i}", "a") for i in range(POLICY.in_flight_per_address + 2)]
    tickets = [t for t in admitted if isinstance(t, Ticket)]
    assert len(tickets) == POLICY.in_flight_per_address
    refused = admitted[-1]
    assert isinstance(refused, Refusal) and refused.reason == "rate" and refused.retry_after_s == 2
    assert isinstance(guard.admit("user0", "b"), Ticket)  # another address is not held up
    guard.settle(tickets[0], ok=False)
    assert isinstance(guard.admit("user9", "a"), Ticket)  # one settled: room for the next


def test_guessing_one_account_from_many_addresses_stays_under_the_asvs_bound_and_the_owner_gets_in() -> None:
    clock = Clock()
    guard = SignInGuard(POLICY, clock=clock)
    owner = guard.admit("dave", "10.0.0.5")  # dave's workstation: he signed in from there before
    assert isinstance(owner, Ticket)
    guard.settle(owner, ok=True)
    failures, owner_refused, newcomer_waits = 0, 0, []
    for second in range(3600):  # a botnet guesses every second, each time from a fresh address
        clock.now += 1.0
        if isinstance(_fail(guard, "dave", f"198.18.{second // 250}.{second % 250}"), Ticket):
            failures += 1
        if second % 60 == 30:
            ticket = guard.admit("dave", "10.0.0.5")
            owner_refused += isinstance(ticket, Refusal)
            if isinstance(ticket, Ticket):
                guard.settle(ticket, ok=True)
            newcomer = guard.admit("dave", "192.0.2.200")  # dave on a new laptop: delayed, never locked
            newcomer_waits.append(newcomer.retry_after_s if isinstance(newcomer, Refusal) else 0)
            if isinstance(newcomer, Ticket):
                guard.cancel(newcomer)
    assert failures <= 100  # ASVS 2.2.1: no more than 100 failed attempts per hour on one account
    assert failures > POLICY.account_free  # ... it is a slow-down, not a lock
    assert owner_refused == 0
    assert max(newcomer_waits) <= POLICY.account_max_delay_s


def test_the_memory_kept_is_bounded_by_max_keys() -> None:
    clock = Clock()
    policy = ThrottlePolicy(max_keys=50)
    guard = SignInGuard(policy, clock=clock)
    for i in range(2000):
        clock.now += 0.01
        _fail(guard, f"user{i}", f"10.1.{i // 250}.{i % 250}")
    sizes = [len(part.items) for part in (guard._attempts, guard._failures, guard._pending, guard._known)]
    assert sizes[0] <= 50 and sizes[1] <= 150 and sizes[2] <= 150 and sizes[3] <= 50


@pytest.mark.parametrize(("seconds", "text"), [(0.2, "1 s"), (30, "30 s"), (89.5, "90 s"), (90, "2 min"),
                                                (900, "15 min")])
def test_waits_are_said_in_seconds_or_minutes(seconds: float, text: str) -> None:
    from ceuskit.web.throttle import wait_text

    assert wait_text(seconds) == text
