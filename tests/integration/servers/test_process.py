"""Process plumbing: missing servers skip (or fail under CI), stops escalate to SIGKILL."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.servers.process import (
    is_alive,
    require_binary,
    retry_start,
    start_ticks,
    stop_pid,
    stop_popen,
    unavailable,
)

pytestmark = pytest.mark.integration


def test_missing_server_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="REAL SERVER UNAVAILABLE: no foo"):
        unavailable("no foo")


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_binary("surely-not-a-binary-xyz", Path("/nonexistent/xyz"))


def test_require_binary_prefers_candidates() -> None:
    assert require_binary("sh", Path("/bin/sh")) == Path("/bin/sh")


def test_stop_escalates_to_sigkill_for_a_process_ignoring_sigterm() -> None:
    proc = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    time.sleep(0.2)
    started = time.monotonic()
    stop_popen(proc, timeout_s=0.5)
    assert proc.returncode == -9
    assert time.monotonic() - started < 5


def test_stop_pid_treats_zombies_as_dead() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    ticks = start_ticks(proc.pid)
    assert ticks is not None
    assert is_alive(proc.pid)
    stop_pid(proc.pid, timeout_s=5)
    assert not is_alive(proc.pid)
    proc.wait(timeout=5)
    assert start_ticks(proc.pid) is None


def test_retry_start_tries_again_then_gives_up() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise RuntimeError("port taken")
        return "up"

    assert retry_start(flaky) == "up"
    assert len(calls) == 2

    def broken() -> str:
        calls.append(1)
        raise RuntimeError("bad config")

    calls.clear()
    with pytest.raises(RuntimeError, match="bad config"):
        retry_start(broken, attempts=3)
    assert len(calls) == 3
