"""An outcome message is retried while its channel is down, and a lost one is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.leaks import StartLeaky, leak_alert, leak_settings
from tests.notifiers import Refusing
from vanguard.engine.client import connect
from vanguard.engine.messages import RemediationInput
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import RemediationWorkflow, incident_id_for, workflow_id_for
from vanguard.model import OutcomeStatus
from vanguard.store import AuditLog

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.mark.parametrize(("down", "patience_s"), [(4, 60.0), (None, 4.0)], ids=["back", "lost"])
async def test_an_outcome_waits_for_its_channel_and_a_lost_message_is_recorded(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    down: int | None,
    patience_s: float,
) -> None:
    (svc,) = leaky([f"told-{down or 0}"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = Refusing(lambda _, refused: down is None or refused < down)
    runtime = build_runtime(settings, notifiers=[notifier])
    client = await connect(temporal_address)
    alert = leak_alert(svc.name, datetime.now(UTC))
    iid = incident_id_for(alert)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            outcome = await client.execute_workflow(
                RemediationWorkflow.run,
                RemediationInput(
                    incident_id=iid, alert=alert, window_s=1, notify_patience_s=patience_s
                ),
                id=workflow_id_for(iid),
                task_queue=task_queue,
            )
        with runtime.store.session() as session:
            audit = AuditLog(session).entries(iid)
    finally:
        runtime.close()
    assert outcome.status is OutcomeStatus.resolved, "the workflow completes either way"
    failed = [e.payload for e in audit if e.kind == "notify.failed"]
    if down is not None:
        assert notifier.refused == down
        assert [m.title.split("]")[0] for m in notifier.messages] == ["[resolved"]
        assert failed == []
    else:
        assert notifier.refused >= 2, "retried within its patience"
        assert notifier.messages == []
        (lost,) = failed
        assert lost["phase"] == "outcome"
        assert str(lost["reason"]).startswith("not delivered within 4 s: ")
