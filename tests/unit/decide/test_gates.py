"""Each gate on its own: pass and fail cases, with reasons a human can read."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.decide.builders import T0, context, diagnosis
from vanguard.decide import GATES, Gate, OnceWindow, PolicyConfig
from vanguard.decide.gates import (
    ApprovalGate,
    AutomationGate,
    CircuitBreakerGate,
    ConfidenceGate,
    CooldownGate,
    DryRunGate,
    RateLimitGate,
    RemedyGate,
    RollbackSafetyGate,
    WindowGate,
)
from vanguard.model import Remedy


@pytest.mark.parametrize("name", sorted(GATES))
def test_every_registered_gate_conforms(name: str) -> None:
    gate = GATES[name](PolicyConfig())
    assert isinstance(gate, Gate)
    assert gate.name == name
    assert isinstance(gate.overridable, bool)
    verdict = gate.check(diagnosis(), context())
    assert verdict.gate == name
    assert verdict.reason
    assert gate.check(diagnosis(), context()) == verdict


def test_remedy_gate() -> None:
    gate = RemedyGate()
    assert gate.check(diagnosis(), context()).passed
    no_pattern = gate.check(diagnosis(pattern_id=None), context())
    assert not no_pattern.passed
    assert no_pattern.reason == "no known pattern matched"
    no_remedy = gate.check(diagnosis(remedy=None), context())
    assert not no_remedy.passed
    assert "recommends no remedy" in no_remedy.reason
    other = gate.check(diagnosis(), context(action="pgbouncer.resize"))
    assert not other.passed
    assert "pgbouncer.resize is not the remedy supervisor.restart" in other.reason
    assert gate.check(diagnosis(), context(action=None)).passed


def test_automation_gate() -> None:
    gate = AutomationGate()
    assert gate.check(diagnosis(), context()).passed
    assert not gate.check(diagnosis(automation_eligible=False), context()).passed
    assert gate.overridable


def test_dry_run_gate_from_policy_and_from_caller() -> None:
    assert DryRunGate(dry_run=False).check(diagnosis(), context()).passed
    policy = DryRunGate(dry_run=True).check(diagnosis(), context())
    assert not policy.passed
    assert policy.reason == "policy is in dry-run mode"
    caller = DryRunGate(dry_run=False).check(diagnosis(), context(dry_run=True))
    assert not caller.passed
    assert caller.reason == "dry run requested"


@pytest.mark.parametrize(
    ("confidence", "passed", "reason"),
    [(0.9, True, "0.90 >= 0.80"), (0.8, True, "0.80 >= 0.80"), (0.79, False, "0.79 < 0.80")],
)
def test_confidence_gate(confidence: float, passed: bool, reason: str) -> None:
    verdict = ConfidenceGate(min_confidence=0.8).check(diagnosis(confidence=confidence), context())
    assert verdict.passed is passed
    assert verdict.reason == f"confidence {reason}"


def test_window_gate() -> None:
    freeze = OnceWindow(name="release", start=T0, end=T0 + timedelta(hours=1))
    gate = WindowGate(windows=(freeze,))
    inside = gate.check(diagnosis(), context())
    assert not inside.passed
    assert "release" in inside.reason
    assert gate.check(diagnosis(), context(now=T0 + timedelta(hours=1))).passed


def test_rate_limit_gate_counts_each_limit() -> None:
    gate = RateLimitGate(per_service_per_day=3, per_service_per_week=5, per_day=10)
    ok = gate.check(diagnosis(), context(actions_today=2, actions_this_week=4))
    assert ok.passed
    assert "2/3 actions on leaky in 24 h" in ok.reason
    day = gate.check(diagnosis(), context(actions_today=3, actions_this_week=3))
    assert not day.passed
    assert day.reason == "3 actions on leaky in 24 h, limit 3"
    week = gate.check(diagnosis(), context(actions_today=0, actions_this_week=5))
    assert not week.passed
    assert "in 7 d, limit 5" in week.reason
    total = gate.check(
        diagnosis(), context(actions_today=0, actions_this_week=0, actions_today_all_services=10)
    )
    assert not total.passed
    assert "on all services in 24 h, limit 10" in total.reason


def test_rate_limit_zero_forbids_every_action() -> None:
    gate = RateLimitGate(per_service_per_day=0, per_service_per_week=0, per_day=0)
    assert not gate.check(diagnosis(), context()).passed


def test_rate_limit_counts_approved_actions_not_applied_yet() -> None:
    gate = RateLimitGate(per_service_per_day=2, per_service_per_week=5, per_day=3)
    taken = gate.check(diagnosis(), context(actions_today=1, actions_in_flight=1))
    assert not taken.passed
    assert taken.reason == (
        "2 actions on leaky in 24 h (counting 1 approved, not applied yet), limit 2"
    )
    elsewhere = gate.check(
        diagnosis(),
        context(actions_today_all_services=2, actions_in_flight_all_services=1),
    )
    assert not elsewhere.passed
    assert elsewhere.reason == (
        "3 actions on all services in 24 h (counting 1 approved, not applied yet), limit 3"
    )
    assert gate.check(diagnosis(), context(actions_today=1)).passed


def test_cooldown_gate_waits_for_an_approved_action_not_applied_yet() -> None:
    waiting = CooldownGate(min_interval=timedelta(minutes=30))
    verdict = waiting.check(diagnosis(), context(actions_in_flight=1))
    assert not verdict.passed
    assert verdict.reason == "1 approved action(s) on leaky not applied yet"
    assert (
        CooldownGate(min_interval=timedelta(0))
        .check(diagnosis(), context(actions_in_flight=1))
        .passed
    )


def test_cooldown_gate() -> None:
    gate = CooldownGate(min_interval=timedelta(minutes=30))
    assert gate.check(diagnosis(), context()).passed
    recent = gate.check(diagnosis(), context(last_action_at=T0 - timedelta(minutes=10)))
    assert not recent.passed
    assert recent.reason == "last action 10 min ago < 30 min"
    assert gate.check(diagnosis(), context(last_action_at=T0 - timedelta(minutes=30))).passed


def test_circuit_breaker_gate() -> None:
    gate = CircuitBreakerGate(threshold=3, cooldown=timedelta(hours=1))
    assert gate.check(diagnosis(), context(recent_failures=2)).passed
    tripped = gate.check(
        diagnosis(), context(recent_failures=3, last_failure_at=T0 - timedelta(minutes=5))
    )
    assert not tripped.passed
    assert tripped.reason.startswith("open: 3 consecutive failures")
    trial = gate.check(
        diagnosis(), context(recent_failures=3, last_failure_at=T0 - timedelta(hours=2))
    )
    assert trial.passed
    assert "one trial allowed" in trial.reason


def test_cooldown_gate_waits_until_the_last_action_on_the_service_is_settled() -> None:
    """Whatever the interval (0 by default): a restart during a resize's verification
    window would spoil that verification, and the resize's rollback could undo it."""
    gate = CooldownGate(min_interval=timedelta(0), concurrent=("github.rerun",))
    busy = gate.check(diagnosis(), context(actions_unsettled=1))
    assert not busy.passed
    assert busy.reason.startswith("1 earlier action(s) on leaky approved or not verified yet")
    rerun = context(action="github.rerun", actions_unsettled=1)
    assert gate.check(diagnosis(), rerun).passed, "a re-run acts on a run of its own"
    assert gate.check(diagnosis(), context()).passed


