"""Generations of a watcher's series states, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from vanguard.store import Store, WatchStateRepo
from vanguard.store.tables import WatchStateRow

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _save(store: Store, watcher: str, generation: int, token: str, body: bytes) -> None:
    with store.session() as session:
        WatchStateRepo(session).save(watcher, generation, token, body, 1, NOW)


def _load(store: Store, watcher: str, generation: int, token: str) -> bytes | None:
    with store.session() as session:
        return WatchStateRepo(session).load(watcher, generation, token)


def test_a_generation_round_trips_compressed_under_its_token(store: Store) -> None:
    big = b'{"svc/m": {"n": 1, "values": [' + b"1.5, " * 200_000 + b"2.0]}}"
    _save(store, "w", 1, "late", b'{"an attempt nobody waits for": {}}')
    _save(store, "w", 1, "heard", big)
    assert _load(store, "w", 1, "heard") == big
    assert _load(store, "w", 1, "late") == b'{"an attempt nobody waits for": {}}'
    assert _load(store, "w", 2, "heard") is None, "a generation never written"
    with store.session() as session:
        packed = session.scalars(
            select(WatchStateRow.states).where(WatchStateRow.token == "heard")
        ).one()
    assert len(packed) < len(big) // 100, "stored compressed"


def test_the_generation_read_is_kept_until_the_one_after_next(store: Store) -> None:
    for generation in range(1, 6):
        _save(store, "w", generation, f"t{generation}", b"{}")
        _save(store, "w", generation, f"late{generation}", b"{}")
        _save(store, "other", generation * 10, "t", b"{}")
    with store.session() as session:
        repo = WatchStateRepo(session)
        kept = repo.generations("w")
        assert sorted(kept) == [(4, "late4"), (4, "t4"), (5, "late5"), (5, "t5")], (
            "sweep 5 was computed from 4: both kept, with every attempt's row"
        )
        assert repo.generations("other") == [(50, "t")], "watchers are kept apart"
