"""The watch's series states live in the store: the watcher's history stays small.

Every sweep used to carry every series' state through Temporal: one sweep's payload passed
its 2 MB limit near a thousand series, and the history filled in a few hundred sweeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import TypeAdapter
from temporalio.client import WorkflowExecutionStatus

from tests.servers.exporter import Exporter
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, WatchConfig
from vanguard.detect.watch import SeriesState, WatchRule
from vanguard.engine.client import connect, start_watcher
from vanguard.engine.messages import SweepInput, SweepResult, WatcherInput
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.worker import build_worker
from vanguard.store import WatchStateRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SERIES = 1500
START = datetime(2026, 12, 7, tzinfo=UTC)
STATES = TypeAdapter(dict[str, SeriesState])


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        services=(
            ServiceConfig(
                name="fleet",
                scrape=ScrapeConfig(url=url, interval_s=0.2, timeout_s=10),
                watch=(WatchConfig(metric="queue_depth", rule=WatchRule(threshold=1e9)),),
            ),
        ),
    )


def _stored(runtime: Runtime, watcher: str) -> tuple[int, bytes]:
    """The newest generation of ``watcher``'s states and its JSON."""
    with runtime.store.session() as session:
        repo = WatchStateRepo(session)
        newest = repo.generations(watcher)[-1]
        raw = repo.load(watcher, newest)
    assert raw is not None
    return newest, raw


async def test_a_watcher_of_many_series_keeps_their_states_out_of_its_history(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    with Exporter() as exporter:
        depth = exporter.gauge("queue_depth", "jobs waiting", labels=("queue",))
        for i in range(SERIES):
            depth.labels(queue=f"q{i}").set(i % 7)
        runtime = build_runtime(_settings(tmp_path, exporter.url), notifiers=[])
        client = await connect(temporal_address)
        inp = WatcherInput(
            interval_s=0.3, window_s=1, cooldown_s=0, max_sweeps=6, iterations_per_run=3
        )
        try:
            async with build_worker(client, runtime.activities, task_queue=task_queue):
                handle = await start_watcher(client, inp, task_queue=task_queue)
                first_run = handle.result_run_id
                assert await handle.result() == 3, "the second run did the last three"
                first = client.get_workflow_handle(handle.id, run_id=first_run)
                described = await first.describe()
                events = [e async for e in first.fetch_history_events()]
                events += [e async for e in handle.fetch_history_events()]
            generation, raw = _stored(runtime, handle.id)
        finally:
            runtime.close()
    assert described.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    states = STATES.validate_json(raw)
    assert len(states) == SERIES
    assert generation == 6, "each sweep wrote the next generation, across the new run"
    assert max(s.n for s in states.values()) > 3, "the new run went on from the old states"
    largest = max(e.ByteSize() for e in events)
    assert largest * 20 < len(raw), f"a history event of {largest} B held the states"


async def test_a_watcher_started_with_states_in_its_input_stores_them(
    temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """A watcher running before the states moved carries them; its next run stores them."""
    with Exporter() as exporter:
        exporter.gauge("queue_depth", "jobs waiting", labels=("queue",)).labels(queue="a").set(3)
        runtime = build_runtime(_settings(tmp_path, exporter.url), notifiers=[])
        carried = _sweep(runtime, SweepInput(states={}, scrape_state={})).states
        (key,) = carried
        client = await connect(temporal_address)
        inp = WatcherInput(interval_s=0.3, window_s=1, cooldown_s=0, max_sweeps=2, states=carried)
        try:
            async with build_worker(client, runtime.activities, task_queue=task_queue):
                handle = await start_watcher(client, inp, task_queue=task_queue)
                assert await handle.result() == 2
            generation, raw = _stored(runtime, handle.id)
        finally:
            runtime.close()
    assert generation == 2
    assert STATES.validate_json(raw)[key].n == carried[key].n + 2


def test_a_sweep_retried_after_it_stored_its_states_does_not_count_twice(tmp_path: Path) -> None:
    """A worker that died after writing generation k + 1, before answering, is retried
    from generation k: the sample is folded in once, not twice."""
    with Exporter() as exporter:
        exporter.gauge("queue_depth", "jobs waiting", labels=("queue",)).labels(queue="a").set(3)
        runtime = build_runtime(_settings(tmp_path, exporter.url), notifiers=[])
        try:
            inp = SweepInput(states={}, scrape_state={}, watcher="w", generation=0)
            first = _sweep(runtime, inp)
            again = _sweep(runtime, inp.model_copy(update={"scrape_state": {}}))
            assert (first.generation, again.generation) == (1, 1)
            assert first.states == again.states == {}, "the states stay in the store"
            _, raw = _stored(runtime, "w")
            (state,) = STATES.validate_json(raw).values()
            assert state.n == 1
            later = _sweep(
                runtime,
                SweepInput(states={}, scrape_state=again.scrape_state, watcher="w", generation=1),
                after_s=1,
            )
            assert later.generation == 2
            _, raw = _stored(runtime, "w")
            (state,) = STATES.validate_json(raw).values()
            assert state.n == 2
        finally:
            runtime.close()


def _sweep(runtime: Runtime, inp: SweepInput, *, after_s: float = 0.0) -> SweepResult:
    """One sweep at a fixed time (``after_s`` past a fixed start), outside Temporal."""
    now, clock = START + timedelta(seconds=after_s), runtime.activities.clock
    runtime.activities.clock = lambda: now
    try:
        return runtime.activities.sweep(inp)
    finally:
        runtime.activities.clock = clock
