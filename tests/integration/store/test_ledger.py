"""SqlLedger: durable, first writer wins, and behaves like the in-memory ledger it replaces."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text

from tests.integration.store import values as v
from vanguard.act.base import Ledger, LedgerEntry, MemoryLedger, fence_result
from vanguard.errors import ActionFenced
from vanguard.store import SqlLedger, Store, open_store

AT = v.T0


def _exercise(ledger: Ledger) -> list[object]:
    """The same calls an adapter makes; the answers must not depend on the ledger kind."""
    seen: list[object] = [ledger.get("k")]
    seen.append(ledger.begin("k", {"pid": 41, "nested": {"a": [1, 2.5, None]}}))
    seen.append(ledger.get("k"))
    seen.append(ledger.begin("k", {"pid": 99}))
    seen.append(ledger.get("k"))
    ledger.finish("k", v.action("inc", "k"))
    seen.append(ledger.get("k"))
    ledger.finish("unbegun", v.action("inc", "unbegun"))
    seen.append(ledger.get("unbegun"))
    seen.append(ledger.fence("k", fence_result("k", "inc", "worker", AT)))
    seen.append(ledger.fence("lost", fence_result("lost", "inc", "worker", AT)))
    try:
        ledger.begin("lost", {"pid": 7})
    except ActionFenced as exc:
        seen.append(type(exc))
    seen.append(ledger.get("lost"))
    return seen


def test_sql_ledger_answers_exactly_like_the_memory_ledger(store: Store) -> None:
    expected = _exercise(MemoryLedger())
    assert _exercise(SqlLedger(store)) == expected
    assert expected[0] is None
    assert (expected[1], expected[3]) == (True, False), "begin says whether it began the key"
    assert expected[4] == expected[2]
    assert expected[7] == expected[5], "a fence leaves a begun key as it was"
    assert expected[8] == expected[10]
    assert isinstance(expected[8], LedgerEntry)
    assert expected[8].fenced
    assert expected[9] is ActionFenced


def test_begin_and_finish_are_committed_at_once_and_survive_reopening(store_url: str) -> None:
    first = open_store(store_url)
    try:
        SqlLedger(first).begin("k", {"size": 2})
        other = open_store(store_url)
        try:
            entry = SqlLedger(other).get("k")
        finally:
            other.close()
        SqlLedger(first).finish("k", v.action("inc", "k"))
    finally:
        first.close()
    assert entry is not None
    assert entry.before == {"size": 2}
    assert entry.result is None
    reopened = open_store(store_url)
    try:
        done = SqlLedger(reopened).get("k")
    finally:
        reopened.close()
    assert done is not None
    assert done.result == v.action("inc", "k")


def test_ledger_commits_even_inside_a_failed_unit_of_work(store: Store) -> None:
    def crash_after_begin() -> None:
        with store.session():
            SqlLedger(store).begin("k", {"before": True})
            raise RuntimeError("crash after begin")

    with pytest.raises(RuntimeError, match="crash"):
        crash_after_begin()
    entry = SqlLedger(store).get("k")
    assert entry is not None
    assert entry.before == {"before": True}


def test_an_unfinished_entry_has_a_sql_null_result(store: Store) -> None:
    SqlLedger(store).begin("open", {})
    with store.session() as session:
        nulls = session.execute(text("SELECT count(*) FROM ledger WHERE result IS NULL")).scalar()
    assert nulls == 1


def test_racing_begins_keep_the_first_writer(store: Store) -> None:
    """Exactly one racer is told it began the key: the others must not act on it."""
    threads = 6
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []
    began: list[int] = []

    def racer(n: int) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(timeout=30)
                if SqlLedger(store).begin("shared", {"writer": n}):
                    began.append(n)
            except BaseException as exc:  # reported below
                failures.append(exc)

        return run

    workers = [threading.Thread(target=racer(n)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    assert failures == []
    entry = SqlLedger(store).get("shared")
    assert entry is not None
    winner = entry.before["writer"]
    assert began == [winner]
    assert SqlLedger(store).begin("shared", {"writer": -1}) is False
    again = SqlLedger(store).get("shared")
    assert again is not None
    assert again.before == {"writer": winner}


def _race_begin_and_fence(store: Store, key: str) -> dict[str, str]:
    """Start a ``begin`` and a ``fence`` of ``key`` together; what each one saw."""
    barrier = threading.Barrier(2)
    answers: dict[str, str] = {}

    def begin() -> None:
        barrier.wait(timeout=30)
        try:
            SqlLedger(store).begin(key, {"pid": 7})
            answers["begin"] = "began"
        except ActionFenced:
            answers["begin"] = "fenced"

    def fence() -> None:
        barrier.wait(timeout=30)
        entry = SqlLedger(store).fence(key, fence_result(key, "inc", "worker", AT))
        answers["fence"] = "fenced" if entry.fenced else "began"

    workers = [threading.Thread(target=begin), threading.Thread(target=fence)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    return answers


def test_a_fence_and_a_begin_racing_agree_on_who_won(store: Store) -> None:
    """Whichever commits first decides; the other sees it: a begin that lost raises before
    any side effect, a fence that lost returns the begun entry. Never both, never neither."""
    for n in range(20):
        answers = _race_begin_and_fence(store, f"race-{n}")
        assert set(answers) == {"begin", "fence"}, (n, answers)
        assert answers["begin"] == answers["fence"], (n, answers)
