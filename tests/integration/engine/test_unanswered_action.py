"""An action whose activity never answers ends *failed* only if its ledger shows it never began.

The remediation runs on the real dev server with the real activities, except
``apply_action``: a stand-in registered under its name hangs past the action's timeout on
every attempt, which no real adapter can be made to do on demand (a hung target is
answered by the adapters' own timeouts first). The workflow runs unsandboxed so its
timeouts can be shortened for the test.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.leaks import StartLeaky, leak_alert, leak_settings
from vanguard.engine import workflows
from vanguard.engine.activities import Activities, apply_key
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.messages import ApplyInput
from vanguard.engine.runtime import build_runtime
from vanguard.engine.workflows import RemediationWorkflow
from vanguard.incident import IncidentState
from vanguard.model import ActionResult, OutcomeStatus
from vanguard.store import IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HANG_S = 4.0


@pytest.fixture
def short_action_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflows, "ACT_TIMEOUT", timedelta(seconds=1))
    monkeypatch.setattr(
        workflows,
        "RETRY",
        dataclasses.replace(
            workflows.RETRY, initial_interval=timedelta(milliseconds=100), maximum_attempts=2
        ),
    )


def _hanging_apply(activities: Activities, *, begins: bool) -> Callable[[ApplyInput], ActionResult]:
    @activity.defn(name="apply_action")
    def apply_action(inp: ApplyInput) -> ActionResult:
        if begins:
            activities.ledger.begin(apply_key(inp.incident_id), {"state": "RUNNING"})
        time.sleep(HANG_S)
        raise AssertionError("the workflow stopped waiting for this attempt long ago")

    return apply_action


async def _run(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path, *, begins: bool
) -> tuple[OutcomeStatus, str, IncidentState, int]:
    (svc,) = leaky(["steady"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    runtime = build_runtime(settings)
    acts = runtime.activities
    client = await connect(temporal_address)
    worker = Worker(
        client,
        task_queue=task_queue,
        workflows=[RemediationWorkflow],
        activities=[
            acts.open_incident,
            acts.diagnose,
            acts.decide,
            acts.transition,
            acts.record_baseline,
            _hanging_apply(acts, begins=begins),
            acts.action_begun,
            acts.close_incident,
            acts.notify,
            acts.notify_failed,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    try:
        async with worker:
            incident_id, handle = await start_remediation(
                client,
                leak_alert(svc.name, datetime.now(UTC), level_mb=15),
                task_queue=task_queue,
                window_s=1,
            )
            assert handle is not None
            outcome = await handle.result()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
    finally:
        runtime.close()
    assert record is not None
    return outcome.status, outcome.reason, record.incident.state, svc.spawns()


@pytest.mark.usefixtures("short_action_timeouts")
@pytest.mark.parametrize(
    ("begins", "status", "state", "told"),
    [
        (True, OutcomeStatus.escalated, IncidentState.escalated, "may be partly applied"),
        (False, OutcomeStatus.failed, IncidentState.failed, "nothing was changed"),
    ],
    ids=["began-goes-to-a-person", "never-began-failed-cleanly"],
)
async def test_an_unanswered_action_is_judged_by_its_ledger(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    begins: bool,
    status: OutcomeStatus,
    state: IncidentState,
    told: str,
) -> None:
    got_status, reason, got_state, spawns = await _run(
        leaky, temporal_address, task_queue, tmp_path, begins=begins
    )
    assert got_status is status, reason
    assert got_state is state
    assert told in reason
    assert ("RUNNING" in reason) is begins, "the state before a begun action is told"
    assert spawns == 1, "the stand-in touched nothing: the service was never restarted"
