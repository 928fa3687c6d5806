"""The policy engine: every gate runs, and the verdicts become one of four decisions."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pydantic
import pytest

from tests.unit.decide.builders import T0, context, diagnosis
from vanguard.decide import (
    DEFAULT_GATES,
    GATES,
    REQUIRED_GATES,
    GateContext,
    OnceWindow,
    PolicyConfig,
    build_gates,
    decide,
)
from vanguard.errors import ConfigError
from vanguard.model import Diagnosis, GateVerdict, Pause, Remedy


def test_healthy_case_is_approved_with_every_verdict() -> None:
    decision = decide("inc-1", diagnosis(), context(), PolicyConfig())
    assert decision.approved
    assert not decision.dry_run
    assert not decision.needs_approval
    assert [v.gate for v in decision.verdicts] == list(DEFAULT_GATES)
    assert all(v.passed for v in decision.verdicts)
    assert decision.reason == f"approved: all {len(DEFAULT_GATES)} gates passed"
    assert decision.decided_at == T0
    assert decision.incident_id == "inc-1"


def test_failures_do_not_short_circuit() -> None:
    ctx = context(actions_today=3, recent_failures=5, last_failure_at=T0)
    decision = decide("i", diagnosis(confidence=0.1), ctx, PolicyConfig())
    assert len(decision.verdicts) == len(DEFAULT_GATES)
    failed = [v.gate for v in decision.verdicts if not v.passed]
    assert failed == ["confidence", "rate_limit", "circuit_breaker"]
    assert not decision.approved
    assert not decision.needs_approval
    assert decision.reason.startswith("declined: confidence (confidence 0.10 < 0.80); rate_limit (")
    assert "confidence 0.10 < 0.80" in decision.reason


def test_no_pattern_is_declined() -> None:
    decision = decide("i", diagnosis(pattern_id=None), context(), PolicyConfig())
    assert not decision.approved
    assert not decision.needs_approval
    assert "remedy (no known pattern matched)" in decision.reason


def test_no_remedy_is_declined() -> None:
    decision = decide("i", diagnosis(remedy=None), context(action=None), PolicyConfig())
    assert not decision.approved
    assert "recommends no remedy" in decision.reason


def test_overridable_failures_ask_a_human() -> None:
    policy = PolicyConfig(require_approval_for=("supervisor.restart",))
    decision = decide("i", diagnosis(confidence=0.5), context(), policy)
    assert not decision.approved
    assert decision.needs_approval
    assert decision.reason.startswith(
        "needs approval: confidence (confidence 0.50 < 0.80); approval ("
    )


def test_approval_lifts_overridable_failures_and_says_who() -> None:
    policy = PolicyConfig(require_approval_for=("supervisor.restart",))
    decision = decide("i", diagnosis(confidence=0.5), context(approved_by="alice"), policy)
    assert decision.approved
    assert not decision.needs_approval
    assert all(v.passed for v in decision.verdicts)
    lifted = {v.gate: v.reason for v in decision.verdicts if "overridden" in v.reason}
    assert set(lifted) == {"confidence", "approval"}
    assert lifted["confidence"] == "confidence 0.50 < 0.80; overridden: approved by alice"
    assert "confidence, approval lifted: approved by alice" in decision.reason


def test_approval_never_lifts_hard_gates() -> None:
    freeze = OnceWindow(name="release", start=T0, end=T0 + timedelta(hours=2))
    policy = PolicyConfig(maintenance_windows=(freeze,))
    decision = decide("i", diagnosis(confidence=0.5), context(approved_by="alice"), policy)
    assert not decision.approved
    assert not decision.needs_approval
    assert decision.reason == "declined: window (inside freeze window release)"


@pytest.mark.parametrize("source", ["policy", "caller"])
def test_dry_run_never_approves_but_says_what_it_would_do(source: str) -> None:
    policy = PolicyConfig(dry_run=source == "policy")
    ctx = context(dry_run=source == "caller")
    decision = decide("i", diagnosis(), ctx, policy)
    assert decision.dry_run
    assert not decision.approved
    assert not decision.needs_approval
    assert decision.reason == (
        f"dry run: would act; every other gate passed ({len(DEFAULT_GATES) - 1})"
    )
    dry = next(v for v in decision.verdicts if v.gate == "dry_run")
    assert not dry.passed


def test_dry_run_reports_would_ask_and_would_decline() -> None:
    policy = PolicyConfig(dry_run=True)
    ask = decide("i", diagnosis(confidence=0.5), context(), policy)
    assert ask.reason.startswith("dry run: would ask for approval: confidence (")
    assert not ask.needs_approval
    decline = decide("i", diagnosis(), context(actions_today=3), policy)
    assert decline.reason.startswith("dry run: would decline: rate_limit (")


def test_decide_is_deterministic_and_json_round_trips() -> None:
    first = decide("i", diagnosis(confidence=0.5), context(), PolicyConfig())
    second = decide("i", diagnosis(confidence=0.5), context(), PolicyConfig())
    assert first == second
    assert type(first).model_validate_json(first.model_dump_json()) == first


def test_gate_order_follows_policy() -> None:
    gates = (
        "circuit_breaker",
        "cooldown",
        "rate_limit",
        "dry_run",
        "automation",
        "remedy",
        "rollback_safe",
    )
    policy = PolicyConfig(gates=gates, min_confidence=0.0)
    decision = decide("i", diagnosis(), context(), policy)
    assert tuple(v.gate for v in decision.verdicts) == ("pause", *gates), "pause runs first"
    assert decision.needs_approval


class AlwaysNo:
    """A plug-in gate for tests: hard, always fails."""

    name = "always_no"
    overridable = False

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        return GateVerdict(gate=self.name, passed=False, reason="said no")


def test_custom_gates_plug_into_the_registry() -> None:
    registry = {**GATES, "always_no": lambda policy: AlwaysNo()}
    policy = PolicyConfig(gates=(*DEFAULT_GATES, "always_no"))
    decision = decide("i", diagnosis(), context(), policy, registry=registry)
    assert not decision.approved
    assert decision.reason == "declined: always_no (said no)"


def test_unknown_gate_is_a_config_error() -> None:
    policy = PolicyConfig(gates=(*DEFAULT_GATES, "typo_gate"))
    with pytest.raises(ConfigError, match="gates: unknown gate 'typo_gate'"):
        build_gates(policy)


@pytest.mark.parametrize("missing", REQUIRED_GATES)
def test_safety_gates_cannot_be_left_out(missing: str) -> None:
    gates = tuple(g for g in DEFAULT_GATES if g != missing)
    with pytest.raises(pydantic.ValidationError, match=f"safety gates {missing} cannot be left"):
        PolicyConfig(gates=gates)


@pytest.mark.parametrize(
    ("setting", "gate"),
    [
        (
            {
                "maintenance_windows": (
                    OnceWindow(name="freeze", start=T0, end=T0 + timedelta(hours=1)),
                )
            },
            "window",
        ),
        ({"require_approval_for": ("supervisor.restart",)}, "approval"),
        ({"min_confidence": 0.95}, "confidence"),
    ],
    ids=["window", "approval", "confidence"],
)
def test_a_setting_without_its_gate_is_refused(setting: dict[str, Any], gate: str) -> None:
    """Left out of a custom list, the gate would never run and its setting mean nothing: a
    freeze nobody enforces, a restart nobody is asked about."""
    gates = tuple(g for g in DEFAULT_GATES if g != gate)
    (name,) = setting
    with pytest.raises(pydantic.ValidationError, match=f"{name} is .* the gate '{gate}' is not"):
        PolicyConfig(gates=gates, **({"min_confidence": 0.0} | setting))
    assert PolicyConfig(gates=(*gates, gate), **setting).gates[-1] == gate


def test_leaving_out_a_gate_whose_setting_is_off_is_allowed() -> None:
    kept = tuple(g for g in DEFAULT_GATES if g not in ("window", "approval", "confidence"))
    assert PolicyConfig(gates=kept, min_confidence=0.0).gates == kept


def test_gates_cannot_repeat() -> None:
    with pytest.raises(pydantic.ValidationError, match="gate listed twice: confidence"):
        PolicyConfig(gates=(*DEFAULT_GATES, "confidence"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_actions_per_service_per_day", 1000),
        ("max_actions_per_service_per_day", -1),
        ("max_actions_per_service_per_week", 1000),
        ("max_actions_per_day", 10_000),
        ("min_confidence", 1.5),
        ("min_confidence", -0.1),
        ("breaker_threshold", 0),
        ("breaker_threshold", 100),
        ("breaker_cooldown_minutes", 0),
        ("min_minutes_between_actions", 10**6),
        ("require_approval_for", [""]),
    ],
)
def test_every_safety_setting_is_bounded(key: str, value: Any) -> None:
    with pytest.raises(pydantic.ValidationError, match=key):
        PolicyConfig.model_validate({key: value})


def test_week_limit_cannot_be_below_day_limit() -> None:
    with pytest.raises(pydantic.ValidationError, match="is below max_actions_per_service_per_day"):
        PolicyConfig(max_actions_per_service_per_day=5, max_actions_per_service_per_week=2)


def test_policy_is_frozen_and_strict() -> None:
    policy = PolicyConfig()
    with pytest.raises(pydantic.ValidationError):
        policy.dry_run = True  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="max_restarts"):
        PolicyConfig.model_validate({"max_restarts": 3})


def random_case(rng: random.Random) -> tuple[Diagnosis, GateContext, PolicyConfig]:
    day = rng.randint(0, 5)
    policy = PolicyConfig(
        dry_run=rng.random() < 0.2,
        min_confidence=rng.random(),
        max_actions_per_service_per_day=day,
        max_actions_per_service_per_week=day + rng.randint(0, 5),
        min_minutes_between_actions=rng.choice([0, 10, 60]),
        breaker_threshold=rng.randint(1, 4),
        require_approval_for=rng.choice([(), ("supervisor.restart",), ("*",)]),
        gates=(*DEFAULT_GATES, "rollback_safe") if rng.random() < 0.3 else DEFAULT_GATES,
    )
    diag = diagnosis(
        pattern_id=rng.choice(["p", None]) if rng.random() < 0.2 else "p",
        confidence=rng.random(),
        remedy=None if rng.random() < 0.1 else Remedy(action="supervisor.restart"),
        rollback_safe=rng.random() < 0.5,
        automation_eligible=rng.random() < 0.8,
    )
    ctx = context(
        actions_today=rng.randint(0, 6),
        actions_this_week=rng.randint(0, 12),
        last_action_at=T0 - timedelta(minutes=rng.randint(0, 120)),
        recent_failures=rng.randint(0, 5),
        last_failure_at=T0 - timedelta(minutes=rng.randint(0, 240)),
        dry_run=rng.random() < 0.1,
        approved_by="bob" if rng.random() < 0.3 else None,
        action=None,
    )
    return diag, ctx, policy


@pytest.mark.parametrize("seed", range(40))
def test_decision_invariants_hold_for_random_inputs(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        diag, ctx, policy = random_case(rng)
        decision = decide("i", diag, ctx, policy)
        failed = [v.gate for v in decision.verdicts if not v.passed]
        expected = policy.gates if "pause" in policy.gates else ("pause", *policy.gates)
        assert [v.gate for v in decision.verdicts] == list(expected)
        assert not (decision.approved and decision.needs_approval)
        assert decision.approved == (not failed)
        assert decision.dry_run == (policy.dry_run or ctx.dry_run)
        if decision.dry_run:
            assert not decision.approved
            assert not decision.needs_approval
        if diag.pattern_id is None or diag.remedy is None:
            assert not decision.approved
            assert not decision.needs_approval
        for gate in failed:
            if gate != "dry_run":
                assert f"{gate} (" in decision.reason
        if ctx.actions_today >= policy.max_actions_per_service_per_day:
            assert not decision.approved


@pytest.mark.parametrize("seed", range(20))
def test_more_actions_never_turn_a_refusal_into_approval(seed: int) -> None:
    rng = random.Random(1000 + seed)
    diag, ctx, policy = random_case(rng)
    previous = decide("i", diag, ctx, policy).approved
    for extra in range(1, 6):
        busier = ctx.model_copy(
            update={
                "actions_today": ctx.actions_today + extra,
                "actions_this_week": ctx.actions_this_week + extra,
            }
        )
        approved = decide("i", diag, busier, policy).approved
        assert approved <= previous
        previous = approved


def test_a_pause_declines_and_no_approval_lifts_it() -> None:
    pause = Pause(
        pause_id=7,
        service_name="leaky",
        reason="database failover in progress",
        paused_by="erin",
        started_at=T0 - timedelta(minutes=5),
        until=T0 + timedelta(hours=2),
    )
    paused = decide("i", diagnosis(), context(pauses=(pause,)), PolicyConfig())
    assert not paused.approved
    assert not paused.needs_approval
    verdict = next(v for v in paused.verdicts if v.gate == "pause")
    assert not verdict.passed
    assert verdict.reason == (
        "automation paused on service leaky by erin since "
        f"{T0 - timedelta(minutes=5):%Y-%m-%d %H:%M} UTC until "
        f"{T0 + timedelta(hours=2):%Y-%m-%d %H:%M} UTC: database failover in progress"
    )
    approved = decide(
        "i", diagnosis(), context(pauses=(pause,), approved_by="frank"), PolicyConfig()
    )
    assert not approved.approved, "a pause is an order: resume first"
    gates = tuple(g for g in DEFAULT_GATES if g != "pause")
    unlisted = decide("i", diagnosis(), context(pauses=(pause,)), PolicyConfig(gates=gates))
    assert not unlisted.approved, "a policy cannot configure the pause away"
