"""Saturation to verified recovery on a real PgBouncer pool, through Temporal.

Each round starts a PgBouncer (pool of 2) in front of a throwaway PostgreSQL, lets Vanguard
watch its queue (SHOW POOLS every 0.5 s), runs a base load the pool serves and then a surge
it cannot (pgbench, bounded ``-T``). It prints, from the surge's start (saturation onset):
the detection (the alert's sample), the action (the resize finished) and the verified
recovery (the verification stored), with the test windows (2 s baseline, 8 s observation).
Target: verified recovery under 60 s. Exit 1 when a round fails or misses the target.

    .venv/bin/python bench/bench_pgbouncer.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.pgbouncer_lab import (
    ALIAS,
    Pool,
    Saturation,
    pool_settings,
    sweep_input,
    wait_for_incidents,
)
from tests.servers.pgbouncer import PgBouncerServer
from tests.servers.postgres import PostgresServer

from vanguard.engine.client import connect, start_watcher
from vanguard.engine.devserver import DevServer
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.incident import IncidentState
from vanguard.netutil import free_port
from vanguard.store import IncidentRepo

TARGET_S = 60.0
WINDOW_S = 8.0


async def one_round(postgres: PostgresServer, temporal: str, work: Path) -> dict[str, float]:
    """One saturation; seconds from onset to detection, action and verified recovery."""
    database = postgres.create_database()
    bouncer = PgBouncerServer.start(postgres, {ALIAS: database}, free_port(), default_pool_size=2)
    task_queue = f"bench-{uuid.uuid4().hex}"
    try:
        pool = Pool.of(bouncer)
        settings = pool_settings(
            work / task_queue, pool, temporal=temporal, task_queue=task_queue, window_s=WINDOW_S
        )
        runtime = build_runtime(settings, notifiers=[])
        client = await connect(temporal)
        load = Saturation(bouncer)
        try:
            async with build_worker(client, runtime.activities, task_queue=task_queue):
                watcher = await start_watcher(client, sweep_input(WINDOW_S), task_queue=task_queue)
                await load.run()
                (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=120)
                await watcher.terminate("round over")
            with runtime.store.session() as session:
                record = IncidentRepo(session).get_record(incident.incident_id)
        finally:
            load.stop()
            runtime.close()
        if record is None or record.incident.state is not IncidentState.resolved:
            state = None if record is None else record.incident.state
            why = record.verification.reason if record and record.verification else ""
            raise RuntimeError(f"round ended {state}, not resolved: {why}")
        onset = datetime.fromtimestamp(load.onset or 0.0, UTC)
        verified = next(h.at for h in record.incident.history if h.state is IncidentState.verifying)
        (action,) = record.actions
        return {
            "detection_s": (record.incident.alert.detected_at - onset).total_seconds(),
            "action_s": (action.finished_at - onset).total_seconds(),
            "verified_s": (verified - onset).total_seconds(),
        }
    finally:
        bouncer.stop()
        postgres.drop_database(database)


async def run(rounds: int) -> list[dict[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="vanguard-bench-pgb-"))
    postgres = PostgresServer.start(free_port())
    dev = DevServer(
        port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        log_file=work / "temporal.log",
    )
    dev.start(timeout_s=60.0)
    results: list[dict[str, float]] = []
    try:
        for n in range(rounds):
            figures = await one_round(postgres, dev.address, work)
            results.append(figures)
            print(
                f"round {n + 1}: detection {figures['detection_s']:5.1f} s, "
                f"action {figures['action_s']:5.1f} s, "
                f"verified recovery {figures['verified_s']:5.1f} s after saturation onset",
                flush=True,
            )
    finally:
        dev.stop()
        postgres.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(run(args.rounds))
    for name in ("detection_s", "action_s", "verified_s"):
        values = [r[name] for r in results]
        print(f"{name:<12} median {statistics.median(values):5.1f} s, max {max(values):5.1f} s")
    worst = max(r["verified_s"] for r in results)
    ok = worst < TARGET_S
    print(f"target: verified recovery < {TARGET_S:.0f} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
