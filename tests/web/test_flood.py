"""The real server (``ceuskit serve`` in its own process on 127.0.0.1) under a sign-in flood, with real Argon2.

60 concurrent sign-ins with unknown user names, each from its own address (through a proxy named with
``--trusted-proxy``, so the per-address limits do not stop them and the password-check pool must): health
answers fast throughout and the server's memory (its resident set, read from /proc) grows by less than
300 MiB — Argon2id takes 64 MiB per check, so unbounded concurrency would take gigabytes.  These are
functional bounds of the design (a bounded pool, niced workers, an async health route), not speed figures:
they hold with a wide margin on a busy 2-core machine.

And the client address: a forged ``X-Forwarded-For`` is ignored without ``--trusted-proxy`` (uvicorn believes
it from 127.0.0.1 by default), believed from a proxy that is named.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from ceuskit import store
from ceuskit.store import audit

from .conftest import TOKEN, ReaderStudy

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads memory from Linux /proc")

MIB = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class Server:
    """``ceuskit serve`` in a child process; ``url``, ``pid``, ``db_url``."""

    def __init__(self, reader_study: ReaderStudy, folder: Path, *extra: str) -> None:
        copy = folder / "flood.db"
        shutil.copy(reader_study.db_url.removeprefix("sqlite:///"), copy)
        self.db_url = f"sqlite:///{copy}"
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        code = "import sys; from ceuskit.cli import main; sys.exit(main(sys.argv[1:]))"
        self.log = folder / "serve.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, "serve", "--data", str(reader_study.data), "--db", self.db_url,
                 "--port", str(port), *extra], env={**os.environ, "CEUSKIT_TOKEN": TOKEN},
                stdout=subprocess.DEVNULL, stderr=log)
        self.pid = self.process.pid
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture()
def proxied(reader_study: ReaderStudy, tmp_path: Path) -> Iterator[Server]:
    server = Server(reader_study, tmp_path, "--trusted-proxy", "127.0.0.1")
    yield server
    server.stop()


@pytest.fixture()
def direct(reader_study: ReaderStudy, tmp_path: Path) -> Iterator[Server]:
    server = Server(reader_study, tmp_path)
    yield server
    server.stop()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one HTTP/1.1 request on a connection, read the whole answer; its status.  (Plain asyncio streams:
    a general-purpose client spends more CPU per request than the server, and would time itself.)"""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split(b" ")[1])


def _request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _flood(server: Server, n: int, *, spread: bool = True) -> tuple[list[int], list[float], list[float]]:
    """``n`` concurrent unknown-user sign-ins (from ``n`` forwarded addresses if ``spread``) while health and a
    frame are polled."""
    port = int(server.url.rsplit(":", 1)[1])
    stop = asyncio.Event()
    health_s: list[float] = []
    frame_s: list[float] = []

    async def sign_in(i: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"username": f"nobody{i}", "password": "x" * 40}).encode()
        headers = {"Content-Type": "application/json"}
        if spread:
            headers["X-Forwarded-For"] = f"198.18.{i // 200}.{i % 200 + 1}"
        status = await _exchange(reader, writer, _request("POST", "/api/session", headers, body))
        writer.close()
        return status

    async def poll(path: str, out: list[float], headers: dict[str, str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not stop.is_set():
            start = time.perf_counter()
            status = await _exchange(reader, writer, _request("GET", path, headers))
            out.append(time.perf_counter() - start)
            assert status == 200
            await asyncio.sleep(0.02)
        writer.close()

    pollers = [asyncio.create_task(poll("/api/health", health_s, {})),
               asyncio.create_task(poll("/api/clips/1/frames/3", frame_s, {"Authorization": f"Bearer {TOKEN}"}))]
    await asyncio.sleep(0.5)
    codes = await asyncio.gather(*(sign_in(i) for i in range(n)))
    stop.set()
    await asyncio.gather(*pollers)
    return list(codes), health_s, frame_s


def test_a_sign_in_flood_leaves_health_fast_and_memory_bounded(proxied: Server) -> None:
    before = _rss_bytes(proxied.pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_bytes(proxied.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        codes, health_s, frame_s = asyncio.run(_flood(proxied, 60))
    finally:
        done.set()
        sampler.join()
    growth_mib = (peak[0] - before) / MIB
    p99_ms = 1000 * float(np.percentile(health_s, 99))
    print(f"\nflood: {codes.count(401)} checked (401), {codes.count(503)} refused busy (503); health p99 "
          f"{p99_ms:.0f} ms over {len(health_s)} polls; frame p99 {1000 * np.percentile(frame_s, 99):.0f} ms; "
          f"memory {before / MIB:.0f} → {peak[0] / MIB:.0f} MiB (+{growth_mib:.0f})")
    assert set(codes) <= {401, 503} and codes.count(401) >= 1  # checked ones fail alike, the rest wait their turn
    assert p99_ms < 200
    assert growth_mib < 300


def test_a_flood_from_one_address_is_refused_before_any_hashing(direct: Server) -> None:
    from ceuskit.web.throttle import ThrottlePolicy

    codes, health_s, _ = asyncio.run(_flood(direct, 60, spread=False))
    in_flight = ThrottlePolicy().in_flight_per_address
    assert codes.count(401) == in_flight and codes.count(429) == 60 - in_flight  # the rest refused at once
    assert 1000 * float(np.percentile(health_s, 99)) < 200


def test_a_forged_forwarded_address_is_ignored_without_a_trusted_proxy(direct: Server) -> None:
    forged = httpx.post(direct.url + "/api/session", json={"username": "bob", "password": "guess guess"},
                        headers={"X-Forwarded-For": "203.0.113.66"}, timeout=60)
    assert forged.status_code == 401
    with store.Store(direct.db_url) as db:
        failed = audit.audit_events(db, action="sign_in_failed")
    assert [e["address"] for e in failed] == ["127.0.0.1"]


def test_a_named_proxy_is_believed(proxied: Server) -> None:
    forwarded = httpx.post(proxied.url + "/api/session", json={"username": "bob", "password": "guess guess"},
                           headers={"X-Forwarded-For": "203.0.113.66"}, timeout=60)
    assert forwarded.status_code == 401
    with store.Store(proxied.db_url) as db:
        failed = audit.audit_events(db, action="sign_in_failed")
    assert [e["address"] for e in failed] == ["203.0.113.66"]
