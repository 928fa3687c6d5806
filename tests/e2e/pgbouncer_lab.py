"""PgBouncer scenario helpers: a pool whose ini lives in a git repository, and pgbench load.

The load is bounded (pgbench ``-T``) and stopped on exit. ``pg_sleep`` transactions need no
pgbench tables, so there is no ``pgbench -i`` step. With ``rate`` (``-R``) arrivals are
open-loop: when the rate exceeds what the pool serves, the queue of waiting clients grows
steadily (a trend, not a step) until every client waits.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import pytest
import yaml
from temporalio.client import WorkflowHandle

from tests.servers.pgbouncer import PgBouncerServer
from tests.servers.process import require_binary, stop_popen
from vanguard.act.gitconfig import GitRepo
from vanguard.config import (
    PgBouncerConfig,
    ServiceConfig,
    Settings,
    TemporalConfig,
    VerificationConfig,
    VerifyMetric,
    WatchConfig,
)
from vanguard.decide import PolicyConfig
from vanguard.detect.watch import WatchRule
from vanguard.diagnose.patterns import builtin_patterns_dir
from vanguard.engine.messages import WatcherInput
from vanguard.incident import Incident
from vanguard.netutil import free_port, wait_for_port
from vanguard.store import IncidentRepo, Store

ALIAS = "app"


@dataclass
class Pool:
    """A PgBouncer under test whose ini is committed in a git repository (its own root)."""

    bouncer: PgBouncerServer
    repo: GitRepo

    @classmethod
    def of(cls, bouncer: PgBouncerServer) -> Pool:
        repo = GitRepo(bouncer.root)
        repo.init()
        repo.commit([bouncer.ini_path], "initial pgbouncer configuration")
        return cls(bouncer=bouncer, repo=repo)

    @property
    def admin_dsn(self) -> str:
        return self.bouncer.admin_dsn

    def console(self, command: str) -> list[dict[str, Any]]:
        with psycopg.connect(self.admin_dsn, autocommit=True, prepare_threshold=None) as conn:
            cur = conn.execute(command)
            if cur.description is None:
                return []
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def pool(self, database: str = ALIAS) -> dict[str, Any]:
        for row in self.console("SHOW POOLS"):
            if row["database"] == database:
                return row
        return {"cl_waiting": 0, "sv_active": 0, "cl_active": 0}

    def live_size(self, database: str = ALIAS) -> int:
        for row in self.console("SHOW DATABASES"):
            if row["name"] == database:
                return int(row["pool_size"])
        raise LookupError(database)

    def queued(self, at_least: int, *, timeout_s: float = 15.0, database: str = ALIAS) -> None:
        """Wait until ``at_least`` clients wait for a server connection: a fixed sleep is
        too short on a starved machine, where pgbench connects its clients slowly."""
        deadline = time.monotonic() + timeout_s
        while int(self.pool(database)["cl_waiting"]) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {at_least} clients waiting within {timeout_s:g} s")
            time.sleep(0.1)

    def waiting(self, *, seconds: float, database: str = ALIAS) -> list[int]:
        """``cl_waiting`` sampled every 0.25 s for ``seconds``."""
        seen: list[int] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            seen.append(int(self.pool(database)["cl_waiting"]))
            time.sleep(0.25)
        return seen


class Load:
    """``pgbench`` running ``pg_sleep`` transactions through PgBouncer for at most ``seconds``."""

    def __init__(
        self,
        bouncer: PgBouncerServer,
        *,
        clients: int,
        seconds: int,
        sleep_s: float = 0.05,
        rate: float | None = None,
        database: str = ALIAS,
    ) -> None:
        self.argv = [
            str(require_binary("pgbench", Path("/usr/bin/pgbench"))),
            "-h",
            "127.0.0.1",
            "-p",
            str(bouncer.port),
            "-U",
            "postgres",
            "-n",
            "-c",
            str(clients),
            "-j",
            "2",
            "-T",
            str(seconds),
        ]
        if rate is not None:
            self.argv += ["-R", f"{rate:g}"]
        self.sleep_s = sleep_s
        self.database = database
        self.dir = Path(tempfile.mkdtemp(prefix="vanguard-pgbench-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        script = self.dir / "sleep.sql"
        script.write_text(f"SELECT pg_sleep({self.sleep_s:g});\n")
        with (self.dir / "pgbench.log").open("wb") as out:
            self.proc = subprocess.Popen(
                [*self.argv, "-f", str(script), self.database],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc is not None:
            stop_popen(self.proc, sig=signal.SIGINT, timeout_s=5.0)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


WAITING = "pgbouncer_pools_client_waiting_connections"
MAXWAIT = "pgbouncer_pools_client_maxwait_seconds"
SERVICE = "app-db"
SLEEP_S = 0.1
BASE_RATE = 8.0
SURGE_RATE = 16.0
CLIENTS = 30
EXHAUSTION = "connection_pool_exhaustion"
RAISE_FACTOR = 2.0


def raising_patterns(root: Path) -> Path:
    """A folder holding the built-in ``connection_pool_exhaustion`` pattern, its signature
    untouched, whose remedy multiplies the pool by ``RAISE_FACTOR`` instead of 1.2.

    The built-in raise (2 → 3, 30/s) beats the 24/s the surge brings only while a
    transaction costs less than 25 ms beyond its 100 ms sleep, which a starved runner's
    context switches through pgbench, PgBouncer and PostgreSQL can exceed; 2 → 4 (40/s)
    leaves 67 % headroom.
    """
    pattern = yaml.safe_load((builtin_patterns_dir() / f"{EXHAUSTION}.yaml").read_text())
    pattern["remedy"]["params"]["factor"] = RAISE_FACTOR
    folder = root / "patterns"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{EXHAUSTION}.yaml").write_text(yaml.safe_dump(pattern))
    return folder


def pool_settings(
    data_dir: Path,
    pool: Pool,
    *,
    temporal: str,
    task_queue: str,
    window_s: float,
    patterns_dirs: tuple[Path, ...] = (),
    store_url: str | None = None,
) -> Settings:
    """Vanguard watching the pool's queue through its console, free to resize it up to 20;
    the exhaustion pattern doubles the pool (``raising_patterns``)."""
    return Settings(
        data_dir=data_dir,
        store_url=store_url,
        temporal=TemporalConfig(address=temporal, task_queue=task_queue),
        patterns_dirs=(raising_patterns(data_dir), *patterns_dirs),
        services=(
            ServiceConfig(
                name=SERVICE,
                type="pgbouncer",
                pgbouncer=PgBouncerConfig(
                    admin_dsn=pool.admin_dsn,
                    ini_path=pool.bouncer.ini_path,
                    git_repo=pool.repo.root,
                    database=ALIAS,
                    max_pool_size=20,
                    interval_s=0.5,
                ),
                watch=(
                    WatchConfig(
                        metric=WAITING,
                        labels={"database": ALIAS},
                        rule=WatchRule(threshold=10, horizon_s=60, min_confidence=0.9, warmup=6),
                    ),
                ),
                verify=(
                    VerifyMetric(metric=WAITING, labels={"database": ALIAS}),
                    VerifyMetric(metric=MAXWAIT, labels={"database": ALIAS}),
                ),
            ),
        ),
        policy=PolicyConfig(min_confidence=0.6),
        verification=VerificationConfig(
            window_s=window_s, baseline_s=2.0, sample_interval_s=0.25, min_relative_change=0.2
        ),
    )


def sweep_input(window_s: float) -> WatcherInput:
    return WatcherInput(interval_s=0.5, window_s=window_s, cooldown_s=60)


class Saturation:
    """A steady base load the pool serves, then a surge it cannot: the queue grows.

    The pool of 2 serves 2 / ``SLEEP_S`` = 20 transactions/s; the base load asks for 8/s
    (a queue now and then, never a long one), the surge adds 16/s more. Twice the server
    connections (40/s) drain the queue; one fewer (10/s) makes it grow faster. ``run`` starts
    the base load, lets the watcher learn it for ``base_s`` and then starts the surge.
    """

    def __init__(self, bouncer: PgBouncerServer, *, seconds: int = 60) -> None:
        self.base = Load(
            bouncer, clients=CLIENTS // 2, seconds=seconds, sleep_s=SLEEP_S, rate=BASE_RATE
        )
        self.surge = Load(
            bouncer, clients=CLIENTS // 2, seconds=seconds, sleep_s=SLEEP_S, rate=SURGE_RATE
        )
        self.onset: float | None = None

    async def run(self, *, base_s: float = 5.0) -> None:
        self.base.start()
        await asyncio.sleep(base_s)
        self.surge.start()
        self.onset = time.time()

    def stop(self) -> None:
        self.surge.stop()
        self.base.stop()


async def wait_for_incidents(
    store: Store,
    count: int,
    *,
    timeout_s: float,
    until: Callable[[Incident], bool] = lambda i: i.closed,
    check: Callable[[], None] = lambda: None,
) -> list[Incident]:
    """Poll the store until ``count`` incidents satisfy ``until``; fail loudly otherwise.

    ``check`` runs on every poll and may fail the test early (a worker that died).
    """
    deadline = time.monotonic() + timeout_s
    found: list[Incident] = []
    while time.monotonic() < deadline:
        check()
        with store.session() as session:
            found = IncidentRepo(session).list_incidents(limit=100)
        done = [i for i in found if until(i)]
        if len(done) >= count:
            return done
        await asyncio.sleep(0.2)
    states = [(i.incident_id, str(i.state)) for i in found]
    pytest.fail(f"timed out after {timeout_s} s waiting for {count} incident(s): {states}")


async def swept(
    watcher: WorkflowHandle[Any, Any],
    count: int,
    *,
    timeout_s: float,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Wait until ``watcher`` has finished ``count`` sweeps (completed activities in its
    history): a worker started in its own process may take seconds to import on a busy
    machine, and a surge begun before it reads anything is a queue it never saw rise."""
    deadline = time.monotonic() + timeout_s
    done = 0
    while time.monotonic() < deadline:
        check()
        history = await watcher.fetch_history()
        done = sum(e.HasField("activity_task_completed_event_attributes") for e in history.events)
        if done >= count:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"the watcher swept {done} times in {timeout_s} s, waiting for {count}")


