"""Gate facts from history: rolling windows, last action, failure streak."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from tests.unit.decide.builders import T0, diagnosis
from vanguard.decide import PolicyConfig, context_from_history, count_within, decide
from vanguard.model import Outcome, OutcomeStatus


def outcome(status: OutcomeStatus, minutes_ago: int) -> Outcome:
    return Outcome(
        incident_id=f"i{minutes_ago}",
        pattern_id="memory_leak_gradual",
        status=status,
        reason="r",
        finished_at=T0 - timedelta(minutes=minutes_ago),
    )


def test_count_within_is_half_open_at_the_start() -> None:
    day = timedelta(days=1)
    times = [T0 - day, T0 - day + timedelta(seconds=1), T0, T0 + timedelta(seconds=1)]
    assert count_within(times, T0, day) == 2


def test_context_counts_rolling_day_and_week() -> None:
    times = [T0 - timedelta(hours=h) for h in (1, 5, 30, 100, 200)]
    ctx = context_from_history(
        now=T0, service_name="leaky", action="supervisor.restart", service_actions=times
    )
    assert ctx.actions_today == 2
    assert ctx.actions_this_week == 4
    assert ctx.actions_today_all_services == 2
    assert ctx.last_action_at == T0 - timedelta(hours=1)
    assert ctx.recent_failures == 0
    assert ctx.now == T0


def test_context_uses_all_services_when_given() -> None:
    mine = [T0 - timedelta(hours=1)]
    others = [T0 - timedelta(hours=h) for h in range(1, 8)]
    ctx = context_from_history(
        now=T0, service_name="s", action=None, service_actions=mine, all_actions=others
    )
    assert ctx.actions_today == 1
    assert ctx.actions_today_all_services == 7


def test_context_ignores_the_future() -> None:
    ctx = context_from_history(
        now=T0,
        service_name="s",
        action=None,
        service_actions=[T0 + timedelta(minutes=5)],
        outcomes=[outcome(OutcomeStatus.failed, -5)],
    )
    assert ctx.actions_today == 0
    assert ctx.last_action_at is None
    assert ctx.recent_failures == 0


def test_context_carries_the_failure_streak_into_the_breaker() -> None:
    history = [
        outcome(OutcomeStatus.resolved, 300),
        outcome(OutcomeStatus.rolled_back, 30),
        outcome(OutcomeStatus.escalated, 20),
        outcome(OutcomeStatus.failed, 10),
    ]
    ctx = context_from_history(
        now=T0,
        service_name="leaky",
        action="supervisor.restart",
        service_actions=[],
        outcomes=history,
    )
    assert ctx.recent_failures == 3
    assert ctx.last_failure_at == T0 - timedelta(minutes=10)
    decision = decide("i", diagnosis(), ctx, PolicyConfig())
    assert not decision.approved
    assert "circuit_breaker (open: 3 consecutive failures" in decision.reason


def test_context_passes_dry_run_and_approval_through() -> None:
    ctx = context_from_history(
        now=T0,
        service_name="s",
        action="a",
        service_actions=[],
        dry_run=True,
        approved_by="carol",
    )
    assert ctx.dry_run
    assert ctx.approved_by == "carol"


@pytest.mark.parametrize("seed", range(20))
def test_a_policy_never_allows_more_than_its_daily_limit(seed: int) -> None:
    """Replaying decisions over a storm of alerts never exceeds the per-service limits."""
    rng = random.Random(seed)
    day = rng.randint(0, 6)
    policy = PolicyConfig(
        max_actions_per_service_per_day=day,
        max_actions_per_service_per_week=day + rng.randint(0, 10),
    )
    times: list[datetime] = []
    now = T0
    for _ in range(300):
        now += timedelta(minutes=rng.randint(1, 90))
        ctx = context_from_history(
            now=now, service_name="s", action="supervisor.restart", service_actions=times
        )
        if decide("i", diagnosis(), ctx, policy).approved:
            times.append(now)
    for t in times:
        assert count_within(times, t, timedelta(days=1)) <= policy.max_actions_per_service_per_day
        assert count_within(times, t, timedelta(days=7)) <= policy.max_actions_per_service_per_week
    assert times or day == 0
