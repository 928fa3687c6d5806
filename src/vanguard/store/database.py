"""Opening the store: the engine, its connection settings, migrations and units of work.

``open_store`` is the only way in. It configures the backend (SQLite: WAL with
``synchronous=FULL``, so a commit, a ledger ``begin`` among them, is on disk before the side
effect after it starts; foreign keys, busy timeout and ``BEGIN IMMEDIATE`` so
read-then-write transactions serialise instead of failing; PostgreSQL through psycopg 3),
then brings the schema to the newest Alembic revision under a lock, so several processes
may start at once. A store migrated by a newer Vanguard is refused, saying so. Commands that
only read open with ``create=False``: they never make a store where none is nor migrate
one, and long reads (an audit walk, a dashboard page) use ``Store.read_session``: one
snapshot that takes no write lock, so writers are not held up behind it. Errors name the
URL with its password hidden.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from vanguard.errors import StoreError, StoreNotFound
from vanguard.redact import redact_text

__all__ = [
    "MIGRATIONS_DIR",
    "SQLITE_BUSY_TIMEOUT_MS",
    "Store",
    "alembic_config",
    "backup_sqlite",
    "default_store_url",
    "open_store",
    "redact_url",
]

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_KEY = 0x76616E6775617264  # "vanguard" as a 64-bit advisory lock key
READ_ONLY = "vanguard_read_only"
"""Execution option of the engine behind ``Store.read_session``, read when SQLite begins."""


def default_store_url(data_dir: Path) -> str:
    """The embedded default: a SQLite file in Vanguard's data directory."""
    return f"sqlite:///{Path(data_dir).expanduser().absolute() / 'vanguard.db'}"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, safe for logs and error messages.

    A query parameter named like a secret (libpq's ``?password=``, ``?sslpassword=``) loses
    its value too. A string that does not parse as a URL is not shown at all: where its
    secret sits is unknown.
    """
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable URL>"
    base, mark, query = shown.partition("?")
    return base + mark + redact_text(mark + query)[1:] if mark else base


def alembic_config(connection: Connection) -> Config:
    """An Alembic configuration that runs the bundled migrations on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


class Store:
    """An open store: hands out units of work and is closed once, at shutdown."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = redact_url(url)
        """Shown in messages and the banner: its secrets are masked (``redact_url``)."""
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        reader = engine.execution_options(**{READ_ONLY: True})
        if engine.dialect.name == "postgresql":
            reader = reader.execution_options(
                postgresql_readonly=True, isolation_level="REPEATABLE READ"
            )
        self._read_sessions = sessionmaker(bind=reader, expire_on_commit=False)
        self._closed = False

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends, rolls back if it raises."""
        with self._unit(self._sessions, commit=True) as session:
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A unit of work that only reads: one snapshot, no write lock, any write refused.

        On SQLite a plain (deferred) ``BEGIN`` under WAL, so writers go on while a long read
        walks (``session`` begins ``IMMEDIATE`` and would hold them for the whole read); on
        PostgreSQL a ``REPEATABLE READ READ ONLY`` transaction, so every statement of the
        read sees the same commits.
        """
        with self._unit(self._read_sessions, commit=False) as session:
            yield session

    @contextmanager
    def _unit(self, sessions: sessionmaker[Session], *, commit: bool) -> Iterator[Session]:
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        session = sessions()
        try:
            yield session
            if commit:
                session.commit()
            else:
                session.rollback()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(f"store {self.url}: {_reason(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        """Release every pooled connection; later sessions raise ``StoreError``."""
        self._closed = True
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def open_store(url: str, *, create: bool = True) -> Store:
    """Connect, migrate to the newest schema and return the store.

    ``create=False`` is for commands that only read: a SQLite file that does not exist, or a
    database without Vanguard's tables, raises ``StoreNotFound``, and a store at an older
    revision a ``StoreError``; nothing is created or migrated. A newer command pointed at
    production moved its schema, and the older workers then refused to start.
    """
    shown = redact_url(url)
    try:
        engine = _create_engine(url, create=create)
    except ArgumentError as exc:
        raise StoreError(f"store {shown}: cannot open: not a database URL") from exc
    except (ValueError, ImportError, OSError) as exc:
        raise StoreError(f"store {shown}: cannot open: {redact_text(str(exc))}") from exc
    try:
        if create or _has_schema(engine):
            _upgrade(engine, shown, migrate=create)
            return Store(engine, engine.url.render_as_string(hide_password=False))
    except (SQLAlchemyError, CommandError, OSError) as exc:
        engine.dispose()
        raise StoreError(f"store {shown}: cannot open or migrate: {_reason(exc)}") from exc
    except BaseException:
        engine.dispose()
        raise
    engine.dispose()
    raise StoreNotFound(f"no Vanguard store at {shown} (the database has no Vanguard tables)")


def backup_sqlite(url: str, dest: Path) -> str:
    """Copy the SQLite store at ``url`` into the new file ``dest``; its schema revision.

    SQLite's online backup copies one consistent snapshot, the commits still in the
    write-ahead log among them, while Vanguard goes on writing: a plain copy of the file
    lacks those commits, and one of the file and its log taken at different moments may be
    corrupt. The copy is a single file (no log beside it), written under a temporary name
    and renamed, so ``dest`` is whole or absent. A PostgreSQL store is refused, naming the
    ``pg_dump`` command that backs it up.
    """
    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"store {shown}: cannot back up: not a database URL") from exc
    if parsed.get_backend_name() == "postgresql":
        where = " ".join(
            f"{flag} {value}"
            for flag, value in (("-h", parsed.host), ("-p", parsed.port), ("-U", parsed.username))
            if value is not None
        )
        raise StoreError(
            f"store {shown}: `vanguard store backup` copies SQLite stores; back up PostgreSQL "
            f"with its own tools: pg_dump --format=custom --file=BACKUP {where} "
            f"{parsed.database or 'DATABASE'}"
        )
    database = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or database in ("", ":memory:")
        or database.startswith("file::memory:")
    ):
        raise StoreError(f"store {shown}: only a SQLite file can be backed up this way")
    source = Path(database).expanduser().absolute()
    if not source.is_file():
        raise StoreNotFound(f"no Vanguard store at {shown} (no file {source})")
    target = dest.expanduser().absolute()
    if target.exists():
        raise StoreError(f"{target} exists: a backup never overwrites a file; name a new one")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with (
            contextlib.closing(
                sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            ) as original,
            contextlib.closing(sqlite3.connect(partial)) as copy,
        ):
            original.backup(copy)
            copy.execute("PRAGMA journal_mode = DELETE")
            revision = _sqlite_revision(copy)
        if revision is None:
            raise StoreNotFound(
                f"no Vanguard store at {shown} (the database has no Vanguard tables)"
            )
        partial.rename(target)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"store {shown}: backup to {target} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return revision


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    """The Alembic revision of a SQLite database, ``None`` if it has none."""
    listed = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    row = (
        connection.execute("SELECT version_num FROM alembic_version").fetchone() if listed else None
    )
    return None if row is None else str(row[0])


def _has_schema(engine: Engine) -> bool:
    with engine.connect() as connection:
        return inspect(connection).has_table("alembic_version")


def _reason(exc: BaseException) -> str:
    """The library's message without SQL parameters or URL passwords."""
    origin = getattr(exc, "orig", None) if isinstance(exc, SQLAlchemyError) else None
    message = str(origin if origin is not None else exc).strip()
    return redact_text(message) if message else type(exc).__name__


def _create_engine(url: str, *, create: bool) -> Engine:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, create=create)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.get_driver_name() != "psycopg":
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://user@host:port/db")
        return create_engine(parsed, pool_pre_ping=True)
    raise ValueError(f"unsupported database {backend!r}; use sqlite:/// or postgresql+psycopg://")


