"""A restart that made things worse cannot be undone: the incident escalates to a human."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.leaks import (
    Leaky,
    StartLeaky,
    leak_alert,
    leak_settings,
    remediate,
    wait_for_incidents,
)
from tests.servers.supervisor import Program, StartSupervisord
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.incident import IncidentState
from vanguard.model import OutcomeStatus, Verdict
from vanguard.netutil import free_port, wait_for_port
from vanguard.notify import MemoryNotifier
from vanguard.store import IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def test_degraded_restart_escalates_with_manual_instructions(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["worse"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier])
    client = await connect(temporal_address)
    # The baseline says the service used 5-15 MB; after the restart it uses ~30 MB: worse.
    alert = leak_alert(svc.name, datetime.now(UTC), level_mb=15)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await start_remediation(
                client, alert, task_queue=task_queue, window_s=1
            )
            assert handle is not None
            outcome = await handle.result()
            await wait_for_incidents(runtime.store, 1, timeout_s=30)
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
    finally:
        runtime.close()
    assert record is not None
    assert outcome.status is OutcomeStatus.escalated
    assert record.incident.state is IncidentState.escalated
    assert record.verification is not None
    assert record.verification.verdict is Verdict.degraded
    (action,) = record.actions
    assert not action.undo.possible
    assert svc.spawns() == 2, "restarted once, never 'rolled back' by another restart"
    (message,) = notifier.messages
    assert message.undo is not None
    assert action.undo.instructions in message.undo
    assert f"How to undo\n  {message.undo}" in message.body


async def test_a_restart_that_leaves_the_service_down_escalates(
    supervisord: StartSupervisord, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Begun and then failed, the action may be half done: a person is told, not just 'failed'."""
    port = free_port()
    flag = tmp_path / "started-once"
    command = (
        f"sh -c 'if [ -e {flag} ]; then echo broken config >&2; exit 3; fi; touch {flag}; "
        f"exec {sys.executable} -m vanguard.demo.leaky --port {port} --leak-mb-per-s 0'"
    )
    rpc = supervisord([Program(name="fragile", command=command, startsecs=1)])
    assert wait_for_port("127.0.0.1", port, timeout_s=20)
    svc = Leaky(name="fragile", metrics_url=f"http://127.0.0.1:{port}/metrics", rpc_url=rpc)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier])
    alert = leak_alert(svc.name, datetime.now(UTC), level_mb=15)
    try:
        outcome, record = await remediate(runtime, temporal_address, task_queue, alert)
    finally:
        runtime.close()
    assert record is not None
    assert outcome.status is OutcomeStatus.escalated
    assert record.incident.state is IncidentState.escalated
    assert "PartlyApplied" in outcome.reason
    assert "now down" in outcome.reason
    assert svc.spawns() >= 2, "the restart was tried once and its start failed"
    assert notifier.messages, "a person is told"
