"""Socket helpers: loopback ports for the process launchers and their tests, and a
watchdog that ends a blocked read.

Picking a port is the caller's job (launchers take ports as arguments); these helpers
find a free one and wait for a listener to appear or go away.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator

__all__ = ["free_port", "is_port_open", "shut_after", "wait_for_port"]


_HANDED_OUT: deque[int] = deque(maxlen=256)
_HANDING = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now, and that this
    process was not handed lately: the kernel may give a port just closed to the next
    caller, and callers bind theirs later (the demo picks its five ports before starting
    any server), so two of them could get the same one."""
    with _HANDING:
        for _ in range(64):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port: int = sock.getsockname()[1]
            if port not in _HANDED_OUT:
                break
        _HANDED_OUT.append(port)
        return port


def is_port_open(host: str, port: int, *, timeout_s: float = 0.2) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, *, timeout_s: float, closed: bool = False, poll_s: float = 0.05
) -> bool:
    """Wait until ``host:port`` accepts connections (or, with ``closed``, refuses them).

    Returns whether the wanted state was reached before ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if is_port_open(host, port) != closed:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


@contextlib.contextmanager
def shut_after(fileno: int, timeout_s: float) -> Iterator[threading.Event]:
    """Shut the socket ``fileno`` down if the block is still running after ``timeout_s``;
    the event says the watchdog did it.

    A blocking driver call (psycopg) has no timeout of its own, and a stopped server reads
    no cancel request; a shut-down socket ends the wait at once. The socket is shut down
    through a duplicate of its descriptor, so a late watchdog can never touch a descriptor
    reused after the connection closed.
    """
    late = threading.Event()
    sock = socket.socket(fileno=os.dup(fileno))

    def shut() -> None:
        late.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(max(0.0, timeout_s), shut)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield late
    finally:
        watchdog.cancel()
        watchdog.join()
        sock.close()
