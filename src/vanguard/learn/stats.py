"""Outcome statistics per pattern: how often each remedy worked, for reports and the dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import Field

from vanguard.diagnose.patterns import Pattern
from vanguard.learn.calibration import OutcomeCounts, outcome_kind, posterior
from vanguard.model import Frozen, Outcome, OutcomeStatus

if TYPE_CHECKING:
    from vanguard.decide.policy import PolicyConfig

__all__ = [
    "PatternConfidence",
    "PatternStats",
    "confidence_legend",
    "pattern_confidences",
    "summarize",
]


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
    """Whether an alert of confidence 1 would be acted on without asking anyone."""
    min_alert_confidence: float | None
    """The lowest alert confidence acted on without a person (the confidence gate compares
    the pattern's confidence times the alert's with ``min_confidence``); ``None`` when it
    never acts alone."""
    reason: str


def pattern_confidences(
    patterns: Sequence[Pattern],
    counts: Mapping[str, OutcomeCounts],
    policy: PolicyConfig,
) -> list[PatternConfidence]:
    """Each pattern's calibrated confidence, as diagnosis computes it, against the policy.

    ``acts_alone`` is what the gates a person can override would say to an alert of
    confidence 1: the pattern is automation eligible, the policy neither runs dry nor
    requires approval for its action (``require_approval_for``, ``*`` for all) nor, with the
    ``rollback_safe`` gate listed, an undo it lacks, and its confidence clears
    ``min_confidence``. Hard gates (rate limits, windows, the breaker, pauses) depend on
    the moment and are left out.
    """
    found: list[PatternConfidence] = []
    for pattern in patterns:
        mine = counts.get(pattern.id, OutcomeCounts())
        post = posterior(pattern.prior_confidence, mine)
        asks = _asks(pattern, post.mean, policy)
        alone = None if asks else _alone_from(post.mean, policy)
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
                acts_alone=alone is not None,
                min_alert_confidence=alone,
                reason=asks
                or (
                    f"acts alone on alerts of confidence {alone:.2f} or more"
                    if alone
                    else "acts alone whatever the alert's confidence"
                ),
            )
        )
    return found


def confidence_legend(policy: PolicyConfig) -> str:
    """What the "confidence now" and "acts alone" columns of a patterns table mean under
    ``policy``: one wording for the CLI and the dashboard."""
    return (
        "confidence now: the confidence diagnosis uses, the prior counted as 10 outcomes and "
        "updated by outcomes of the current action won (resolved) and lost (rolled back, "
        f"escalated, failed; at most {policy.breaker_threshold} in a row on one service, "
        "policy breaker_threshold: past that, that service's breaker stops the remedy). "
        "acts alone: the confidence gate compares confidence now times the alert's "
        f"confidence with {policy.min_confidence:.2f} (policy min_confidence), so a pattern "
        "acts without a person from some alert confidence on; or it always asks (below "
        "min_confidence, not automation_eligible, require_approval_for, the rollback_safe "
        "gate), or applies nothing (policy dry_run)."
    )


def _asks(pattern: Pattern, confidence: float, policy: PolicyConfig) -> str:
    """Why every incident of ``pattern`` waits for a person or applies nothing, or ``""``."""
    action = pattern.remedy.action
    gates = policy.gates
    if policy.dry_run:
        return "policy dry_run: applies nothing, says what it would do"
    if not pattern.automation_eligible:
        return "not automation_eligible: asks a person"
    if "approval" in gates and (
        "*" in policy.require_approval_for or action in policy.require_approval_for
    ):
        return f"policy require_approval_for covers {action}: asks a person"
    if "rollback_safe" in gates and not pattern.rollback_safe:
        return "the rollback_safe gate asks a person: the remedy cannot be undone"
    if "confidence" in gates and confidence < policy.min_confidence:
        return (
            f"confidence {confidence:.2f} < min_confidence {policy.min_confidence:.2f}: "
            "asks a person"
        )
    return ""


def _alone_from(confidence: float, policy: PolicyConfig) -> float:
    """The lowest alert confidence whose product with ``confidence`` clears the gate
    (``confidence`` clears ``min_confidence`` already)."""
    if "confidence" not in policy.gates or policy.min_confidence == 0.0:
        return 0.0
    return policy.min_confidence / confidence
