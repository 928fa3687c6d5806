"""Circuit breaker: stop repeating a remedy that keeps failing.

The breaker counts the *consecutive* failed outcomes (rolled back, escalated, failed) of a
pattern's current remedy on a service, newest first; a resolved outcome ends the streak,
declined and dry-run outcomes are skipped, and so are outcomes that teach nothing, except
an action that failed before it began (a misconfigured service: it fails every time). At
``threshold`` failures it opens. After ``cooldown`` since the last failure it is half-open:
one trial is let through, and a failed trial re-opens it at once because the streak is
still at or over the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, Field

from vanguard.learn.calibration import outcome_kind
from vanguard.model import NOT_BEGUN, Frozen, Outcome, OutcomeStatus

__all__ = ["BreakerState", "FailureStreak", "breaker_state", "failure_streak"]


class FailureStreak(Frozen):
    """Consecutive failures ending at the newest counted outcome."""

    count: int = Field(ge=0)
    last_failure_at: AwareDatetime | None = None


class BreakerState(Frozen):
    state: Literal["closed", "open", "half_open"]
    reason: str


def _breaker_kind(outcome: Outcome) -> Literal["success", "failure", "ignored"]:
    """As calibration counts it, except that an action that failed before it began counts
    as a failure here: it teaches nothing about the remedy (calibration, across services,
    ignores it), but on this service it fails every time until someone fixes the service's
    configuration, and the breaker is what stops trying and telling."""
    if (
        not outcome.teaches
        and outcome.status is OutcomeStatus.failed
        and NOT_BEGUN in outcome.reason
    ):
        return "failure"
    return outcome_kind(outcome)


def failure_streak(
    outcomes: Iterable[Outcome], *, newest_first: bool = False, enough: int | None = None
) -> FailureStreak:
    """Count trailing failures of ``outcomes`` in time order.

    The input order is irrelevant unless ``newest_first`` says the outcomes come newest
    first; then they are read lazily, up to the first success or, with ``enough``, until
    that many failures are counted (the breaker needs no more than its threshold).
    """
    ordered = (
        outcomes if newest_first else sorted(outcomes, key=lambda o: o.finished_at, reverse=True)
    )
    count = 0
    last: datetime | None = None
    for outcome in ordered:
        kind = _breaker_kind(outcome)
        if kind == "success":
            break
        if kind == "failure":
            count += 1
            last = last or outcome.finished_at
            if enough is not None and count >= enough:
                break
    return FailureStreak(count=count, last_failure_at=last)


def breaker_state(
    failures: int,
    last_failure_at: datetime | None,
    now: datetime,
    *,
    threshold: int,
    cooldown: timedelta,
) -> BreakerState:
    """Closed below ``threshold``; open for ``cooldown`` after the last failure; then half-open."""
    if failures < threshold:
        return BreakerState(
            state="closed", reason=f"{failures} consecutive failures < threshold {threshold}"
        )
    if last_failure_at is not None and now - last_failure_at >= cooldown:
        return BreakerState(
            state="half_open",
            reason=(
                f"{failures} consecutive failures, but the last was {_ago(now - last_failure_at)}"
                f" ago (cooldown {_ago(cooldown)}): one trial allowed"
            ),
        )
    return BreakerState(
        state="open",
        reason=f"open: {failures} consecutive failures >= threshold {threshold}"
        + (
            f", last {_ago(now - last_failure_at)} ago (cooldown {_ago(cooldown)})"
            if last_failure_at is not None
            else ""
        ),
    )


def _ago(span: timedelta) -> str:
    minutes = span.total_seconds() / 60.0
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60.0:.1f} h"
