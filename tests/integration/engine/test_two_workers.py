"""Two workers, one Temporal server, one PostgreSQL: every incident is handled once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from tests.leaks import StartLeaky, leak_alert, leak_settings, wait_for_incidents
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import workflow_id_for
from vanguard.incident import IncidentState
from vanguard.notify import MemoryNotifier
from vanguard.store import AuditLog, IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SERVICES = [f"svc{n}" for n in range(6)]


async def test_two_workers_share_the_load_and_each_incident_acts_once(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    services = leaky(SERVICES, 0.0)
    settings = leak_settings(
        tmp_path,
        services,
        temporal=temporal_address,
        task_queue=task_queue,
        window_s=1,
        store_url=postgres_url,
    )
    runtimes = [build_runtime(settings, notifiers=[MemoryNotifier()]) for _ in range(2)]
    client = await connect(temporal_address)
    workers = [
        build_worker(
            await connect(temporal_address),
            rt.activities,
            task_queue=task_queue,
            identity=f"worker-{n}",
        )
        for n, rt in enumerate(runtimes)
    ]
    now = datetime.now(UTC)
    alerts = [leak_alert(s.name, now) for s in services]
    try:
        async with workers[0], workers[1]:
            first = await asyncio.gather(
                *(start_remediation(client, a, task_queue=task_queue, window_s=1) for a in alerts)
            )
            again = await asyncio.gather(
                *(start_remediation(client, a, task_queue=task_queue, window_s=1) for a in alerts)
            )
            closed = await wait_for_incidents(runtimes[0].store, len(alerts), timeout_s=150)
        identities: set[str] = set()
        for incident_id, _ in first:
            handle = client.get_workflow_handle(workflow_id_for(incident_id))
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                    identities.add(event.activity_task_started_event_attributes.identity)
        with runtimes[1].store.session() as session:
            repo = IncidentRepo(session)
            records = [repo.get_record(i.incident_id) for i in closed]
            audit = AuditLog(session)
            entries = audit.entries()
            chain = audit.verify_chain()
    finally:
        for rt in runtimes:
            rt.close()

    assert all(handle is not None for _, handle in first)
    assert all(handle is None for _, handle in again), "a duplicate start must be refused"
    assert [iid for iid, _ in again] == [iid for iid, _ in first]
    assert identities == {"worker-0", "worker-1"}, "both workers should have taken work"
    assert len(records) == len(SERVICES)
    for record in records:
        assert record is not None
        assert record.incident.state is IncidentState.resolved, record.incident.history
        assert len(record.actions) == 1
        applied = [e for e in entries if e.incident_id == record.incident.incident_id]
        assert [e.kind for e in applied].count("state.applied") == 1
    for svc in services:
        assert svc.spawns() == 2, f"{svc.name} must be restarted exactly once"
    assert chain.ok, chain.reason
