"""Heal by class and the storm detector: pure, exhaustive over the decision table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vanguard.ci.config import HealingConfig
from vanguard.ci.healing import (
    FailureClass,
    FailureSighting,
    HealKind,
    StormVerdict,
    backoff_s,
    detect_storm,
    plan_heal,
    rerun_withdrawn,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NETWORK = FailureClass(
    category="network_transient", retryable=True, heal="retry", max_attempts=3, backoff_seconds=30
)
FLAKY = FailureClass(
    category="flaky_test", retryable=True, heal="retry", max_attempts=1, report=True
)
COMPILE = FailureClass(category="compile", retryable=False, heal="never_retry")
CONFIG = HealingConfig(max_attempts=2, backoff_s=10, backoff_factor=2, max_wait_s=240)


def _seen(repo: str, minutes: float, fp: str = "fp1") -> FailureSighting:
    return FailureSighting(repository=repo, fingerprint=fp, at=T0 + timedelta(minutes=minutes))


def test_retryable_first_failure_is_rerun_with_the_class_backoff() -> None:
    plan = plan_heal(NETWORK, run_attempt=1, storm=None, ignored=False, config=CONFIG)
    assert plan.kind is HealKind.rerun
    assert plan.backoff_s == 30
    assert plan.max_reruns == 2
    assert not plan.track


def test_backoff_grows_per_attempt_and_is_capped() -> None:
    second = plan_heal(NETWORK, run_attempt=2, storm=None, ignored=False, config=CONFIG)
    assert second.kind is HealKind.rerun
    assert second.backoff_s == 60
    assert backoff_s(10, 30, 2, 240) == 240


def test_attempts_are_bounded_by_the_smaller_of_class_and_config() -> None:
    plan = plan_heal(NETWORK, run_attempt=3, storm=None, ignored=False, config=CONFIG)
    assert plan.kind is HealKind.triage
    assert "limit 2" in plan.reason
    none = HealingConfig(max_attempts=0)
    assert plan_heal(NETWORK, run_attempt=1, storm=None, ignored=False, config=none).kind is (
        HealKind.triage
    )


@pytest.mark.parametrize("attempt", [1, 2, 5])
def test_deterministic_failures_are_never_rerun(attempt: int) -> None:
    plan = plan_heal(COMPILE, run_attempt=attempt, storm=None, ignored=False, config=CONFIG)
    assert plan.kind is HealKind.triage
    assert plan.max_reruns == 0
    assert "never re-run" in plan.reason


def test_flaky_tests_are_rerun_and_tracked_never_hidden() -> None:
    plan = plan_heal(FLAKY, run_attempt=1, storm=None, ignored=False, config=CONFIG)
    assert plan.kind is HealKind.rerun
    assert plan.track
    exhausted = plan_heal(FLAKY, run_attempt=2, storm=None, ignored=False, config=CONFIG)
    assert exhausted.kind is HealKind.triage


def test_storm_wins_over_retry_and_ignore_over_storm() -> None:
    """An ignored fingerprint in a storm is left alone: no comment on the outage issue, no
    reopening it (an outage first, as before, made the ignore change nothing)."""
    sightings = [_seen(r, m) for r, m in (("a/x", 0), ("b/x", 1), ("c/x", 2))]
    storm = detect_storm(
        sightings, "fp1", T0 + timedelta(minutes=3), min_repositories=3, window_s=900
    )
    assert storm.storm
    plan = plan_heal(NETWORK, run_attempt=1, storm=storm, ignored=False, config=CONFIG)
    assert plan.kind is HealKind.outage
    ignored = plan_heal(NETWORK, run_attempt=1, storm=storm, ignored=True, config=CONFIG)
    assert ignored.kind is HealKind.none
    assert "ignored" in ignored.reason
    assert "failed in 3 repositories" in ignored.reason


def test_ignored_fingerprint_does_nothing() -> None:
    plan = plan_heal(NETWORK, run_attempt=1, storm=None, ignored=True, config=CONFIG)
    assert plan.kind is HealKind.none


def test_cancelled_runs_are_left_alone() -> None:
    cancelled = FailureClass(category="cancelled", retryable=False, heal="never_retry")
    plan = plan_heal(cancelled, run_attempt=1, storm=None, ignored=False, config=CONFIG)
    assert plan.kind is HealKind.none


def test_storm_needs_distinct_repositories_in_the_window() -> None:
    same_repo = [_seen("a/x", m) for m in range(5)]
    now = T0 + timedelta(minutes=5)
    assert not detect_storm(same_repo, "fp1", now, min_repositories=3, window_s=900).storm
    old = [_seen("a/x", -60), _seen("b/x", -50), _seen("c/x", 4)]
    assert not detect_storm(old, "fp1", now, min_repositories=3, window_s=900).storm
    other_fp = [_seen("a/x", 1), _seen("b/x", 2), _seen("c/x", 3, fp="fp2")]
    assert not detect_storm(other_fp, "fp1", now, min_repositories=3, window_s=900).storm


def test_one_repository_spelled_two_ways_is_one_repository_of_a_storm() -> None:
    """Rows a webhook (``Acme/Web``) and the poller (``acme/web``) wrote before names had
    one spelling must not make two real repositories an outage."""
    seen = [_seen("Acme/Web", 1), _seen("acme/web", 2), _seen("b/x", 3)]
    verdict = detect_storm(seen, "fp1", T0 + timedelta(minutes=5), min_repositories=3, window_s=900)
    assert not verdict.storm
    assert verdict.repositories == ("acme/web", "b/x")


def test_every_repository_of_one_storm_names_the_same_window() -> None:
    sightings = [_seen("a/x", 1), _seen("b/x", 2), _seen("c/x", 3)]
    first = detect_storm(
        sightings, "fp1", T0 + timedelta(minutes=3), min_repositories=3, window_s=900
    )
    later = detect_storm(
        [*sightings, _seen("d/x", 6)],
        "fp1",
        T0 + timedelta(minutes=6),
        min_repositories=3,
        window_s=900,
    )
    assert first.storm
    assert later.storm
    assert first.window_start == later.window_start
    assert later.repositories == ("a/x", "b/x", "c/x", "d/x")


def test_a_class_backoff_cut_by_the_cap_says_so() -> None:
    """A rate limit asks for 300 s; the activity waits at most max_wait_s, and says it."""
    rate_limit = NETWORK.model_copy(update={"category": "rate_limit", "backoff_seconds": 300})
    plan = plan_heal(rate_limit, run_attempt=1, storm=None, ignored=False, config=CONFIG)
    assert plan.backoff_s == 240
    assert "the class asks for 300 s; healing.max_wait_s caps it" in plan.reason
    plain = plan_heal(NETWORK, run_attempt=1, storm=None, ignored=False, config=CONFIG)
    assert "caps it" not in plain.reason


@pytest.mark.parametrize(
    ("ignored", "requested", "storm", "withdrawn"),
    [
        (False, False, False, None),
        (True, False, False, "ignored"),
        (True, True, True, "ignored"),
        (False, False, True, "outage"),
        (False, True, True, None),
    ],
)
def test_a_planned_rerun_is_withdrawn_in_plan_heals_order(
    ignored: bool, requested: bool, storm: bool, withdrawn: str | None
) -> None:
    """An ignore stops a re-run whoever asked for it; an outage stops one unless a person
    asked for it with ``/vanguard retry``."""
    verdict = StormVerdict(
        storm=storm,
        fingerprint="f",
        repositories=("a/1", "a/2", "a/3") if storm else ("a/1",),
        window_start=T0,
        reason="outage: fingerprint f failed in 3 repositories",
    )
    why = rerun_withdrawn(
        fingerprint="f", repository="a/1", ignored=ignored, requested=requested, storm=verdict
    )
    if withdrawn is None:
        assert why is None
    else:
        assert why is not None
        assert withdrawn in why
