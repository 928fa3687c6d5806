"""Store fixtures, both named ``store``: SQLite for every test (``tests/conftest.py``), or
SQLite and PostgreSQL in turn where a conftest imports ``any_backend_store``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vanguard.store import Store, default_store_url, open_store

__all__ = ["any_backend_store", "sqlite_store", "store_url"]


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
