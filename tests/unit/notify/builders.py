"""Domain values for notify tests: one incident taken through the whole loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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
    Severity,
    TrendAnalysis,
    UndoRecord,
    Verdict,
    Verification,
)

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
S = IncidentState


def alert(**overrides: Any) -> Alert:
    data: dict[str, Any] = {
        "alert_id": "a1",
        "fingerprint": "leaky/mem",
        "source": "detector:trend",
        "service_name": "leaky",
        "metric_type": "memory_percent",
        "detected_at": T0,
        "severity": Severity.warning,
        "summary": "memory rising towards the limit",
        "anomaly_score": 0.91,
        "confidence": 0.87,
        "trend_analysis": TrendAnalysis(
            current=78.0,
            ema=77.0,
            slope_per_hour=5.2,
            zscore=2.8,
            threshold=90.0,
            predicted_breach_time=T0 + timedelta(hours=2, minutes=30),
            breach_confidence=0.87,
        ),
    }
    data.update(overrides)
    return Alert(**data)


def incident(*states: IncidentState) -> Incident:
    current = Incident.open("inc-42", alert())
    for i, state in enumerate(states, start=1):
        current = current.transition(state, at=T0 + timedelta(minutes=i), reason=state.value)
    return current


def diagnosis(**overrides: Any) -> Diagnosis:
    data: dict[str, Any] = {
        "alert_id": "a1",
        "pattern_id": "memory_leak_gradual",
        "confidence": 0.87,
        "remedy": Remedy(action="supervisor.restart", params={"program": "leaky"}),
        "rollback_safe": False,
        "automation_eligible": True,
        "reasons": ("slope > 0 for 30 min", "no deploy in the window"),
    }
    data.update(overrides)
    return Diagnosis(**data)


def decision(**overrides: Any) -> Decision:
    data: dict[str, Any] = {
        "incident_id": "inc-42",
        "approved": True,
        "dry_run": False,
        "verdicts": (
            GateVerdict(gate="confidence", passed=True, reason="confidence 0.87 >= 0.80"),
            GateVerdict(gate="rate_limit", passed=True, reason="0/3 actions on leaky in 24 h"),
        ),
        "reason": "approved: all 2 gates passed",
        "decided_at": T0,
    }
    data.update(overrides)
    return Decision(**data)


def result(*, possible: bool = False, **overrides: Any) -> ActionResult:
    data: dict[str, Any] = {
        "idempotency_key": "inc-42/apply",
        "incident_id": "inc-42",
        "action": "supervisor.restart",
        "target": "leaky",
        "applied": True,
        "before": {"pid": 100, "uptime_s": 7200},
        "after": {"pid": 200, "uptime_s": 1},
        "undo": UndoRecord(
            action="supervisor.restart",
            target="leaky",
            possible=possible,
            instructions="a restart cannot be undone; check the service logs",
        ),
        "message": "restarted leaky (pid 100 → 200)",
        "finished_at": T0 + timedelta(minutes=5),
    }
    data.update(overrides)
    return ActionResult(**data)


def verification(verdict: Verdict = Verdict.improved) -> Verification:
    point = EvidencePoint(timestamp=T0, value=1.0)
    return Verification(
        verdict=verdict,
        reason=f"{verdict.value}: median 78 → 20 (-74.4%), p=1e-06, better is lower",
        baseline=(point,),
        observed=(point,),
        figures={"baseline_median": 78.0, "observed_median": 20.0, "p_value": 1e-6},
    )


def outcome(status: OutcomeStatus, reason: str = "verified") -> Outcome:
    return Outcome(
        incident_id="inc-42",
        pattern_id="memory_leak_gradual",
        status=status,
        reason=reason,
        finished_at=T0 + timedelta(minutes=10),
    )
