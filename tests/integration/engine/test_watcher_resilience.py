"""The watcher outlives failed sweeps: a store or target outage must not end detection."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from tests.leaks import StartLeaky, leak_alert, leak_settings, remediate
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, WatchConfig
from vanguard.engine.client import connect, start_watcher
from vanguard.engine.messages import (
    OpenInput,
    SweepInput,
    SweepResult,
    VerifyInput,
    WatcherInput,
)
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.errors import StoreError
from vanguard.learn import outcome_kind
from vanguard.model import OutcomeStatus, Verification
from vanguard.store import IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_sweep_that_fails_every_attempt_does_not_end_the_watcher(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    runtime = build_runtime(Settings(data_dir=tmp_path), notifiers=[])
    real = runtime.activities.sweep
    calls: list[int] = []

    @activity.defn(name="sweep")
    def flaky_sweep(inp: SweepInput) -> SweepResult:
        """The first sweep fails on all its attempts, as it did while PostgreSQL restarted."""
        calls.append(activity.info().attempt)
        if len(calls) <= 3:
            raise StoreError("store postgresql://db/vanguard: connection refused")
        return real(inp)

    runtime.activities.sweep = flaky_sweep  # type: ignore[method-assign]
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            handle = await start_watcher(
                client,
                WatcherInput(interval_s=0.2, window_s=1, cooldown_s=0, max_sweeps=3),
                task_queue=task_queue,
            )
            done = await handle.result()
    finally:
        runtime.close()
    assert done == 3, "the failed sweep counted, and the two after it ran"
    assert calls[:3] == [1, 2, 3]
    assert len(calls) == 5


async def test_an_incident_outlives_a_store_outage_longer_than_six_attempts(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Six failed attempts (about 31 s) used to fail the workflow and lose the incident;
    the seventh comes about a minute after the first."""
    (svc,) = leaky(["steady"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1, dry_run=True
    )
    runtime = build_runtime(settings, notifiers=[])
    real = runtime.activities.open_incident
    calls: list[int] = []

    @activity.defn(name="open_incident")
    def store_down(inp: OpenInput) -> None:
        calls.append(activity.info().attempt)
        if len(calls) <= 6:
            raise StoreError("store postgresql://db/vanguard: connection refused")
        real(inp)

    runtime.activities.open_incident = store_down  # type: ignore[method-assign]
    alert = leak_alert(svc.name, datetime.now(UTC), level_mb=15)
    try:
        outcome, record = await remediate(runtime, temporal_address, task_queue, alert)
    finally:
        runtime.close()
    assert calls[:7] == list(range(1, 8))
    assert record is not None, "the incident was stored once the store came back"
    assert outcome.incident_id == record.incident.incident_id
    assert record.outcome is not None, "and it went on to its end"


async def test_a_watcher_continues_as_new_when_its_history_outgrows_its_budget(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Many series fill the history long before 200 sweeps; Temporal ends it at 50 MB."""
    runtime = build_runtime(Settings(data_dir=tmp_path), notifiers=[])
    client = await connect(temporal_address)
    inp = WatcherInput(
        interval_s=0.1,
        window_s=1,
        cooldown_s=0,
        max_sweeps=30,
        iterations_per_run=10_000,
        history_budget_bytes=10_000,
    )
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            handle = await start_watcher(client, inp, task_queue=task_queue)
            first_run = handle.result_run_id
            done = await handle.result()
            first = await client.get_workflow_handle(handle.id, run_id=first_run).describe()
    finally:
        runtime.close()
    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert done < 30, "the last run did only the sweeps that were left"


async def test_a_watcher_cancelled_during_a_sweep_ends(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Catching a failed sweep must not swallow an operator's cancel."""
    runtime = build_runtime(Settings(data_dir=tmp_path), notifiers=[])
    real = runtime.activities.sweep
    sweeping = threading.Event()

    @activity.defn(name="sweep")
    def slow_sweep(inp: SweepInput) -> SweepResult:
        sweeping.set()
        time.sleep(3)
        return real(inp)

    runtime.activities.sweep = slow_sweep  # type: ignore[method-assign]
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            inp = WatcherInput(interval_s=0.2, window_s=1, cooldown_s=0)
            handle = await start_watcher(client, inp, task_queue=task_queue)
            assert await asyncio.to_thread(sweeping.wait, 30)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError) as info:
                await asyncio.wait_for(handle.result(), timeout=30)
    finally:
        runtime.close()
    assert isinstance(info.value.cause, CancelledError)


async def test_a_store_failing_during_verification_teaches_the_pattern_nothing(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """A restart that may well have worked must not count against its pattern because the
    store was down while it was being verified. The outcome names the remedy it tried and
    the pattern's version, which calibration and the breaker count by."""
    (svc,) = leaky(["verified"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    runtime = build_runtime(settings, notifiers=[])

    @activity.defn(name="verify")
    def store_down(inp: VerifyInput) -> Verification:
        raise StoreError("store postgresql://db/vanguard: connection refused")

    runtime.activities.verify = store_down  # type: ignore[method-assign]
    alert = leak_alert(svc.name, datetime.now(UTC), level_mb=15)
    try:
        outcome, _ = await remediate(runtime, temporal_address, task_queue, alert)
        with runtime.store.session() as session:
            learned = IncidentRepo(session).outcomes_for_pattern("memory_leak_gradual")
    finally:
        runtime.close()
    assert outcome.status is OutcomeStatus.escalated
    assert "StoreError" in outcome.reason
    assert not outcome.teaches
    assert [o.teaches for o in learned] == [False]
    assert outcome_kind(learned[0]) == "ignored"
    assert (learned[0].action, learned[0].pattern_version) == ("supervisor.restart", 1)


class _Late(http.server.BaseHTTPRequestHandler):
    """An exposition endpoint that answers after ``delay_s``."""

    delay_s = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay_s)
        body = b"queue_depth 3\n"
        with contextlib.suppress(ConnectionError):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


async def test_a_sweep_heartbeats_so_a_worker_lost_mid_sweep_is_noticed_in_seconds(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """A sweep without a heartbeat timeout was found lost with its worker only at its
    start-to-close timeout (5 × the interval: 5 min at 60 s), and no other sweep ran
    meanwhile. It heartbeats as its services are read."""

    class Slow(_Late):
        delay_s = 3.0

    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), h) for h in (_Late, Slow)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    services = tuple(
        ServiceConfig(
            name=name,
            scrape=ScrapeConfig(
                url=f"http://127.0.0.1:{server.server_address[1]}/metrics", timeout_s=5
            ),
            watch=(WatchConfig(metric="queue_depth"),),
        )
        for name, server in zip(("fast", "slow"), servers, strict=True)
    )
    runtime = build_runtime(Settings(data_dir=tmp_path, services=services), notifiers=[])
    client = await connect(temporal_address)
    beat: bytes | None = None
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            inp = WatcherInput(interval_s=1, window_s=1, cooldown_s=0, max_sweeps=1)
            handle = await start_watcher(client, inp, task_queue=task_queue)
            deadline = time.monotonic() + 20
            while beat is None and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                described = await handle.describe()
                for pending in described.raw_description.pending_activities:
                    if pending.heartbeat_details.payloads:
                        beat = pending.heartbeat_details.payloads[0].data
            assert await handle.result() == 1
            scheduled = [
                event.activity_task_scheduled_event_attributes
                async for event in handle.fetch_history_events()
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ]
    finally:
        runtime.close()
        for server in servers:
            server.shutdown()
            server.server_close()
    assert beat == b'"1 of 2 read"', "heard from while the slow service was being read"
    (sweep,) = scheduled
    assert sweep.heartbeat_timeout.ToTimedelta() == timedelta(seconds=20)