def test_a_half_open_breaker_lets_one_trial_through_not_one_per_incident() -> None:
    gate = CircuitBreakerGate(threshold=3, cooldown=timedelta(hours=1))
    half_open = {"recent_failures": 3, "last_failure_at": T0 - timedelta(hours=2)}
    assert gate.check(diagnosis(), context(**half_open)).passed
    second = gate.check(diagnosis(), context(**half_open, trials_in_flight=1))
    assert not second.passed
    assert "its one trial is under way already" in second.reason
    closed = context(recent_failures=1, trials_in_flight=2)
    assert gate.check(diagnosis(), closed).passed, "below the threshold, trials do not matter"


def test_approval_gate() -> None:
    gate = ApprovalGate(require_approval_for=("pgbouncer.resize",))
    assert gate.check(diagnosis(), context()).passed
    asked = gate.check(diagnosis(), context(action="pgbouncer.resize"))
    assert not asked.passed
    assert asked.reason == "pgbouncer.resize requires human approval"
    assert not ApprovalGate(require_approval_for=("*",)).check(diagnosis(), context()).passed


def test_approval_gate_falls_back_to_the_remedy_action() -> None:
    gate = ApprovalGate(require_approval_for=("supervisor.restart",))
    assert not gate.check(diagnosis(), context(action=None)).passed
    other = diagnosis(remedy=Remedy(action="github.rerun"))
    assert gate.check(other, context(action=None)).passed


def test_rollback_safety_gate() -> None:
    gate = RollbackSafetyGate()
    assert not gate.check(diagnosis(rollback_safe=False), context()).passed
    assert gate.check(diagnosis(rollback_safe=True), context()).passed


def test_hard_and_overridable_gates() -> None:
    overridable = {name for name in GATES if GATES[name](PolicyConfig()).overridable}
    assert overridable == {"automation", "confidence", "approval", "rollback_safe"}


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        GATES["mine"] = GATES["remedy"]  # type: ignore[index]


def test_an_unmetered_action_passes_the_limits_and_the_cooldown() -> None:
    """Opening an issue must not wait for, or use up, the budget a re-run needs."""
    limit = RateLimitGate(1, 1, 1, unmetered=("github.triage",))
    cooldown = CooldownGate(timedelta(minutes=30), unmetered=("github.triage",))
    busy = {
        "actions_today": 5,
        "actions_this_week": 5,
        "last_action_at": T0,
        "actions_in_flight": 1,
    }
    triage = context(action="github.triage", **busy)
    for gate in (limit, cooldown):
        verdict = gate.check(diagnosis(), triage)
        assert verdict.passed
        assert "not metered" in verdict.reason
        assert not gate.check(diagnosis(), context(action="github.rerun", **busy)).passed
