"""Beta-binomial calibration: the prior, the update, ignored outcomes, ageing, bad input."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

import vanguard.learn
from vanguard.decide.breaker import failure_streak
from vanguard.errors import InputError
from vanguard.learn import (
    OutcomeCounts,
    calibrate,
    calibrate_patterns,
    count_outcomes,
    outcome_kind,
    posterior,
)
from vanguard.learn.stats import summarize
from vanguard.model import Outcome, OutcomeStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = OutcomeStatus


def outcome(status: OutcomeStatus, *, days: float = 0.0, pattern: str | None = "p") -> Outcome:
    return Outcome(
        incident_id="i",
        pattern_id=pattern,
        status=status,
        reason="r",
        finished_at=T0 + timedelta(days=days),
    )


def test_public_surface_is_pinned() -> None:
    assert sorted(vanguard.learn.__all__) == sorted(
        [
            "FAILURE",
            "SUCCESS",
            "OutcomeCounts",
            "PatternConfidence",
            "PatternStats",
            "Posterior",
            "calibrate",
            "calibrate_patterns",
            "confidence_legend",
            "count_outcomes",
            "outcome_kind",
            "pattern_confidences",
            "posterior",
            "summarize",
        ]
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (S.resolved, "success"),
        (S.rolled_back, "failure"),
        (S.escalated, "failure"),
        (S.failed, "failure"),
        (S.declined, "ignored"),
        (S.dry_run, "ignored"),
    ],
)
def test_outcome_kinds(status: OutcomeStatus, kind: str) -> None:
    assert outcome_kind(status) == kind


def test_every_status_is_classified() -> None:
    assert {outcome_kind(s) for s in S} == {"success", "failure", "ignored"}


def test_no_outcomes_returns_the_prior() -> None:
    assert calibrate(0.7, []) == pytest.approx(0.7)


def test_posterior_mean_formula() -> None:
    outcomes = [outcome(S.resolved)] * 6 + [outcome(S.rolled_back)] * 2
    expected = (0.7 * 10 + 6) / (10 + 8)
    assert calibrate(0.7, outcomes, prior_weight=10) == pytest.approx(expected)
    post = posterior(0.7, outcomes, prior_weight=10)
    assert post.successes == 6
    assert post.failures == 2
    assert post.alpha == pytest.approx(13.0)
    assert post.beta == pytest.approx(5.0)
    assert post.variance == pytest.approx(13 * 5 / (18 * 18 * 19))


def test_ignored_outcomes_change_nothing() -> None:
    ignored = [outcome(S.declined), outcome(S.dry_run)] * 5
    post = posterior(0.6, ignored)
    assert post.ignored == 10
    assert post.mean == pytest.approx(0.6)


def test_heavier_prior_moves_less() -> None:
    failures = [outcome(S.failed)] * 5
    light = calibrate(0.9, failures, prior_weight=2)
    heavy = calibrate(0.9, failures, prior_weight=50)
    assert light < heavy < 0.9


def test_half_life_discounts_old_outcomes() -> None:
    now = T0 + timedelta(days=30)
    old_failures = [outcome(S.failed, days=0)] * 10
    recent_success = [outcome(S.resolved, days=29)] * 2
    plain = calibrate(0.8, old_failures + recent_success)
    aged = calibrate(0.8, old_failures + recent_success, now=now, half_life=timedelta(days=7))
    assert aged > plain
    post = posterior(0.8, old_failures, now=now, half_life=timedelta(days=30))
    assert post.failures == pytest.approx(5.0)


def test_future_outcomes_count_fully() -> None:
    post = posterior(0.5, [outcome(S.resolved, days=2)], now=T0, half_life=timedelta(days=1))
    assert post.successes == pytest.approx(1.0)


def test_calibrate_patterns_groups_by_pattern() -> None:
    outcomes = [
        outcome(S.resolved, pattern="a"),
        outcome(S.failed, pattern="b"),
        outcome(S.failed, pattern="unknown"),
        outcome(S.failed, pattern=None),
    ]
    result = calibrate_patterns({"a": 0.5, "b": 0.5, "c": 0.5}, outcomes, prior_weight=2)
    assert result == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 0.5})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prior": 1.2}, "prior must be a probability"),
        ({"prior": float("nan")}, "prior must be a probability"),
        ({"prior_weight": 0.0}, "prior_weight must be in"),
        ({"prior_weight": float("inf")}, "prior_weight must be in"),
        ({"half_life": timedelta(days=1)}, "half_life needs 'now'"),
        ({"half_life": timedelta(0), "now": T0}, "half_life must be positive"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"prior": 0.5, **kwargs}
    prior = args.pop("prior")
    assert isinstance(prior, float)
    with pytest.raises(InputError, match=message):
        calibrate(prior, [], **args)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(30))
def test_calibration_properties(seed: int) -> None:
    rng = random.Random(seed)
    prior = rng.random()
    weight = rng.uniform(0.5, 50)
    outcomes = [outcome(rng.choice(list(S)), days=rng.uniform(0, 60)) for _ in range(40)]
    value = calibrate(prior, outcomes, prior_weight=weight)
    assert 0.0 <= value <= 1.0
    shuffled = outcomes[:]
    rng.shuffle(shuffled)
    assert calibrate(prior, shuffled, prior_weight=weight) == pytest.approx(value)
    more_success = calibrate(prior, [*outcomes, outcome(S.resolved)], prior_weight=weight)
    more_failure = calibrate(prior, [*outcomes, outcome(S.failed)], prior_weight=weight)
    assert more_failure <= value <= more_success
    successes = sum(o.status == S.resolved for o in outcomes)
    failures = sum(outcome_kind(o.status) == "failure" for o in outcomes)
    lo, hi = sorted([prior, successes / max(successes + failures, 1)])
    if successes + failures:
        assert lo - 1e-12 <= value <= hi + 1e-12


def test_an_outcome_that_teaches_nothing_moves_neither_confidence_nor_the_breaker() -> None:
    """Applied, then the store failed while verifying: that says nothing about the remedy."""
    unverified = outcome(OutcomeStatus.escalated).model_copy(update={"teaches": False})
    assert outcome_kind(unverified) == "ignored"
    assert outcome_kind(outcome(OutcomeStatus.escalated)) == "failure"
    alone = posterior(0.9, [])
    with_it = posterior(0.9, [unverified])
    assert (with_it.alpha, with_it.beta, with_it.ignored) == (alone.alpha, alone.beta, 1)
    assert failure_streak([unverified] * 5).count == 0
    (stats,) = summarize([unverified, outcome(OutcomeStatus.resolved)])
    assert (stats.successes, stats.failures, stats.ignored) == (1, 0, 1)
    assert stats.counts[OutcomeStatus.escalated] == 1


def _run(
    statuses: list[OutcomeStatus], *, action: str | None = "restart", start: float = 0.0
) -> list[Outcome]:
    return [
        outcome(status, days=start + k).model_copy(
            update={"incident_id": f"i{start + k}", "action": action}
        )
        for k, status in enumerate(statuses)
    ]


def test_counts_only_the_outcomes_of_the_current_action() -> None:
    """A new remedy starts from its prior: the old remedy's record is not its own."""
    old = _run([S.resolved] * 40, action="restart")
    unknown = _run([S.failed], action=None, start=50)
    counts = count_outcomes({"web": old + unknown}, action="config.set")
    assert (counts.won, counts.lost) == (0, 1), "only the outcome stored without an action"
    assert calibrate(0.5, counts) == pytest.approx(5 / 11)
    same = count_outcomes({"web": old + unknown}, action="restart")
    assert (same.won, same.lost) == (40, 1)
    assert count_outcomes({"web": old}) == OutcomeCounts(won=40)


