"""Starting incidents on a real Temporal: a resend re-drives an incident whose workflow
failed, never one that runs or has finished; an alert Temporal refuses is an InputError."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from vanguard.config import Settings
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.messages import OpenInput
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.errors import InputError
from vanguard.model import Alert
from vanguard.store import IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _alert(summary: str = "queue grows") -> Alert:
    return Alert(
        alert_id=f"am-{uuid.uuid4().hex[:16]}-2026-11-25T15:02:11+00:00",
        fingerprint="web/queue_depth",
        source="alertmanager",
        service_name="web",
        metric_type="queue_depth",
        detected_at=datetime(2026, 11, 25, 15, 2, 11, tzinfo=UTC),
        summary=summary,
        anomaly_score=1.0,
        confidence=1.0,
    )


async def test_a_resend_starts_again_an_incident_whose_workflow_failed(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """An alert that came while the store was down past its retries failed its workflow,
    and every resend was answered "duplicate": the incident was lost for good."""
    runtime = build_runtime(Settings(data_dir=tmp_path), notifiers=[])
    real = runtime.activities.open_incident
    store_down = [True]

    @activity.defn(name="open_incident")
    def open_incident(inp: OpenInput) -> None:
        if store_down:
            raise ApplicationError(
                "store postgresql://db/vanguard: connection refused (its last retry)",
                type="StoreError",
                non_retryable=True,
            )
        real(inp)

    runtime.activities.open_incident = open_incident  # type: ignore[method-assign]
    alert = _alert()
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, first = await start_remediation(
                client, alert, task_queue=task_queue, window_s=1
            )
            assert first is not None
            with pytest.raises(WorkflowFailureError):
                await first.result()
            assert (await first.describe()).status == WorkflowExecutionStatus.FAILED
            store_down.clear()
            again_id, again = await start_remediation(
                client, alert, task_queue=task_queue, window_s=1
            )
            assert again is not None, "the resend re-drives the failed incident"
            outcome = await again.result()
            _, finished = await start_remediation(client, alert, task_queue=task_queue, window_s=1)
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
    finally:
        runtime.close()
    assert again_id == incident_id
    assert finished is None, "a completed incident is a duplicate"
    assert record is not None
    assert record.outcome is not None
    assert record.outcome.status == outcome.status


async def test_a_running_incident_is_a_duplicate_and_a_terminated_one_starts_again(
    temporal_address: str, task_queue: str
) -> None:
    client = await connect(temporal_address)
    alert = _alert()
    _, running = await start_remediation(client, alert, task_queue=task_queue, window_s=1)
    assert running is not None
    try:
        _, duplicate = await start_remediation(client, alert, task_queue=task_queue, window_s=1)
        assert duplicate is None, "no worker polls this queue: it is still running"
        await running.terminate(reason="test: stands in for an operator or a failure")
        _, again = await start_remediation(client, alert, task_queue=task_queue, window_s=1)
        assert again is not None
        assert again.result_run_id != running.result_run_id
        await again.terminate(reason="test: cleanup")
    finally:
        if (await running.describe()).status == WorkflowExecutionStatus.RUNNING:
            await running.terminate(reason="test: cleanup")


async def test_an_alert_temporal_refuses_is_an_input_error(
    temporal_address: str, task_queue: str
) -> None:
    """Temporal's payload limit refused it with INVALID_ARGUMENT, which the receiver took
    for an engine outage and answered 503, so the delivery was retried for ever."""
    client = await connect(temporal_address)
    with pytest.raises(InputError, match="Temporal refused to start incident inc-"):
        await start_remediation(
            client, _alert("s" * (3 * 1024 * 1024)), task_queue=task_queue, window_s=1
        )
