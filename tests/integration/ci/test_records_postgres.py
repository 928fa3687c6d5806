"""Claiming deliveries on a real PostgreSQL: of concurrent claims of one id, one wins."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from vanguard.ci.records import CiRepo
from vanguard.store import Store, open_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CLAIMS = 6


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    the_store = open_store(postgres_url)
    yield the_store
    the_store.close()


def _race(store: Store, delivery_id: str) -> list[bool]:
    start = threading.Barrier(CLAIMS)

    def claim(n: int) -> bool:
        start.wait()
        with store.session() as session:
            return CiRepo(session).claim_delivery(
                delivery_id,
                event="workflow_run",
                action="completed",
                repository="o/r",
                at=NOW,
                status="received",
                reason=f"claim {n}",
            )

    with ThreadPoolExecutor(CLAIMS) as pool:
        return list(pool.map(claim, range(CLAIMS)))


def test_concurrent_first_deliveries_are_claimed_once(store: Store) -> None:
    assert sorted(_race(store, "new")) == [False] * (CLAIMS - 1) + [True]


def test_concurrent_redeliveries_of_a_failed_delivery_are_claimed_once(store: Store) -> None:
    with store.session() as session:
        repo = CiRepo(session)
        repo.claim_delivery(
            "again",
            event="workflow_run",
            action="completed",
            repository="o/r",
            at=NOW,
            status="received",
            reason="first",
        )
        repo.settle_delivery("again", "failed", "AdapterError: GitHub unreachable", None)
    assert sorted(_race(store, "again")) == [False] * (CLAIMS - 1) + [True]
    with store.session() as session:
        row = CiRepo(session).delivery("again")
        assert row is not None
        assert row.status == "received"
        assert row.reason.startswith("claim ")
