"""The typed, immutable values that flow between the stages of the loop.

``Signal`` → ``Alert`` → ``Diagnosis`` → ``Decision`` → ``ActionResult`` → ``Outcome``.
All are frozen pydantic models that round-trip through JSON, so they can cross Temporal
activity boundaries and be stored verbatim.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

__all__ = [
    "DECLINED_BY",
    "NOT_BEGUN",
    "ActionRequest",
    "ActionResult",
    "Alert",
    "Check",
    "Decision",
    "Diagnosis",
    "EvidencePoint",
    "GateVerdict",
    "Outcome",
    "OutcomeStatus",
    "Pause",
    "Plan",
    "Remedy",
    "RollbackRequest",
    "Severity",
    "Signal",
    "TrendAnalysis",
    "UndoRecord",
    "Verdict",
    "Verification",
    "VerifySeries",
    "quantity",
]


class Frozen(BaseModel):
    """Base of every value: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class Signal(Frozen):
    """One observation: a metric sample or an event, with the time it was observed."""

    kind: Literal["metric", "event"] = "metric"
    source: str
    service_name: str
    metric_type: str
    labels: dict[str, str] = Field(default_factory=dict)
    timestamp: AwareDatetime
    value: float
    attributes: dict[str, JsonValue] = Field(default_factory=dict)


class EvidencePoint(Frozen):
    timestamp: AwareDatetime
    value: float


class TrendAnalysis(Frozen):
    """What the trend detector saw: level, direction, surprise and a breach forecast.

    ``per_second``: the series is a counter, watched as its per-second rate; ``current``,
    ``ema`` and ``threshold`` are rates, and ``slope_per_hour`` is the rate's change per hour.
    """

    current: float
    ema: float
    slope_per_hour: float
    zscore: float
    threshold: float | None = None
    predicted_breach_time: AwareDatetime | None = None
    breach_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    per_second: bool = False

    def amount(self, value: float, metric: str = "") -> str:
        """``value`` in this trend's unit: the metric's, and ``/s`` for a counter's rate."""
        return quantity(value, metric, per_second=self.per_second)

    def headline(self, metric: str = "") -> str:
        """``current 78, +5.2/h, z 2.8σ`` (a rate: ``current 12/s, +3/s per h``): how every
        description of the trend begins."""
        sign = "-" if self.slope_per_hour < 0 else "+"
        per_hour = " per h" if self.per_second else "/h"
        return (
            f"current {self.amount(self.current, metric)}, "
            f"{sign}{self.amount(abs(self.slope_per_hour), metric)}{per_hour}, "
            f"z {self.zscore:.1f}σ"
        )

    def describe(self, metric: str = "") -> str:
        """Render like ``current 78, +5.2/h, z 2.8σ, threshold 90, 87% breach confidence``,
        in the metric's unit when its name says it (``*_bytes``: 89.5 MiB), as alerts say it.

        The breach confidence is left out when it is 0 (an anomaly, no forecast): beside the
        alert's own confidence, "0% confidence" read as a contradiction."""
        parts = [self.headline(metric)]
        if self.threshold is not None:
            parts.append(f"threshold {self.amount(self.threshold, metric)}")
        if self.breach_confidence > 0:
            parts.append(f"{self.breach_confidence:.0%} breach confidence")
        return ", ".join(parts)


def quantity(value: float, metric: str = "", *, per_second: bool = False) -> str:
    """A value in the metric's unit when its name says it (``*_bytes``), else 4 digits.

    ``per_second``: a counter's rate, in its unit per second (``*_bytes_total``: MiB/s).
    """
    if per_second:
        return f"{quantity(value, metric.removesuffix('_total'))}/s"
    if metric.endswith("_bytes"):
        for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
            if abs(value) >= size:
                return f"{value / size:.1f} {unit}"
        return f"{value:.0f} B"
    return f"{value:.4g}"


class Alert(Frozen):
    """Something looks wrong with a service, with the evidence and a confidence to gate on."""

    alert_id: str
    fingerprint: str
    source: str
    service_name: str
    metric_type: str
    labels: dict[str, str] = Field(default_factory=dict)
    detected_at: AwareDatetime
    severity: Severity = Severity.warning
    summary: str
    anomaly_score: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    trend_analysis: TrendAnalysis | None = None
    baseline: float | None = None
    evidence: tuple[EvidencePoint, ...] = ()
    attributes: dict[str, JsonValue] = Field(default_factory=dict)


class Remedy(Frozen):
    """An action kind from the adapter registry and its parameters."""

    action: str
    params: dict[str, JsonValue] = Field(default_factory=dict)


class VerifySeries(Frozen):
    """One series that judges a remedy, and which direction is better.

    No ``metric`` (or the alert's own) means the alerting series with the alert's labels.
    Another metric matches every series whose labels include ``labels``.
    """

    metric: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    better: Literal["lower", "higher"] = "lower"


