"""The incident's workflow waits out its action's due time (a re-run's backoff) itself.

A stand-in ``action_due_in`` says how long until the action is due, so that a supervisord
restart waits as a re-run does; everything else is the real remediation on the dev server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from typer.testing import CliRunner, Result

from tests.leaks import Leaky, StartLeaky, leak_alert, leak_settings
from vanguard.cli.apps import app
from vanguard.config import Settings
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.messages import ApplyInput
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import RemediationWorkflow
from vanguard.incident import IncidentState
from vanguard.model import Outcome, OutcomeStatus
from vanguard.notify import MemoryNotifier
from vanguard.store import AuditLog, IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _due_in(runtime: Runtime, answers: Sequence[float]) -> list[float]:
    """Answer ``action_due_in`` with ``answers`` in turn (the last one from then on); the
    answers given, one per call."""
    given: list[float] = []

    @activity.defn(name="action_due_in")
    def due_in(inp: ApplyInput) -> float:
        given.append(answers[min(len(given), len(answers) - 1)])
        return given[-1]

    runtime.activities.action_due_in = due_in  # type: ignore[method-assign]
    return given


@dataclass
class Deferred:
    """One incident whose action waits to be due, its worker running."""

    settings: Settings
    runtime: Runtime
    incident_id: str
    handle: WorkflowHandle[RemediationWorkflow, Outcome]
    given: list[float]
    """``action_due_in``'s answers so far (``_due_in``)."""


@asynccontextmanager
async def _deferred(
    svc: Leaky,
    answers: Sequence[float],
    temporal: str,
    task_queue: str,
    tmp_path: Path,
    notifier: MemoryNotifier | None = None,
) -> AsyncIterator[Deferred]:
    """The remediation of ``svc``'s leak started on the dev server, ``action_due_in``
    answering ``answers``; the worker stops and the runtime closes on the way out."""
    settings = leak_settings(tmp_path, [svc], temporal=temporal, task_queue=task_queue, window_s=1)
    runtime = build_runtime(settings, notifiers=[notifier or MemoryNotifier()])
    given = _due_in(runtime, answers)
    client = await connect(temporal)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await start_remediation(
                client, leak_alert(svc.name, datetime.now(UTC)), task_queue=task_queue, window_s=1
            )
            assert handle is not None
            yield Deferred(settings, runtime, incident_id, handle, given)
    finally:
        runtime.close()


async def _stage(handle: WorkflowHandle[RemediationWorkflow, Outcome], wanted: str) -> None:
    for _ in range(300):
        if await handle.query(RemediationWorkflow.stage) == wanted:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"the workflow never reached stage {wanted}")


async def _decline(settings: Settings, temporal: str, incident_id: str, who: str) -> Result:
    args = ["incidents", "decline", incident_id, "--by", who]
    args += ["--store", settings.resolved_store_url(), "--temporal", temporal]
    return await asyncio.to_thread(CliRunner().invoke, app, args)


async def test_a_cancel_during_the_wait_ends_the_incident_declined_and_closed(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Cancelling the workflow in Temporal while the action waits to be due raised out of
    the wait, and left the incident *approved* for ever with no outcome and nobody told."""
    (svc,) = leaky(["cancelled"], 0.0)
    notifier = MemoryNotifier()
    async with _deferred(svc, [60.0], temporal_address, task_queue, tmp_path, notifier) as d:
        await _stage(d.handle, "deferred")
        await d.handle.cancel()
        outcome = await d.handle.result()
        status = (await d.handle.describe()).status
        with d.runtime.store.session() as session:
            record = IncidentRepo(session).get_record(d.incident_id)
    assert status is WorkflowExecutionStatus.COMPLETED
    assert outcome.status is OutcomeStatus.declined, outcome.reason
    assert outcome.reason == "declined by cancelling its workflow in Temporal before the action"
    assert record is not None
    assert record.incident.state is IncidentState.declined
    assert [m.title for m in notifier.messages if "[declined]" in m.title], notifier.messages
    assert svc.spawns() == 1, "nothing was restarted"


async def test_a_decline_of_an_incident_no_person_approved_says_no_approval(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The policy approved this incident; declined during the wait, its outcome said it
    came "after the approval", which no one had given."""
    (svc,) = leaky(["no-approver"], 0.0)
    async with _deferred(svc, [30.0], temporal_address, task_queue, tmp_path) as d:
        await _stage(d.handle, "deferred")
        declined = await _decline(d.settings, temporal_address, d.incident_id, "mallory")
        outcome = await d.handle.result()
        with d.runtime.store.session() as session:
            audit = AuditLog(session).entries(d.incident_id)
    incident_id = d.incident_id
    assert declined.exit_code == 0, declined.output
    assert f"{incident_id} declined by mallory: the action will not run" in declined.output
    assert outcome.status is OutcomeStatus.declined
    assert outcome.reason == "declined by mallory before the action"
    assert not any(e.payload.get("approved_by") for e in audit), "nobody approved it"
    assert svc.spawns() == 1


async def test_the_wait_is_asked_again_and_a_second_round_still_hears_a_decline(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """A clock behind the failure's time is told the longest wait, then more is left: the
    rest was waited inside ``apply_action``, where a decline was not heard."""
    (svc,) = leaky(["skewed"], 0.0)
    async with _deferred(svc, [0.5, 60.0], temporal_address, task_queue, tmp_path) as d:
        given, handle = d.given, d.handle
        for _ in range(300):
            if len(given) == 2 and await handle.query(RemediationWorkflow.stage) == "deferred":
                break
            await asyncio.sleep(0.1)
        await handle.signal(RemediationWorkflow.decline, "mallory")
        outcome = await handle.result()
    assert given == [0.5, 60.0]
    assert outcome.status is OutcomeStatus.declined, outcome.reason
    assert outcome.reason == "declined by mallory before the action"
    assert svc.spawns() == 1


async def test_the_wait_is_asked_again_a_bounded_number_of_times(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """An answer that never reaches 0 is asked again three times at most; then the action
    runs (``apply_action`` waits what its own clock says is left)."""
    (svc,) = leaky(["never-due"], 0.0)
    async with _deferred(svc, [0.2], temporal_address, task_queue, tmp_path) as d:
        outcome = await d.handle.result()
        given = d.given
    assert given == [0.2, 0.2, 0.2]
    assert outcome.status is OutcomeStatus.resolved, outcome.reason
    assert svc.spawns() == 2
