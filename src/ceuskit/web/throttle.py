"""Sign-in throttling that slows guessing down without letting anyone lock a user out (OWASP ASVS 4.0.3, 2.2.1).

Every attempt is counted under three keys: its client address, its user name (an unknown name counts the same
as a known one, so the answers say nothing about which accounts exist) and the pair of both.  An attempt is
refused early — before any password hash is computed — while one of these waits runs:

1. **rate**: more than ``attempts_per_minute`` attempts from one address within 60 s, whatever their outcome,
   or more than ``in_flight_per_address`` being checked at once (one address cannot fill the password-check
   queue that every user shares);
2. **pair**: from the ``pair_free``-th failure of one user name from one address within ``window_s``, each
   further failure doubles the wait, from ``first_delay_s`` up to ``max_delay_s``.  The address that guesses
   is slowed; the user signing in from anywhere else is not;
3. **address**: the same from the ``address_free``-th failure from one address over all user names
   (password spraying);
4. **account**: from the ``account_free``-th failure of one user name from all addresses within ``window_s``,
   a wait doubling from 1 s up to ``account_max_delay_s``: at most about ``account_free + window_s /
   account_max_delay_s`` guesses per account and window however many addresses guess (ASVS: no more than 100
   failed attempts per hour).  It does not apply at an address that user signed in from within ``known_s``,
   so a third party with many addresses cannot keep a user out of their usual workstation; elsewhere that
   user waits at most ``account_max_delay_s`` per attempt.

Nothing is a lock: every wait ends by itself, and the refusal says how long it lasts (``Retry-After``).  A
success forgets the pair's failures (not the account's: they were someone's guesses).  Attempts still being
checked count as failures until they are settled, so concurrent guesses cannot slip past the limits.

The state lives in memory, per server process: a restart forgets it, and each of several worker processes
would keep its own (``ceuskit serve`` runs one).  At most ``max_keys`` keys of each kind are kept, the least
recently used forgotten first, so a flood of names or addresses cannot exhaust memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from threading import Lock
from typing import Generic, TypeVar

__all__ = ["Refusal", "SignInGuard", "ThrottlePolicy", "Ticket", "wait_text"]

_HISTORY = 64  # failure times kept per key: the waits stop growing long before this many
_KNOWN_PER_USER = 16  # addresses remembered per user
_IN_FLIGHT_WAIT_S = 2.0  # suggested wait when an address has too many attempts being checked
V = TypeVar("V")


@dataclass(frozen=True)
class ThrottlePolicy:
    """The limits of :class:`SignInGuard` (see the module docstring for what each does).

    Parameters
    ----------
    attempts_per_minute : int
        Attempts one address may make within 60 s.
    in_flight_per_address : int
        Attempts of one address being checked at the same time.
    window_s : float
        Failures older than this (seconds) are forgotten.
    pair_free, address_free, account_free : int
        Failures of a user name from one address, from one address over all names, of one name from all
        addresses, before waits begin.
    first_delay_s : float
        The first wait of a pair or an address, in seconds; each further failure doubles it ...
    max_delay_s : float
        ... up to this many seconds.
    account_max_delay_s : float
        The longest wait of an account (from 1 s, doubling).
    known_s : float
        An address a user signed in from is theirs (exempt from the account's wait) for this many seconds.
    max_keys : int
        Keys of each kind kept in memory.
    """

    attempts_per_minute: int = 10
    in_flight_per_address: int = 2
    window_s: float = 3600.0
    pair_free: int = 5
    address_free: int = 20
    account_free: int = 10
    first_delay_s: float = 30.0
    max_delay_s: float = 900.0
    account_max_delay_s: float = 60.0
    known_s: float = 30 * 86400.0
    max_keys: int = 20_000


@dataclass(frozen=True)
class Ticket:
    """An admitted attempt, to be settled with :meth:`SignInGuard.settle` (or cancelled)."""

    name: str
    address: str


@dataclass(frozen=True)
class Refusal:
    """An attempt refused: ``retry_after_s`` seconds to wait and ``reason`` (rate, pair, address or account)."""

    retry_after_s: int
    reason: str

    @property
    def message(self) -> str:
        """What the person signing in reads: why, and when to try again."""
        why = {"rate": "too many sign-in attempts from this address",
               "pair": "too many failed sign-ins for this user from this address",
               "address": "too many failed sign-ins from this address",
               "account": "too many failed sign-ins for this user"}[self.reason]
        return f"{why}; try again in {wait_text(self.retry_after_s)}"


def wait_text(seconds: float) -> str:
    """Return a wait as people say it.

    ``"40 s"`` below 90 seconds, else whole minutes rounded up (``"15 min"``).

    Parameters
    ----------
    seconds : float
        The wait, in seconds.

    Returns
    -------
    str
        Whole seconds (at least 1) or whole minutes, with the unit.
    """
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    return f"{math.ceil(seconds / 60)} min"


class _Bounded(Generic[V]):
    """An LRU mapping of at most ``limit`` keys, making missing values with ``make``."""

    def __init__(self, limit: int, make: Callable[[], V]) -> None:
        self.limit, self.make = limit, make
        self.items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V:
        found = self.items.get(key)
        if found is None:
            found = self.make()
        self.put(key, found)
        return found

    def put(self, key: Hashable, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)

    def peek(self, key: Hashable) -> V | None:
        return self.items.get(key)


def _doubling_wait(times: list[float], free: int, first_s: float, cap_s: float, now: float) -> float:
    """Seconds still to wait after ``times`` (failures, oldest first).

    Nothing (0 s) below ``free`` failures, then ``first_s`` doubling per further failure up to ``cap_s``,
    counted from the last one.
    """
    if len(times) < free:
        return 0.0
    delay = min(cap_s, first_s * 2.0 ** (len(times) - free))
    return max(0.0, times[-1] + delay - now)


class SignInGuard:
    """Decides whether a sign-in attempt may be checked now (thread-safe; see the module docstring).

    Parameters
    ----------
    policy : ThrottlePolicy
        The limits.
    clock : callable, optional
        Monotonic seconds (tests pass their own).
    """

    def __init__(self, policy: ThrottlePolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._lock = Lock()
        limit = self.policy.max_keys
        self._attempts: _Bounded[deque[float]] = _Bounded(limit, lambda: deque(maxlen=self.policy.attempts_per_minute))
        self._failures: _Bounded[deque[float]] = _Bounded(3 * limit, lambda: deque(maxlen=_HISTORY))
        self._pending: _Bounded[list[int]] = _Bounded(3 * limit, lambda: [0])
        self._known: _Bounded[_Bounded[float]] = _Bounded(limit, lambda: _Bounded(_KNOWN_PER_USER, float))
        self._reported: _Bounded[float] = _Bounded(limit, float)

    @staticmethod
    def _keys(name: str, address: str) -> dict[str, tuple[str, ...]]:
        return {"pair": ("pair", name, address), "address": ("address", address), "account": ("account", name)}

    def _times(self, key: tuple[str, ...], now: float) -> list[float]:
        """Failure times of ``key`` within the window, with attempts in flight counted as failing now."""
        found = self._failures.peek(key)
        horizon = now - self.policy.window_s
        times = [] if found is None else [t for t in found if t > horizon]
        pending = self._pending.peek(key)
        return times + [now] * (0 if pending is None else pending[0])

    def admit(self, name: str, address: str) -> Ticket | Refusal:
        """Admit an attempt of user ``name`` from ``address`` (counted in flight), or refuse it with a wait.

        Parameters
        ----------
        name : str
            The user name tried, normalised (lower case); unknown names are counted alike.
        address : str
            The client address (the peer's, or a trusted proxy's ``X-Forwarded-For``).

        Returns
        -------
        Ticket or Refusal
            A ticket to :meth:`settle` (or :meth:`cancel`) once the password was checked, or the refusal
            with the longest wait that applies.
        """
        p = self.policy
        with self._lock:
            now = self._clock()
            attempts = self._attempts.get(address)
            waits = {"rate": attempts[0] + 60.0 - now if len(attempts) == attempts.maxlen else 0.0}
            keys = self._keys(name, address)
            in_flight = self._pending.peek(keys["address"])
            if in_flight is not None and in_flight[0] >= p.in_flight_per_address:
                waits["rate"] = max(waits["rate"], _IN_FLIGHT_WAIT_S)
            waits["pair"] = _doubling_wait(self._times(keys["pair"], now), p.pair_free, p.first_delay_s,
                                           p.max_delay_s, now)
            waits["address"] = _doubling_wait(self._times(keys["address"], now), p.address_free, p.first_delay_s,
                                              p.max_delay_s, now)
            known = self._known.peek(name)
            seen = None if known is None else known.peek(address)
            if seen is None or now - seen >= p.known_s:
                waits["account"] = _doubling_wait(self._times(keys["account"], now), p.account_free, 1.0,
                                                  p.account_max_delay_s, now)
            reason, wait = max(waits.items(), key=lambda item: item[1])
            if wait > 0:
                return Refusal(retry_after_s=max(1, math.ceil(wait)), reason=reason)
            attempts.append(now)
            for key in keys.values():
                self._pending.get(key)[0] += 1
            return Ticket(name=name, address=address)

    def _release(self, ticket: Ticket) -> None:
        for key in self._keys(ticket.name, ticket.address).values():
            counter = self._pending.peek(key)
            if counter is not None and counter[0] > 0:
                counter[0] -= 1

    def settle(self, ticket: Ticket, *, ok: bool) -> None:
        """Record how an admitted attempt ended.

        A failure counts under its three keys; a success clears the pair's failures and makes the address one
        of the user's own.

        Parameters
        ----------
        ticket : Ticket
            What :meth:`admit` returned.
        ok : bool
            Whether the user signed in.
        """
        with self._lock:
            now = self._clock()
            self._release(ticket)
            keys = self._keys(ticket.name, ticket.address)
            if ok:
                self._failures.items.pop(keys["pair"], None)
                self._known.get(ticket.name).put(ticket.address, now)
                return
            for key in keys.values():
                self._failures.get(key).append(now)

    def first_refusal(self, address: str) -> bool:
        """Tell whether a refusal at ``address`` is the first within a minute.

        Only that one is worth an audit entry: a flood of refused attempts costs no database write each.

        Parameters
        ----------
        address : str
            The refused client's address.

        Returns
        -------
        bool
            True at most once a minute per address.
        """
        with self._lock:
            now = self._clock()
            last = self._reported.peek(address)
            if last is not None and now - last < 60.0:
                return False
            self._reported.put(address, now)
            return True

    def cancel(self, ticket: Ticket) -> None:
        """Forget an admitted attempt that was never checked (the server was too busy).

        Parameters
        ----------
        ticket : Ticket
            What :meth:`admit` returned.
        """
        with self._lock:
            self._release(ticket)
            attempts = self._attempts.peek(ticket.address)
            if attempts:
                attempts.pop()
