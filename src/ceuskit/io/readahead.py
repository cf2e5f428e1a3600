"""Frames decoded ahead in background threads while the caller works on the previous ones.

JPEG, JPEG 2000, RLE and video decoders release the GIL, and so does most of the per-frame numpy work of a
reading, so on two or more CPUs decoding and analysing overlap instead of adding up. :func:`read_ahead`: one
thread owns the underlying iterator (only it touches the file); a few frames wait in a bounded queue.
:func:`read_ahead_split`: where frames can be read independently of one another (compressed DICOM frames,
image files), several threads each decode every k-th run of frames, and the caller still gets them in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar, cast

__all__ = ["read_ahead", "read_ahead_split"]

T = TypeVar("T")

_END = object()
_RUN_END = object()
_POLL_S = 0.1

_Entry = tuple[object, BaseException | None]


def _put(waiting: queue.Queue[_Entry], entry: _Entry, stop: threading.Event) -> bool:
    """Put ``entry`` once there is room; False (not put) once ``stop`` is set."""
    while not stop.is_set():
        try:
            waiting.put(entry, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


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
    waiting: queue.Queue[_Entry] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(waiting, (item, None), stop):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            _put(waiting, (_END, exc), stop)
            return
        _put(waiting, (_END, None), stop)

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


@contextmanager
def read_ahead_split(read: Callable[[int, int], Iterable[T]], start: int, stop: int, *, depth: int = 4,
                     workers: int = 2, run: int = 4) -> Iterator[Iterator[T]]:
    """Iterate ``read(start, stop)`` ahead of the caller, several threads reading runs of items at once.

    The items ``start … stop-1`` are cut into runs of ``run``; thread j reads runs j, j + workers, … (each
    run by one call ``read(first, last)``, which must give the same items as the corresponding part of
    ``read(start, stop)`` and may be called from several threads at once). The caller gets every item in
    order. At most about ``depth`` items wait in all. An exception raised while reading a run is raised
    where its item would have come; leaving the block early stops every thread before the block exits.
    With one worker this is :func:`read_ahead` of ``read(start, stop)``.

    Parameters
    ----------
    read : gives the items first … last-1 in order.
    start, stop : the items to read.
    depth : items in waiting, at most (about; at least one run per thread).
    workers : threads reading.
    run : items per run.

    Returns
    -------
    A context manager giving an iterator over the items.

    Raises
    ------
    ValueError
        ``depth``, ``workers`` or ``run`` below 1.
    """
    if depth < 1 or workers < 1 or run < 1:
        raise ValueError(f"depth, workers and run must be ≥ 1, got {depth}, {workers}, {run}")
    if workers == 1 or stop - start <= run:
        with read_ahead(read(start, stop), depth=depth) as items:
            yield items
        return
    firsts = list(range(start, stop, run))
    used = min(workers, len(firsts))
    waiting: list[queue.Queue[_Entry]] = [queue.Queue(maxsize=max(depth // used, run + 1)) for _ in range(used)]
    halt = threading.Event()

    def produce(j: int) -> None:
        for first in firsts[j::used]:
            try:
                for item in read(first, min(first + run, stop)):
                    if not _put(waiting[j], (item, None), halt):
                        return
            except BaseException as exc:  # handed to the consumer, raised where the run's item would come
                _put(waiting[j], (_END, exc), halt)
                return
            if not _put(waiting[j], (_RUN_END, None), halt):
                return

    def consume() -> Iterator[T]:
        for r in range(len(firsts)):
            source = waiting[r % used]
            while True:
                item, error = source.get()
                if error is not None:
                    raise error
                if item is _RUN_END:
                    break
                yield cast(T, item)

    threads = [threading.Thread(target=produce, args=(j,), name=f"ceuskit-read-ahead-{j}", daemon=True)
               for j in range(used)]
    for thread in threads:
        thread.start()
    try:
        yield consume()
    finally:
        halt.set()
        for thread in threads:
            thread.join()
