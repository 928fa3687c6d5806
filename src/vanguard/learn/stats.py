"""Outcome statistics per pattern: how often each remedy worked, for reports and the dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import Field

from vanguard.diagnose.patterns import Pattern
from vanguard.learn.calibration import OutcomeCounts, outcome_kind, posterior
from vanguard.model import Frozen, Outcome, OutcomeStatus

__all__ = ["PatternConfidence", "PatternStats", "pattern_confidences", "summarize"]


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
    kinds: dict[str | None, dict[str, int]] = {}
    for outcome in outcomes:
        per_status = counts.setdefault(outcome.pattern_id, {})
        per_status[outcome.status] = per_status.get(outcome.status, 0) + 1
        totals = kinds.setdefault(outcome.pattern_id, {"success": 0, "failure": 0, "ignored": 0})
        totals[outcome_kind(outcome)] += 1
    ordered = sorted(counts, key=lambda p: (p is None, p or ""))
    return tuple(_stats(p, counts[p], kinds[p]) for p in ordered)


def _stats(
    pattern_id: str | None, per_status: dict[OutcomeStatus, int], totals: Mapping[str, int]
) -> PatternStats:
    return PatternStats(
        pattern_id=pattern_id,
        counts=dict(sorted(per_status.items())),
        successes=totals["success"],
        failures=totals["failure"],
        ignored=totals["ignored"],
    )


class PatternConfidence(Frozen):
    """What outcomes taught one pattern: the confidence diagnosis uses, and its evidence."""

    pattern_id: str
    version: int
    action: str
    prior: float
    won: float = Field(ge=0.0)
    lost: float = Field(ge=0.0)
    ignored: int = Field(ge=0)
    beyond_breaker: int = Field(default=0, ge=0)
    """Failures past the breaker threshold in a row on one service, not counted."""
    confidence: float
    acts_alone: bool


def pattern_confidences(
    patterns: Sequence[Pattern],
    counts: Mapping[str, OutcomeCounts],
    min_confidence: float,
) -> list[PatternConfidence]:
    """Each pattern's calibrated confidence, as diagnosis computes it, against the policy.

    ``acts_alone``: the confidence clears ``min_confidence`` and the pattern is automation
    eligible; otherwise the confidence gate asks a person before the remedy runs.
    """
    found: list[PatternConfidence] = []
    for pattern in patterns:
        mine = counts.get(pattern.id, OutcomeCounts())
        post = posterior(pattern.prior_confidence, mine)
        found.append(
            PatternConfidence(
                pattern_id=pattern.id,
                version=pattern.version,
                action=pattern.remedy.action,
                prior=pattern.prior_confidence,
                won=post.successes,
                lost=post.failures,
                ignored=post.ignored,
                beyond_breaker=mine.beyond_breaker,
                confidence=post.mean,
                acts_alone=pattern.automation_eligible and post.mean >= min_confidence,
            )
        )
    return found
