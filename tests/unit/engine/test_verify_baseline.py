"""The baseline a remedy is judged against shows the incident, not the healthy past.

A detector raises a breach on the first point past its threshold and an anomaly on one
surprising point: most of the points it carries are from before the incident. Taken whole
as the baseline, they made a remedy that restored health read *unchanged*, and a remedy that
can be undone was rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, JsonValue

from vanguard.act.base import MemoryLedger
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, VerificationConfig
from vanguard.decide import PolicyConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy
from vanguard.engine.activities import BASELINE, Activities
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput, VerifyInput
from vanguard.model import (
    ActionRequest,
    ActionResult,
    Alert,
    Check,
    EvidencePoint,
    Plan,
    RollbackRequest,
    Signal,
    TrendAnalysis,
    UndoRecord,
    Verdict,
    Verification,
)
from vanguard.store import IncidentRepo, Store

HEALTHY, SICK = 0.01, 0.5


class NoParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fix:
    """``api.fix``: brings the service's latency back to health; undoable on paper."""

    kind: ClassVar[str] = "api.fix"
    params_model: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, service: dict[str, float]) -> None:
        self.service = service

    def plan(self, request: ActionRequest) -> Plan:
        return Plan(action=self.kind, target=request.target, steps=("fix",), undoable=True)

    def apply(self, request: ActionRequest) -> ActionResult:
        self.service["latency"] = HEALTHY
        return ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            undo=UndoRecord(
                action=self.kind, target=request.target, possible=True, instructions=""
            ),
            message="fixed",
            finished_at=datetime.now(UTC),
        )

    def verify(self, result: ActionResult) -> Check:
        return Check(ok=True, reason="fixed")

    def rollback(self, request: RollbackRequest) -> ActionResult:
        raise NotImplementedError


PATTERN = Pattern(
    id="api_latency",
    description="latency is high",
    metric="latency_seconds",
    signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
    remedy=PatternRemedy(action="api.fix"),
    rollback_safe=True,
    prior_confidence=0.9,
)


def api_settings() -> Settings:
    """One web service ``api`` read every 0.2 s, its baseline a second long."""
    return Settings(
        data_dir=Path("."),
        services=(ServiceConfig(name="api", type="web", scrape=ScrapeConfig(url="http://x")),),
        policy=PolicyConfig(min_confidence=0.5),
        verification=VerificationConfig(baseline_s=1, sample_interval_s=0.2),
    )


def _activities(
    store: Store, service: dict[str, float], monkeypatch: pytest.MonkeyPatch
) -> Activities:
    settings = api_settings()
    adapter = Fix(service)
    acts = Activities(settings, store, [PATTERN], {adapter.kind: adapter}, MemoryLedger(), [])
    rng = np.random.default_rng(5)

    def read(service_: ServiceConfig, metrics: Sequence[str], now: datetime) -> list[Signal]:
        return latency(service["latency"] * (1 + 0.02 * rng.standard_normal()), now)

    monkeypatch.setattr(acts, "_read", read)
    return acts


def latency(value: float, now: datetime) -> list[Signal]:
    """One reading of the api's latency, as its scrape returns it."""
    return [
        Signal(
            source="scrape",
            service_name="api",
            metric_type="latency_seconds",
            timestamp=now,
            value=value,
        )
    ]


def _alert(kind: str, values: Sequence[float]) -> Alert:
    now = datetime.now(UTC)
    attributes: dict[str, JsonValue] = {"kind": kind}
    return Alert(
        alert_id=f"a-{kind}-{len(values)}",
        fingerprint="api/latency_seconds",
        source=f"detector:{kind}",
        service_name="api",
        metric_type="latency_seconds",
        labels={"service_type": "web"},
        detected_at=now,
        summary="latency high",
        anomaly_score=1.0,
        confidence=0.99,
        trend_analysis=TrendAnalysis(
            current=values[-1], ema=0.1, slope_per_hour=0.0, zscore=9.0, threshold=0.2
        ),
        evidence=tuple(
            EvidencePoint(timestamp=now - timedelta(seconds=5 * (len(values) - i)), value=v)
            for i, v in enumerate(values)
        ),
        attributes=attributes,
    )


def _remedy(
    store: Store, alert: Alert, monkeypatch: pytest.MonkeyPatch
) -> tuple[Verification, list[str]]:
    """The incident through the activities, outside Temporal, up to its verification."""
    service = {"latency": SICK}
    verification = through_verify(_activities(store, service, monkeypatch), alert)
    with store.session() as session:
        record = IncidentRepo(session).get_record("inc-1")
    assert record is not None
    return verification, [entry.kind for entry in record.audit]


def through_verify(acts: Activities, alert: Alert) -> Verification:
    """Incident ``inc-1`` for ``alert`` through the activities, outside Temporal: opened,
    diagnosed, decided, its baseline read, acted on and verified."""
    acts.open_incident(OpenInput(incident_id="inc-1", alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-1", alert=alert))
    acts.decide(DecideInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis))
    apply = ApplyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis)
    acts.record_baseline(apply)
    action = acts.apply_action(apply)
    return acts.verify(
        VerifyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis, action=action)
    )


def _healthy(n: int, seed: int = 1) -> list[float]:
    return list(HEALTHY * (1 + 0.02 * np.random.default_rng(seed).standard_normal(n)))


def _sick(n: int, seed: int = 2) -> list[float]:
    return list(SICK * (1 + 0.02 * np.random.default_rng(seed).standard_normal(n)))


def test_a_breachs_points_past_the_threshold_are_its_baseline(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """15 healthy points then 5 past the threshold: the 5 are the incident, and the fix
    that restored health is an improvement (against all 20 it read *unchanged*)."""
    verification, audit = _remedy(store, _alert("breach", _healthy(15) + _sick(5)), monkeypatch)
    assert verification.verdict is Verdict.improved, verification.reason
    assert len(verification.baseline) == 5
    assert {round(p.value, 1) for p in verification.baseline} == {SICK}
    assert BASELINE not in audit, "five points of the incident are enough: nothing is read"


@pytest.mark.parametrize(
    ("kind", "values"),
    [("breach", _healthy(19) + _sick(1)), ("anomaly", _healthy(19) + _sick(1))],
    ids=["breach-on-its-first-point", "anomaly"],
)
def test_an_alert_whose_points_predate_it_reads_its_baseline_before_acting(
    store: Store, monkeypatch: pytest.MonkeyPatch, kind: str, values: list[float]
) -> None:
    verification, audit = _remedy(store, _alert(kind, values), monkeypatch)
    assert BASELINE in audit
    assert {round(p.value, 1) for p in verification.baseline} == {SICK}
    assert verification.verdict is Verdict.improved, verification.reason


def test_a_forecasts_points_are_the_trend_it_saw(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forecast's points are its incident: the trend toward the breach, used whole."""
    ramp = list(np.linspace(0.1, SICK, 20))
    verification, audit = _remedy(store, _alert("forecast", ramp), monkeypatch)
    assert BASELINE not in audit
    assert len(verification.baseline) == 20
    assert verification.verdict is Verdict.improved, verification.reason
