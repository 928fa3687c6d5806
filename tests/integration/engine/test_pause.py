"""The kill switch end to end: a paused service's incident is recorded and declined, and an
approval given while it waits does not lift the pause; after resume, the loop acts again.

Real Temporal dev server, real supervisord running a leaking program, SQLite store.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.leaks import StartLeaky, hold_baseline, leak_alert, leak_settings, wait_for_incidents
from vanguard.cli.apps import app
from vanguard.decide import PolicyConfig
from vanguard.engine.activities import apply_key
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import RemediationWorkflow
from vanguard.incident import IncidentState
from vanguard.model import Outcome, OutcomeStatus
from vanguard.notify import MemoryNotifier
from vanguard.store import AuditLog, IncidentRepo, PauseRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_pause_stops_acting_until_resumed(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["paused"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    asking = PolicyConfig(min_confidence=0.99)
    settings = base.model_copy(update={"policy": asking})
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)
    where = ["--store", settings.resolved_store_url()]

    async def cli(*args: str) -> str:
        result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *where])
        assert result.exit_code == 0, result.output
        return result.output

    async def remediate(*, pause_while_waiting: bool) -> tuple[str, Outcome]:
        """Start an incident, wait until it asks, maybe pause, then approve it."""
        alert = leak_alert(svc.name, datetime.now(UTC))
        iid, handle = await start_remediation(client, alert, task_queue=task_queue, window_s=1)
        assert handle is not None
        await wait_for_incidents(
            runtime.store,
            1,
            timeout_s=60,
            until=lambda i: i.incident_id == iid and i.state is IncidentState.awaiting_approval,
        )
        if pause_while_waiting:
            await cli(
                "automation",
                "pause",
                "--service",
                svc.name,
                "--reason",
                "db failover",
                "--by",
                "erin",
            )
        await handle.signal(RemediationWorkflow.approve, "frank")
        return iid, await handle.result()

    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            paused_id, paused = await remediate(pause_while_waiting=True)
            await cli("automation", "resume", "--service", svc.name, "--by", "erin")
            _, resumed = await remediate(pause_while_waiting=False)
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(paused_id)
    finally:
        runtime.close()

    assert paused.status is OutcomeStatus.declined
    assert "automation paused on service paused by erin" in paused.reason
    assert record is not None
    assert record.decision is not None
    pause = next(v for v in record.decision.verdicts if v.gate == "pause")
    assert not pause.passed
    assert record.actions == ()
    assert resumed.status is OutcomeStatus.resolved
    assert svc.spawns() == 2, "one restart: after the resume, none while paused"


async def test_a_pause_while_the_baseline_is_read_withholds_the_action(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The decision passed every gate; a person pauses during the minutes the baseline is
    read. The gates, run again just before acting, stop it: declined, nothing changed,
    and (declined, not failed) no failure for the pattern's circuit breaker."""
    (svc,) = leaky(["baselining"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    baseline = hold_baseline(runtime)
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            iid, handle = await start_remediation(
                client, leak_alert(svc.name, datetime.now(UTC)), task_queue=task_queue, window_s=1
            )
            assert handle is not None
            assert await asyncio.to_thread(baseline.started.wait, 60)
            with runtime.store.session() as session:
                PauseRepo(session).pause(
                    service=svc.name, reason="db failover", by="erin", now=datetime.now(UTC)
                )
            baseline.release.set()
            outcome = await handle.result()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(iid)
            kinds = [e.kind for e in AuditLog(session).entries(iid)]
        fence = runtime.activities.ledger.get(apply_key(iid))
    finally:
        runtime.close()
    assert outcome.status is OutcomeStatus.declined, outcome.reason
    assert "automation paused on service baselining by erin" in outcome.reason
    assert record is not None
    assert record.incident.state is IncidentState.declined
    assert record.actions == ()
    assert "decision.withheld" in kinds
    assert fence is not None
    assert fence.fenced, "a late attempt could not begin it either"
    assert svc.spawns() == 1, "nothing was restarted"
