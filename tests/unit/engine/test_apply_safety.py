"""apply_action refuses without an approval and says when a failure may have left changes."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session
from temporalio.testing import ActivityEnvironment

from tests.unit.engine.test_activities import PATTERN, T0, RerunAdapter, _activities, _alert
from vanguard.act.base import Ledger, fence_result
from vanguard.decide import OnceWindow, PolicyConfig
from vanguard.engine import activities
from vanguard.engine.activities import APPLY_ATTEMPTS, Activities, apply_key
from vanguard.engine.heartbeat import heartbeating
from vanguard.engine.messages import ApplyInput, CloseInput, DecideInput, DiagnoseInput, OpenInput
from vanguard.errors import (
    ActionFailed,
    ActionFenced,
    ActionWithheld,
    AdapterError,
    PartlyApplied,
    StoreError,
)
from vanguard.incident import IncidentState
from vanguard.model import ActionRequest, ActionResult, Outcome, OutcomeStatus, Plan
from vanguard.store import AuditLog, IncidentRepo, PauseRepo, SqlLedger, Store


class HalfwayAdapter(RerunAdapter):
    """Begins its side effect in the ledger, then fails, as a crash mid-change would."""

    ledger: Ledger

    def apply(self, request: ActionRequest) -> ActionResult:
        self.applied += 1
        self.ledger.begin(request.idempotency_key, {"pool_size": 2, "token": "s3cr3t-value"})
        raise ActionFailed("RELOAD failed: admin console went away")


def _decided(store: Store, adapter: RerunAdapter, policy: PolicyConfig) -> ApplyInput:
    acts = _activities(store, adapter, policy)
    alert = _alert()
    acts.open_incident(OpenInput(incident_id="inc-1", alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-1", alert=alert))
    assert diagnosis.pattern_id == PATTERN.id
    acts.decide(DecideInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis))
    return ApplyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis)


@pytest.mark.parametrize(
    "policy",
    [
        PolicyConfig(min_confidence=0.5, dry_run=True),
        PolicyConfig(min_confidence=0.5, require_approval_for=("ci.rerun",)),
        PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=0),
    ],
    ids=["dry_run", "awaiting_approval", "declined"],
)
def test_apply_refuses_without_a_recorded_approval(store: Store, policy: PolicyConfig) -> None:
    adapter = RerunAdapter(ok=True)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    with pytest.raises(ActionFailed, match="refusing to act without a recorded approval"):
        acts.apply_action(apply)
    assert adapter.applied == 0


def test_a_failure_after_the_change_began_says_it_may_be_partly_applied(store: Store) -> None:
    adapter = HalfwayAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    adapter.ledger = acts.ledger
    with pytest.raises(ActionFailed) as info:
        acts.apply_action(apply)
    message = str(info.value)
    assert "may be partly applied" in message
    assert '"pool_size": 2' in message
    assert "s3cr3t-value" not in message


class CountsBeats(RerunAdapter):
    """Notes how many heartbeats the activity had sent when the adapter was called."""

    beats: list[object]
    seen: int = -1

    def apply(self, request: ActionRequest) -> ActionResult:
        self.seen = len(self.beats)
        return super().apply(request)


def test_the_checks_before_the_adapter_heartbeat_while_they_wait_on_the_store(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gates run again under the store's locks first; silent there past the 20 s
    heartbeat timeout, Temporal started a second attempt alongside this one."""
    adapter = CountsBeats(ok=True)
    adapter.beats = []
    policy = PolicyConfig(min_confidence=0.5)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    monkeypatch.setattr(activities, "heartbeating", lambda: heartbeating(0.02))
    other = sqlite3.connect(store.engine.url.database or "", check_same_thread=False)
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, other.rollback).start()
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: adapter.beats.append(details)
    try:
        env.run(acts.apply_action, apply)
    finally:
        other.close()
    assert adapter.applied == 1
    assert adapter.seen > 0, "no heartbeat while the store's write lock was awaited"


def test_a_pause_after_the_approval_stops_the_action(store: Store) -> None:
    adapter = RerunAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5)
    apply = _decided(store, adapter, policy)
    with store.session() as session:
        PauseRepo(session).pause(
            service=None, reason="incident bridge open", by="erin", now=T0 - timedelta(seconds=1)
        )
    acts = _activities(store, adapter, policy)
    with pytest.raises(ActionWithheld, match=r"approved, but not applied.*automation paused"):
        acts.apply_action(apply)
    assert adapter.applied == 0