EXPORTER = "prometheus-pgbouncer-exporter==2.1.2"
EXPORTER_DEPS = ("psycopg2-binary", "prometheus_client", "python-json-logger", "pyyaml")


def exporter_venv(root: Path) -> Path:
    """A virtualenv holding PyPI's PgBouncer exporter, created on first use.

    The exporter pins psycopg2 (a source build) and an old prometheus_client, so it gets its
    own environment: the package without its pins, then the binary driver and its other
    imports. A stamp file marks a finished install, so an interrupted one is redone.
    """
    venv = root / "pgbouncer-exporter"
    stamp = venv / ".installed"
    if stamp.exists():
        return venv / "bin" / "pgbouncer-exporter"
    shutil.rmtree(venv, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", EXPORTER],
        [str(venv / "bin" / "pip"), "install", "-q", *EXPORTER_DEPS],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 and "dependency conflicts" not in done.stderr:
            pytest.fail(f"cannot install the exporter ({' '.join(argv)}): {done.stderr[-2000:]}")
    binary = venv / "bin" / "pgbouncer-exporter"
    if not binary.exists():
        pytest.fail(f"the exporter install left no {binary}")
    stamp.write_text(EXPORTER + "\n")
    return binary


class PgBouncerExporter:
    """The PyPI exporter serving ``/metrics`` for one PgBouncer on a loopback port."""

    def __init__(self, binary: Path, admin_dsn_url: str) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="vanguard-exporter-"))
        config = {
            "exporter_host": "127.0.0.1",
            "exporter_port": self.port,
            "pgbouncers": [{"dsn": admin_dsn_url, "exclude_databases": ["pgbouncer"]}],
        }
        (self.dir / "config.yml").write_text(yaml.safe_dump(config))
        self.argv = [str(binary), "--config", str(self.dir / "config.yml")]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    def __enter__(self) -> Self:
        with (self.dir / "exporter.log").open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
            )
        if not wait_for_port("127.0.0.1", self.port, timeout_s=20):
            log = (self.dir / "exporter.log").read_text(errors="replace")[-2000:]
            self.__exit__(None, None, None)
            pytest.fail(f"the pgbouncer exporter did not listen on {self.port}: {log}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            stop_popen(self.proc, sig=signal.SIGTERM, timeout_s=8.0)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


LAB_DIR = Path(__file__).parents[2] / ".lab"
