"""Bounded body reading and the Host check, driven through ASGI directly."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from vanguard.api.bodies import HostCheck, host_of, read_body


def _request(chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[Request, list[int]]:
    pulled: list[int] = []

    async def receive() -> Message:
        pulled.append(1)
        index = len(pulled) - 1
        more = index < len(chunks) - 1
        return {"type": "http.request", "body": chunks[index], "more_body": more}

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive), pulled


def test_a_chunked_body_is_read_only_up_to_the_limit() -> None:
    request, pulled = _request([b"x" * 1000] * 100, [(b"transfer-encoding", b"chunked")])
    assert asyncio.run(read_body(request, 5_500)) is None
    assert len(pulled) == 6, "reading stops at the chunk that passes the limit"


def test_a_declared_length_over_the_limit_reads_nothing() -> None:
    request, pulled = _request([b"x" * 10], [(b"content-length", b"9999")])
    assert asyncio.run(read_body(request, 100)) is None
    assert pulled == []


def test_a_body_within_the_limit_is_read_whole() -> None:
    request, _ = _request([b"ab", b"cd", b""], [])
    assert asyncio.run(read_body(request, 4)) == b"abcd"


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:8780", "127.0.0.1"),
        ("LocalHost", "localhost"),
        ("[::1]:8780", "::1"),
        ("[::1]", "::1"),
        ("vanguard.example.org:443", "vanguard.example.org"),
        ("evil.example:notaport", "evil.example:notaport"),
        ("", ""),
    ],
)
def test_host_of_drops_the_port_and_brackets(header: str, host: str) -> None:
    assert host_of(header) == host


async def _unused(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("replaced by each call")


def _call(check: HostCheck, host: bytes | None) -> int:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    check.app = app

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"host", host)] if host is not None else []
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    asyncio.run(check(scope, receive, send))
    status: int = sent[0]["status"]
    return status


def test_the_host_check_answers_only_allowed_names() -> None:
    check = HostCheck(_unused, ["localhost", "127.0.0.1", "::1", "*.corp.example"])
    assert _call(check, b"127.0.0.1:8780") == 200
    assert _call(check, b"[::1]:8780") == 200
    assert _call(check, b"ci.corp.example") == 200
    assert _call(check, b"rebind.attacker.example:8780") == 400
    assert _call(check, b"corp.example.attacker.example") == 400
    assert _call(check, None) == 400


def test_a_star_allows_every_host() -> None:
    check = HostCheck(_unused, ["*"])
    assert _call(check, b"anything.example") == 200
