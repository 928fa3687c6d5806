"""A rollback that reports it changed nothing is not told as "rolled back".

The remediation runs on the real dev server with the real activities except the action's
own steps: stand-ins registered under the names of ``apply_action``, ``verify`` and
``rollback`` apply an undoable change, judge it worse and then answer that the undo did
nothing, an answer no shipped adapter gives on demand. (``tests.leaks.hold_baseline`` replaces
one the same way.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import activity

from tests.leaks import StartLeaky, leak_alert, leak_settings, remediate
from vanguard.engine.messages import (
    ApplyInput,
    DiagnoseInput,
    RollbackInput,
    TransitionInput,
    VerifyInput,
)
from vanguard.engine.runtime import build_runtime
from vanguard.incident import IncidentState
from vanguard.model import (
    ActionResult,
    Diagnosis,
    OutcomeStatus,
    UndoRecord,
    Verdict,
    Verification,
)
from vanguard.notify import MemoryNotifier

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _result(inp: ApplyInput | RollbackInput, key: str, *, applied: bool) -> ActionResult:
    return ActionResult(
        idempotency_key=f"{inp.incident_id}:{key}",
        incident_id=inp.incident_id,
        action="supervisor.restart",
        target="svc",
        applied=applied,
        undo=UndoRecord(
            action="supervisor.restart", target="svc", possible=True, instructions="restart"
        ),
        message=f"{key}: {'done' if applied else 'the target was already as before'}",
        finished_at=datetime.now(UTC),
    )


async def test_a_rollback_that_changed_nothing_escalates(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["steady"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier])
    acts = runtime.activities

    real_diagnose = acts.diagnose

    @activity.defn(name="diagnose")
    def diagnose(inp: DiagnoseInput) -> Diagnosis:
        return real_diagnose(inp).model_copy(update={"rollback_safe": True})

    @activity.defn(name="apply_action")
    def apply_action(inp: ApplyInput) -> ActionResult:
        acts.transition(TransitionInput(incident_id=inp.incident_id, state="applied", reason="on"))
        return _result(inp, "apply", applied=True)

    @activity.defn(name="verify")
    def verify(inp: VerifyInput) -> Verification:
        acts.transition(TransitionInput(incident_id=inp.incident_id, state="verifying", reason="-"))
        return Verification(verdict=Verdict.degraded, reason="latency doubled")

    @activity.defn(name="rollback")
    def rollback(inp: RollbackInput) -> ActionResult:
        return _result(inp, "rollback", applied=False)

    for stand_in in (diagnose, apply_action, verify, rollback):
        setattr(acts, stand_in.__name__, stand_in)
    try:
        outcome, record = await remediate(
            runtime,
            temporal_address,
            task_queue,
            leak_alert(svc.name, datetime.now(UTC), level_mb=15),
        )
    finally:
        runtime.close()
    assert record is not None
    assert outcome.status is OutcomeStatus.escalated
    assert record.incident.state is IncidentState.escalated
    assert "the rollback changed nothing" in outcome.reason
    assert "a person must check the target" in outcome.reason
    (told,) = notifier.messages
    assert "rolled back:" not in told.body
