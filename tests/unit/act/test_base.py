"""``begin_once``: an attempt acts only when its ``begin`` won the key."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vanguard.act.base import MemoryLedger, begin_once, fence_result
from vanguard.errors import ActionFenced, AdapterError
from vanguard.model import ActionResult, UndoRecord

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _result(key: str) -> ActionResult:
    return ActionResult(
        idempotency_key=key,
        incident_id="inc-1",
        action="demo.kind",
        target="web",
        applied=True,
        undo=UndoRecord(action="demo.kind", target="web", possible=False, instructions="x"),
        message="done by the other attempt",
        finished_at=T0,
    )


def test_the_attempt_that_began_the_key_may_act() -> None:
    ledger = MemoryLedger()
    assert begin_once(ledger, "k", {"pid": 1}) is None
    entry = ledger.get("k")
    assert entry is not None
    assert entry.before == {"pid": 1}


def test_an_attempt_that_lost_to_a_finished_one_gets_its_result() -> None:
    ledger = MemoryLedger()
    ledger.begin("k", {"pid": 1})
    ledger.finish("k", _result("k"))
    assert begin_once(ledger, "k", {"pid": 2}) == _result("k")


def test_an_attempt_that_lost_to_one_under_way_is_retried_without_acting() -> None:
    ledger = MemoryLedger()
    ledger.begin("k", {"pid": 1})
    with pytest.raises(AdapterError, match="another attempt began this action") as info:
        begin_once(ledger, "k", {"pid": 2})
    assert type(info.value) is AdapterError, "retryable, unlike its subclasses"
    entry = ledger.get("k")
    assert entry is not None
    assert entry.before == {"pid": 1}


def test_a_fenced_key_is_not_begun() -> None:
    ledger = MemoryLedger()
    ledger.fence("k", fence_result("k", "inc-1", "web", T0))
    with pytest.raises(ActionFenced):
        begin_once(ledger, "k", {"pid": 2})
