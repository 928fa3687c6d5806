"""Whole incidents through Temporal against real supervisord-managed leaking services."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import WorkflowHandle

from tests.e2e.workers import polled, running
from tests.leaks import MB, Leaky, StartLeaky, leak_alert, leak_settings, wait_for_incidents
from tests.servers.supervisor import Program, StartSupervisord, rpc_call
from vanguard.engine.client import connect, start_remediation, start_watcher
from vanguard.engine.embedded import watcher_input
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import workflow_id_for
from vanguard.incident import IncidentState
from vanguard.model import OutcomeStatus, Verdict
from vanguard.netutil import free_port, wait_for_port
from vanguard.notify import MemoryNotifier
from vanguard.store import AuditLog, IncidentRepo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


async def test_leak_is_detected_restarted_verified_and_closed(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["leaky"], 10.0)
    pid_before = svc.pid()
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=2
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier], verify_samples=5)
    client = await connect(temporal_address)
    sweep = watcher_input(settings)
    assert sweep is not None
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            watcher = await start_watcher(client, sweep, task_queue=task_queue)
            (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=120)
            await client.get_workflow_handle(workflow_id_for(incident.incident_id)).result()
            await watcher.terminate("test over")
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident.incident_id)
            chain = AuditLog(session).verify_chain()
    finally:
        runtime.close()

    assert record is not None
    assert record.incident.state is IncidentState.resolved, record.incident.history
    assert [h.state for h in record.incident.history] == [
        IncidentState.open,
        IncidentState.diagnosed,
        IncidentState.approved,
        IncidentState.applied,
        IncidentState.verifying,
        IncidentState.resolved,
    ]
    trend = record.incident.alert.trend_analysis
    assert trend is not None
    assert trend.slope_per_hour > 0
    assert trend.predicted_breach_time is not None
    assert record.diagnosis is not None
    assert record.diagnosis.pattern_id == "memory_leak_gradual"
    assert record.decision is not None
    assert record.decision.approved
    assert {v.gate for v in record.decision.verdicts} >= {"dry_run", "confidence", "rate_limit"}
    (action,) = record.actions
    assert action.action == "supervisor.restart"
    assert action.before["pid"] == pid_before != action.after["pid"] == svc.pid()
    assert svc.spawns() == 2
    assert record.verification is not None
    assert record.verification.verdict is Verdict.improved
    assert record.outcome is not None
    assert record.outcome.status is OutcomeStatus.resolved
    assert len(record.signals) >= 5
    assert chain.ok, chain.reason
    (message,) = notifier.messages
    assert message.incident_id == incident.incident_id
    assert "How to undo\n  A restart cannot be undone" in message.body


async def test_dry_run_decides_but_never_touches_the_service(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["dry"], 10.0)
    pid_before = svc.pid()
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1, dry_run=True
    )
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)
    sweep = watcher_input(settings)
    assert sweep is not None
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            watcher = await start_watcher(client, sweep, task_queue=task_queue)
            (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=120)
            await client.get_workflow_handle(workflow_id_for(incident.incident_id)).result()
            await watcher.terminate("test over")
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident.incident_id)
    finally:
        runtime.close()
    assert record is not None
    assert record.incident.state is IncidentState.dry_run
    assert record.decision is not None
    assert record.decision.dry_run
    assert record.actions == ()
    assert svc.pid() == pid_before
    assert svc.spawns() == 1


def _worker(
    config: Path, temporal: str, log: Path, *, watch: bool = True
) -> subprocess.Popen[bytes]:
    vanguard = Path(sys.prefix) / "bin" / "vanguard"
    watching = ["--watch"] if watch else []
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(vanguard), "worker", "-c", str(config), "--temporal", temporal, *watching],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def _stop_workers(
    first: subprocess.Popen[bytes],
    second: subprocess.Popen[bytes] | None,
    runtime: Runtime,
    temporal_address: str,
    task_queue: str,
) -> None:
    """Stop the worker processes still running, close the runtime, end the watcher."""
    for proc in (first, second):
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    runtime.close()
    client = await connect(temporal_address)
    await client.get_workflow_handle(f"vanguard-watcher-{task_queue}").terminate("test over")


async def _last_worker(handle: WorkflowHandle[Any, Any]) -> str:
    """The identity (``pid@host``) of the worker that ran the workflow's last task: the
    one holding it in its cache, to which its next task goes first."""
    history = await handle.fetch_history()
    done = [
        e.workflow_task_completed_event_attributes.identity
        for e in history.events
        if e.HasField("workflow_task_completed_event_attributes")
    ]
    return done[-1]


async def test_worker_killed_during_verification_window_restarts_exactly_once(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The worker holding the incident is killed while it waits to verify; the other one
    verifies it and restarts nothing again.

    Both workers poll before the leak starts (a process of its own may take seconds to
    import on a busy machine): the leak runs on a clock, and must be forecast, not
    breached, and verified before the restarted program leaks back to where it was. The
    watcher starts after the program, as ``--watch`` would (a program not yet answering
    is reported down)."""
    (svc,) = leaky(["victim"], 10.0, started=False)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=6
    )
    config = tmp_path / "vanguard.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True)))
    runtime = build_runtime(settings, notifiers=[])
    client = await connect(temporal_address)
    sweep = watcher_input(settings)
    assert sweep is not None
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    first, second = (_worker(config, temporal_address, log, watch=False) for log in logs)

    def both_running() -> None:
        running(first, logs[0])()
        running(second, logs[1])()

    try:
        await polled(client, task_queue, workers=2, timeout_s=90, check=both_running)
        svc.start()
        await start_watcher(client, sweep, task_queue=task_queue)
        (applied,) = await wait_for_incidents(
            runtime.store,
            1,
            timeout_s=120,
            until=lambda i: i.state is IncidentState.applied,
        )
        incident = client.get_workflow_handle(workflow_id_for(applied.incident_id))
        holder = (await _last_worker(incident)).split("@")[0]
        killed = first if holder == str(first.pid) else second
        assert holder == str(killed.pid), f"{holder} is neither worker"
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        with runtime.store.session() as session:
            during = IncidentRepo(session).get_incident(applied.incident_id)
        assert during is not None
        assert during.state is IncidentState.applied, "the kill must land inside the window"
        (closed,) = await wait_for_incidents(runtime.store, 1, timeout_s=120)
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(closed.incident_id)
    finally:
        await _stop_workers(first, second, runtime, temporal_address, task_queue)

    assert closed.incident_id == applied.incident_id
    assert record is not None
    assert record.incident.state is IncidentState.resolved, record.incident.history
    assert len(record.actions) == 1
    assert svc.spawns() == 2, "the program must have been restarted exactly once"
    assert record.incident.alert.trend_analysis is not None
    assert record.incident.alert.trend_analysis.current < 600 * MB


