"""``vanguard demo``: watch a leaking service, predict the breach, restart it, verify.

Everything runs on 127.0.0.1 with embedded defaults: supervisord supervises the leaky
service, Vanguard runs embedded (Temporal dev server, worker, API, SQLite store) and the
terminal shows the incident's timeline as the audit trail records it. Everything started
here is stopped before returning.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from pydantic import JsonValue

from vanguard.config import Settings, load_settings
from vanguard.engine.embedded import Endpoints, serve
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.errors import EngineError, InputError
from vanguard.netutil import free_port, wait_for_port
from vanguard.store import AuditEntry, AuditLog, IncidentRepo, Store

__all__ = ["MARKER", "DemoResult", "claim_workdir", "run_demo"]

PROGRAM = "leaky"
THRESHOLD_MB = 400
MARKER = ".vanguard-demo"
"""The file that marks a directory the demo made: only such a directory is ever emptied."""


@dataclass
class DemoResult:
    """What the demo saw: the incident, its final state and the timeline it printed."""

    incident_id: str | None = None
    state: str | None = None
    seconds: float = 0.0
    timeline: list[dict[str, JsonValue]] = field(default_factory=list)
    endpoints: dict[str, str | None] = field(default_factory=dict)
    store_url: str = ""
    config: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "resolved"


class Supervisord:
    """supervisord in the foreground as our child, so stopping it stops its programs."""

    def __init__(self, workdir: Path, port: int, programs: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = port
        self.conf = workdir / "supervisord.conf"
        user = "user=root\n" if os.geteuid() == 0 else ""
        sections = "".join(
            f"\n[program:{name}]\ncommand={cmd}\nautostart=true\nautorestart=true\n"
            f"startsecs=1\nstopwaitsecs=5\nstdout_logfile={workdir / (name + '.log')}\n"
            "redirect_stderr=true\n"
            for name, cmd in programs.items()
        )
        self.conf.write_text(
            textwrap.dedent(
                f"""\
                [supervisord]
                nodaemon=true
                logfile={workdir / "supervisord.log"}
                pidfile={workdir / "supervisord.pid"}
                {user}
                [inet_http_server]
                port=127.0.0.1:{port}

                [rpcinterface:supervisor]
                supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

                [supervisorctl]
                serverurl=http://127.0.0.1:{port}
                """
            )
            + sections
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/RPC2"

    def start(self, timeout_s: float = 20.0) -> None:
        binary = Path(sys.prefix) / "bin" / "supervisord"
        self.proc = subprocess.Popen(
            [str(binary if binary.exists() else "supervisord"), "-n", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if not wait_for_port("127.0.0.1", self.port, timeout_s=timeout_s):
            self.stop()
            raise EngineError(f"supervisord did not listen on 127.0.0.1:{self.port}")
        deadline = time.monotonic() + timeout_s
        rpc = xmlrpc.client.ServerProxy(self.url)
        while time.monotonic() < deadline:
            infos = cast(list[dict[str, Any]], rpc.supervisor.getAllProcessInfo())
            if infos and all(i["statename"] == "RUNNING" for i in infos):
                return
            time.sleep(0.2)
        self.stop()
        raise EngineError("the demo's programs did not reach RUNNING under supervisord")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


def write_config(workdir: Path, *, service_port: int, supervisor_url: str, api_port: int) -> Path:
    """The demo's ``vanguard.yaml``: one watched service, short windows, real gates."""
    path = workdir / "vanguard.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            # Written by `vanguard demo`: short windows so the loop fits in a minute.
            data_dir: data
            temporal:
              address: embedded
              port: {free_port()}
              ui_port: {free_port()}
              task_queue: vanguard-demo
            api:
              port: {api_port}
            services:
              - name: {PROGRAM}
                type: python-web
                scrape:
                  url: http://127.0.0.1:{service_port}/metrics
                  interval_s: 1
                watch:
                  - metric: process_resident_memory_bytes
                    rule:
                      threshold: {THRESHOLD_MB * 1024 * 1024}
                      direction: up
                      horizon_s: 60
                      # The diagnosis scales this by the pattern's trust (0.9): a forecast
                      # must be 0.67 sure to pass the policy's 0.6, so none is raised below
                      # 0.75 (a loaded machine's jittery scrapes start forecasts lower).
                      min_confidence: 0.75
                      warmup: 10
                supervisor:
                  url: {supervisor_url}
                  program: {PROGRAM}
            policy:
              min_confidence: 0.6
              max_actions_per_service_per_day: 3
            verification:
              window_s: 6
              sample_interval_s: 1
              min_relative_change: 0.1
            notify:
              - kind: log
            """
        )
    )
    return path


def _items(value: JsonValue) -> list[JsonValue]:
    return value if isinstance(value, list) else []


def _describe(entry: AuditEntry) -> str:
    p = entry.payload
    kind = entry.kind
    if kind == "incident.opened":
        return f"trend detected on {p.get('service')}/{p.get('metric')}: {p.get('summary')}"
    if kind == "state.diagnosed":
        reasons = _items(p.get("reasons"))
        extra = "".join(f"\n      · {r}" for r in reasons if isinstance(r, str))
        return f"diagnosis: {p.get('reason')}{extra}"
    if kind in {"state.approved", "state.awaiting_approval", "decision.not_acting"}:
        verdicts = _items(p.get("verdicts"))
        lines = []
        for v in verdicts:
            if isinstance(v, dict):
                mark = "pass" if v.get("passed") else "FAIL"
                lines.append(f"\n      · {v.get('gate')}: {mark} ({v.get('reason')})")
        return f"decision: {p.get('reason')}{''.join(lines)}"
    if kind == "decision.rechecked":
        return f"gates checked again just before acting: {p.get('reason')}"
    if kind == "decision.withheld":
        return f"action withheld just before acting: {p.get('reason')}"
    if kind == "state.applied":
        return f"action: {p.get('reason')}"
    if kind == "state.verifying":
        return f"verification: {p.get('reason')} [{p.get('check')}]"
    if kind.startswith("state."):
        return f"incident {kind.removeprefix('state.')}: {p.get('reason')}"
    if kind == "notified":
        return f"notified: {p.get('title')}"
    return f"{kind}: {p}"


async def _follow(
    store: Store,
    stop: asyncio.Event,
    result: DemoResult,
    emit: Callable[[str, str], None],
    started: float,
    timeout_s: float,
) -> None:
    """Print audit entries as they appear; stop once the first incident has closed."""
    seen = 0
    notified = False
    while not stop.is_set():
        with store.session() as session:
            entries = AuditLog(session).entries()
            incidents = IncidentRepo(session).list_incidents(limit=5)
        for entry in entries[seen:]:
            stamp = f"T+{time.monotonic() - started:5.1f}s"
            text = _describe(entry)
            emit(stamp, text)
            result.timeline.append(
                {"t": round(time.monotonic() - started, 2), "kind": entry.kind, "text": text}
            )
            result.incident_id = result.incident_id or entry.incident_id
            notified = notified or entry.kind == "notified"
        seen = len(entries)
        closed = [i for i in incidents if i.closed]
        if closed and notified:
            result.state = str(closed[0].state)
            stop.set()
            return
        if time.monotonic() - started > timeout_s:
            result.state = "timed_out"
            stop.set()
            return
        await asyncio.sleep(0.3)


def claim_workdir(workdir: Path) -> None:
    """Make ``workdir`` a fresh demo directory, holding only the demo's marker.

    A directory an earlier run made (it holds ``MARKER``) is emptied; a new or empty one
    is taken as it is. Any other is refused untouched: ``--workdir .`` in a project, or a
    directory holding a real configuration and store, must not lose its files.
    """
    if workdir.exists():
        if not workdir.is_dir():
            raise InputError(f"{workdir} is not a directory; give the demo a new or empty one")
        if (workdir / MARKER).is_file():
            shutil.rmtree(workdir)
        elif any(workdir.iterdir()):
            raise InputError(
                f"{workdir} is not a demo directory (it holds files and no {MARKER}), and "
                "the demo empties its directory before each run; give it a new or empty "
                "one (a directory an earlier version of the demo made: remove it first)"
            )
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text(
        "Made by `vanguard demo`, which empties this directory before each run.\n"
    )


def run_demo(
    workdir: Path,
    *,
    emit: Callable[[str, str], None],
    timeout_s: float = 150.0,
    leak_mb_per_s: float = 4.0,
) -> DemoResult:
    """Run the demo in ``workdir`` (emptied first if the demo made it, see
    ``claim_workdir``); return what happened."""
    started = time.monotonic()
    claim_workdir(workdir)
    service_port = free_port()
    leaky = (
        f"{sys.executable} -m vanguard.demo.leaky --port {service_port} "
        f"--leak-mb-per-s {leak_mb_per_s} --cap-mb {THRESHOLD_MB * 2}"
    )
    supervisor = Supervisord(workdir, free_port(), {PROGRAM: leaky})
    result = DemoResult()
    emit("setup", f"supervisord on {supervisor.url} running '{PROGRAM}' (leaks memory)")
    supervisor.start()
    try:
        if not wait_for_port("127.0.0.1", service_port, timeout_s=20):
            raise EngineError(f"the leaky service did not listen on port {service_port}")
        config = write_config(
            workdir, service_port=service_port, supervisor_url=supervisor.url, api_port=free_port()
        )
        settings = load_settings(config)
        runtime = build_runtime(settings, verify_samples=5)
        result.store_url = runtime.store.url
        result.config = str(config)
        try:
            asyncio.run(_main(settings, runtime, result, emit, started, timeout_s))
        finally:
            runtime.close()
    finally:
        supervisor.stop()
    result.seconds = round(time.monotonic() - started, 1)
    return result


async def _main(
    settings: Settings,
    runtime: Runtime,
    result: DemoResult,
    emit: Callable[[str, str], None],
    started: float,
    timeout_s: float,
) -> None:
    stop = asyncio.Event()

    def announce(ep: Endpoints) -> None:
        result.endpoints = {"temporal": ep.temporal, "temporal_ui": ep.temporal_ui, "api": ep.api}
        ui = f" (Web UI {ep.temporal_ui})" if ep.temporal_ui else ""
        emit("setup", f"Temporal {ep.temporal}{ui}, API {ep.api}")
        emit("setup", "watching process_resident_memory_bytes every 1 s ...")

    server = asyncio.create_task(serve(settings, runtime, stop, announce=announce))
    follower = asyncio.create_task(_follow(runtime.store, stop, result, emit, started, timeout_s))
    await asyncio.wait({server, follower}, return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await follower
    await server
