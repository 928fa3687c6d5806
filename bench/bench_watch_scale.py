"""The live watch at scale: one target of many noisy series, swept as the watcher sweeps.

A local ``/metrics`` endpoint serves ``--series`` gauges whose values are redrawn before
every sweep (noise compresses worse than the near-constant values of the tests); each
sweep is the real ``sweep`` activity over a SQLite store, outside Temporal, with the
clock advanced 15 s a sweep. It prints, per sweep and as medians: the sweep's time, the
states' JSON and the compressed row written to the store, and the size of the result the
workflow would carry. Target: the result stays small whatever the series (it is what
passes through Temporal, whose payload limit is 2 MB). Exit 1 when it does not, or a
sweep takes over a minute.

    .venv/bin/python bench/bench_watch_scale.py [--series 10000] [--sweeps 25]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers.exporter import Exporter

from regression import verdict
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, WatchConfig
from vanguard.detect.watch import WatchRule
from vanguard.engine.messages import SweepInput
from vanguard.engine.runtime import build_runtime
from vanguard.store.tables import WatchStateRow

MAX_RESULT_BYTES = 64 * 1024
MAX_SWEEP_S = 60.0
STEP = timedelta(seconds=15)


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--sweeps", type=int, default=25)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    times: list[float] = []
    results: list[int] = []
    with Exporter() as exporter, tempfile.TemporaryDirectory() as tmp:
        depth = exporter.gauge("queue_depth", "jobs waiting", labels=("queue",))
        settings = Settings(
            data_dir=Path(tmp),
            services=(
                ServiceConfig(
                    name="fleet",
                    scrape=ScrapeConfig(url=exporter.url, interval_s=15, timeout_s=30),
                    watch=(WatchConfig(metric="queue_depth", rule=WatchRule(threshold=1e9)),),
                ),
            ),
        )
        runtime = build_runtime(settings, notifiers=[])
        now = datetime(2026, 12, 7, tzinfo=UTC)
        inp = SweepInput(states={}, scrape_state={}, watcher="bench", generation=0)
        try:
            for k in range(args.sweeps):
                for i in range(args.series):
                    depth.labels(queue=f"q{i}").set(rng.gauss(50.0, 5.0))
                runtime.activities.clock = _fixed(now)
                started = time.perf_counter()
                result = runtime.activities.sweep(inp)
                times.append(time.perf_counter() - started)
                results.append(len(result.model_dump_json()))
                assert result.generation is not None
                with runtime.store.session() as session:
                    row = session.get(WatchStateRow, ("bench", result.generation, result.token))
                    assert row is not None
                    packed, raw = len(row.states), len(zlib.decompress(row.states))
                print(
                    f"sweep {k + 1:3d}: {times[-1]:5.2f} s, {result.series:,} series, states "
                    f"{raw / 1e6:.1f} MB JSON, row {packed / 1e6:.1f} MB compressed, "
                    f"result {results[-1]:,} B"
                )
                inp = SweepInput(
                    states={},
                    scrape_state=result.scrape_state,
                    watcher="bench",
                    generation=result.generation,
                    token=result.token,
                )
                now += STEP
        finally:
            runtime.close()
    print(
        f"median sweep {statistics.median(times):.2f} s (max {max(times):.2f} s), "
        f"largest result {max(results):,} B, {args.series:,} series, one core"
    )
    failures = []
    if max(results) > MAX_RESULT_BYTES:
        failures.append(f"a sweep's result of {max(results):,} B carries the states")
    if max(times) > MAX_SWEEP_S:
        failures.append(f"a sweep took {max(times):.1f} s")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
