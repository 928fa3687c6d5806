"""A real PgBouncer pool saturated by pgbench, healed (or rolled back) through Temporal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.e2e.pgbouncer_lab import (
    ALIAS,
    Pool,
    Saturation,
    pool_settings,
    sweep_input,
    swept,
    wait_for_incidents,
)
from tests.e2e.workers import running
from tests.servers.pgbouncer import StartPgBouncer
from vanguard.act.pgbouncer import pool_size
from vanguard.engine.client import connect, start_watcher
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import workflow_id_for
from vanguard.incident import IncidentState
from vanguard.model import OutcomeStatus, Verdict
from vanguard.notify import MemoryNotifier
from vanguard.store import AuditLog, IncidentRepo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

SHRINKING = Path(__file__).parents[1] / "fixtures" / "patterns" / "shrinking"


async def test_saturated_pool_is_raised_verified_and_committed(
    pgbouncer_server: StartPgBouncer, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    settings = pool_settings(
        tmp_path, pool, temporal=temporal_address, task_queue=task_queue, window_s=8
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier], verify_samples=6)
    client = await connect(temporal_address)
    load = Saturation(pool.bouncer)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            watcher = await start_watcher(client, sweep_input(8), task_queue=task_queue)
            await load.run()
            (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=90)
            await watcher.terminate("test over")
            await client.get_workflow_handle(workflow_id_for(incident.incident_id)).result()
        waiting_after = pool.waiting(seconds=1.5)
        load.stop()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident.incident_id)
            chain = AuditLog(session).verify_chain()
    finally:
        load.stop()
        runtime.close()

    assert record is not None
    assert record.diagnosis is not None
    assert record.diagnosis.pattern_id == "connection_pool_exhaustion", (
        record.diagnosis.reasons,
        record.incident.alert.summary,
    )
    assert record.incident.state is IncidentState.resolved, (
        record.verification.reason if record.verification else record.incident.history
    )
    (action,) = record.actions
    assert (action.before["pool_size"], action.after["pool_size"]) == (2, 4)
    assert pool.live_size() == 4
    assert pool_size(pool.bouncer.ini_path.read_text(), ALIAS) == 4
    verification = record.verification
    assert verification is not None
    assert verification.verdict is Verdict.improved, verification.reason
    assert verification.figures["observed_median"] < verification.figures["baseline_median"]
    assert len(verification.baseline) >= 5
    assert len(verification.observed) >= 5
    assert any(k.startswith("pgbouncer_pools_client_maxwait_seconds") for k in verification.figures)
    assert max(waiting_after) < verification.figures["baseline_median"]
    (head, _) = pool.repo.log(pool.bouncer.ini_path)[0]
    assert pool.repo.log(pool.bouncer.ini_path)[0] == (
        action.after["commit"],
        f"auto: raise app pool 2→4, incident {incident.incident_id}",
    )
    assert head == pool.repo.head()
    assert chain.ok, chain.reason
    (message,) = notifier.messages
    assert message.incident_id == incident.incident_id


async def test_a_remedy_that_hurts_is_rolled_back_in_pool_ini_and_git(
    pgbouncer_server: StartPgBouncer, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    original = pool.bouncer.ini_path.read_text()
    settings = pool_settings(
        tmp_path,
        pool,
        temporal=temporal_address,
        task_queue=task_queue,
        window_s=3,
        patterns_dirs=(SHRINKING,),
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier], verify_samples=6)
    client = await connect(temporal_address)
    load = Saturation(pool.bouncer)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            watcher = await start_watcher(client, sweep_input(3), task_queue=task_queue)
            await load.run()
            (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=90)
            await watcher.terminate("test over")
            await client.get_workflow_handle(workflow_id_for(incident.incident_id)).result()
        load.stop()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident.incident_id)
    finally:
        load.stop()
        runtime.close()

    assert record is not None
    assert record.diagnosis is not None
    assert record.diagnosis.pattern_id == "connection_pool_shrinking"
    assert record.incident.state is IncidentState.rolled_back, record.incident.history
    assert record.verification is not None
    assert record.verification.verdict is Verdict.degraded, record.verification.reason
    assert record.outcome is not None
    assert record.outcome.status is OutcomeStatus.rolled_back
    apply, rollback = sorted(record.actions, key=lambda a: a.idempotency_key)
    assert (apply.before["pool_size"], apply.after["pool_size"]) == (2, 1)
    assert rollback.after["pool_size"] == 2
    assert pool.live_size() == 2
    assert pool.bouncer.ini_path.read_text() == original
    subjects = [s for _, s in pool.repo.log(pool.bouncer.ini_path)]
    lowered = f"auto: lower app pool 2→1, incident {incident.incident_id}"
    assert subjects == [f'Revert "{lowered}"', lowered, "initial pgbouncer configuration"]
    (message,) = notifier.messages
    assert message.title.startswith(f"[rolled back] {incident.alert.service_name} ")


def _worker(config: Path, temporal: str, log: Path) -> subprocess.Popen[bytes]:
    vanguard = Path(sys.prefix) / "bin" / "vanguard"
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(vanguard), "worker", "-c", str(config), "--temporal", temporal],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def test_worker_killed_between_apply_and_verify_resizes_exactly_once(
    pgbouncer_server: StartPgBouncer, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    settings = pool_settings(
        tmp_path, pool, temporal=temporal_address, task_queue=task_queue, window_s=8
    )
    config = tmp_path / "vanguard.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True)))
    runtime = build_runtime(settings, notifiers=[])
    client = await connect(temporal_address)
    first = _worker(config, temporal_address, tmp_path / "worker1.log")
    second: subprocess.Popen[bytes] | None = None
    watcher = await start_watcher(client, sweep_input(8), task_queue=task_queue)
    load = Saturation(pool.bouncer)
    try:
        warmup = settings.services[0].watch[0].rule.warmup
        await swept(watcher, warmup, timeout_s=60, check=running(first, tmp_path / "worker1.log"))
        await load.run()
        (applied,) = await wait_for_incidents(
            runtime.store,
            1,
            timeout_s=90,
            until=lambda i: i.state is IncidentState.applied,
            check=running(first, tmp_path / "worker1.log"),
        )
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        with runtime.store.session() as session:
            during = IncidentRepo(session).get_incident(applied.incident_id)
        assert during is not None
        assert during.state is IncidentState.applied, "the kill must land before verify"
        second = _worker(config, temporal_address, tmp_path / "worker2.log")
        (closed,) = await wait_for_incidents(
            runtime.store, 1, timeout_s=90, check=running(second, tmp_path / "worker2.log")
        )
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(closed.incident_id)
    finally:
        load.stop()
        await watcher.terminate("test over")
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        runtime.close()

    assert record is not None
    assert record.incident.state is IncidentState.resolved, (
        record.verification.reason if record.verification else record.incident.history
    )
    (action,) = record.actions
    assert (action.before["pool_size"], action.after["pool_size"]) == (2, 4)
    assert pool.live_size() == 4
    raises = [s for _, s in pool.repo.log(pool.bouncer.ini_path) if s.startswith("auto: raise")]
    assert raises == [f"auto: raise app pool 2→4, incident {closed.incident_id}"]
