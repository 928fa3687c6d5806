"""Store fixtures, both named ``store``: SQLite for every test (``tests/conftest.py``), or
SQLite and PostgreSQL in turn where a conftest imports ``any_backend_store``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from vanguard.store import Store, default_store_url, open_store

__all__ = ["any_backend_store", "sqlite_store", "sqlite_write_lock_is_free", "store_url"]


@pytest.fixture(name="store")
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """An open, migrated SQLite store under ``tmp_path``, closed after the test."""
    opened = open_store(default_store_url(tmp_path))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file under ``tmp_path`` or a uuid-named PostgreSQL one."""
    if request.param == "sqlite":
        return default_store_url(tmp_path / "data")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(name="store")
def any_backend_store(store_url: str) -> Iterator[Store]:
    """An open, migrated store on each backend in turn, closed after the test."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


def sqlite_write_lock_is_free(url: str) -> bool:
    """Whether a writer could begin on the SQLite store at ``url`` now, within 0.2 s.

    A second connection of its own, so a reader holding the lock shows up at once rather
    than after the store's 30 s busy timeout.
    """
    path = make_url(url).database or ""
    with closing(sqlite3.connect(path, timeout=0.2, isolation_level=None)) as connection:
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        connection.execute("ROLLBACK")
    return True
