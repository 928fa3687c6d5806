"""Builders of realistic values for the store tests; times are explicit, never read from a clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import JsonValue

from vanguard.incident import Incident, IncidentState
from vanguard.model import (
    ActionResult,
    Alert,
    Decision,
    Diagnosis,
    EvidencePoint,
    GateVerdict,
    Outcome,
    OutcomeStatus,
    Remedy,
    Signal,
    TrendAnalysis,
    UndoRecord,
    Verdict,
    Verification,
)
from vanguard.store import AuditLog, IncidentRepo

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(alert_id: str, service: str = "checkout", *, minutes: float = 0) -> Alert:
    trend = TrendAnalysis(
        current=78.25,
        ema=77.1,
        slope_per_hour=5.2,
        zscore=2.8,
        threshold=90.0,
        predicted_breach_time=at(minutes + 150),
        breach_confidence=0.87,
    )
    return Alert(
        alert_id=alert_id,
        fingerprint=f"{service}/memory_percent",
        source="detector:trend",
        service_name=service,
        metric_type="memory_percent",
        labels={"host": "web-1"},
        detected_at=at(minutes),
        summary=f"{service} memory rising",
        anomaly_score=0.91,
        confidence=0.87,
        trend_analysis=trend,
        baseline=61.5,
        evidence=tuple(EvidencePoint(timestamp=at(minutes - i), value=70.0 + i) for i in range(3)),
        attributes={"unit": "%", "window": [1, 2.5, None, "x"]},
    )


def incident(incident_id: str, service: str = "checkout", *, minutes: float = 0) -> Incident:
    return Incident.open(incident_id, alert(f"alert-{incident_id}", service, minutes=minutes))


def advanced(base: Incident, *states: IncidentState) -> Incident:
    current = base
    for step, state in enumerate(states, start=1):
        current = current.transition(
            state, at=base.alert.detected_at + timedelta(seconds=step), reason=f"to {state}"
        )
    return current


def signal(service: str, minutes: float, value: float) -> Signal:
    return Signal(
        source="scrape:http://127.0.0.1:9/metrics",
        service_name=service,
        metric_type="memory_percent",
        labels={"pid": "42"},
        timestamp=at(minutes),
        value=value,
    )


def diagnosis(alert_id: str, pattern_id: str | None = "memory_leak_gradual") -> Diagnosis:
    return Diagnosis(
        alert_id=alert_id,
        pattern_id=pattern_id,
        confidence=0.82,
        remedy=Remedy(action="supervisor.restart", params={"program": "worker", "graceful": True}),
        rollback_safe=False,
        automation_eligible=True,
        reasons=("slope > 0 for 30 min", "z > 2.5"),
    )


def decision(incident_id: str, *, approved: bool = True, minutes: float = 1) -> Decision:
    return Decision(
        incident_id=incident_id,
        approved=approved,
        dry_run=False,
        verdicts=(
            GateVerdict(gate="confidence", passed=True, reason="0.82 >= 0.75"),
            GateVerdict(gate="rate", passed=approved, reason="1 of 3 today"),
        ),
        reason="all gates passed" if approved else "rate limit",
        decided_at=at(minutes),
    )


def action(incident_id: str, key: str, *, minutes: float = 2, applied: bool = True) -> ActionResult:
    return ActionResult(
        idempotency_key=key,
        incident_id=incident_id,
        action="supervisor.restart",
        target="worker",
        applied=applied,
        before={"pid": 41, "uptime_s": 3600.5},
        after={"pid": 97, "uptime_s": 0.25},
        undo=UndoRecord(
            action="supervisor.restart",
            target="worker",
            possible=False,
            instructions="a restart cannot be undone",
        ),
        message="restarted" if applied else "dry run",
        finished_at=at(minutes),
    )


def resize_holding(incident_id: str, secret: str) -> ActionResult:
    """A PgBouncer resize whose stored parameters carry ``secret`` in a DSN, as an old
    config that let a ``?password=`` through would have left it."""
    dsn = f"postgresql://postgres@127.0.0.1:6432/pgbouncer?password={secret}"
    params: dict[str, JsonValue] = {"admin_dsn": dsn, "pool_size": 2}
    return ActionResult(
        idempotency_key=f"{incident_id}:resize",
        incident_id=incident_id,
        action="pgbouncer.resize",
        target="app",
        applied=True,
        before=params,
        after={**params, "pool_size": 3, "note": f"reached {dsn}"},
        undo=UndoRecord(
            action="pgbouncer.resize",
            target="app",
            possible=True,
            params=params,
            instructions=f"vanguard rollback (console {dsn})",
        ),
        message=f"resized the app pool 2 → 3 via {dsn}",
        finished_at=at(2),
    )


def verification(verdict: Verdict = Verdict.improved) -> Verification:
    return Verification(
        verdict=verdict,
        reason="memory back under baseline",
        baseline=(EvidencePoint(timestamp=at(0), value=78.0),),
        observed=(EvidencePoint(timestamp=at(5), value=40.0),),
        figures={"baseline_mean": 78.0, "after_mean": 40.0, "tiny": 1e-300, "huge": 1.5e300},
    )


def outcome(
    incident_id: str,
    pattern_id: str | None = "memory_leak_gradual",
    *,
    status: OutcomeStatus = OutcomeStatus.resolved,
    minutes: float = 6,
) -> Outcome:
    return Outcome(
        incident_id=incident_id,
        pattern_id=pattern_id,
        status=status,
        reason="recovered",
        verification=verification(),
        finished_at=at(minutes),
    )


def resolved_incident(repo: IncidentRepo, audit: AuditLog, incident_id: str) -> None:
    """Store an incident that went the whole way: diagnosed, approved, restarted, verified.

    Its summary carries markup, so pages that show it must escape it.
    """
    base = incident(incident_id).alert
    shown = base.model_copy(update={"summary": "leak <script>x()</script>"})
    states = (
        IncidentState.diagnosed,
        IncidentState.approved,
        IncidentState.applied,
        IncidentState.verifying,
        IncidentState.resolved,
    )
    repo.save_incident(advanced(Incident.open(incident_id, shown), *states))
    repo.save_diagnosis(incident_id, diagnosis(shown.alert_id))
    repo.save_decision(decision(incident_id))
    repo.save_action(action(incident_id, f"{incident_id}:restart"))
    repo.save_verification(incident_id, verification())
    repo.save_outcome(outcome(incident_id))
    audit.append(incident_id=incident_id, kind="incident.opened", payload={"token": "x"}, at=at(0))
    audit.append(incident_id=incident_id, kind="action.applied", payload={"pid": 97}, at=at(2))
