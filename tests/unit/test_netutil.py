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


def test_free_port_does_not_hand_out_a_port_twice_in_a_row() -> None:
    """Callers bind later (the demo picks five ports, then starts its servers): the kernel
    gave a just-closed port to the next caller about once in 600 runs of seven picks."""
    ports = [free_port() for _ in range(1000)]
    again = [p for i, p in enumerate(ports) if p in ports[max(0, i - 255) : i]]
    assert again == []
