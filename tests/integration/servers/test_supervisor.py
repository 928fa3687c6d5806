"""The supervisord fixture runs the given programs and leaves nothing behind."""

from __future__ import annotations

import time

import pytest

from tests.servers.process import is_alive
from tests.servers.supervisor import Program, StartSupervisord, SupervisorServer, rpc_call
from vanguard.netutil import free_port, is_port_open

pytestmark = pytest.mark.integration

SLEEPER = Program(name="sleeper", command="sleep 3600")


def test_programs_run_and_answer_over_xmlrpc(supervisord: StartSupervisord) -> None:
    url = supervisord([SLEEPER, Program(name="idle", command="sleep 3600", autostart=False)])
    infos = rpc_call(url, "supervisor.getAllProcessInfo")
    states = {i["name"]: i["statename"] for i in infos}
    assert states == {"sleeper": "RUNNING", "idle": "STOPPED"}
    assert url.startswith("http://127.0.0.1:")


def test_percent_signs_and_environment_reach_the_program(supervisord: StartSupervisord) -> None:
    program = Program(
        name="echo",
        command="sh -c 'echo \"$GREETING 100%\"; exec sleep 3600'",
        environment={"GREETING": "hi"},
    )
    text = ""
    url = supervisord([program])
    for _ in range(50):
        text = rpc_call(url, "supervisor.tailProcessStdoutLog", "echo", 0, 100)[0]
        if text:
            break
        time.sleep(0.05)
    assert text.strip() == "hi 100%"


def test_stop_ends_supervisord_and_children() -> None:
    orphan_maker = Program(
        name="stubborn", command="sh -c 'trap \"\" TERM; exec sleep 3600'", stopwaitsecs=1
    )
    server = SupervisorServer.start([SLEEPER, orphan_maker], free_port())
    pids = [int(i["pid"]) for i in server.all_process_info()]
    assert all(is_alive(pid) for pid in pids)
    server.stop()
    assert not is_alive(server.proc.pid)
    assert not any(is_alive(pid) for pid in pids)
    assert not is_port_open("127.0.0.1", server.port)
    assert not server.root.exists()
