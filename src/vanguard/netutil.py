"""Loopback port helpers shared by the process launchers and their tests.

Picking a port is the caller's job (launchers take ports as arguments); these helpers
find a free one and wait for a listener to appear or go away.
"""

from __future__ import annotations

import socket
import time

__all__ = ["free_port", "is_port_open", "wait_for_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
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