class Diagnosis(Frozen):
    """Which known pattern (if any) explains the alert, and what to do about it.

    What the pattern said when it matched is kept here, not looked up later: the library a
    worker holds can change while the incident waits for approval or verification.
    ``pattern_version`` and ``verify`` are None in diagnoses stored before they were kept.
    """

    alert_id: str
    pattern_id: str | None
    confidence: float = Field(ge=0.0, le=1.0)
    remedy: Remedy | None = None
    rollback_safe: bool = False
    automation_eligible: bool = False
    reasons: tuple[str, ...] = ()
    pattern_version: int | None = None
    """The matched pattern's version (``None``: no pattern, or diagnosed before it was kept)."""
    verify: tuple[VerifySeries, ...] | None = None
    """The series that judge the remedy, as the pattern named them when it matched."""


class GateVerdict(Frozen):
    """One safety gate's answer and why."""

    gate: str
    passed: bool
    reason: str


class Pause(Frozen):
    """A person's order to stop acting: on ``service_name``, or on every service (``None``).

    It holds from ``started_at`` until ``until`` (``None``: until someone resumes).
    """

    pause_id: int
    service_name: str | None
    reason: str
    paused_by: str
    started_at: AwareDatetime
    until: AwareDatetime | None = None

    def describe(self) -> str:
        scope = f"service {self.service_name}" if self.service_name else "every service"
        ends = f" until {self.until:%Y-%m-%d %H:%M} UTC" if self.until else ""
        return (
            f"automation paused on {scope} by {self.paused_by} since "
            f"{self.started_at:%Y-%m-%d %H:%M} UTC{ends}: {self.reason}"
        )


class Decision(Frozen):
    """Whether to act, with the verdict of every gate that was asked."""

    incident_id: str
    approved: bool
    dry_run: bool
    needs_approval: bool = False
    verdicts: tuple[GateVerdict, ...]
    reason: str
    decided_at: AwareDatetime


class ActionRequest(Frozen):
    """One adapter call: what to do, to which target, under which idempotency key."""

    idempotency_key: str
    incident_id: str
    action: str
    target: str
    params: dict[str, JsonValue] = Field(default_factory=dict)


class RollbackRequest(Frozen):
    """Undo one applied action; the key makes a retried rollback a no-op."""

    idempotency_key: str
    incident_id: str
    undo: UndoRecord


class Plan(Frozen):
    """What an adapter would do, for dry-run and for the decision record."""

    action: str
    target: str
    steps: tuple[str, ...]
    undoable: bool


class UndoRecord(Frozen):
    """How to undo an action: by Vanguard (``possible``) or by hand (``instructions``)."""

    action: str
    target: str
    possible: bool
    params: dict[str, JsonValue] = Field(default_factory=dict)
    instructions: str


class ActionResult(Frozen):
    """What an adapter changed and how to undo it."""

    idempotency_key: str
    incident_id: str
    action: str
    target: str
    applied: bool
    before: dict[str, JsonValue] = Field(default_factory=dict)
    after: dict[str, JsonValue] = Field(default_factory=dict)
    undo: UndoRecord
    message: str
    finished_at: AwareDatetime


class Check(Frozen):
    """An adapter's own post-condition check (e.g. process RUNNING with a new pid)."""

    ok: bool
    reason: str
    observed: dict[str, JsonValue] = Field(default_factory=dict)


class Verdict(StrEnum):
    improved = "improved"
    unchanged = "unchanged"
    degraded = "degraded"
    inconclusive = "inconclusive"


class Verification(Frozen):
    """Baseline versus after-action comparison, with the evidence behind the verdict."""

    verdict: Verdict
    reason: str
    baseline: tuple[EvidencePoint, ...] = ()
    observed: tuple[EvidencePoint, ...] = ()
    figures: dict[str, float] = Field(default_factory=dict)


class OutcomeStatus(StrEnum):
    resolved = "resolved"
    rolled_back = "rolled_back"
    escalated = "escalated"
    declined = "declined"
    dry_run = "dry_run"
    failed = "failed"


DECLINED_BY = "declined by "
"""How the outcome of an incident a person declined begins (a ``decline`` signal, or a
cancel of its workflow while the action waited to be due)."""
NOT_BEGUN = "its ledger shows it had not begun when read: nothing was changed"
"""How a failed action's outcome says that its adapter never began the change."""


class Outcome(Frozen):
    """How the incident ended; feeds the pattern's confidence calibration."""

    incident_id: str
    pattern_id: str | None
    status: OutcomeStatus
    reason: str
    verification: Verification | None = None
    finished_at: AwareDatetime
    teaches: bool = True
    """``False`` when the outcome says nothing about the remedy: the action was applied but
    the store failed while it was being verified. Calibration and the circuit breaker leave
    such outcomes out."""
    action: str | None = None
    """The remedy's action kind the diagnosis named. Calibration and the circuit breaker
    count an outcome only for that action; one without (no remedy, or stored by an older
    Vanguard without a diagnosis to take it from) counts for whatever action the pattern
    has."""
    pattern_version: int | None = None
    """The matched pattern's version, for the record (``None``: not known)."""


RollbackRequest.model_rebuild()
