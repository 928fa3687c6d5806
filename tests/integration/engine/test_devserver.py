"""The dev-server launcher starts a serving Temporal, persists to SQLite and stops cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.servers.process import is_alive
from vanguard.engine.devserver import DevServer, find_temporal_binary
from vanguard.errors import EngineError, TemporalUnavailable
from vanguard.netutil import free_port, is_port_open

pytestmark = pytest.mark.integration


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
class Shout:
    @workflow.run
    async def run(self, text: str) -> str:
        return await workflow.execute_activity(
            shout, text, start_to_close_timeout=timedelta(seconds=10)
        )


def _worker(client: Client, task_queue: str) -> Worker:
    """Unsandboxed: this module imports test helpers the sandbox would reject."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[Shout],
        activities=[shout],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


def _server(tmp_path: Path, **kwargs: object) -> DevServer:
    return DevServer(
        port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        log_file=tmp_path / "temporal.log",
        **kwargs,  # type: ignore[arg-type]
    )


def test_binary_comes_from_the_environment() -> None:
    binary = find_temporal_binary()
    assert binary.name == "temporal"
    assert binary.is_file()


async def test_session_server_runs_a_workflow(temporal_address: str, task_queue: str) -> None:
    client = await Client.connect(temporal_address)
    async with _worker(client, task_queue):
        result = await client.execute_workflow(
            Shout.run, "ok", id=f"wf-{task_queue}", task_queue=task_queue
        )
    assert result == "OK"


async def test_state_survives_a_restart_with_db_file(tmp_path: Path, task_queue: str) -> None:
    db = tmp_path / "state" / "temporal.db"
    with _server(tmp_path, db_filename=db) as first:
        client = await Client.connect(first.address)
        async with _worker(client, task_queue):
            await client.execute_workflow(Shout.run, "kept", id="wf-kept", task_queue=task_queue)
    assert db.is_file()
    with _server(tmp_path, db_filename=db) as second:
        client = await Client.connect(second.address)
        result = await client.get_workflow_handle("wf-kept").result()
    assert result == "KEPT"


async def test_extra_namespaces_are_created(tmp_path: Path, task_queue: str) -> None:
    with _server(tmp_path, namespaces=["vanguard", "default"]) as server:
        client = await Client.connect(server.address, namespace="vanguard")
        async with _worker(client, task_queue):
            result = await client.execute_workflow(
                Shout.run, "ns", id="wf-ns", task_queue=task_queue
            )
    assert result == "NS"
    assert server.command().count("--namespace") == 1


def test_ui_is_served_when_asked(tmp_path: Path) -> None:
    server = _server(tmp_path, ui_port=free_port())
    with server:
        assert server.ui_url is not None
        with urllib.request.urlopen(server.ui_url, timeout=10) as response:
            status = response.status
    assert status == 200
    assert "--headless" not in server.command()


def test_stop_kills_the_process_and_closes_ports(tmp_path: Path) -> None:
    server = _server(tmp_path)
    server.start()
    pid = server.pid
    assert pid is not None
    assert is_port_open("127.0.0.1", server.port)
    server.stop()
    assert not is_alive(pid)
    for port in (server.port, server.http_port, server.metrics_port):
        assert not is_port_open("127.0.0.1", port)
    assert server.ui_url is None


def test_port_taken_is_a_clear_error(tmp_path: Path, temporal_server: DevServer) -> None:
    clash = DevServer(
        port=temporal_server.port,
        http_port=free_port(),
        metrics_port=free_port(),
        log_file=tmp_path / "clash.log",
    )
    with pytest.raises(EngineError, match="already in use"):
        clash.start(timeout_s=10)
    assert clash.pid is None


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    server = _server(tmp_path, binary=tmp_path / "nope" / "temporal")
    with pytest.raises(EngineError, match="cannot run"):
        server.start()


def _fake_binary(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "temporal"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_server_dying_at_start_reports_its_log(tmp_path: Path) -> None:
    binary = _fake_binary(tmp_path, 'echo "boom: cannot open db" >&2; exit 3')
    server = _server(tmp_path, binary=binary)
    with pytest.raises(EngineError, match=r"exited with 3(.|\n)*boom: cannot open db"):
        server.start(timeout_s=10)
    assert server.pid is None


def test_server_never_serving_times_out(tmp_path: Path) -> None:
    server = _server(tmp_path, binary=_fake_binary(tmp_path, "exec sleep 60"))
    with pytest.raises(TemporalUnavailable, match="not serving after 1 s"):
        server.start(timeout_s=1)
    assert server.pid is None


def test_command_persists_with_wal_and_no_fsync(tmp_path: Path) -> None:
    argv = _server(tmp_path, db_filename=tmp_path / "t.db").command()
    assert argv[argv.index("--db-filename") + 1] == str(tmp_path / "t.db")
    pragmas = [argv[i + 1] for i, a in enumerate(argv) if a == "--sqlite-pragma"]
    assert pragmas == ["journal_mode=wal", "synchronous=off"]
    assert "--headless" in argv
    assert argv[argv.index("--ip") + 1] == "127.0.0.1"


def _launch(first: DevServer, tmp_path: Path) -> subprocess.Popen[str]:
    """``vanguard up``'s part: a process that starts the server and stays."""
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from vanguard.engine.devserver import DevServer; "
            f"s = DevServer(port={first.port}, http_port={first.http_port}, "
            f"metrics_port={first.metrics_port}, log_file=Path({str(first.log_file)!r}), "
            f"db_filename=Path({str(tmp_path / 'temporal.db')!r})); "
            "s.start(); print('serving', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdout is not None
    assert launcher.stdout.readline().strip() == "serving"
    launcher.stdout.close()
    return launcher


def test_a_server_left_by_a_killed_launcher_is_stopped_at_the_next_start(
    tmp_path: Path,
) -> None:
    """``vanguard up`` killed with SIGKILL cannot stop its child; the next start must."""
    first = _server(tmp_path, db_filename=tmp_path / "temporal.db")
    launcher = _launch(first, tmp_path)
    orphan = int(first.pid_file.read_text().split()[0])
    launcher.kill()
    launcher.wait()
    assert is_alive(orphan), "the dev server outlived its killed launcher"
    try:
        first.start()
        assert first.pid != orphan
        assert not is_alive(orphan)
    finally:
        first.stop()
    assert not first.pid_file.exists()


def test_a_second_launcher_never_stops_a_live_ones_server(tmp_path: Path) -> None:
    """Two ``vanguard up`` on one data directory: the second is refused, the first runs on."""
    first = _server(tmp_path, db_filename=tmp_path / "temporal.db")
    launcher = _launch(first, tmp_path)
    server = int(first.pid_file.read_text().split()[0])
    try:
        with pytest.raises(EngineError, match="already in use"):
            first.start()
        assert is_alive(server)
    finally:
        launcher.terminate()
        launcher.wait()
        with contextlib.suppress(ProcessLookupError):
            os.kill(server, signal.SIGTERM)
