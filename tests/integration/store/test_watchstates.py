"""Generations of a watcher's series states, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from vanguard.store import Store, WatchStateRepo
from vanguard.store.tables import WatchStateRow

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _save(store: Store, watcher: str, generation: int, body: bytes) -> None:
    with store.session() as session:
        WatchStateRepo(session).save(watcher, generation, body, 1, NOW)


def _load(store: Store, watcher: str, generation: int) -> bytes | None:
    with store.session() as session:
        return WatchStateRepo(session).load(watcher, generation)


def test_a_generation_round_trips_and_a_retry_replaces_it(store: Store) -> None:
    big = b'{"svc/m": {"n": 1, "values": [' + b"1.5, " * 200_000 + b"2.0]}}"
    _save(store, "w", 1, b'{"first attempt": {}}')
    _save(store, "w", 1, big)
    assert _load(store, "w", 1) == big
    assert _load(store, "w", 2) is None, "a generation never written"
    with store.session() as session:
        (packed,) = session.scalars(select(WatchStateRow.states))
    assert len(packed) < len(big) // 100, "stored compressed"


def test_the_generation_read_is_kept_until_the_one_after_next(store: Store) -> None:
    for generation in range(1, 6):
        _save(store, "w", generation, b"{}")
        _save(store, "other", generation * 10, b"{}")
    with store.session() as session:
        repo = WatchStateRepo(session)
        assert repo.generations("w") == [4, 5], "sweep 5 was computed from 4: both kept"
        assert repo.generations("other") == [50], "watchers are kept apart"
