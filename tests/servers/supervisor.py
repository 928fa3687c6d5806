"""supervisord with given programs and XML-RPC on a loopback port, for adapter tests.

Stopping is thorough: supervisord is asked to stop its children, escalated to SIGKILL, and
any child pid it had reported is killed afterwards, so no test leaves a process behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from tests.servers.process import (
    is_alive,
    read_tail,
    start_ticks,
    stop_pid,
    stop_popen,
    unavailable,
)
from vanguard.netutil import wait_for_port

__all__ = ["Program", "StartSupervisord", "SupervisorServer", "rpc_call"]

HOST = "127.0.0.1"

StartSupervisord = Callable[[Sequence["Program"]], str]
"""The ``supervisord`` fixture: start with these programs, get the XML-RPC URL back."""


@dataclass(frozen=True)
class Program:
    """One ``[program:x]`` section; ``command`` is run by supervisord as given."""

    name: str
    command: str
    autostart: bool = True
    autorestart: bool = False
    startsecs: int = 0
    stopwaitsecs: int = 5
    environment: Mapping[str, str] = field(default_factory=dict)

    def section(self, logdir: Path) -> str:
        env = ",".join(f'{k}="{_escape(v)}"' for k, v in self.environment.items())
        lines = [
            f"[program:{self.name}]",
            f"command={_escape(self.command)}",
            f"autostart={str(self.autostart).lower()}",
            f"autorestart={str(self.autorestart).lower()}",
            f"startsecs={self.startsecs}",
            "startretries=0",
            f"stopwaitsecs={self.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logdir / (self.name + '.log')}",
        ]
        if env:
            lines.append(f"environment={env}")
        return "\n".join(lines) + "\n"


def rpc_call(url: str, method: str, *args: Any) -> Any:
    """One XML-RPC call on a connection closed right after (``Any``: untyped protocol)."""
    with xmlrpc.client.ServerProxy(url) as rpc:
        return cast(Any, getattr(rpc, method)(*args))


def _escape(value: str) -> str:
    return value.replace("%", "%%")


@dataclass
class SupervisorServer:
    """A running supervisord; ``url`` is its XML-RPC endpoint."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    children: set[tuple[int, int]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/RPC2"

    @property
    def log_file(self) -> Path:
        return self.root / "supervisord.log"

    def all_process_info(self) -> list[dict[str, Any]]:
        """``supervisor.getAllProcessInfo`` over a connection closed right after."""
        infos: list[dict[str, Any]] = rpc_call(self.url, "supervisor.getAllProcessInfo")
        return infos

    @classmethod
    def start(
        cls, programs: Sequence[Program], port: int, *, timeout_s: float = 20.0
    ) -> SupervisorServer:
        """Write a config, start supervisord in the foreground and wait for its programs."""
        try:
            import supervisor  # noqa: F401
        except ImportError:
            unavailable("the 'supervisor' package is not installed in this environment")
        root = Path(tempfile.mkdtemp(prefix="vanguard-supervisor-"))
        conf = root / "supervisord.conf"
        head = [
            "[supervisord]",
            f"logfile={root / 'supervisord.log'}",
            f"pidfile={root / 'supervisord.pid'}",
            f"childlogdir={root}",
            "nodaemon=true",
            "loglevel=info",
        ]
        if os.geteuid() == 0:
            head.append("user=root")
        body = [
            "\n".join(head),
            f"[inet_http_server]\nport={HOST}:{port}",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            f"[supervisorctl]\nserverurl=http://{HOST}:{port}",
            *(p.section(root) for p in programs),
        ]
        conf.write_text("\n\n".join(body) + "\n")
        with (root / "stdout.log").open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "supervisor.supervisord", "-n", "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=root,
            )
        server = cls(root=root, port=port, proc=proc)
        try:
            server._wait_ready(timeout_s)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        if not wait_for_port(HOST, self.port, timeout_s=timeout_s):
            raise RuntimeError(f"supervisord not listening:\n{self._logs()}")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"supervisord exited {self.proc.returncode}:\n{self._logs()}")
            infos = self.all_process_info()
            self._remember(infos)
            if all(i["statename"] not in {"STARTING", "BACKOFF"} for i in infos):
                return
            time.sleep(0.05)
        raise RuntimeError(f"supervisord programs still starting:\n{self._logs()}")

    def _remember(self, infos: Sequence[Mapping[str, Any]]) -> None:
        for info in infos:
            pid = int(info["pid"])
            started = start_ticks(pid) if pid else None
            if started is not None:
                self.children.add((pid, started))

    def _logs(self) -> str:
        return read_tail(self.root / "stdout.log") + read_tail(self.log_file)

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """Stop supervisord and every child it ever reported; remove its directory."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                self._remember(self.all_process_info())
        stop_popen(self.proc, sig=signal.SIGTERM, timeout_s=timeout_s)
        for pid, started in self.children:
            if is_alive(pid) and start_ticks(pid) == started:
                stop_pid(pid, sig=signal.SIGKILL, timeout_s=5.0)
        wait_for_port(HOST, self.port, timeout_s=5.0, closed=True)
        shutil.rmtree(self.root, ignore_errors=True)
