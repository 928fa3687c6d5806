"""The API-call budget: own cap, GitHub's quota headers, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vanguard.ci.budget import ApiBudget, rate_limited

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MAX_WAIT = timedelta(hours=1)
"""GitHub's quota window: no wait is kept or honoured for longer."""


def test_own_hourly_cap_then_a_new_window() -> None:
    budget = ApiBudget(calls_per_hour=2)
    for _ in range(2):
        assert budget.check(T0).allowed
        budget = budget.spend(T0)
    refused = budget.check(T0 + timedelta(minutes=10))
    assert not refused.allowed
    assert refused.retry_at == T0 + timedelta(hours=1)
    assert budget.check(T0 + timedelta(hours=1)).allowed


def test_a_refund_gives_back_one_call_and_never_goes_below_nothing() -> None:
    budget = ApiBudget(calls_per_hour=2).spend(T0).spend(T0)
    assert not budget.check(T0).allowed
    budget = budget.refund(T0)
    assert (budget.used, budget.check(T0).allowed) == (1, True)
    assert budget.refund(T0).refund(T0).used == 0
    assert budget.refund(T0 + timedelta(hours=1)).used == 0, "a new hour starts at nothing"


def test_retry_after_blocks_everything_until_it_passes() -> None:
    budget = ApiBudget(calls_per_hour=100).observe(T0, 429, {"Retry-After": "30"})
    refused = budget.check(T0 + timedelta(seconds=10), essential=True)
    assert not refused.allowed
    assert "Retry-After 30 s" in refused.reason
    assert budget.check(T0 + timedelta(seconds=30)).allowed


def test_exhausted_quota_waits_for_the_reset() -> None:
    reset = int((T0 + timedelta(minutes=20)).timestamp())
    budget = ApiBudget(calls_per_hour=100).observe(
        T0, 403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    )
    assert not budget.check(T0 + timedelta(minutes=19)).allowed
    assert budget.check(T0 + timedelta(minutes=20)).allowed


def test_reserve_is_kept_for_essential_calls() -> None:
    reset = int((T0 + timedelta(minutes=20)).timestamp())
    budget = ApiBudget(calls_per_hour=100, reserve=10).observe(
        T0, 200, {"x-ratelimit-remaining": "10", "x-ratelimit-reset": str(reset)}
    )
    assert not budget.check(T0).allowed
    assert budget.check(T0, essential=True).allowed
    assert budget.check(T0 + timedelta(minutes=21)).allowed


def test_429_without_headers_waits_a_minute_and_junk_headers_are_ignored() -> None:
    budget = ApiBudget(calls_per_hour=100).observe(T0, 429, {"Retry-After": "soon"})
    assert not budget.check(T0 + timedelta(seconds=59)).allowed
    assert budget.check(T0 + timedelta(seconds=60)).allowed
    fine = ApiBudget(calls_per_hour=100).observe(T0, 200, {"X-RateLimit-Remaining": "x"})
    assert fine.remaining is None


def test_secondary_rate_limit_403_without_retry_after_waits_a_minute() -> None:
    """GitHub sends its secondary limit as a bare 403 with quota left: wait at least 60 s."""
    message = "You have exceeded a secondary rate limit. Please wait a few minutes."
    budget = ApiBudget(calls_per_hour=100).observe(
        T0, 403, {"x-ratelimit-remaining": "4987"}, message
    )
    refused = budget.check(T0 + timedelta(seconds=59), essential=True)
    assert not refused.allowed
    assert refused.retry_at == T0 + timedelta(seconds=60)
    assert budget.check(T0 + timedelta(seconds=60)).allowed
    abuse = ApiBudget(calls_per_hour=100).observe(
        T0, 403, {}, "You have triggered an abuse detection mechanism."
    )
    assert not abuse.check(T0 + timedelta(seconds=30)).allowed


def test_a_plain_403_is_a_refusal_not_a_rate_limit() -> None:
    budget = ApiBudget(calls_per_hour=100).observe(
        T0, 403, {"x-ratelimit-remaining": "4987"}, "Resource not accessible by integration"
    )
    assert budget.blocked_until is None
    assert not rate_limited(403, {}, "Must have admin rights to Repository.")
    assert rate_limited(403, {"X-RateLimit-Remaining": "0"})
    assert rate_limited(429, {})


