"""Frames decoded ahead in a background thread while the caller works on the previous ones.

JPEG, JPEG 2000, RLE and video decoders release the GIL, and so does most of the per-frame numpy work of a
reading, so on two or more CPUs decoding and analysing overlap instead of adding up. One thread owns the
underlying iterator (only it touches the file); a few frames wait in a bounded queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

__all__ = ["read_ahead"]

T = TypeVar("T")

_END = object()
_POLL_S = 0.1


@contextmanager
def read_ahead(items: Iterable[T], depth: int = 4) -> Iterator[Iterator[T]]:
    """Iterate ``items`` ahead of the caller, at most ``depth`` items in waiting.

    Use as ``with read_ahead(clip.frames.iterate(0, n)) as frames: for frame in frames: ...``. Items come in
    order; an exception raised while producing one is raised where that item would have come. Leaving the
    block early (an error in the caller's loop) stops the background thread before the block exits, so the
    file can be closed safely afterwards.
    """
    if depth < 1:
        raise ValueError(f"depth must be ≥ 1, got {depth}")
    waiting: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put((_END, exc))
            return
        put((_END, None))

    def consume() -> Iterator[T]:
        while True:
            item, error = waiting.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield cast(T, item)

    thread = threading.Thread(target=produce, name="ceuskit-read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()