def _audited(store: Store, incident_id: str) -> list[str]:
    with store.session() as session:
        return [e.kind for e in AuditLog(session).entries(incident_id)]


def test_a_freeze_window_that_opened_after_the_decision_withholds_the_action(
    store: Store,
) -> None:
    """Decided at T0; the baseline is read for minutes, and a release freeze begins."""
    adapter = RerunAdapter(ok=True)
    freeze = OnceWindow(
        name="release", start=T0 + timedelta(minutes=2), end=T0 + timedelta(hours=2)
    )
    policy = PolicyConfig(min_confidence=0.5, maintenance_windows=(freeze,))
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    acts.clock = lambda: T0 + timedelta(minutes=10)
    with pytest.raises(ActionWithheld, match=r"window.*release"):
        acts.apply_action(apply)
    assert adapter.applied == 0
    assert _audited(store, "inc-1")[-1] == "decision.withheld"


def _decide_at(acts: Activities, n: int, at: datetime) -> tuple[ApplyInput, bool]:
    acts.clock = lambda: at
    alert = _alert(n)
    iid = f"inc-{n}"
    acts.open_incident(OpenInput(incident_id=iid, alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id=iid, alert=alert))
    decision = acts.decide(DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis))
    return ApplyInput(incident_id=iid, alert=alert, diagnosis=diagnosis), decision.approved


def test_an_approval_that_outlived_its_hold_cannot_take_a_slot_used_meanwhile(
    store: Store,
) -> None:
    """One action a day. The first incident is approved and then waits (a worker or
    Temporal down) past its hold on the slot; a second incident takes the slot and acts.
    When the first finally runs, the gates stop it: two actions against a limit of one."""
    adapter = RerunAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)
    acts = _activities(store, adapter, policy)
    first, approved = _decide_at(acts, 1, T0)
    assert approved
    later = T0 + acts._unsettled_hold + timedelta(minutes=1)
    second, approved = _decide_at(acts, 2, later)
    assert approved, "the first approval no longer holds the slot"
    acts.apply_action(second)
    acts.clock = lambda: later + timedelta(minutes=1)
    with pytest.raises(ActionWithheld, match="rate_limit"):
        acts.apply_action(first)
    assert adapter.applied == 1


def test_an_approval_checked_again_holds_its_slot_from_then(store: Store) -> None:
    """The late first incident passes the gates again (nothing else acted), so it holds
    the slot anew: a second incident deciding just after must count it."""
    adapter = RerunAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)
    acts = _activities(store, adapter, policy)
    first, _ = _decide_at(acts, 1, T0)
    late = T0 + acts._unsettled_hold + timedelta(minutes=1)
    acts.clock = lambda: late
    assert acts._gates_again(first) is None
    assert _audited(store, "inc-1")[-1] == "decision.rechecked"
    _, approved = _decide_at(acts, 2, late + timedelta(seconds=1))
    assert not approved, "the first approval, checked again, holds the only slot"


def _approve(acts: Activities, apply: ApplyInput, who: str) -> None:
    acts.decide(
        DecideInput(
            incident_id=apply.incident_id,
            alert=apply.alert,
            diagnosis=apply.diagnosis,
            approved_by=who,
        )
    )


def test_a_persons_approval_still_lifts_what_it_lifted_when_checked_again(
    store: Store,
) -> None:
    adapter = RerunAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5, require_approval_for=("ci.rerun",))
    acts = _activities(store, adapter, policy)
    apply, approved = _decide_at(acts, 1, T0)
    assert not approved
    _approve(acts, apply, "alice")
    acts.apply_action(apply)
    assert adapter.applied == 1


class BreaksAfterBegin(RerunAdapter):
    """Begins its change, then meets ``error``."""

    ledger: Ledger
    error: Exception

    def apply(self, request: ActionRequest) -> ActionResult:
        self.applied += 1
        self.ledger.begin(request.idempotency_key, {"pool_size": 2})
        raise self.error


