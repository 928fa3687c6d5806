"""Every store test runs twice: on a SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vanguard.store import Store, default_store_url, open_store


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


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An open, migrated store, closed after the test."""
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()
