"""PgBouncer in front of the session's PostgreSQL, one per test (pools get resized).

Runs as ``postgres`` when we are root (PgBouncer refuses root), trust auth, admin console
open to ``postgres``. The ini is writable so a resize adapter can edit it and ``RELOAD``.
The directory stays ours (Vanguard uses only git repositories its own user owns) and is
writable by ``postgres``'s group, for PgBouncer's pid and log files.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.servers.postgres import HOST, USER, PostgresServer
from tests.servers.process import (
    freeze,
    read_tail,
    require_binary,
    stop_pid,
    stop_popen,
    unavailable,
)
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

    @contextlib.contextmanager
    def stopped_at(self, query: bytes = b"SHOW POOLS") -> Iterator[str]:
        """An admin DSN through a loopback relay that stops PgBouncer (SIGSTOP) when a
        client's ``query`` comes, just before passing it on; PgBouncer runs again after
        the block.

        So the console stops once it has taken the connection, as one SIGSTOPped or
        swapped out mid-session does: connecting succeeds, the query is never answered.
        The relay only times the stop, which could not be put between the two otherwise;
        every byte goes through it unchanged.
        """
        pid = self._pid()
        if pid is None:
            raise RuntimeError(f"pgbouncer on {self.port} wrote no pid file")
        listener = socket.create_server((HOST, 0))
        listener.settimeout(0.1)
        done = threading.Event()
        stopped = threading.Event()
        sockets: list[socket.socket] = []

        def pump(src: socket.socket, dst: socket.socket, watch: bool) -> None:
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    if watch and query in data and not stopped.is_set():
                        freeze(pid)
                        stopped.set()
                    dst.sendall(data)

        def accept() -> None:
            while not done.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                upstream = socket.create_connection((HOST, self.port))
                sockets.extend((client, upstream))
                for src, dst, watch in ((client, upstream, True), (upstream, client, False)):
                    threading.Thread(target=pump, args=(src, dst, watch), daemon=True).start()

        relay = threading.Thread(target=accept, name="pgbouncer-relay", daemon=True)
        relay.start()
        try:
            yield f"host={HOST} port={listener.getsockname()[1]} dbname=pgbouncer user={USER}"
        finally:
            done.set()
            relay.join(timeout=5.0)
            listener.close()
            if stopped.is_set():
                os.kill(pid, signal.SIGCONT)
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

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
