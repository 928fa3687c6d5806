"""Activities without Temporal: CI-style services, the all-services rate limit, verdicts."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from vanguard.act.base import Adapter, Ledger, MemoryLedger
from vanguard.config import Settings
from vanguard.decide import PolicyConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy
from vanguard.engine.activities import Activities
from vanguard.engine.messages import (
    ApplyInput,
    CloseInput,
    DecideInput,
    DiagnoseInput,
    OpenInput,
    RollbackInput,
    TransitionInput,
    VerifyInput,
)
from vanguard.errors import ActionWithheld, AdapterError
from vanguard.incident import Incident
from vanguard.learn.calibration import calibrate
from vanguard.model import (
    ActionRequest,
    ActionResult,
    Alert,
    Check,
    Outcome,
    OutcomeStatus,
    Plan,
    RollbackRequest,
    UndoRecord,
    Verdict,
)
from vanguard.store import IncidentRepo, PauseRepo, Store, default_store_url, open_store

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


class RerunParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RerunAdapter:
    """An in-test adapter whose own check says what the test wants."""

    kind: ClassVar[str] = "ci.rerun"
    params_model: ClassVar[type[BaseModel]] = RerunParams

    def __init__(self, ok: bool) -> None:
        self.ok = ok
        self.applied = 0
        self.rolled_back = 0

    def plan(self, request: ActionRequest) -> Plan:
        return Plan(action=self.kind, target=request.target, steps=("rerun",), undoable=True)

    def apply(self, request: ActionRequest) -> ActionResult:
        self.applied += 1
        return ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            undo=UndoRecord(
                action=self.kind, target=request.target, possible=True, instructions="x"
            ),
            message="re-ran the failed jobs",
            finished_at=T0,
        )

    def verify(self, result: ActionResult) -> Check:
        return Check(
            ok=self.ok,
            reason="run 42 succeeded" if self.ok else "run 42 failed again",
            observed={"run_id": 42, "conclusion": "success" if self.ok else "failure"},
        )

    def rollback(self, request: RollbackRequest) -> ActionResult:
        self.rolled_back += 1
        return self.apply(
            ActionRequest(
                idempotency_key=request.idempotency_key,
                incident_id=request.incident_id,
                action=self.kind,
                target=request.undo.target,
            )
        )


PATTERN = Pattern(
    id="ci_flaky_network",
    description="a CI job failed on a network blip",
    service_types=("ci",),
    metric="ci_job_failed",
    signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
    remedy=PatternRemedy(action="ci.rerun"),
    rollback_safe=True,
    prior_confidence=0.95,
)


def _alert(n: int = 1, service: str = "octo/repo") -> Alert:
    return Alert(
        alert_id=f"gh-{service}-{n}",
        fingerprint=f"{service}/ci_job_failed",
        source="github:workflow_run",
        service_name=service,
        metric_type="ci_job_failed",
        labels={"service_type": "ci"},
        detected_at=T0 + timedelta(minutes=n),
        summary="job failed",
        anomaly_score=1.0,
        confidence=1.0,
    )


def _activities(store: Store, adapter: Adapter, policy: PolicyConfig | None = None) -> Activities:
    settings = Settings(data_dir=Path("."), policy=policy or PolicyConfig(min_confidence=0.5))
    return Activities(
        settings, store, [PATTERN], {adapter.kind: adapter}, MemoryLedger(), [], clock=lambda: T0
    )


def _through_apply(acts: Activities, alert: Alert) -> tuple[str, VerifyInput | None]:
    iid = f"inc-{alert.alert_id}"
    acts.open_incident(OpenInput(incident_id=iid, alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id=iid, alert=alert))
    decision = acts.decide(DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis))
    if not decision.approved:
        return iid, None
    action = acts.apply_action(ApplyInput(incident_id=iid, alert=alert, diagnosis=diagnosis))
    return iid, VerifyInput(incident_id=iid, alert=alert, diagnosis=diagnosis, action=action)


@pytest.mark.parametrize(("ok", "verdict"), [(True, Verdict.improved), (False, Verdict.degraded)])
def test_a_service_without_metrics_is_judged_by_the_adapters_check(
    store: Store, ok: bool, verdict: Verdict
) -> None:
    adapter = RerunAdapter(ok)
    acts = _activities(store, adapter)
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None, "an unlisted service must still be diagnosed and acted on"
    assert verify.diagnosis.pattern_id == "ci_flaky_network"
    verification = acts.verify(verify)
    assert verification.verdict is verdict
    assert ("run 42 succeeded" if ok else "run 42 failed again") in verification.reason
    assert verification.figures["check.run_id"] == 42
    with store.session() as session:
        record = IncidentRepo(session).get_record(iid)
    assert record is not None
    assert record.verification == verification


def test_an_unlisted_service_without_a_type_label_is_generic(store: Store) -> None:
    acts = _activities(store, RerunAdapter(True))
    alert = _alert().model_copy(update={"labels": {}})
    acts.open_incident(OpenInput(incident_id="inc-x", alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-x", alert=alert))
    assert diagnosis.pattern_id is None


def test_the_daily_limit_over_all_services_is_enforced(store: Store) -> None:
    adapter = RerunAdapter(True)
    policy = PolicyConfig(min_confidence=0.5, max_actions_per_day=2)
    acts = _activities(store, adapter, policy)
    decided = [_through_apply(acts, _alert(n, f"octo/repo{n}"))[1] is not None for n in range(3)]
    assert decided == [True, True, False]
    assert adapter.applied == 2
    with store.session() as session:
        record = IncidentRepo(session).get_record("inc-gh-octo/repo2-2")
    assert record is not None
    assert record.decision is not None
    rate = next(v for v in record.decision.verdicts if v.gate == "rate_limit")
    assert not rate.passed
    assert "2 actions on all services in 24 h, limit 2" in rate.reason


def test_rollback_by_hand_shares_the_automatic_key_and_runs_once(store: Store) -> None:
    adapter = RerunAdapter(True)
    acts = _activities(store, adapter)
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None
    first, new = acts.roll_back_by_hand(iid, who="alice")
    again, new_again = acts.roll_back_by_hand(iid, who="alice")
    auto = acts.rollback(RollbackInput(incident_id=iid, action=verify.action))
    assert (new, new_again) == (True, False)
    assert first == again
    assert auto.idempotency_key == first.idempotency_key == f"{iid}:rollback"
    with store.session() as session:
        record = IncidentRepo(session).get_record(iid)
    assert record is not None
    assert [a.idempotency_key for a in record.actions].count(f"{iid}:rollback") == 1
    rolled = [e for e in record.audit if e.kind == "action.rolled_back"]
    assert len(rolled) == 1
    assert rolled[0].payload["by"] == "alice"


@pytest.mark.parametrize(
    ("settled", "ends"),
    [
        (OutcomeStatus.resolved, OutcomeStatus.escalated),
        (OutcomeStatus.rolled_back, OutcomeStatus.rolled_back),
    ],
)
def test_a_rollback_by_hand_in_the_window_is_no_verdict_on_the_remedy(
    store: Store, settled: OutcomeStatus, ends: OutcomeStatus
) -> None:
    """Undone by hand while Vanguard waited to verify: the verdict that follows judged the
    service without the remedy, so it neither resolves the incident nor teaches."""
    acts = _activities(store, RerunAdapter(True))
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None
    acts.roll_back_by_hand(iid, who="alice")
    verification = acts.verify(verify)
    assert verification.verdict is Verdict.improved
    if settled is OutcomeStatus.rolled_back:
        acts.transition(TransitionInput(incident_id=iid, state="rolling_back", reason="worse"))
        acts.rollback(RollbackInput(incident_id=iid, action=verify.action))
    told = Outcome(
        incident_id=iid,
        pattern_id=verify.diagnosis.pattern_id,
        status=settled,
        reason="verified: run 42 succeeded",
        finished_at=T0,
    )
    stored = acts.close_incident(CloseInput(outcome=told, verification=verification))
    assert (stored.status, stored.teaches) == (ends, False)
    assert "alice rolled the action back by hand" in stored.reason
    with store.session() as session:
        record = IncidentRepo(session).get_record(iid)
    assert record is not None
    assert record.outcome == stored
    assert record.incident.state.value == ends.value
    assert acts.close_incident(CloseInput(outcome=told)) == stored


def _verified(store: Store) -> tuple[Activities, str, CloseInput]:
    """An incident acted on and verified, and its close as resolved."""
    acts = _activities(store, RerunAdapter(True))
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None
    verification = acts.verify(verify)
    told = Outcome(
        incident_id=iid,
        pattern_id=verify.diagnosis.pattern_id,
        status=OutcomeStatus.resolved,
        reason="verified: run 42 succeeded",
        finished_at=T0,
    )
    return acts, iid, CloseInput(outcome=told, verification=verification)


def test_a_rollback_by_hand_after_the_verdict_unteaches_its_success(store: Store) -> None:
    """Resolved, then undone by a person: it stays resolved, but no longer counts for the
    pattern's confidence or against the service's breaker streak."""
    acts, iid, close = _verified(store)
    acts.close_incident(close)
    acts.roll_back_by_hand(iid, who="alice")
    with store.session() as session:
        record = IncidentRepo(session).get_record(iid)
    assert record is not None
    assert record.outcome is not None
    assert (record.outcome.status, record.outcome.teaches) == (OutcomeStatus.resolved, False)
    assert "alice rolled the action back by hand afterwards" in record.outcome.reason
    assert calibrate(0.9, [record.outcome]) == 0.9


def test_an_outcome_without_a_rollback_by_hand_is_stored_as_told(store: Store) -> None:
    acts, _, close = _verified(store)
    assert acts.close_incident(close) == close.outcome


def test_an_incident_driven_again_after_its_action_keeps_its_state(store: Store) -> None:
    """A resend re-drives an incident whose workflow failed during verification: the
    incident is not moved back to *applied* (its adapter's ledger, not this stand-in,
    keeps the action from being applied twice)."""
    adapter = RerunAdapter(True)
    acts = _activities(store, adapter)
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None
    acts.verify(verify)
    again = acts.apply_action(
        ApplyInput(incident_id=iid, alert=verify.alert, diagnosis=verify.diagnosis)
    )
    assert again.idempotency_key == verify.action.idempotency_key
    with store.session() as session:
        record = IncidentRepo(session).get_record(iid)
    assert record is not None
    assert record.incident.state.value == "verifying"


def test_a_pause_withholds_the_automatic_rollback_but_not_one_by_hand(store: Store) -> None:
    """Paused during a failover: a revert pushed or a pool reloaded then is an action too.
    The person who paused can still undo it by hand."""
    adapter = RerunAdapter(True)
    acts = _activities(store, adapter)
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None
    with store.session() as session:
        PauseRepo(session).pause(service=None, reason="db failover", by="erin", now=T0)
    with pytest.raises(ActionWithheld, match=r"rollback withheld: automation paused.*erin"):
        acts.rollback(RollbackInput(incident_id=iid, action=verify.action))
    acts.settings = acts.settings.model_copy(update={"source_file": Path("/etc/vg/vanguard.yaml")})
    located = rf"`vanguard rollback {iid} -c /etc/vg/vanguard.yaml`"
    with pytest.raises(ActionWithheld, match=located):
        acts.rollback(RollbackInput(incident_id=iid, action=verify.action))
    assert adapter.rolled_back == 0
    _, new = acts.roll_back_by_hand(iid, who="erin")
    assert new
    assert adapter.rolled_back == 1


def test_rollback_by_hand_refuses_an_incident_with_nothing_applied(store: Store) -> None:
    acts = _activities(store, RerunAdapter(True))
    alert = _alert().model_copy(update={"labels": {}})
    acts.open_incident(OpenInput(incident_id="inc-y", alert=alert))
    with pytest.raises(AdapterError, match="no applied action"):
        acts.roll_back_by_hand("inc-y", who="bob")


def test_the_cooldown_sees_the_last_action_on_the_service(store: Store) -> None:
    adapter = RerunAdapter(True)
    policy = PolicyConfig(min_confidence=0.5, min_minutes_between_actions=60)
    acts = _activities(store, adapter, policy)
    acted = [_through_apply(acts, _alert(n))[1] is not None for n in range(2)]
    other = _through_apply(acts, _alert(5, "octo/other"))[1] is not None
    assert acted == [True, False]
    assert other
    with store.session() as session:
        record = IncidentRepo(session).get_record("inc-gh-octo/repo-1")
    assert record is not None
    assert record.decision is not None
    cooldown = next(v for v in record.decision.verdicts if v.gate == "cooldown")
    assert not cooldown.passed, cooldown.reason


def test_the_builtin_pool_pattern_fits_the_resize_adapter() -> None:
    from vanguard.act.registry import build_adapters, check_patterns
    from vanguard.diagnose.patterns import load_patterns

    adapters = build_adapters(MemoryLedger(), Settings())
    patterns = {p.id: p for p in load_patterns()}
    pool = patterns["connection_pool_exhaustion"]
    check_patterns([pool], adapters)
    assert pool.remedy.action == "pgbouncer.resize" in adapters
    assert pool.remedy.params == {"factor": 1.2}
    assert pool.rollback_safe
    assert {c.field for c in pool.signature} == {
        "trend.slope_per_hour",
        "trend.ema_ratio",
        "trend.zscore",
    }


class FailingUndo(RerunAdapter):
    """Undoes half (begins in the ledger), then its target goes away."""

    ledger: Ledger

    def rollback(self, request: RollbackRequest) -> ActionResult:
        self.ledger.begin(request.idempotency_key, {"pool_size": 3})
        raise AdapterError("cannot reach the pgbouncer console: connection refused")


def test_a_failed_rollback_by_hand_leaves_its_trace_in_the_audit(store: Store) -> None:
    """The ini may already be reverted: the trail must say an undo was tried and how far."""
    adapter = FailingUndo(True)
    acts = _activities(store, adapter)
    adapter.ledger = acts.ledger
    iid, verify = _through_apply(acts, _alert())
    assert verify is not None
    with pytest.raises(AdapterError, match="connection refused"):
        acts.roll_back_by_hand(iid, who="alice")
    with store.session() as session:
        record = IncidentRepo(session).get_record(iid)
    assert record is not None
    (failed,) = [e for e in record.audit if e.kind == "action.rollback_failed"]
    assert failed.payload["by"] == "alice"
    assert failed.payload["begun"] is True
    assert failed.payload["before"] == {"pool_size": 3}
    assert "connection refused" in str(failed.payload["error"])


@pytest.mark.parametrize(
    ("policy", "planned"),
    [
        (PolicyConfig(min_confidence=0.5, dry_run=True), True),
        (PolicyConfig(min_confidence=0.5, require_approval_for=("ci.rerun",)), True),
        (PolicyConfig(min_confidence=0.5, dry_run=True, max_actions_per_day=0), False),
        (PolicyConfig(min_confidence=0.5), False),
    ],
    ids=["dry_run_would_act", "asks_a_person", "dry_run_would_decline", "acts"],
)
def test_a_dry_run_or_an_approval_request_says_what_the_action_would_do(
    store: Store, policy: PolicyConfig, planned: bool
) -> None:
    adapter = RerunAdapter(True)
    acts = _activities(store, adapter, policy)
    alert = _alert()
    acts.open_incident(OpenInput(incident_id="inc-p", alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-p", alert=alert))
    decision = acts.decide(DecideInput(incident_id="inc-p", alert=alert, diagnosis=diagnosis))
    assert decision.reason.endswith(". It would: rerun") is planned
    assert adapter.applied == 0, "planning changes nothing"
    with store.session() as session:
        record = IncidentRepo(session).get_record("inc-p")
    assert record is not None
    assert record.decision == decision


class StoreReadingPlan(RerunAdapter):
    """Plans from the store, as the GitHub adapters read their alert there."""

    store: Store

    def plan(self, request: ActionRequest) -> Plan:
        with self.store.session() as session:
            IncidentRepo(session).get_incident(request.incident_id)
        return super().plan(request)


def test_a_plan_that_reads_the_store_does_not_wait_for_the_decisions_lock(
    tmp_path: Path,
) -> None:
    """On a SQLite file the decision's unit of work holds the write lock; planning inside it
    waited out the 30 s busy timeout and read 'unknown'."""
    store = open_store(default_store_url(tmp_path))
    try:
        adapter = StoreReadingPlan(True)
        adapter.store = store
        acts = _activities(store, adapter, PolicyConfig(min_confidence=0.5, dry_run=True))
        alert = _alert()
        acts.open_incident(OpenInput(incident_id="inc-f", alert=alert))
        diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-f", alert=alert))
        started = time.monotonic()
        decision = acts.decide(DecideInput(incident_id="inc-f", alert=alert, diagnosis=diagnosis))
        took = time.monotonic() - started
        with store.session() as session:
            record = IncidentRepo(session).get_record("inc-f")
    finally:
        store.close()
    assert decision.reason.endswith(". It would: rerun"), decision.reason
    assert took < 10
    assert record is not None
    assert record.decision == decision
    assert [e.kind for e in record.audit if e.kind == "decision.planned"] == ["decision.planned"]


def _history(
    store: Store, service: str, statuses: list[OutcomeStatus], action: str | None = None
) -> None:
    """Finished incidents of ``PATTERN`` on ``service`` that tried ``action`` (``None``: not
    recorded, which counts for any), a day ago."""
    with store.session() as session:
        repo = IncidentRepo(session)
        for n, status in enumerate(statuses):
            alert = _alert(1000 + n, service).model_copy(
                update={"detected_at": T0 - timedelta(days=1, minutes=-n)}
            )
            iid = f"old-{service}-{n}"
            repo.save_incident(Incident.open(iid, alert))
            outcome = Outcome(
                incident_id=iid,
                pattern_id=PATTERN.id,
                status=status,
                reason="before",
                finished_at=alert.detected_at + timedelta(minutes=5),
            )
            repo.save_outcome(
                outcome if action is None else outcome.model_copy(update={"action": action})
            )


def test_diagnosis_counts_only_the_outcomes_of_the_current_remedy(store: Store) -> None:
    """Ten failures of the remedy an earlier version had neither lower this one's
    confidence nor open its breaker; the diagnosis names the pattern's version."""
    _history(store, "octo/repo", [OutcomeStatus.escalated] * 10, "ci.old_rerun")
    acts = _activities(store, RerunAdapter(True), PolicyConfig(min_confidence=0.9))
    _, verify = _through_apply(acts, _alert())
    assert verify is not None, "acted alone: the prior 0.95 is all it knows of ci.rerun"
    assert verify.diagnosis.confidence == pytest.approx(0.95)
    assert verify.diagnosis.pattern_version == PATTERN.version


def test_one_flapping_service_drags_the_pattern_down_only_to_its_breaker(store: Store) -> None:
    """Ten escalations in a row on one repository count as three (the breaker threshold)
    for the pattern on every other repository."""
    _history(store, "octo/flappy", [OutcomeStatus.escalated] * 10)
    acts = _activities(store, RerunAdapter(True))
    alert = _alert(7, "octo/healthy")
    acts.open_incident(OpenInput(incident_id="inc-h", alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-h", alert=alert))
    assert diagnosis.confidence == pytest.approx(9.5 / 13)
