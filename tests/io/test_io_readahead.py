"""Frames decoded ahead in background threads (one, or several each reading runs): order, errors and early exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ceuskit.io.readahead import read_ahead, read_ahead_split


def test_items_come_in_order_and_all_of_them() -> None:
    with read_ahead(range(1000), depth=3) as items:
        assert list(items) == list(range(1000))


def test_an_error_while_producing_is_raised_where_the_item_would_come() -> None:
    def broken() -> Iterator[int]:
        yield 0
        yield 1
        raise OSError("truncated frame 2")

    seen = []
    with pytest.raises(OSError, match="truncated frame 2"), read_ahead(broken()) as items:
        for item in items:
            seen.append(item)
    assert seen == [0, 1]


def test_leaving_early_stops_the_producer_before_the_block_exits() -> None:
    produced = []

    def endless() -> Iterator[int]:
        k = 0
        while True:
            produced.append(k)
            yield k
            k += 1

    with pytest.raises(RuntimeError), read_ahead(endless(), depth=2) as items:
        for item in items:
            if item == 5:
                raise RuntimeError("caller failed")
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count  # nothing runs after the block
    assert count <= 5 + 1 + 2 + 1  # at most the queue's depth (and the item in hand) beyond the consumer
    assert not any(t.name == "ceuskit-read-ahead" for t in threading.enumerate())


def test_the_producer_runs_in_another_thread_ahead_of_the_consumer() -> None:
    threads = []

    def recording() -> Iterator[int]:
        for k in range(4):
            threads.append(threading.current_thread())
            yield k

    with read_ahead(recording(), depth=4) as items:
        time.sleep(0.3)  # the producer fills the queue while the consumer has not asked yet
        assert len(threads) == 4
        assert list(items) == [0, 1, 2, 3]
    assert all(t is not threading.current_thread() for t in threads)


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="depth"), read_ahead([1], depth=0):
        pass


def _runs_of(log: list[tuple[int, int, str]], fail_at: int | None = None) -> Callable[[int, int], Iterator[int]]:
    def read(first: int, last: int) -> Iterator[int]:
        log.append((first, last, threading.current_thread().name))
        for k in range(first, last):
            if k == fail_at:
                raise OSError(f"truncated frame {k}")
            time.sleep(0.0005)
            yield k
    return read


@pytest.mark.parametrize(("workers", "run", "depth"), [(1, 4, 4), (2, 4, 4), (3, 5, 2), (4, 1, 50), (2, 100, 4)])
def test_split_reading_gives_every_item_in_order(workers: int, run: int, depth: int) -> None:
    log: list[tuple[int, int, str]] = []
    with read_ahead_split(_runs_of(log), 3, 250, depth=depth, workers=workers, run=run) as items:
        assert list(items) == list(range(3, 250))
    if workers > 1 and run < 247:
        assert sorted((a, b) for a, b, _ in log) == [(a, min(a + run, 250)) for a in range(3, 250, run)]
        assert len({name for _, _, name in log}) == workers  # each run read once, by all the threads


def test_split_reading_raises_an_error_where_its_item_would_come() -> None:
    seen = []
    with pytest.raises(OSError, match="truncated frame 37"), read_ahead_split(
            _runs_of([], fail_at=37), 0, 100, depth=6, workers=3, run=4) as items:
        for item in items:
            seen.append(item)
    assert seen == list(range(37))


def test_leaving_a_split_reading_early_stops_every_thread() -> None:
    log: list[tuple[int, int, str]] = []
    with pytest.raises(RuntimeError), read_ahead_split(_runs_of(log), 0, 10_000, depth=8, workers=3,
                                                       run=2) as items:
        for item in items:
            if item == 20:
                raise RuntimeError("caller failed")
    count = len(log)
    time.sleep(0.3)
    assert len(log) == count  # nothing runs after the block
    assert count * 2 < 100  # each thread stopped a few runs ahead of the caller
    assert not any(t.name.startswith("ceuskit-read-ahead") for t in threading.enumerate())


def test_split_settings_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"), read_ahead_split(_runs_of([]), 0, 10, workers=0):
        pass
