"""An action that failed ends *failed* only if its ledger shows it never began.

The remediation runs on the real dev server with the real activities, except
``apply_action``: a stand-in registered under its name hangs past the action's timeout on
every attempt, which no real adapter can be made to do on demand (a hung target is
answered by the adapters' own timeouts first). The workflow runs unsandboxed so its
timeouts can be shortened for the test.

A hung attempt is let go when the workflow has ended, not after a fixed time: a fixed
hang raced the workflow's own steps on one side and, on the other, the SDK's cancel of a
timed-out attempt (start-to-close plus 5 s), which an attempt then woke into and never
tried to begin.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
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
from vanguard.errors import ActionFenced, StoreError
from vanguard.incident import IncidentState
from vanguard.model import NOT_BEGUN, ActionResult, OutcomeStatus
from vanguard.notify import MemoryNotifier
from vanguard.store import IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ATTEMPTS = 2
LATE_S = 30.0
"""The longest a hung attempt waits to be let go, and the late attempts to report once it."""


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


def _stand_in(
    activities: Activities,
    late: list[str],
    released: threading.Event,
    *,
    begins: bool,
    ends: str,
) -> Callable[[ApplyInput], ActionResult]:
    """``apply_action`` that may begin (a ledger entry) and then hangs past its timeout
    (``ends="hang"``) or meets the store down on every attempt (``ends="store"``).

    A hung attempt wakes once ``released`` is set, after the workflow stopped waiting for
    it, as on a worker cut off from Temporal, and then tries to begin; ``late`` gets what
    its ``begin`` met. The SDK's cancel of a timed-out attempt is kept out of its thread,
    so the attempt goes on as on a worker that never heard of the timeout.
    """

    @activity.defn(name="apply_action", no_thread_cancel_exception=True)
    def apply_action(inp: ApplyInput) -> ActionResult:
        key = apply_key(inp.incident_id)
        if begins:
            activities.ledger.begin(key, {"state": "RUNNING"})
        if ends == "store":
            raise StoreError("store postgresql://db/vanguard: connection refused")
        released.wait(LATE_S)
        try:
            activities.ledger.begin(key, {"state": "RUNNING"})
        except ActionFenced:
            late.append("fenced")
            raise
        late.append("began")
        raise AssertionError("the workflow stopped waiting for this attempt long ago")

    return apply_action


def _store_down_first(activities: Activities, tries: int) -> Callable[[ApplyInput], str | None]:
    """``action_begun`` that meets the store down on its first ``tries`` attempts."""

    @activity.defn(name="action_begun")
    def action_begun(inp: ApplyInput) -> str | None:
        if activity.info().attempt <= tries:
            raise StoreError("store postgresql://db/vanguard: connection refused")
        return activities.action_begun(inp)

    return action_begun


async def _run(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    *,
    begins: bool,
    ends: str,
    ledger_down_for: int = 0,
) -> tuple[OutcomeStatus, str, IncidentState, int, str, list[str]]:
    (svc,) = leaky(["steady"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = MemoryNotifier()
    late: list[str] = []
    released = threading.Event()
    runtime = build_runtime(settings, notifiers=[notifier])
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
            acts.action_due_in,
            _stand_in(acts, late, released, begins=begins, ends=ends),
            _store_down_first(acts, ledger_down_for),
            acts.close_incident,
            acts.notify,
            acts.notify_failed,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    try:
        async with worker:
            try:
                incident_id, handle = await start_remediation(
                    client,
                    leak_alert(svc.name, datetime.now(UTC), level_mb=15),
                    task_queue=task_queue,
                    window_s=1,
                )
                assert handle is not None
                outcome = await handle.result()
            finally:
                released.set()
            deadline = time.monotonic() + LATE_S
            while ends == "hang" and len(late) < ATTEMPTS and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
    finally:
        runtime.close()
    assert record is not None
    (told,) = notifier.messages
    assert outcome.teaches is begins, "only an action that may have begun teaches its pattern"
    return outcome.status, outcome.reason, record.incident.state, svc.spawns(), told.body, late


@pytest.mark.usefixtures("short_action_timeouts")
@pytest.mark.parametrize("ends", ["hang", "store"])
@pytest.mark.parametrize(
    ("begins", "status", "state", "told", "undo"),
    [
        (True, OutcomeStatus.escalated, IncidentState.escalated, "may be partly applied", "hand"),
        (False, OutcomeStatus.failed, IncidentState.failed, NOT_BEGUN, "nothing to undo"),
    ],
    ids=["began-goes-to-a-person", "never-began-failed-cleanly"],
)
async def test_an_action_that_failed_is_judged_by_its_ledger(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    ends: str,
    begins: bool,
    status: OutcomeStatus,
    state: IncidentState,
    told: str,
    undo: str,
) -> None:
    """However it failed: its last attempt gave no answer (a hung target, a worker lost
    each time), or the store stayed down after the adapter had done its part."""
    got_status, reason, got_state, spawns, how_to_undo, late = await _run(
        leaky, temporal_address, task_queue, tmp_path, begins=begins, ends=ends
    )
    assert got_status is status, reason
    assert got_state is state
    assert told in reason
    assert ("RUNNING" in reason) is begins, "the state before a begun action is told"
    assert undo in how_to_undo, "the message says the same as the outcome"
    assert spawns == 1, "the stand-in touched nothing: the service was never restarted"
    if ends == "hang":
        expected = "began" if begins else "fenced"
        assert late == [expected] * ATTEMPTS, "a late attempt cannot begin what was settled"


@pytest.mark.usefixtures("short_action_timeouts")
async def test_the_ledger_is_asked_as_long_as_the_store_steps_retry(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The store stayed down past the action's own tries: asking the ledger gave up with
    them, and the incident ended "whether it began is unknown" with its action unrecorded.
    It is retried as the other store steps are, so the answer comes once the store is back."""
    status, reason, state, _, _, _ = await _run(
        leaky,
        temporal_address,
        task_queue,
        tmp_path,
        begins=True,
        ends="store",
        ledger_down_for=ATTEMPTS,
    )
    assert status is OutcomeStatus.escalated, reason
    assert state is IncidentState.escalated
    assert "unknown" not in reason
    assert "may be partly applied (state before it: " in reason
