"""Per-pattern outcome statistics."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from vanguard.learn import PatternStats, summarize
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
