"""Opening a study database: engine, migrations to the newest schema, transactional sessions.

Only commands that make a database create one (``study init``, ``study import``, ``user add``, ``serve``):
``Store(url, create=False)`` opens an existing database or says to run ``ceuskit study init``, leaving no file
behind.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ceuskit.errors import StoreError

__all__ = ["DEFAULT_URL", "Store", "open_store", "redacted", "require_existing", "upgrade"]

DEFAULT_URL = "sqlite:///ceuskit.db"
_MIGRATIONS = Path(__file__).with_name("migrations")


def redacted(url: str) -> str:
    """Return the database URL with any password hidden (safe for messages and reports)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"not a database URL: {url!r}; use e.g. sqlite:///ceuskit.db or "
                         "postgresql+psycopg://user@host/dbname") from None
    options: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": 60}
    elif parsed.get_backend_name() == "postgresql":
        options["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise StoreError(f"no database driver for {redacted(url)} ({exc}); for PostgreSQL install "
                         "ceuskit[postgres] and use postgresql+psycopg://…") from None
    if parsed.get_backend_name() == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
    return engine


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(url_or_engine: str | Engine) -> None:
    """Create or migrate the database at ``url_or_engine`` to the newest schema (idempotent).

    Raises
    ------
    StoreError
        When the server cannot be reached or the database was written by a newer ceuskit.
    """
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    engine = _engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with engine.begin() as connection:
            config = _alembic_config(connection)
            heads = set(ScriptDirectory.from_config(config).get_heads())
            if inspect(connection).has_table("alembic_version"):
                current = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
                known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
                if current - known:
                    raise StoreError(f"database {redacted(str(engine.url))} has schema {sorted(current)} from a "
                                     "newer ceuskit; upgrade ceuskit to open it")
                if current == heads:
                    return
            command.upgrade(config, "head")
    except CommandError as exc:
        raise StoreError(f"cannot migrate {redacted(str(engine.url))}: {exc}") from None
    except OperationalError as exc:
        raise StoreError(f"cannot open database {redacted(str(engine.url))}: "
                         f"{str(exc.orig).strip().splitlines()[0]}; check the URL and that the server runs") from None
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def _missing(url: str, what: str) -> StoreError:
    return StoreError(f"{what}; create it with `ceuskit study init --db {redacted(url)}` (or give the --db of "
                      "an existing one)")


def require_existing(url: str) -> None:
    """StoreError unless ``url`` names an existing ceuskit database; nothing is created or changed.

    Parameters
    ----------
    url : str
        SQLAlchemy URL.

    Raises
    ------
    StoreError
        No such database (a missing SQLite file, a PostgreSQL database that does not exist), a file that is
        not a database, or a database without ceuskit's schema; the message names ``ceuskit study init``.
    """
    engine = _engine(url)  # checks the URL and the driver; connects only below
    try:
        if engine.url.get_backend_name() == "sqlite":
            database = engine.url.database
            if not database or database == ":memory:":
                raise _missing(url, f"no study database at {redacted(url)} (an in-memory database is always new)")
            path = Path(database).expanduser()
            if not path.is_file():
                raise _missing(url, f"no study database at {redacted(url)}")
            try:  # read-only: not even SQLite's journal mode is changed in a file that is not ours
                with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
                    has_schema = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                                    "name = 'alembic_version'").fetchone() is not None
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{path} is not a study database ({exc}); give the --db of a ceuskit database") \
                    from None
        else:
            try:
                with engine.connect() as connection:
                    has_schema = inspect(connection).has_table("alembic_version")
            except OperationalError as exc:
                raise _missing(url, f"cannot open database {redacted(url)}: "
                                    f"{str(exc.orig).strip().splitlines()[0]}") from None
        if not has_schema:
            raise _missing(url, f"{redacted(url)} holds no ceuskit study database")
    finally:
        engine.dispose()


class Store:
    """A study database: an engine plus transactional sessions.

    Parameters
    ----------
    url : str
        SQLAlchemy URL (``sqlite:///ceuskit.db``, ``postgresql+psycopg://user@host:port/db``).
    migrate : bool
        Bring the schema to the newest version on open (default True).
    create : bool
        Create the database when it is missing (default True).  False for commands that only use a study
        database: a missing one is then a :class:`StoreError` naming ``ceuskit study init``, and nothing is
        created (:func:`require_existing`).

    Raises
    ------
    StoreError
        A bad URL, no driver, an unreachable server, a newer schema, or (``create=False``) no database.
    """

    def __init__(self, url: str = DEFAULT_URL, *, migrate: bool = True, create: bool = True) -> None:
        if not create:
            require_existing(url)
        self.url = url
        self.engine = _engine(url)
        if create and make_url(url).get_backend_name() == "sqlite":
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if migrate:
            upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def display_url(self) -> str:
        """The URL with the password hidden."""
        return redacted(self.url)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Return a session whose work is committed on success and rolled back entirely on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except OperationalError as exc:
            session.rollback()
            raise StoreError(f"database {self.display_url} failed: "
                             f"{str(exc.orig).strip().splitlines()[0]}; nothing was written") from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str = DEFAULT_URL) -> Store:
    """Open (creating or migrating as needed) the study database at ``url``."""
    return Store(url)