async def test_a_worker_killed_in_the_middle_of_a_restart_is_replaced_within_seconds(
    supervisord: StartSupervisord, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """supervisord finishes the stop, not the start, when its caller dies; the action must
    resume on another worker in seconds (heartbeats), not after the 5-minute timeout."""
    port = free_port()
    leaky = f"{sys.executable} -m vanguard.demo.leaky --port {port} --leak-mb-per-s 0"
    slow_stop = f"sh -c '{leaky} & child=$!; trap \"sleep 6; kill $child\" TERM; wait $child'"
    rpc = supervisord([Program(name="slowstop", command=slow_stop, startsecs=1, stopwaitsecs=20)])
    assert wait_for_port("127.0.0.1", port, timeout_s=20)
    svc = Leaky(name="slowstop", metrics_url=f"http://127.0.0.1:{port}/metrics", rpc_url=rpc)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    config = tmp_path / "vanguard.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True)))
    runtime = build_runtime(settings, notifiers=[])
    client = await connect(temporal_address)
    first = _worker(config, temporal_address, tmp_path / "worker1.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        incident_id, handle = await start_remediation(
            client,
            leak_alert(svc.name, datetime.now(UTC), level_mb=15),
            task_queue=task_queue,
            window_s=1,
        )
        assert handle is not None
        for _ in range(600):
            state = rpc_call(rpc, "supervisor.getProcessInfo", "slowstop")["statename"]
            if state == "STOPPING":
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the restart never began")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        killed = time.monotonic()
        second = _worker(config, temporal_address, tmp_path / "worker2.log")
        outcome = await asyncio.wait_for(handle.result(), timeout=150)
        took = time.monotonic() - killed
    finally:
        await _stop_workers(first, second, runtime, temporal_address, task_queue)
    assert outcome.incident_id == incident_id
    assert rpc_call(rpc, "supervisor.getProcessInfo", "slowstop")["statename"] == "RUNNING"
    assert svc.spawns() == 2, "the restart finished once on the second worker"
    assert took < 120, f"the action waited {took:.0f} s for the dead worker's timeout"


async def test_a_forecast_that_comes_true_while_a_person_is_asked_is_told_to_them(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The watch forecasts the leak's breach and the policy asks a person; the breach
    comes before the answer. It opens no second incident: the person asked hears that the
    forecast came true, once, and the answer is still theirs. The watcher stops before the
    answer: once the incident is closed, a breach still there is a new incident by design."""
    (svc,) = leaky(["asked"], 10.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=2
    )
    policy = base.policy.model_copy(update={"require_approval_for": ("supervisor.restart",)})
    settings = base.model_copy(update={"policy": policy})
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier])
    client = await connect(temporal_address)
    sweep = watcher_input(settings, cooldown_s=5.0)
    assert sweep is not None
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            watcher = await start_watcher(client, sweep, task_queue=task_queue)
            (incident,) = await wait_for_incidents(
                runtime.store,
                1,
                timeout_s=120,
                until=lambda i: i.state is IncidentState.awaiting_approval,
            )
            deadline = time.monotonic() + 120
            while not [m for m in notifier.messages if "(worse: breach)" in m.title]:
                assert time.monotonic() < deadline, notifier.messages
                await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)
            await watcher.terminate("test over")
            handle = client.get_workflow_handle(workflow_id_for(incident.incident_id))
            await handle.signal("decline", "dana")
            await handle.result()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident.incident_id)
            opened = IncidentRepo(session).list_incidents()
    finally:
        runtime.close()
    assert record is not None
    assert record.incident.alert.attributes["kind"] == "forecast"
    assert record.incident.state is IncidentState.declined
    assert [i.incident_id for i in opened] == [incident.incident_id], "no second incident"
    worse = [m for m in notifier.messages if "(worse: " in m.title]
    assert len(worse) == 1, [m.title for m in worse]
    assert worse[0].body.split("\n")[1].endswith("threshold 600.0 MiB breached"), worse[0].body
    assert svc.spawns() == 1
