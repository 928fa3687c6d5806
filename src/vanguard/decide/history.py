"""Build a ``GateContext`` from what the store remembers (pure: ``now`` is an argument).

"Today" and "this week" are rolling windows, the 24 hours and 7 days up to and including
``now``, so a limit cannot be dodged by waiting for midnight. Times after ``now`` are not
counted: they belong to a later decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from vanguard.decide.breaker import failure_streak
from vanguard.decide.gates import GateContext
from vanguard.model import Outcome

__all__ = ["DAY", "WEEK", "context_from_history", "count_within"]

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def count_within(times: Sequence[datetime], now: datetime, window: timedelta) -> int:
    """How many ``times`` fall in ``(now - window, now]``."""
    start = now - window
    return sum(1 for t in times if start < t <= now)


def context_from_history(
    *,
    now: datetime,
    service_name: str,
    action: str | None,
    service_actions: Sequence[datetime],
    all_actions: Sequence[datetime] = (),
    outcomes: Sequence[Outcome] = (),
    dry_run: bool = False,
    approved_by: str | None = None,
    unsettled: int = 0,
) -> GateContext:
    """Gate facts from applied-action times and this pattern's outcomes on this service.

    ``service_actions`` are the times actions were applied to this service, ``all_actions``
    those on every service (defaults to ``service_actions``); dry runs are not actions.
    ``unsettled``: actions on this service not verified yet at ``now``.
    """
    everywhere = all_actions if all_actions else service_actions
    past = [t for t in service_actions if t <= now]
    streak = failure_streak([o for o in outcomes if o.finished_at <= now])
    return GateContext(
        now=now,
        service_name=service_name,
        action=action,
        actions_today=count_within(service_actions, now, DAY),
        actions_this_week=count_within(service_actions, now, WEEK),
        actions_today_all_services=count_within(everywhere, now, DAY),
        actions_unsettled=unsettled,
        last_action_at=max(past) if past else None,
        recent_failures=streak.count,
        last_failure_at=streak.last_failure_at,
        dry_run=dry_run,
        approved_by=approved_by,
    )
