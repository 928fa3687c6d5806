"""Detector throughput and state size: batch over many series, streaming, and the watch step.

Prints the figures, then a loose regression check (exit 1 when a figure is far off target):
batch mode must keep well above 100k points/s on one core and state within 4 KB per series.

    .venv/bin/python bench/bench_detect.py [--series 2000] [--steps 500]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from regression import verdict
from vanguard.detect.default import BatchState, DefaultDetector, DefaultState, score_batch
from vanguard.detect.watch import SeriesState, WatchRule, step
from vanguard.model import Signal

BATCH_FLOOR = 50_000.0
STATE_CEILING = 4096


def synthetic(series: int, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy daily cycles of varied scale, 5-minute samples, with a few spikes and gaps."""
    rng = np.random.default_rng(seed)
    t = 1.7e9 + 300.0 * np.arange(steps)
    scale = rng.uniform(1, 1000, (series, 1))
    phase = rng.uniform(0, 2 * np.pi, (series, 1))
    x = scale * (5 + np.sin(2 * np.pi * t / 86400 + phase) + rng.normal(0, 0.2, (series, steps)))
    spikes = rng.random((series, steps)) < 0.001
    x[spikes] *= 3
    x[rng.random((series, steps)) < 0.001] = np.nan
    return x, np.broadcast_to(t, x.shape).copy()


def bench_batch(series: int, steps: int) -> float:
    x, t = synthetic(series, steps)
    started = time.perf_counter()
    score_batch(x, times=t)
    return x.size / (time.perf_counter() - started)


def bench_stream(points: int) -> float:
    x, t = synthetic(1, points, seed=1)
    det = DefaultDetector()
    started = time.perf_counter()
    for xi, ti in zip(x[0].tolist(), t[0].tolist(), strict=True):
        det.score_one(xi, ti)
        det.learn_one(xi, ti)
    return points / (time.perf_counter() - started)


def bench_watch(points: int) -> float:
    rng = np.random.default_rng(2)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rule = WatchRule(threshold=1e12)
    signals = [
        Signal(
            source="bench",
            service_name="svc",
            metric_type="m",
            labels={"instance": "host-1:9100"},
            timestamp=t0 + timedelta(seconds=15 * i),
            value=float(rng.random() * 1e9 + 1 / 3),
        )
        for i in range(points)
    ]
    state: SeriesState | None = None
    started = time.perf_counter()
    for s in signals:
        state, _ = step(state, s, rule)
    return points / (time.perf_counter() - started)


def largest_state(points: int) -> tuple[int, int]:
    """The largest ``SeriesState`` and ``DefaultState`` as JSON over a series chosen to make
    them large: a counter whose increments look random in a small unit (every rate and
    statistic takes 17 digits and an exponent), scraped each minute with sub-second
    jitter, until its context bitset is about half full, where zlib cannot shrink it."""
    rng = np.random.default_rng(0)
    increments = (rng.random(points) * 1000 + rng.random(points)) * 1e-9
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rule = WatchRule(threshold=1e12, counter=True)
    state: SeriesState | None = None
    watch_json = detector_json = 0
    for i, total in enumerate(np.cumsum(increments).tolist()):
        at = t0 + timedelta(seconds=60 * i, microseconds=123_457 * (i % 7))
        sample = Signal(
            source="bench", service_name="svc", metric_type="m", timestamp=at, value=total
        )
        state, _ = step(state, sample, rule)
        if i % 25 == 0:
            watch_json = max(watch_json, len(state.model_dump_json()))
            detector_json = max(detector_json, len(state.detector.model_dump_json()))
    return watch_json, detector_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()

    batch = bench_batch(args.series, args.steps)
    small = bench_batch(43, 2000)
    stream = bench_stream(3000)
    watch = bench_watch(3000)
    watch_json, detector_json = largest_state(5000)
    batch_bytes = BatchState.zeros(args.series).nbytes_per_series()
    empty_json = len(DefaultState().model_dump_json())

    print(f"batch, {args.series} series x {args.steps} steps: {batch:>12,.0f} points/s")
    print(f"batch, 43 series x 2000 steps:       {small:>12,.0f} points/s")
    print(f"streaming DefaultDetector:           {stream:>12,.0f} points/s")
    print(f"watch.step (Signal in, Alert out):   {watch:>12,.0f} points/s")
    print(f"batch state per series:              {batch_bytes:>12,} bytes")
    print(f"detector state as JSON (empty/largest): {empty_json:,} / {detector_json:,} bytes")
    print(f"watch SeriesState as JSON, largest:  {watch_json:>12,} bytes")

    failures = []
    if batch < BATCH_FLOOR:
        failures.append(f"batch throughput {batch:,.0f} < {BATCH_FLOOR:,.0f} points/s")
    for name, size in (("batch state", batch_bytes), ("watch state", watch_json)):
        if size > STATE_CEILING:
            failures.append(f"{name} {size} > {STATE_CEILING} bytes")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