def _sqlite_engine(url: str, *, create: bool) -> Engine:
    database = make_url(url).database or ""
    path = Path(database).expanduser().absolute()
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    options: dict[str, Any] = {}
    if in_memory:
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    elif create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        raise StoreNotFound(f"no Vanguard store at {redact_url(url)} (no file {path})")
    engine = create_engine(url, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not in_memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY, False))
        if connection.info.get(READ_ONLY, False) != read_only:
            connection.exec_driver_sql(f"PRAGMA query_only = {'ON' if read_only else 'OFF'}")
            connection.info[READ_ONLY] = read_only
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _upgrade(engine: Engine, shown: str, *, migrate: bool) -> None:
    """Bring the schema to the newest revision under the migration lock; a revision this
    Vanguard does not know is refused, and an older one too unless ``migrate``."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        config = alembic_config(connection)
        scripts = ScriptDirectory.from_config(config)
        head = scripts.get_current_head()
        current = MigrationContext.configure(connection).get_current_revision()
        if current == head:
            return
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise StoreError(
                f"store {shown}: migrated by a newer Vanguard (revision {current}); this one "
                f"knows up to {head}: upgrade this installation (a revision no Vanguard "
                "wrote means another application's Alembic table: give Vanguard a database "
                "of its own)"
            )
        if not migrate:
            raise StoreError(
                f"store {shown}: at schema revision {current or 'none'}, older than the "
                f"{head} this Vanguard needs, and a command that only reads does not migrate "
                "it: upgrade the workers (they migrate it when they start), or use the "
                "Vanguard they run"
            )
        command.upgrade(config, "head")
