"""Outcome statistics per pattern: how often each remedy worked, for reports and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from vanguard.learn.calibration import outcome_kind
from vanguard.model import Frozen, Outcome, OutcomeStatus

__all__ = ["PatternStats", "summarize"]


class PatternStats(Frozen):
    """Counts of each outcome status of one pattern (``None``: alerts no pattern explained)."""

    pattern_id: str | None
    counts: dict[OutcomeStatus, int]
    successes: int = Field(ge=0)
    failures: int = Field(ge=0)
    ignored: int = Field(ge=0)

    @property
    def success_rate(self) -> float | None:
        """Resolved over resolved plus failed; ``None`` before any counted outcome."""
        counted = self.successes + self.failures
        return self.successes / counted if counted else None


def summarize(outcomes: Sequence[Outcome]) -> tuple[PatternStats, ...]:
    """One ``PatternStats`` per pattern seen, sorted by id, unexplained alerts last."""
    counts: dict[str | None, dict[OutcomeStatus, int]] = {}
    for outcome in outcomes:
        per_status = counts.setdefault(outcome.pattern_id, {})
        per_status[outcome.status] = per_status.get(outcome.status, 0) + 1
    ordered = sorted(counts, key=lambda p: (p is None, p or ""))
    return tuple(_stats(pattern_id, counts[pattern_id]) for pattern_id in ordered)


def _stats(pattern_id: str | None, per_status: dict[OutcomeStatus, int]) -> PatternStats:
    totals = {"success": 0, "failure": 0, "ignored": 0}
    for status, n in per_status.items():
        totals[outcome_kind(status)] += n
    return PatternStats(
        pattern_id=pattern_id,
        counts=dict(sorted(per_status.items())),
        successes=totals["success"],
        failures=totals["failure"],
        ignored=totals["ignored"],
    )
