"""A small pool for password checks, so Argon2 cannot exhaust the server.

Argon2id as configured (argon2-cffi's RFC 9106 defaults) takes 64 MiB and several CPU-seconds per check.  Run
on the web server's shared thread pool, a flood of sign-ins would hold dozens of those at once: memory
balloons and every other request waits for a thread.  :class:`HashPool` runs checks on its own few threads
(by default one per four CPUs, at least one) at a lower scheduling priority, so the event loop, health checks
and frames keep the CPU they need, and it refuses work at once — :class:`PoolBusy`, with a suggested wait —
when more than ``max_waiting`` checks are already queued.  A queued check holds a few hundred bytes (the
request), never a hash's memory: that is allocated only when a worker starts it.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["HashPool", "PoolBusy", "default_workers"]

P = ParamSpec("P")
T = TypeVar("T")
_NICE = 10  # scheduling priority of the hashing threads (Linux: per thread; Argon2's own threads inherit it)


class PoolBusy(Exception):
    """Every worker is busy and the queue is full: try again in ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"busy; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def default_workers() -> int:
    """One worker per four CPUs, at least one (Argon2 runs its lanes on several threads of its own).

    Returns
    -------
    int
        The number of password-check threads.
    """
    return max(1, (os.cpu_count() or 1) // 4)


def _lower_priority() -> None:
    """Make this worker thread (and the threads it starts) yield the CPU to the event loop."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICE)
    except (AttributeError, OSError):  # not Linux, or not permitted: run at normal priority
        pass


class HashPool:
    """Runs blocking password checks on ``workers`` threads, refusing beyond ``max_waiting`` queued ones.

    Parameters
    ----------
    workers : int, optional
        Threads that check passwords (default :func:`default_workers`).
    max_waiting : int
        Checks that may wait for a worker; more are refused with :class:`PoolBusy`.
    """

    def __init__(self, workers: int | None = None, max_waiting: int = 8) -> None:
        self.workers = workers or default_workers()
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ceuskit-hash",
                                            initializer=_lower_priority)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._mean_s = 1.0  # running mean duration of one check, for the suggested wait

    @property
    def in_flight(self) -> int:
        """Checks running or queued now."""
        return self._in_flight

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args, **kwargs)`` on a worker thread; :class:`PoolBusy` at once when the queue is full.

        A check counts against the queue until it has finished or was dropped before starting, even when the
        request that asked for it has gone away.

        Parameters
        ----------
        work : callable
            The blocking check (e.g. :func:`ceuskit.store.accounts.sign_in`).
        *args, **kwargs
            Its arguments.

        Returns
        -------
        Whatever ``work`` returns.

        Raises
        ------
        PoolBusy
            Every worker busy and ``max_waiting`` checks queued; its ``retry_after_s`` estimates the wait.
        """
        with self._lock:
            if self._in_flight >= self.workers + self.max_waiting:
                waves = self._in_flight / self.workers
                raise PoolBusy(max(1, math.ceil(waves * self._mean_s)))
            self._in_flight += 1

        def timed() -> T:
            started = time.perf_counter()
            try:
                return work(*args, **kwargs)
            finally:
                with self._lock:
                    self._mean_s = 0.8 * self._mean_s + 0.2 * min(60.0, time.perf_counter() - started)

        def finished(_: Future[T]) -> None:
            with self._lock:
                self._in_flight -= 1

        future = self._executor.submit(timed)
        future.add_done_callback(finished)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Stop the workers (checks already queued are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