def test_one_service_counts_at_most_the_breaker_threshold_of_failures_in_a_row() -> None:
    """Two services: one flapping (ten escalations in a row), one healthy. Past three in a
    row the flapping service's breaker stops the remedy there; those failures do not
    drag the pattern down on the healthy one."""
    flapping = _run([S.escalated] * 10)
    healthy = _run([S.resolved] * 2, start=20)
    counts = count_outcomes({"flap": flapping, "ok": healthy}, breaker_threshold=3)
    assert counts == OutcomeCounts(won=2, lost=3, beyond_breaker=7)
    assert calibrate(0.9, counts) == pytest.approx(11 / 15)
    uncapped = count_outcomes({"flap": flapping, "ok": healthy})
    assert calibrate(0.9, uncapped) == pytest.approx(11 / 22)


def test_a_success_starts_a_new_run_and_ignored_outcomes_do_not() -> None:
    four = [S.failed, S.escalated, S.declined, S.rolled_back, S.failed]
    four_more = [S.failed, S.failed, S.dry_run, S.failed, S.failed]
    history = _run([*four, S.resolved, *four_more])
    counts = count_outcomes({"web": history}, breaker_threshold=3)
    assert counts == OutcomeCounts(won=1, lost=6, ignored=2, beyond_breaker=2)
    untaught = [o.model_copy(update={"teaches": False}) for o in _run([S.escalated] * 5)]
    assert count_outcomes({"web": untaught}, breaker_threshold=1).ignored == 5


def test_each_service_has_its_own_runs_whatever_the_order_given() -> None:
    a = _run([S.failed] * 3)
    b = _run([S.failed] * 3, start=0.5)
    shuffled = list(reversed(a))
    counts = count_outcomes({"a": shuffled, "b": b}, breaker_threshold=2)
    assert (counts.lost, counts.beyond_breaker) == (4, 2)


def test_counts_calibrate_like_the_outcomes_they_count() -> None:
    rng = random.Random(3)
    history = [outcome(rng.choice(list(S)), days=rng.uniform(0, 30)) for _ in range(60)]
    counts = count_outcomes({"web": history})
    assert posterior(0.7, counts) == posterior(0.7, history)
    with pytest.raises(InputError, match="half_life needs the outcomes' times"):
        posterior(0.7, counts, now=T0, half_life=timedelta(days=1))
