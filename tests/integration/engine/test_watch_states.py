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


def _stored(runtime: Runtime, watcher: str, token: str | None = None) -> tuple[int, bytes]:
    """The newest generation of ``watcher``'s states (as ``token`` wrote it) and its JSON."""
    with runtime.store.session() as session:
        repo = WatchStateRepo(session)
        newest, written_by = repo.generations(watcher)[-1]
        raw = repo.load(watcher, newest, token or written_by)
    assert raw is not None
    return newest, raw


def _watcher_key(handle_id: str) -> str:
    return f"default/{handle_id}"


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
            generation, raw = _stored(runtime, _watcher_key(handle.id))
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
            generation, raw = _stored(runtime, _watcher_key(handle.id))
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
            _, raw = _stored(runtime, "w", again.token)
            (state,) = STATES.validate_json(raw).values()
            assert state.n == 1
            later = _sweep(
                runtime,
                SweepInput(
                    states={},
                    scrape_state=again.scrape_state,
                    watcher="w",
                    generation=1,
                    token=again.token,
                ),
                after_s=1,
            )
            assert later.generation == 2
            _, raw = _stored(runtime, "w", later.token)
            (state,) = STATES.validate_json(raw).values()
            assert state.n == 2
        finally:
            runtime.close()


def test_an_attempt_the_watcher_stopped_waiting_for_does_not_change_what_it_reads(
    tmp_path: Path,
) -> None:
    """A sweep that timed out runs on (it cannot be interrupted) and writes after its retry
    answered. It saw a breach and recorded its alert in the states, but its alert never
    reached the watcher; had its row replaced the retry's, the breach after it would sit
    out the alert's cooldown in silence."""
    with Exporter() as exporter:
        depth = exporter.gauge("queue_depth", "jobs waiting", labels=("queue",)).labels(queue="a")
        depth.set(3)
        settings = _settings(tmp_path, exporter.url).model_copy(
            update={
                "services": (
                    ServiceConfig(
                        name="fleet",
                        scrape=ScrapeConfig(url=exporter.url, interval_s=0.2),
                        watch=(
                            WatchConfig(
                                metric="queue_depth", rule=WatchRule(threshold=100, warmup=3)
                            ),
                        ),
                    ),
                )
            }
        )
        runtime = build_runtime(settings, notifiers=[])
        try:
            inp = SweepInput(states={}, scrape_state={}, watcher="w", generation=0)
            for k in range(3):
                done = _sweep(runtime, inp, after_s=k)
                inp = SweepInput(
                    states={},
                    scrape_state=done.scrape_state,
                    watcher="w",
                    generation=done.generation,
                    token=done.token,
                )
            heard = _sweep(runtime, inp, after_s=3)
            assert heard.alerts == ()
            depth.set(500)
            late = _sweep(runtime, inp, after_s=3.5)
            assert [a.fingerprint for a in late.alerts] == ["fleet/queue_depth{queue=a}"]
            following = _sweep(
                runtime,
                inp.model_copy(
                    update={
                        "scrape_state": heard.scrape_state,
                        "generation": heard.generation,
                        "token": heard.token,
                    }
                ),
                after_s=4,
            )
        finally:
            runtime.close()
    assert [a.fingerprint for a in following.alerts] == ["fleet/queue_depth{queue=a}"], (
        "the breach is raised: the late attempt's cooldown is not in the states read"
    )


def _sweep(runtime: Runtime, inp: SweepInput, *, after_s: float = 0.0) -> SweepResult:
    """One sweep at a fixed time (``after_s`` past a fixed start), outside Temporal."""
    now, clock = START + timedelta(seconds=after_s), runtime.activities.clock
    runtime.activities.clock = lambda: now
    try:
        return runtime.activities.sweep(inp)
    finally:
        runtime.activities.clock = clock
