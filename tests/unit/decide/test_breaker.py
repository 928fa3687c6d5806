"""Circuit breaker: failure streaks from outcomes, and closed/open/half-open states."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from vanguard.decide.breaker import breaker_state, failure_streak
from vanguard.learn.calibration import outcome_kind
from vanguard.model import NOT_BEGUN, Outcome, OutcomeStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = OutcomeStatus


def outcome(status: OutcomeStatus, minutes: int) -> Outcome:
    return Outcome(
        incident_id=f"i{minutes}",
        pattern_id="p",
        status=status,
        reason="r",
        finished_at=T0 + timedelta(minutes=minutes),
    )


def test_empty_history_has_no_streak() -> None:
    streak = failure_streak([])
    assert streak.count == 0
    assert streak.last_failure_at is None


def test_streak_counts_trailing_failures_only() -> None:
    history = [
        outcome(S.failed, 0),
        outcome(S.resolved, 10),
        outcome(S.rolled_back, 20),
        outcome(S.escalated, 30),
    ]
    streak = failure_streak(history)
    assert streak.count == 2
    assert streak.last_failure_at == T0 + timedelta(minutes=30)


def test_streak_skips_declined_and_dry_runs() -> None:
    history = [
        outcome(S.failed, 0),
        outcome(S.declined, 5),
        outcome(S.failed, 10),
        outcome(S.dry_run, 15),
    ]
    streak = failure_streak(history)
    assert streak.count == 2
    assert streak.last_failure_at == T0 + timedelta(minutes=10)


def test_an_action_that_never_began_opens_the_breaker_but_teaches_calibration_nothing() -> None:
    """A misspelt program fails every restart before it begins: across services it says
    nothing of the remedy, but on this service the breaker must stop trying and telling."""
    never = outcome(S.failed, 0).model_copy(
        update={"teaches": False, "reason": f"action failed: no program 'myap'; {NOT_BEGUN}"}
    )
    history = [never.model_copy(update={"finished_at": T0 + timedelta(minutes=m)}) for m in (0, 5)]
    assert failure_streak(history).count == 2
    assert outcome_kind(history[0]) == "ignored"
    store_failure = outcome(S.escalated, 10).model_copy(update={"teaches": False})
    assert failure_streak([store_failure]).count == 0, "a store failure still teaches nothing"


def test_streak_ignores_input_order() -> None:
    history = [outcome(S.failed, m) for m in (0, 10, 20)] + [outcome(S.resolved, 15)]
    rng = random.Random(7)
    for _ in range(20):
        shuffled = history[:]
        rng.shuffle(shuffled)
        assert failure_streak(shuffled).count == 1


def test_newest_first_reads_only_what_the_breaker_needs() -> None:
    """Read lazily, newest first: up to the first success, or ``enough`` failures."""
    read: list[int] = []

    def newest(history: list[Outcome]) -> Iterator[Outcome]:
        for item in history:
            read.append(item.finished_at.minute)
            yield item

    history = [outcome(S.failed, m) for m in (50, 40)] + [outcome(S.resolved, 30)]
    history += [outcome(S.failed, m) for m in (20, 10)]
    streak = failure_streak(newest(history), newest_first=True)
    assert (streak.count, streak.last_failure_at, read) == (
        2,
        T0 + timedelta(minutes=50),
        [50, 40, 30],
    )
    read.clear()
    many = [outcome(S.escalated, m) for m in range(59, 0, -1)]
    streak = failure_streak(newest(many), newest_first=True, enough=3)
    assert (streak.count, streak.last_failure_at, read) == (
        3,
        T0 + timedelta(minutes=59),
        [59, 58, 57],
    )


def test_closed_below_threshold() -> None:
    state = breaker_state(2, T0, T0, threshold=3, cooldown=timedelta(hours=1))
    assert state.state == "closed"
    assert "2 consecutive failures < threshold 3" in state.reason


def test_open_at_threshold_within_cooldown() -> None:
    now = T0 + timedelta(minutes=30)
    state = breaker_state(3, T0, now, threshold=3, cooldown=timedelta(hours=1))
    assert state.state == "open"
    assert "30 min ago" in state.reason


def test_half_open_after_cooldown() -> None:
    now = T0 + timedelta(hours=3)
    state = breaker_state(5, T0, now, threshold=3, cooldown=timedelta(hours=1))
    assert state.state == "half_open"
    assert "one trial allowed" in state.reason
    assert "3.0 h" in state.reason


def test_open_without_a_failure_time_stays_open() -> None:
    state = breaker_state(4, None, T0, threshold=3, cooldown=timedelta(minutes=1))
    assert state.state == "open"


@pytest.mark.parametrize("seed", range(10))
def test_closed_exactly_below_threshold_and_time_decides_the_rest(seed: int) -> None:
    rng = random.Random(seed)
    threshold = rng.randint(1, 10)
    cooldown = timedelta(minutes=rng.randint(1, 600))
    now = T0 + timedelta(minutes=rng.randint(0, 1200))
    expected_above = "half_open" if now - T0 >= cooldown else "open"
    for failures in range(15):
        state = breaker_state(failures, T0, now, threshold=threshold, cooldown=cooldown)
        assert state.state == ("closed" if failures < threshold else expected_above)
