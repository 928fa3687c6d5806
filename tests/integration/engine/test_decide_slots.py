"""An approved action holds its rate-limit slot until it is applied, on SQLite and PostgreSQL.

Two incidents on one service that decide at the same moment must not both take the last
slot: deciding is serialised in the store and counts approvals not applied yet.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from tests.unit.engine.test_activities import PATTERN, T0, RerunAdapter, _activities, _alert
from vanguard.act.base import MemoryLedger
from vanguard.config import Settings
from vanguard.decide import PolicyConfig
from vanguard.engine.activities import IN_FLIGHT_GRACE, Activities
from vanguard.engine.messages import (
    ApplyInput,
    CloseInput,
    DecideInput,
    DiagnoseInput,
    OpenInput,
)
from vanguard.model import Decision, Outcome, OutcomeStatus
from vanguard.store import IncidentRepo, Store

ONE_A_DAY = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)


def _diagnosed(acts: Activities, n: int, service: str = "octo/repo") -> DecideInput:
    alert = _alert(n, service)
    iid = f"inc-{service}-{n}"
    acts.open_incident(OpenInput(incident_id=iid, alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id=iid, alert=alert))
    return DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis)


def test_an_approved_action_not_applied_yet_holds_the_last_slot(store: Store) -> None:
    acts = _activities(store, RerunAdapter(ok=True), ONE_A_DAY)
    first = _diagnosed(acts, 1)
    assert acts.decide(first).approved

    second = acts.decide(_diagnosed(acts, 2))
    assert not second.approved
    assert "1 actions on octo/repo in 24 h (counting 1 approved, not applied yet), limit 1" in (
        second.reason
    )

    other_service = acts.decide(_diagnosed(acts, 3, service="octo/other"))
    assert other_service.approved

    acts.apply_action(
        ApplyInput(incident_id=first.incident_id, alert=first.alert, diagnosis=first.diagnosis)
    )
    third = acts.decide(_diagnosed(acts, 4))
    assert not third.approved
    assert "1 actions on octo/repo in 24 h, limit 1" in third.reason


def test_incidents_deciding_at_once_take_one_slot(store: Store) -> None:
    acts = _activities(store, RerunAdapter(ok=True), ONE_A_DAY)
    inputs = [_diagnosed(acts, n) for n in range(1, 7)]
    barrier = threading.Barrier(len(inputs))
    decisions: list[Decision] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(inp: DecideInput) -> None:
        barrier.wait()
        try:
            decision = acts.decide(inp)
        except BaseException as exc:  # reported below, with the thread's cause
            with lock:
                errors.append(exc)
            return
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=run, args=(inp,)) for inp in inputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(decisions) == len(inputs)
    assert sum(d.approved for d in decisions) == 1


def test_an_approval_whose_action_never_came_frees_its_slot_after_the_hold(store: Store) -> None:
    now = [T0]
    settings = Settings(data_dir=Path("."), policy=ONE_A_DAY)
    adapter = RerunAdapter(ok=True)
    adapters = {adapter.kind: adapter}
    ledger = MemoryLedger()
    acts = Activities(settings, store, [PATTERN], adapters, ledger, [], clock=lambda: now[0])
    assert acts.decide(_diagnosed(acts, 1)).approved
    hold = timedelta(seconds=settings.verification.baseline_s) + IN_FLIGHT_GRACE

    now[0] = T0 + hold - timedelta(seconds=1)
    assert not acts.decide(_diagnosed(acts, 2)).approved
    now[0] = T0 + hold + timedelta(seconds=1)
    verdicts = {v.gate: v.passed for v in acts.decide(_diagnosed(acts, 3)).verdicts}
    assert verdicts["rate_limit"], "the slot is free again"
    assert not verdicts["cooldown"], "the approval counts as unsettled for a window longer"
    verification = settings.verification
    readings_s = 2 * acts.verify_samples * verification.sample_interval_s
    now[0] = T0 + hold + timedelta(seconds=verification.window_s + readings_s - 1)
    assert not acts.decide(_diagnosed(acts, 4)).approved, "its verification may still read"
    now[0] = T0 + hold + timedelta(seconds=verification.window_s + readings_s + 1)
    assert acts.decide(_diagnosed(acts, 5)).approved


def test_deciding_waits_for_a_decision_in_progress(store: Store) -> None:
    """A unit of work holding the decision lock makes another decide wait until it ends."""
    acts = _activities(store, RerunAdapter(ok=True), ONE_A_DAY)
    inp = _diagnosed(acts, 1)
    done = threading.Event()

    def decide() -> None:
        acts.decide(inp)
        done.set()

    with store.session() as session:
        IncidentRepo(session).lock_decisions()
        session.execute(text("SELECT 1"))
        worker = threading.Thread(target=decide)
        worker.start()
        time.sleep(1.0)
        assert not done.is_set(), "decide did not wait for the lock"
    worker.join(timeout=30)
    assert done.is_set()


def _apply(acts: Activities, inp: DecideInput) -> None:
    acts.apply_action(
        ApplyInput(incident_id=inp.incident_id, alert=inp.alert, diagnosis=inp.diagnosis)
    )


def _close(acts: Activities, inp: DecideInput, status: OutcomeStatus) -> None:
    outcome = Outcome(
        incident_id=inp.incident_id,
        pattern_id=inp.diagnosis.pattern_id,
        status=status,
        reason="test",
        finished_at=T0,
    )
    acts.close_incident(CloseInput(outcome=outcome))


def test_a_second_action_on_a_service_waits_until_the_first_is_settled(store: Store) -> None:
    """With the default policy (no cooldown interval): applied, the first action is being
    verified, and a second change to the same service would spoil that verification."""
    acts = _activities(store, RerunAdapter(ok=True), PolicyConfig(min_confidence=0.5))
    first = _diagnosed(acts, 1)
    assert acts.decide(first).approved
    _apply(acts, first)
    waiting = acts.decide(_diagnosed(acts, 2))
    assert not waiting.approved
    assert "cooldown (1 earlier action(s) on octo/repo approved or not verified yet" in (
        waiting.reason
    )
    assert acts.decide(_diagnosed(acts, 3, service="octo/other")).approved
    _close(acts, first, OutcomeStatus.escalated)
    assert acts.decide(_diagnosed(acts, 4)).approved


def test_a_half_open_breaker_lets_one_trial_through_while_it_runs(store: Store) -> None:
    """Three failures an hour and more ago: one incident tries again; a second one while
    that trial is not settled must not be a second trial."""
    policy = PolicyConfig(
        min_confidence=0.5, max_actions_per_service_per_day=10, concurrent_actions=("ci.rerun",)
    )
    acts = _activities(store, RerunAdapter(ok=True), policy)
    for n in range(1, 4):
        failed = _diagnosed(acts, n)
        assert acts.decide(failed).approved
        _apply(acts, failed)
        _close(acts, failed, OutcomeStatus.escalated)
    acts.clock = lambda: T0 + timedelta(hours=2)
    trial = _diagnosed(acts, 4)
    assert acts.decide(trial).approved
    second = acts.decide(_diagnosed(acts, 5))
    assert not second.approved
    assert "its one trial is under way already" in second.reason