def test_the_last_calls_of_the_hourly_cap_are_kept_for_essential_calls() -> None:
    """Polling and log reading, spending one cap with every process of the store, must not
    leave re-runs and issues nothing."""
    budget = ApiBudget(calls_per_hour=10, reserve=3)
    for _ in range(7):
        budget = budget.spend(T0)
    refused = budget.check(T0)
    assert not refused.allowed
    assert refused.reason == (
        "own budget of 10 calls per hour spent (the last 3 are kept for re-runs and issues)"
    )
    for _ in range(3):
        assert budget.check(T0, essential=True).allowed
        budget = budget.spend(T0)
    assert not budget.check(T0, essential=True).allowed
    assert ApiBudget(calls_per_hour=10, reserve=100).kept == 5, "polling keeps half the cap"


def test_a_later_answer_never_shortens_a_block() -> None:
    """A call another process had under way comes back rate limited after GitHub said to
    wait ten minutes: a minute's wait must not replace the ten."""
    budget = ApiBudget(calls_per_hour=100).observe(T0, 429, {"Retry-After": "600"})
    later = budget.observe(
        T0 + timedelta(seconds=1), 403, {"x-ratelimit-remaining": "4987"}, "secondary rate limit"
    )
    assert later.blocked_until == T0 + timedelta(seconds=600)
    assert later.blocked_reason == "Retry-After 600 s (HTTP 429)"
    longer = budget.observe(T0 + timedelta(seconds=2), 429, {"Retry-After": "900"})
    assert longer.blocked_until == T0 + timedelta(seconds=902)


def test_a_wait_longer_than_an_hour_is_kept_as_an_hour_and_says_so() -> None:
    """GitHub's quota window is an hour: a longer wait (a proxy, a broken gateway) would
    stop every call of every process for as long as it said."""
    year = ApiBudget(calls_per_hour=100).observe(T0, 429, {"Retry-After": str(365 * 86400)})
    assert year.blocked_until == T0 + MAX_WAIT
    assert year.blocked_reason == (
        "Retry-After 31536000 s (HTTP 429), capped at 3600 s by this host's clock"
    )
    assert year.check(T0 + MAX_WAIT, essential=True).allowed
    far = int((T0 + timedelta(days=3650)).timestamp())
    reset = ApiBudget(calls_per_hour=100).observe(
        T0, 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(far)}
    )
    assert reset.blocked_until == reset.reset_at == T0 + MAX_WAIT
    assert reset.blocked_reason.endswith(", capped at 3600 s by this host's clock")
    soon = ApiBudget(calls_per_hour=100).observe(T0, 429, {"Retry-After": "3600"})
    assert soon.blocked_reason == "Retry-After 3600 s (HTTP 429)", "an hour is not capped"


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": str(10**12)},
        {"Retry-After": "9" * 5000},
        {"Retry-After": "-5"},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(10**20)},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(-(10**12))},
        {"x-ratelimit-remaining": "-1", "x-ratelimit-reset": "99999999999999999999999"},
    ],
)
def test_an_absurd_header_never_raises_and_waits_at_most_an_hour(headers: dict[str, str]) -> None:
    budget = ApiBudget(calls_per_hour=100).observe(T0, 429, headers)
    assert budget.blocked_until is not None
    assert T0 < budget.blocked_until <= T0 + MAX_WAIT
    assert budget.reset_at is None or budget.reset_at <= T0 + MAX_WAIT


def test_a_wait_or_a_window_written_by_a_clock_ahead_is_bounded_by_the_readers() -> None:
    """A host a day ahead wrote a one-minute wait and started the window tomorrow."""
    ahead = T0 + timedelta(days=1)
    written = ApiBudget(calls_per_hour=10).spend(ahead).observe(ahead, 429, {})
    refused = written.check(T0)
    assert not refused.allowed
    assert refused.retry_at == T0 + MAX_WAIT
    assert refused.reason.endswith("(capped at 3600 s by this host's clock)")
    settled = written.settled(T0)
    assert (settled.window_start, settled.used) == (T0, 1), "it starts now, its call counted"
    assert settled.blocked_until == T0 + MAX_WAIT
    assert settled.settled(T0 + timedelta(minutes=30)) == settled, "settling is kept, not redone"
    assert settled.check(T0 + MAX_WAIT).allowed
    assert settled.spend(T0 + MAX_WAIT).used == 1, "the window rolls an hour after now"
