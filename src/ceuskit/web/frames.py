"""Frames for a player under load: encoded once, kept in a bounded cache, encoded off the event loop.

A reader's player asks for every frame of a clip, often several readers at once, and a blinded reader's
browser may not keep them (``no-store``), so the same frames are asked for again and again.
:class:`FrameCache` keeps the encoded PNGs of the clips being read — keyed by clip and frame, the least
recently used dropped first once they take more than ``max_bytes`` — and encodes a missing frame on a few
threads of its own, once however many requests ask for it at the same time.  :class:`Expiring` remembers a
lookup for a few seconds (which file a clip id names), so a burst of requests does not ask the database
each time.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from threading import Lock
from typing import Generic, TypeVar

__all__ = ["Expiring", "FrameCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FrameCache:
    """Encoded frames keyed by ``(clip, index)``, at most ``max_bytes`` of them (least recently used dropped).

    Parameters
    ----------
    max_bytes : int
        Bytes of encoded frames kept (default 256 MiB).
    workers : int, optional
        Threads that encode (default: the number of CPUs; PNG compression releases the GIL).
    """

    def __init__(self, max_bytes: int = 256 << 20, workers: int | None = None) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._bytes = 0
        self._pending: dict[tuple[str, int], Future[bytes]] = {}
        self._lock = Lock()
        self._executor = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                            thread_name_prefix="ceuskit-frame")
        self.hits = self.misses = 0

    @property
    def size_bytes(self) -> int:
        """Bytes of encoded frames kept now."""
        return self._bytes

    def _keep(self, key: tuple[str, int], data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        self._frames[key] = data
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            _, old = self._frames.popitem(last=False)
            self._bytes -= len(old)

    async def get(self, clip: str, index: int, encode: Callable[[], bytes]) -> bytes:
        """Frame ``index`` of ``clip``.

        From the cache, else ``encode()`` on an encoding thread (one call for all concurrent requests of that
        frame; an exception reaches each of them and nothing is kept).

        Parameters
        ----------
        clip : str
            The clip's key (its resolved path).
        index : int
            The frame, 0-based.
        encode : callable
            Makes the encoded frame when it is not kept.

        Returns
        -------
        bytes
            The encoded frame.
        """
        key = (clip, index)
        with self._lock:
            found = self._frames.get(key)
            if found is not None:
                self._frames.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
            future = self._pending.get(key)
            first = future is None
            if future is None:
                future = self._pending[key] = self._executor.submit(encode)
        if first:  # outside the lock: a future done already calls back at once, in this thread
            future.add_done_callback(lambda done: self._settle(key, done))
        return await asyncio.wrap_future(future)

    def _settle(self, key: tuple[str, int], done: Future[bytes]) -> None:
        with self._lock:
            self._pending.pop(key, None)
            if not done.cancelled() and done.exception() is None:
                self._keep(key, done.result())

    def close(self) -> None:
        """Stop the encoding threads and drop every frame."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._frames.clear()
            self._bytes = 0


class Expiring(Generic[K, V]):
    """Values remembered for ``ttl_s`` seconds, at most ``size`` of them (oldest dropped first).

    Parameters
    ----------
    ttl_s : float
        Seconds a value stays valid.
    size : int
        Values kept.
    """

    def __init__(self, ttl_s: float = 5.0, size: int = 4096) -> None:
        self.ttl_s, self.size = ttl_s, size
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: K) -> V | None:
        """Return the value of ``key`` if remembered less than ``ttl_s`` ago, else None.

        Parameters
        ----------
        key : hashable
            What the value was remembered under.

        Returns
        -------
        The value, or None when unknown or expired.
        """
        with self._lock:
            found = self._items.get(key)
            if found is None or time.monotonic() - found[0] >= self.ttl_s:
                return None
            return found[1]

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` for ``key`` from now.

        Parameters
        ----------
        key : hashable
            What to remember it under.
        value : object
            The value.

        Returns
        -------
        ``value`` itself (so a lookup reads ``cache.get(k) or cache.put(k, compute())``).
        """
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
