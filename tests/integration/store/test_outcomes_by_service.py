"""A pattern's outcomes as the engine reads them: counted for calibration, newest first for
a service's breaker, and whole for inspection."""

from __future__ import annotations

import random

import pytest

from tests.integration.store import values as v
from vanguard.decide.breaker import failure_streak
from vanguard.learn import OutcomeCounts, count_outcomes
from vanguard.model import Outcome, OutcomeStatus
from vanguard.store import IncidentRepo, Store

S = OutcomeStatus
LEAK = "memory_leak_gradual"


def _store(store: Store, history: list[tuple[str, Outcome]]) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        for service, outcome in history:
            repo.save_incident(v.incident(outcome.incident_id, service))
            repo.save_outcome(outcome)


def _outcome(
    n: int,
    status: OutcomeStatus,
    *,
    action: str | None = "supervisor.restart",
    pattern: str | None = LEAK,
    teaches: bool = True,
) -> Outcome:
    return v.outcome(f"inc-{n:04d}", pattern, status=status, minutes=n).model_copy(
        update={"action": action, "teaches": teaches, "pattern_version": 1}
    )


def test_outcomes_filter_by_the_incident_service(store: Store) -> None:
    for n, service in enumerate(["checkout", "search", "checkout"]):
        _store(store, [(service, _outcome(n, S.rolled_back))])
    with store.session() as session:
        repo = IncidentRepo(session)
        everywhere = repo.outcomes_for_pattern(LEAK)
        checkout = repo.outcomes_for_pattern(LEAK, service="checkout")
        nowhere = repo.outcomes_for_pattern(LEAK, service="billing")
    assert [o.incident_id for o in everywhere] == ["inc-0000", "inc-0001", "inc-0002"]
    assert [o.incident_id for o in checkout] == ["inc-0000", "inc-0002"]
    assert nowhere == []


@pytest.mark.parametrize("seed", range(3))
def test_counts_in_sql_are_the_counts_calibration_defines(store: Store, seed: int) -> None:
    """``outcome_counts`` in SQL equals ``count_outcomes`` over the same history: the
    current action only (and outcomes stored without one), at most the breaker threshold
    of failures in a row on each service, ignored outcomes interrupting nothing."""
    rng = random.Random(seed)
    statuses = [S.resolved, S.escalated, S.escalated, S.failed, S.rolled_back, S.declined]
    history = [
        (
            rng.choice(["checkout", "search", "billing"]),
            _outcome(
                n,
                rng.choice(statuses),
                action=rng.choice(["supervisor.restart"] * 6 + ["config.set", None]),
                pattern=rng.choice([LEAK] * 4 + ["pool", None]),
                teaches=rng.random() > 0.1,
            ),
        )
        for n in range(300)
    ]
    _store(store, history)
    remedies = {LEAK: "supervisor.restart", "pool": "pgbouncer.resize", "unseen": "x"}
    with store.session() as session:
        counted = IncidentRepo(session).outcome_counts(remedies, breaker_threshold=2)
        plain = IncidentRepo(session).outcome_counts(remedies)
    for pattern, action in remedies.items():
        by_service: dict[str, list[Outcome]] = {}
        for service, outcome in history:
            if outcome.pattern_id == pattern:
                by_service.setdefault(service, []).append(outcome)
        expected = count_outcomes(by_service, action=action, breaker_threshold=2)
        assert counted[pattern] == expected
        assert plain[pattern] == count_outcomes(by_service, action=action)
    assert counted[LEAK].beyond_breaker > 0
    assert counted["unseen"] == OutcomeCounts()


def test_the_newest_outcomes_come_first_a_page_at_a_time(store: Store) -> None:
    """Declined and dry-run outcomes, other services and other remedies are left out; the
    breaker reads no further than its first success."""
    history = [("checkout", _outcome(n, S.resolved)) for n in range(5)]
    history += [("checkout", _outcome(5, S.escalated, action=None))]
    history += [("checkout", _outcome(6, S.failed, action="config.set"))]
    history += [("search", _outcome(7, S.failed))]
    history += [("checkout", _outcome(n, S.declined)) for n in range(8, 30)]
    history += [("checkout", _outcome(n, S.rolled_back)) for n in range(30, 33)]
    _store(store, history)
    with store.session() as session:
        repo = IncidentRepo(session)
        newest = list(repo.latest_outcomes(LEAK, service="checkout", page=2))
        mine = list(
            repo.latest_outcomes(LEAK, service="checkout", action="supervisor.restart", page=2)
        )
        streak = failure_streak(
            repo.latest_outcomes(LEAK, service="checkout", action="supervisor.restart", page=2),
            newest_first=True,
        )
    assert [o.incident_id[-2:] for o in newest] == [
        "32", "31", "30", "06", "05", "04", "03", "02", "01", "00",
    ]  # fmt: skip
    assert "06" not in [o.incident_id[-2:] for o in mine]
    assert len(mine) == len(newest) - 1
    assert (streak.count, streak.last_failure_at) == (4, v.at(32))


def test_a_rollback_by_hand_after_the_verdict_stops_the_success_counting(store: Store) -> None:
    """``save_outcome`` keeps the columns calibration counts by in step with the outcome."""
    _store(store, [("checkout", _outcome(0, S.resolved))])
    with store.session() as session:
        repo = IncidentRepo(session)
        before = repo.outcome_counts({LEAK: "supervisor.restart"})[LEAK]
        repo.save_outcome(_outcome(0, S.resolved, teaches=False))
        after = repo.outcome_counts({LEAK: "supervisor.restart"})[LEAK]
        by_status = repo.count_outcomes_by_status([LEAK, "pool"])
    assert (before.won, after.won, after.ignored) == (1, 0, 1)
    assert by_status == {LEAK: {"resolved": 1}, "pool": {}}
