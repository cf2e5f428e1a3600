"""Database fixtures: a SQLite file per test and a real PostgreSQL server started for the session.

The PostgreSQL server comes from ``scripts/pg-test-server.sh`` (initdb in a temporary folder, 127.0.0.1 only,
as the ``postgres`` OS user when run as root).  Missing server binaries FAIL the tests: ``make install``
installs them.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-server.sh"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of the session's PostgreSQL server (database ``postgres``)."""
    done = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=180)
    if done.returncode == 3:
        pytest.fail(f"PostgreSQL server binaries are missing: {done.stderr.strip()} — `make install` installs them",
                    pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"could not start the PostgreSQL test server: {done.stderr.strip()}", pytrace=False)
    url, folder = done.stdout.strip().split()
    try:
        yield url
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True, timeout=120)


def fresh_pg_database(server_url: str) -> str:
    """Create an empty database on the test server; return its URL."""
    import psycopg

    name = f"ceuskit_{uuid.uuid4().hex[:12]}"
    plain = server_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL, once for SQLite and once for the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    return fresh_pg_database(request.getfixturevalue("pg_server"))
