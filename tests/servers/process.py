"""Process plumbing for the test servers: find binaries, stop processes for sure."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from vanguard.errors import EngineError

T = TypeVar("T")

__all__ = [
    "freeze",
    "is_alive",
    "processes_mentioning",
    "read_tail",
    "require_binary",
    "retry_start",
    "start_ticks",
    "stop_pid",
    "stop_popen",
    "throttled",
    "unavailable",
]


def unavailable(reason: str) -> NoReturn:
    """Skip the test loudly, or fail it under CI where a missing server is a set-up bug."""
    message = f"REAL SERVER UNAVAILABLE: {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: run scripts/bootstrap-system.sh)", pytrace=False)
    pytest.skip(message)


def require_binary(name: str, *candidates: Path) -> Path:
    """Return the first existing candidate or ``name`` on PATH, else skip/fail loudly."""
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is None:
        unavailable(f"binary {name!r} not found (looked in {[str(c) for c in candidates]} + PATH)")
    return Path(found)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process; zombies count as dead (PID 1 may reap late)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in {"Z", "X"}


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention ``text`` (e.g. a test's tmp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and is_alive(int(entry.name)):
            found.append(cmdline)
    return found


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def stop_pid(pid: int, *, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
    """Send ``sig``; SIGKILL after ``timeout_s``; return once the process is gone."""
    for current, wait_s in ((sig, timeout_s), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, current)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not is_alive(pid):
                return
            time.sleep(0.05)


def stop_popen(
    proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout_s: float = 10.0
) -> None:
    """Stop a child we started, escalating to SIGKILL, and reap it."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10.0)


def read_tail(path: Path, *, limit: int = 2000) -> str:
    """The end of a log file, for error messages when a server fails to start."""
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return f"<no log at {path}>"


def retry_start(start: Callable[[], T], *, attempts: int = 3) -> T:
    """Call ``start`` (which picks fresh ports) again if it fails, e.g. on a port race.

    Ports come from ``free_port`` and another process may bind one before the server does.
    """
    for _ in range(attempts - 1):
        try:
            return start()
        except (RuntimeError, EngineError):
            continue
    return start()


def freeze(pid: int) -> None:
    """SIGSTOP ``pid`` and return once it is stopped (state ``T`` in ``/proc``), as a server
    is while suspended or swapped out: the kernel still takes its connections and
    requests, nothing answers them. SIGCONT lets it run again."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in {"T", "t"}:
            return
        time.sleep(0.01)
    raise RuntimeError(f"process {pid} did not stop on SIGSTOP")


@contextlib.contextmanager
def throttled(pid: int, *, stopped_s: float, running_s: float) -> Iterator[None]:
    """``pid`` stopped for ``stopped_s`` and let run for ``running_s`` by turns for the
    block, as a server starved of CPU or memory is: it answers, but slowly."""
    done = threading.Event()

    def cycle() -> None:
        while not done.is_set():
            os.kill(pid, signal.SIGSTOP)
            done.wait(stopped_s)
            os.kill(pid, signal.SIGCONT)
            done.wait(running_s)

    thread = threading.Thread(target=cycle, name="throttle", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5.0)
        os.kill(pid, signal.SIGCONT)
