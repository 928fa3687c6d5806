"""An in-test remedy for verification tests: applying it changes what an endpoint reports."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar

from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict

from vanguard.engine.activities import Activities
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput, VerifyInput
from vanguard.model import (
    ActionRequest,
    ActionResult,
    Alert,
    Check,
    Plan,
    RollbackRequest,
    UndoRecord,
    Verification,
)

Gauges = dict[str, Gauge]


class NoParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GaugeAction:
    """An adapter whose ``apply`` runs ``effect`` on the endpoint's gauges; subclasses name
    their ``kind``.

    The remedy is undoable on paper (rollback is not exercised by these tests), so a verdict
    that is not an improvement leads to a roll back rather than an escalation.
    """

    kind: ClassVar[str]
    params_model: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, gauges: Gauges, effect: Callable[[Gauges], None]) -> None:
        self.gauges = gauges
        self.effect = effect

    def plan(self, request: ActionRequest) -> Plan:
        return Plan(action=self.kind, target=request.target, steps=("apply",), undoable=True)

    def apply(self, request: ActionRequest) -> ActionResult:
        self.effect(self.gauges)
        return ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            undo=UndoRecord(
                action=self.kind, target=request.target, possible=True, instructions=""
            ),
            message=f"{self.kind} applied",
            finished_at=datetime.now(UTC),
        )

    def verify(self, result: ActionResult) -> Check:
        return Check(ok=True, reason=f"{self.kind} applied")

    def rollback(self, request: RollbackRequest) -> ActionResult:
        raise NotImplementedError


def verify_remedy(acts: Activities, alert: Alert, incident_id: str = "inc-1") -> Verification:
    """Take ``alert`` through the activities, outside Temporal, up to its verification:
    open, diagnose, decide, record the baseline, apply, verify."""
    acts.open_incident(OpenInput(incident_id=incident_id, alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id=incident_id, alert=alert))
    acts.decide(DecideInput(incident_id=incident_id, alert=alert, diagnosis=diagnosis))
    apply = ApplyInput(incident_id=incident_id, alert=alert, diagnosis=diagnosis)
    acts.record_baseline(apply)
    action = acts.apply_action(apply)
    return acts.verify(
        VerifyInput(incident_id=incident_id, alert=alert, diagnosis=diagnosis, action=action)
    )
