"""A GitHub delivery that waits on a locked store holds up only itself, not the API.

The store is locked from another connection (a SQLite write lock, or PostgreSQL's lock on
the deliveries table) while a delivery is posted; other requests to the same app must be
answered while the delivery still waits. The lock is let go by its own thread after
``HOLD_S`` at the latest, so an intake that blocks the event loop fails the test instead
of hanging it.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.integration.ci.helpers import github_app, headers, payload
from tests.stores import any_backend_store, store_url
from vanguard.ci.client import MemoryGitHub
from vanguard.ci.config import GitHubConfig
from vanguard.ci.intake import CiIntake
from vanguard.ci.records import CiRepo
from vanguard.store import Store

__all__ = ["any_backend_store", "store_url"]

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HOLD_S = 5.0
"""Longest the store stays locked; answers expected long before it."""


class HeldLock:
    """A write lock on the store, held by a thread of its own until ``release`` or ``HOLD_S``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.held = threading.Event()
        self.released = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._hold, name="held-lock", daemon=True)

    def _hold(self) -> None:
        with self.store.engine.connect() as connection:
            if self.store.dialect == "postgresql":
                connection.execute(text("LOCK TABLE github_deliveries IN EXCLUSIVE MODE"))
            else:
                connection.execute(text("SELECT 1"))
            self.held.set()
            self._release.wait(HOLD_S)
            connection.rollback()
            self.released.set()

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> HeldLock:
        self._thread.start()
        assert self.held.wait(10), "the lock was not taken"
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._thread.join(HOLD_S + 5)


@pytest.fixture
def locked(store: Store) -> Iterator[HeldLock]:
    with HeldLock(store) as lock:
        yield lock


async def test_other_requests_are_answered_while_a_delivery_waits_on_the_store(
    store: Store, locked: HeldLock
) -> None:
    app, intake = github_app(store, MemoryGitHub(), GitHubConfig(), None)
    body = json.dumps(payload("workflow_run.completed.success")).encode()
    unsigned = {**headers("workflow_run", body), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    probes = [("POST", "/webhooks/github", unsigned, 401)]
    if store.dialect == "postgresql":
        probes = [("GET", "/healthz", {}, 200), ("GET", "/metrics", {}, 200), *probes]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vanguard") as http:
        posting = asyncio.ensure_future(
            http.post(
                "/webhooks/github",
                content=body,
                headers=headers("workflow_run", body, delivery="blocked"),
            )
        )
        await asyncio.sleep(0.5)
        for method, path, sent, expected in probes:
            answer = await http.request(method, path, headers=sent, content=body)
            assert answer.status_code == expected, (path, answer.text)
            assert not locked.released.is_set(), f"{path} was answered only after the lock ended"
        assert not posting.done(), "the delivery did not wait on the store"
        locked.release()
        delivered = await posting
    await intake.close()
    assert delivered.status_code == 202, delivered.json()
    with store.session() as session:
        row = CiRepo(session).delivery("blocked")
        assert row is not None
        assert row.status == "accepted"


async def test_a_delivery_cancelled_while_its_claim_waits_is_settled_failed(
    store: Store, locked: HeldLock
) -> None:
    """The claim finishes in its thread after the cancellation; one left ``received`` would
    make every redelivery a duplicate until it looked stale."""
    intake = CiIntake(store, MemoryGitHub(), GitHubConfig(), None)
    body = json.dumps(payload("workflow_run.completed.success")).encode()
    task = intake.start_receiving("cancelled", "workflow_run", body)
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.sleep(0.2)
    assert not task.done(), "the cancellation waits for the claim under way"
    locked.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    with store.session() as session:
        row = CiRepo(session).delivery("cancelled")
        assert row is not None
        assert (row.status, row.reason) == ("failed", "interrupted before handling ended")
    again = await intake.receive("cancelled", "workflow_run", body)
    assert again.status == "accepted", again.reason
