"""PgBouncer scenario helpers: a pool whose ini lives in a git repository, and pgbench load.

The load is bounded (pgbench ``-T``) and stopped on exit. ``pg_sleep`` transactions need no
pgbench tables, so there is no ``pgbench -i`` step. With ``rate`` (``-R``) arrivals are
open-loop: when the rate exceeds what the pool serves, the queue of waiting clients grows
steadily (a trend, not a step) until every client waits.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg

from tests.servers.pgbouncer import PgBouncerServer
from tests.servers.process import require_binary, stop_popen
from vanguard.act.gitconfig import GitRepo

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
            names = [d.name for d in cur.description or ()]
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
