"""Per-pattern outcome statistics."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from vanguard.diagnose.patterns import Pattern, PatternRemedy, load_patterns
from vanguard.learn import PatternStats, count_outcomes, pattern_confidences, summarize
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
    (old,) = pattern_confidences([v1], {v1.id: counts["supervisor.restart"]}, 0.8)
    (new,) = pattern_confidences([v2], {v2.id: counts["config.set"]}, 0.8)
    assert (old.won, old.acts_alone) == (40, True)
    assert (new.version, new.won, new.confidence, new.acts_alone) == (2, 0, 0.5, False)
