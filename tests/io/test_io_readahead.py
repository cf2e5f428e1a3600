"""Frames decoded ahead in a background thread: order, errors and early exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ceuskit.io.readahead import read_ahead


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