@pytest.mark.parametrize(
    ("error", "attempt", "raised"),
    [
        (StoreError("store postgresql://db: connection refused"), 1, StoreError),
        (AdapterError("console unreachable"), 1, AdapterError),
        (StoreError("store postgresql://db: connection refused"), APPLY_ATTEMPTS, PartlyApplied),
        (OSError(28, "No space left on device"), 1, PartlyApplied),
    ],
    ids=["store_blip_retried", "unreachable_retried", "last_attempt_escalates", "disk_full"],
)
def test_after_begin_a_transient_error_is_retried_and_anything_else_escalates(
    store: Store, error: Exception, attempt: int, raised: type[Exception]
) -> None:
    adapter = BreaksAfterBegin(ok=True)
    adapter.error = error
    policy = PolicyConfig(min_confidence=0.5)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    adapter.ledger = acts.ledger
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    with pytest.raises(raised) as info:
        env.run(acts.apply_action, apply)
    assert type(info.value) is raised


def test_an_action_that_began_and_failed_uses_its_budget(store: Store) -> None:
    """Its change may be in place: one action a day means the next incident waits, as it
    would after an action that finished (it was approved a minute later before)."""
    adapter = HalfwayAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    adapter.ledger = acts.ledger
    with pytest.raises(PartlyApplied):
        acts.apply_action(apply)
    acts.clock = lambda: T0 + acts._unsettled_hold + timedelta(minutes=1)
    _, approved = _decide_at(acts, 2, acts.clock())
    assert not approved
    with store.session() as session:
        (kept,) = IncidentRepo(session).get_record("inc-1").actions  # type: ignore[union-attr]
    assert kept.message == "begun, then failed: it may be partly applied"
    assert not kept.undo.possible
    assert "s3cr3t-value" not in kept.undo.instructions


def test_an_action_whose_answer_was_lost_is_kept_when_its_ledger_is_asked(store: Store) -> None:
    adapter = RerunAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    acts.ledger.begin(apply_key(apply.incident_id), {"state": "RUNNING"})
    assert acts.action_begun(apply) == '{"state": "RUNNING"}'
    acts.clock = lambda: T0 + acts._unsettled_hold + timedelta(minutes=1)
    _, approved = _decide_at(acts, 2, acts.clock())
    assert not approved, "the begun action counts against the daily limit"


class StoreDownAfterApplying(RerunAdapter):
    """Applies once per key through the ledger, as adapters do; the store then goes down."""

    ledger: Ledger
    down = False

    def apply(self, request: ActionRequest) -> ActionResult:
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        self.ledger.begin(key, {"run": 42})
        result = super().apply(request)
        self.ledger.finish(key, result)
        self.down = True
        return result


def test_an_action_applied_just_before_a_store_outage_is_recorded_when_the_incident_closes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store went down after the adapter's answer and stayed down through the action's
    tries and the ledger's: the incident closed without the action, so the next incident
    on the service was approved past a limit of one action a day."""
    adapter = StoreDownAfterApplying(ok=True)
    policy = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    acts.ledger = adapter.ledger = SqlLedger(store)
    session = store.session

    @contextmanager
    def down_or_up() -> Iterator[Session]:
        if adapter.down:
            raise StoreError("store postgresql://db/vanguard: connection refused")
        with session() as opened:
            yield opened

    monkeypatch.setattr(store, "session", down_or_up)
    with pytest.raises(StoreError):
        acts.apply_action(apply)
    with pytest.raises(StoreError):
        acts.action_begun(apply)
    adapter.down = False
    unknown = Outcome(
        incident_id=apply.incident_id,
        pattern_id=PATTERN.id,
        status=OutcomeStatus.escalated,
        reason="action failed: store down; whether it began is unknown",
        finished_at=T0,
    )
    acts.close_incident(CloseInput(outcome=unknown))
    acts.close_incident(CloseInput(outcome=unknown))
    with store.session() as opened:
        record = IncidentRepo(opened).get_record(apply.incident_id)
    assert record is not None
    assert [a.message for a in record.actions] == ["re-ran the failed jobs"]
    assert record.incident.state is IncidentState.escalated
    acts.clock = lambda: T0 + acts._unsettled_hold + timedelta(minutes=1)
    _, approved = _decide_at(acts, 2, acts.clock())
    assert not approved, "the recorded action counts against the daily limit"
    assert adapter.applied == 1


def test_a_fenced_key_is_no_action_when_the_incident_closes(store: Store) -> None:
    adapter = RerunAdapter(ok=True)
    policy = PolicyConfig(min_confidence=0.5)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    assert acts.action_begun(apply) is None
    acts.close_incident(
        CloseInput(
            outcome=Outcome(
                incident_id=apply.incident_id,
                pattern_id=PATTERN.id,
                status=OutcomeStatus.failed,
                reason="action failed; it never began",
                finished_at=T0,
            )
        )
    )
    with store.session() as opened:
        record = IncidentRepo(opened).get_record(apply.incident_id)
    assert record is not None
    assert record.actions == ()


class ResizingAdapter(RerunAdapter):
    """Plans from its target's current size, as ``pgbouncer.resize`` does (2 → 3)."""

    size = 2

    def plan(self, request: ActionRequest) -> Plan:
        step = f"set pool_size {self.size} → {self.size + self.size // 2}"
        return Plan(action=self.kind, target=request.target, steps=(step,), undoable=True)


