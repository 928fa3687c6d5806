"""PgBouncer in front of the session's PostgreSQL, one per test (pools get resized).

Runs as ``postgres`` when we are root (PgBouncer refuses root), trust auth, admin console
open to ``postgres``. The ini is writable so a resize adapter can edit it and ``RELOAD``.
The directory stays ours (Vanguard uses only git repositories its own user owns) and is
writable by ``postgres``'s group, for PgBouncer's pid and log files.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.servers.postgres import HOST, USER, PostgresServer
from tests.servers.process import read_tail, require_binary, stop_pid, stop_popen, unavailable
from vanguard.netutil import wait_for_port

__all__ = ["PgBouncerServer", "StartPgBouncer"]


class StartPgBouncer(Protocol):
    """The ``pgbouncer_server`` fixture: aliases → database names on the session cluster."""

    def __call__(
        self,
        databases: Mapping[str, str] | None = None,
        *,
        default_pool_size: int = 2,
        pool_mode: str = "transaction",
    ) -> PgBouncerServer: ...


@dataclass
class PgBouncerServer:
    """A running PgBouncer; ``admin_dsn`` reaches its console (``SHOW POOLS``, ``RELOAD``)."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    databases: dict[str, str]

    @property
    def ini_path(self) -> Path:
        return self.root / "pgbouncer.ini"

    @property
    def log_file(self) -> Path:
        return self.root / "pgbouncer.log"

    @property
    def admin_dsn(self) -> str:
        """libpq DSN of the admin console; connect with autocommit and prepare_threshold=None."""
        return f"host={HOST} port={self.port} dbname=pgbouncer user={USER}"

    def dsn(self, alias: str) -> str:
        return f"host={HOST} port={self.port} dbname={alias} user={USER}"

    def url(self, alias: str) -> str:
        return f"postgresql+psycopg://{USER}@{HOST}:{self.port}/{alias}"

    @classmethod
    def start(
        cls,
        postgres: PostgresServer,
        databases: Mapping[str, str],
        port: int,
        *,
        default_pool_size: int = 2,
        pool_mode: str = "transaction",
        timeout_s: float = 15.0,
    ) -> PgBouncerServer:
        """Write an ini routing each alias to ``postgres`` and start PgBouncer in the foreground."""
        binary = require_binary("pgbouncer", Path("/usr/sbin/pgbouncer"))
        root = Path(tempfile.mkdtemp(prefix="vanguard-pgbouncer-"))
        root.chmod(0o755)
        routes = "\n".join(
            f"{alias} = host={HOST} port={postgres.port} dbname={db}"
            for alias, db in databases.items()
        )
        (root / "userlist.txt").write_text(f'"{USER}" ""\n')
        (root / "pgbouncer.ini").write_text(
            f"""[databases]
{routes}

[pgbouncer]
listen_addr = {HOST}
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {root / "userlist.txt"}
admin_users = {USER}
pool_mode = {pool_mode}
default_pool_size = {default_pool_size}
max_client_conn = 500
logfile = {root / "pgbouncer.log"}
pidfile = {root / "pgbouncer.pid"}
"""
        )
        argv = [str(binary), str(root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                unavailable("running as root but 'runuser' is missing: cannot start pgbouncer")
            for path in root.iterdir():
                shutil.chown(path, user=USER)
            os.chown(root, -1, pwd.getpwnam(USER).pw_gid)
            root.chmod(0o775)
            argv = [runuser, "-u", USER, "--", *argv]
        with (root / "stdout.log").open("wb") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root
            )
        server = cls(root=root, port=port, proc=proc, databases=dict(databases))
        if not wait_for_port(HOST, port, timeout_s=timeout_s):
            server.stop()
            raise RuntimeError(
                f"pgbouncer not listening on {port}:\n"
                f"{read_tail(root / 'stdout.log')}{read_tail(server.log_file)}"
            )
        return server

    def _pid(self) -> int | None:
        try:
            return int((self.root / "pgbouncer.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """SIGTERM PgBouncer itself (then SIGKILL), reap the launcher, close the port."""
        pid = self._pid()
        if pid is not None:
            stop_pid(pid, sig=signal.SIGTERM, timeout_s=timeout_s)
        stop_popen(self.proc, sig=signal.SIGTERM, timeout_s=timeout_s)
        wait_for_port(HOST, self.port, timeout_s=5.0, closed=True)
        shutil.rmtree(self.root, ignore_errors=True)
