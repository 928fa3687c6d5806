"""A remedy behind someone else's endpoint: the engine calls a runbook hook, which restarts.

Real Temporal dev server, real supervisord running a leaking program, and a real HTTP
receiver on loopback standing in for a runbook automation: when called, it restarts the
program over supervisord's XML-RPC, as such a system would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.leaks import StartLeaky, leak_alert, leak_settings
from tests.servers.supervisor import rpc_call
from tests.servers.webhook import Received, WebhookReceiver
from vanguard.config import WebhookTarget
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.model import OutcomeStatus
from vanguard.notify import SIGNATURE_HEADER, MemoryNotifier, verify_signature
from vanguard.store import AuditLog, IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

SECRET = "runbook-7c2e91d4ab"
PATTERN = """\
id: memory_leak_gradual
description: resident memory rises steadily; the runbook service recycles the worker
service_types: [any]
metric: process_resident_memory_bytes
signature:
  - {field: trend.slope_per_hour, op: gt, value: 0}
  - {field: trend.breach_confidence, op: gte, value: 0.5}
remedy:
  action: webhook.call
  params: {body: {runbook: recycle-worker}}
rollback_safe: true
prior_confidence: 0.9
verify: {metric: process_resident_memory_bytes, better: lower}
"""


async def test_the_engine_calls_the_runbook_once_and_verifies_its_effect(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    webhook_receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (svc,) = leaky(["hooked"], 0.0)
    monkeypatch.setenv("RUNBOOK_SECRET", SECRET)

    def runbook(got: Received) -> None:
        if got.path == "/runbook" and verify_signature(
            got.raw, SECRET, got.headers.get(SIGNATURE_HEADER)
        ):
            rpc_call(svc.rpc_url, "supervisor.stopProcess", svc.name)
            rpc_call(svc.rpc_url, "supervisor.startProcess", svc.name)

    webhook_receiver.on_request = runbook
    patterns = tmp_path / "patterns"
    patterns.mkdir()
    (patterns / "memory_leak_gradual.yaml").write_text(PATTERN)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    hook = WebhookTarget(
        url=webhook_receiver.url("/runbook"),
        undo_url=webhook_receiver.url("/runbook/undo"),
        secret_env="RUNBOOK_SECRET",
    )
    service = base.services[0].model_copy(update={"supervisor": None, "webhook": hook})
    settings = base.model_copy(update={"patterns_dirs": (patterns,), "services": (service,)})
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)
    pid = svc.pid()
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await start_remediation(
                client, leak_alert(svc.name, datetime.now(UTC)), task_queue=task_queue, window_s=1
            )
            assert handle is not None
            outcome = await handle.result()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
            audit = AuditLog(session).entries(incident_id)
    finally:
        runtime.close()

    assert outcome.status is OutcomeStatus.resolved, outcome
    calls = [r for r in webhook_receiver.received if r.path == "/runbook"]
    assert len(calls) == 1
    assert calls[0].body["runbook"] == "recycle-worker"
    assert calls[0].body["vanguard"]["incident_id"] == incident_id
    assert svc.pid() != pid, "the runbook restarted the program"
    assert record is not None
    (action,) = record.actions
    assert action.action == "webhook.call"
    assert action.after["status"] == 200
    assert action.undo.possible
    dumped = " ".join(e.model_dump_json() for e in audit)
    assert SECRET not in dumped
    assert SECRET not in record.model_dump_json()
