"""The cache of encoded frames: one encoding per frame however many ask at once, bounded by bytes (least recently
used dropped first), failures not kept; and over HTTP, frames equal to the clip's pixels whether from the
cache or not, stopped at once for a session signed out."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ceuskit import store
from ceuskit.io import open_clip
from ceuskit.web.frames import Expiring, FrameCache

from .conftest import sign_in


def test_concurrent_requests_for_one_frame_encode_it_once() -> None:
    cache = FrameCache(max_bytes=1 << 20, workers=2)
    calls = []
    release = threading.Event()

    def encode() -> bytes:
        calls.append(1)
        release.wait(5)
        return b"frame-7"

    async def ask() -> list[bytes]:
        waiting = [asyncio.ensure_future(cache.get("clip", 7, encode)) for _ in range(20)]
        await asyncio.sleep(0.05)
        release.set()
        return list(await asyncio.gather(*waiting))

    assert asyncio.run(ask()) == [b"frame-7"] * 20 and len(calls) == 1
    assert asyncio.run(cache.get("clip", 7, encode)) == b"frame-7" and len(calls) == 1  # kept
    cache.close()


def test_a_frame_encoded_at_once_is_kept_without_deadlock() -> None:
    cache = FrameCache(max_bytes=1 << 20, workers=1)

    async def ask() -> bytes:
        return await asyncio.wait_for(cache.get("clip", 0, lambda: b"quick"), timeout=10)

    for _ in range(50):  # the encoding may finish before the cache registers its callback
        assert asyncio.run(ask()) == b"quick"
    cache.close()


def test_the_least_recently_used_frames_go_first_once_over_the_byte_budget() -> None:
    cache = FrameCache(max_bytes=3000, workers=1)

    async def fill() -> None:
        for index in range(3):
            await cache.get("a", index, lambda: b"x" * 1000)
        await cache.get("a", 0, lambda: b"never called")  # frame 0 used again: frame 1 is now the oldest
        await cache.get("b", 0, lambda: b"y" * 1000)

    asyncio.run(fill())
    assert cache.size_bytes == 3000
    kept = {key for key in cache._frames}
    assert kept == {("a", 0), ("a", 2), ("b", 0)}
    cache.close()


def test_a_failed_encoding_reaches_every_request_and_is_not_kept() -> None:
    cache = FrameCache(max_bytes=1 << 20, workers=1)
    attempts = []

    def broken() -> bytes:
        attempts.append(1)
        raise ValueError("unreadable frame")

    async def ask() -> None:
        with pytest.raises(ValueError, match="unreadable frame"):
            await cache.get("clip", 3, broken)

    asyncio.run(ask())
    asyncio.run(ask())
    assert len(attempts) == 2 and cache.size_bytes == 0
    cache.close()


def test_expiring_values_expire() -> None:
    remembered: Expiring[str, int] = Expiring(ttl_s=0.0)
    remembered.put("a", 1)
    assert remembered.get("a") is None
    lasting: Expiring[str, int] = Expiring(ttl_s=60.0, size=2)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        lasting.put(key, value)
    assert (lasting.get("a"), lasting.get("b"), lasting.get("c")) == (None, 2, 3)


def test_frames_over_http_are_the_clips_pixels_and_come_from_the_cache(reader_app: Any) -> None:
    admin = TestClient(reader_app)
    sign_in(admin, "boss")
    with store.Store(reader_app.state.context.settings.db_url) as db:
        path = store.get_clip(db, 1)["path"]
    clip = open_clip(path)
    frames = reader_app.state.context.frames
    for index in (0, 5, 0, 5):
        response = admin.get(f"/api/clips/1/frames/{index}")
        assert response.status_code == 200
        shown = np.asarray(Image.open(io.BytesIO(response.content)))
        assert np.array_equal(shown, clip.raw(index))  # the stored pixels, 8-bit, unaltered
    assert (frames.misses, frames.hits) == (2, 2)
    assert admin.get(f"/api/clips/1/frames/{clip.n_frames}").status_code == 404
    clip.close()


def test_signing_out_stops_frames_at_once(reader_app: Any) -> None:
    admin = TestClient(reader_app)
    csrf = sign_in(admin, "boss")
    assert admin.get("/api/clips/1/frames/0").status_code == 200
    cookie = admin.cookies.get("ceuskit_session")
    assert admin.delete("/api/session", headers={"X-CSRF-Token": csrf}).status_code == 204
    replay = TestClient(reader_app)
    replay.cookies.set("ceuskit_session", cookie)
    assert replay.get("/api/clips/1/frames/0").status_code == 401
