"""A throwaway PostgreSQL cluster on a loopback port, for the store's tests.

initdb + pg_ctl under a temporary directory, run as ``postgres`` when we are root (the
server refuses root). Durability is switched off: the cluster dies with the session.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tests.servers.process import read_tail, require_binary, stop_pid, unavailable
from vanguard.netutil import wait_for_port

__all__ = ["PostgresServer", "find_pg_bindir"]

HOST = "127.0.0.1"
USER = "postgres"


def find_pg_bindir() -> Path:
    """The directory holding initdb/pg_ctl/postgres: newest Debian version, else PATH."""
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    candidates = [d / "initdb" for d in reversed(debian)]
    return require_binary("initdb", *candidates).resolve().parent


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        unavailable("running as root but 'runuser' is missing: cannot start postgres as postgres")
    return [runuser, "-u", USER, "--", *argv]


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster; ``stop`` ends it and removes its directory."""

    root: Path
    port: int
    bindir: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname`` (trust auth, no password)."""
        return f"postgresql+psycopg://{USER}@{HOST}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string for ``dbname``."""
        return f"host={HOST} port={self.port} user={USER} dbname={dbname}"

    @classmethod
    def start(cls, port: int, *, timeout_s: float = 30.0) -> PostgresServer:
        """initdb a fresh cluster and start it on ``port``."""
        bindir = find_pg_bindir()
        root = Path(tempfile.mkdtemp(prefix="vanguard-pg-"))
        root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(root, user=USER)
        server = cls(root=root, port=port, bindir=bindir)
        initdb = [
            str(bindir / "initdb"),
            *("-D", str(server.data_dir), "-U", USER, "-A", "trust", "-E", "UTF8"),
            *("--locale=C", "--no-sync"),
        ]
        options = " ".join(
            [
                f"-p {port}",
                f"-c listen_addresses={HOST}",
                f"-c unix_socket_directories={root}",
                "-c max_connections=200",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        pg_ctl = [
            str(bindir / "pg_ctl"),
            *("-D", str(server.data_dir), "-l", str(server.log_file), "-w"),
            *("-t", str(int(timeout_s)), "start", "-o", options),
        ]
        for argv in (initdb, pg_ctl):
            done = subprocess.run(
                _as_postgres(argv), capture_output=True, text=True, timeout=timeout_s + 30
            )
            if done.returncode != 0:
                server.stop()
                raise RuntimeError(
                    f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}\n"
                    f"{read_tail(server.log_file)}"
                )
        if not wait_for_port(HOST, port, timeout_s=timeout_s):
            server.stop()
            raise RuntimeError(f"postgres not listening on {port}:\n{read_tail(server.log_file)}")
        return server

    def _pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """Fast shutdown (SIGINT), SIGKILL after ``timeout_s``, then remove the files."""
        pid = self._pid()
        if pid is not None:
            stop_pid(pid, sig=signal.SIGINT, timeout_s=timeout_s)
            wait_for_port(HOST, self.port, timeout_s=5.0, closed=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self) -> str:
        """Create a uuid-named empty database and return its name."""
        name = f"t_{uuid.uuid4().hex}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever still holds it."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
