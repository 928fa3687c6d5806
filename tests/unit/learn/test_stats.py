"""Per-pattern outcome statistics."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from vanguard.decide import DEFAULT_GATES, PolicyConfig
from vanguard.diagnose.patterns import Pattern, PatternRemedy, load_patterns
from vanguard.learn import (
    OutcomeCounts,
    PatternConfidence,
    PatternStats,
    count_outcomes,
    pattern_confidences,
    summarize,
)
from vanguard.model import Outcome, OutcomeStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = OutcomeStatus


def outcome(status: OutcomeStatus, pattern: str | None) -> Outcome:
    return Outcome(incident_id="i", pattern_id=pattern, status=status, reason="r", finished_at=T0)


def test_empty_history_has_no_stats() -> None:
    assert summarize([]) == ()


def test_counts_and_rates_per_pattern() -> None:
    history = [
        outcome(S.resolved, "leak"),
        outcome(S.resolved, "leak"),
        outcome(S.rolled_back, "leak"),
        outcome(S.dry_run, "leak"),
        outcome(S.declined, None),
        outcome(S.escalated, "pool"),
    ]
    leak, pool, unexplained = summarize(history)
    assert leak.pattern_id == "leak"
    assert leak.counts == {S.resolved: 2, S.rolled_back: 1, S.dry_run: 1}
    assert (leak.successes, leak.failures, leak.ignored) == (2, 1, 1)
    assert leak.success_rate == 2 / 3
    assert pool.success_rate == 0.0
    assert unexplained.pattern_id is None
    assert unexplained.success_rate is None


def test_stats_round_trip_through_json() -> None:
    (stats,) = summarize([outcome(S.resolved, "leak")])
    assert PatternStats.model_validate_json(stats.model_dump_json()) == stats


def test_totals_add_up_for_random_histories() -> None:
    rng = random.Random(5)
    history = [outcome(rng.choice(list(S)), rng.choice(["a", "b", "c", None])) for _ in range(500)]
    stats = summarize(history)
    assert sum(sum(s.counts.values()) for s in stats) == 500
    for s in stats:
        assert s.successes + s.failures + s.ignored == sum(s.counts.values())
    ids = [s.pattern_id for s in stats]
    assert ids == ["a", "b", "c", None]


def _leak(**changes: object) -> Pattern:
    (leak,) = [p for p in load_patterns() if p.id == "memory_leak_gradual"]
    return leak.model_copy(update=changes)


def _row(pattern: Pattern, policy: PolicyConfig, **counts: int) -> PatternConfidence:
    (row,) = pattern_confidences([pattern], {pattern.id: OutcomeCounts(**counts)}, policy)
    return row


def test_acts_alone_says_from_which_alert_confidence_the_gate_lets_it_act() -> None:
    """The confidence gate compares the pattern's confidence times the alert's: 0.9 acts
    alone on alerts of 0.89 or more under min_confidence 0.8, not on a 0.85 one."""
    row = _row(_leak(), PolicyConfig())
    assert row.acts_alone
    assert row.confidence == pytest.approx(0.9)
    assert row.min_alert_confidence == pytest.approx(0.8 / 0.9)
    assert row.reason == "acts alone on alerts of confidence 0.89 or more"
    assert _row(_leak(), PolicyConfig(min_confidence=0.0)).min_alert_confidence == 0.0
    low = _row(_leak(), PolicyConfig(), lost=3)
    assert (low.acts_alone, low.min_alert_confidence) == (False, None)
    assert low.reason == "confidence 0.69 < min_confidence 0.80: asks a person"


@pytest.mark.parametrize(
    ("policy", "pattern", "why"),
    [
        (
            PolicyConfig(require_approval_for=("supervisor.restart",)),
            _leak(),
            "policy require_approval_for covers supervisor.restart",
        ),
        (PolicyConfig(require_approval_for=("*",)), _leak(), "require_approval_for covers"),
        (PolicyConfig(dry_run=True), _leak(), "policy dry_run: applies nothing"),
        (PolicyConfig(), _leak(automation_eligible=False), "not automation_eligible"),
        (
            PolicyConfig(gates=(*DEFAULT_GATES, "rollback_safe")),
            _leak(),
            "the rollback_safe gate asks a person",
        ),
    ],
)
def test_a_pattern_the_policy_always_asks_about_does_not_act_alone(
    policy: PolicyConfig, pattern: Pattern, why: str
) -> None:
    row = _row(pattern, policy, won=40)
    assert row.confidence > 0.95
    assert (row.acts_alone, row.min_alert_confidence) == (False, None)
    assert why in row.reason


def test_another_action_needing_approval_leaves_the_pattern_alone() -> None:
    row = _row(_leak(), PolicyConfig(require_approval_for=("pgbouncer.resize",)))
    assert row.acts_alone


def test_a_new_version_with_a_new_remedy_starts_from_its_prior() -> None:
    """v1 restarted 40 times with success; v2 sets a config value, untried, prior 0.5:
    counted by action, it has no record and asks a person."""
    v1 = _leak()
    v2 = _leak(
        version=2,
        prior_confidence=0.5,
        remedy=PatternRemedy(action="config.set", params={"key": "memory", "factor": 2}),
    )
    history = {
        "web": [
            outcome(S.resolved, "memory_leak_gradual").model_copy(
                update={"incident_id": f"i{k}", "action": "supervisor.restart"}
            )
            for k in range(40)
        ]
    }
    counts = {p.remedy.action: count_outcomes(history, action=p.remedy.action) for p in (v1, v2)}
    (old,) = pattern_confidences([v1], {v1.id: counts["supervisor.restart"]}, PolicyConfig())
    (new,) = pattern_confidences([v2], {v2.id: counts["config.set"]}, PolicyConfig())
    assert (old.won, old.acts_alone) == (40, True)
    assert (new.version, new.won, new.confidence, new.acts_alone) == (2, 0, 0.5, False)


def _decides(pattern: Pattern, confidence: float, policy: PolicyConfig) -> bool:
    """Whether ``decide`` acts without a person on a diagnosis of ``confidence`` by
    ``pattern``, at a quiet moment (no pause, limit, window, breaker or earlier action)."""
    from vanguard.decide import GateContext, decide
    from vanguard.model import Diagnosis, Remedy

    diagnosis = Diagnosis(
        alert_id="a1",
        pattern_id=pattern.id,
        confidence=confidence,
        remedy=Remedy(action=pattern.remedy.action, params=dict(pattern.remedy.params)),
        rollback_safe=pattern.rollback_safe,
        automation_eligible=pattern.automation_eligible,
    )
    ctx = GateContext(
        now=datetime(2026, 1, 5, 12, tzinfo=UTC),
        service_name="svc",
        action=pattern.remedy.action,
        actions_today=0,
        actions_this_week=0,
    )
    decision = decide("inc-1", diagnosis, ctx, policy)
    return decision.approved and not decision.dry_run


def _policies(action: str) -> list[PolicyConfig]:
    with_undo = (*DEFAULT_GATES, "rollback_safe")
    return [
        PolicyConfig(dry_run=dry, min_confidence=bar, require_approval_for=asks, gates=gates)
        for dry in (False, True)
        for bar in (0.0, 0.5, 0.8, 0.95)
        for asks in ((), (action,), ("*",), ("other.action",))
        for gates in (DEFAULT_GATES, with_undo)
    ]


@pytest.mark.parametrize("pattern", load_patterns(), ids=lambda p: p.id)
@pytest.mark.parametrize(("eligible", "undo"), [(True, True), (True, False), (False, True)])
def test_acts_alone_says_what_the_gates_decide(
    pattern: Pattern, eligible: bool, undo: bool
) -> None:
    """The patterns table, the gauge and the CLI restate the gates: pinned to ``decide``,
    at an alert of confidence 1, at the least alert confidence the row names, and below."""
    pattern = pattern.model_copy(update={"automation_eligible": eligible, "rollback_safe": undo})
    lost = OutcomeCounts(lost=2)
    for policy in _policies(pattern.remedy.action):
        for counts in ({}, {pattern.id: lost}):
            (row,) = pattern_confidences([pattern], counts, policy)
            assert row.acts_alone is _decides(pattern, row.confidence, policy), (policy, row)
            least = row.min_alert_confidence
            if least is None or least == 0.0:
                continue
            assert _decides(pattern, row.confidence * least * 1.001, policy), (policy, row)
            assert not _decides(pattern, row.confidence * least * 0.98, policy), (policy, row)
