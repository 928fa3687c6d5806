"""Port helpers: a free port is bindable, and waits see a listener come and go."""

from __future__ import annotations

import socket

from vanguard.netutil import free_port, is_port_open, wait_for_port


def test_free_port_is_bindable_and_closed() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    assert not is_port_open("127.0.0.1", port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_wait_for_port_sees_listener_open_and_close() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert wait_for_port("127.0.0.1", port, timeout_s=1)
        assert not wait_for_port("127.0.0.1", port, timeout_s=0.1, closed=True)
    assert wait_for_port("127.0.0.1", port, timeout_s=1, closed=True)
    assert not wait_for_port("127.0.0.1", port, timeout_s=0.1)