def test_an_approval_holds_for_the_plan_it_was_shown(store: Store) -> None:
    """Alice approved "2 → 3" and it ran. Then Bob was shown "3 → 4"; someone set the pool
    to 4 by hand before his approval ran. The adapter reads its target when it acts: "4 → 6"
    would have run under an approval of "3 → 4"."""
    adapter = ResizingAdapter(ok=True)
    policy = PolicyConfig(
        min_confidence=0.5, require_approval_for=("ci.rerun",), concurrent_actions=("ci.rerun",)
    )
    acts = _activities(store, adapter, policy)
    first, _ = _decide_at(acts, 1, T0)
    _approve(acts, first, "alice")
    acts.apply_action(first)
    assert adapter.applied == 1
    adapter.size = 3
    second, _ = _decide_at(acts, 2, T0 + timedelta(minutes=1))
    adapter.size = 4
    _approve(acts, second, "bob")
    with pytest.raises(ActionWithheld, match="it was «set pool_size 3 → 4», it is «set pool"):
        acts.apply_action(second)
    assert adapter.applied == 1
    assert _audited(store, second.incident_id)[-1] == "decision.withheld"


class FencedMeanwhile(RerunAdapter):
    """Reads its ledger first and returns a stored result as adapters do, but the workflow
    fences the key just before (``action_begun`` on the workflow's side, while this attempt
    ran on a worker cut off from it)."""

    ledger: Ledger

    def apply(self, request: ActionRequest) -> ActionResult:
        key = request.idempotency_key
        self.ledger.fence(key, fence_result(key, request.incident_id, request.target, T0))
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        return super().apply(request)


def test_a_late_attempt_meets_the_fence_and_records_nothing(store: Store) -> None:
    """A fence is stored as a result, so an adapter returned it as its own and the incident
    moved to applied with the fence as its action; its close then failed for good."""
    adapter = FencedMeanwhile(ok=True)
    policy = PolicyConfig(min_confidence=0.5)
    apply = _decided(store, adapter, policy)
    acts = _activities(store, adapter, policy)
    adapter.ledger = acts.ledger
    with pytest.raises(ActionFenced):
        acts.apply_action(apply)
    with pytest.raises(ActionFenced):
        acts.apply_action(apply)
    assert adapter.applied == 0
    with store.session() as session:
        record = IncidentRepo(session).get_record(apply.incident_id)
    assert record is not None
    assert record.actions == ()
    assert record.incident.state is IncidentState.approved


def test_an_action_is_unsettled_while_its_verification_still_reads(store: Store) -> None:
    """Six readings ten minutes apart take an hour after the window, and a second look six
    more: a second remedy on the service meanwhile would spoil the first one's verdict, so
    it waits."""
    adapter = RerunAdapter(ok=True)
    acts = _activities(store, adapter, PolicyConfig(min_confidence=0.5))
    slow = acts.settings.verification.model_copy(update={"sample_interval_s": 600.0})
    acts.settings = acts.settings.model_copy(update={"verification": slow})
    first, approved = _decide_at(acts, 1, T0)
    assert approved
    acts.apply_action(first)
    before_and_window_s = slow.baseline_s + slow.window_s
    reading = T0 + timedelta(seconds=before_and_window_s) + timedelta(minutes=30 + 110)
    second, approved = _decide_at(acts, 2, reading)
    assert not approved, "the first action is still being verified"
    with store.session() as session:
        record = IncidentRepo(session).get_record(second.incident_id)
    assert record is not None
    assert record.decision is not None
    assert "cooldown" in record.decision.reason
