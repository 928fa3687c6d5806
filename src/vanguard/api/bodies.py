"""Request bodies read with a bound, and the hosts the API answers to.

A ``Content-Length`` check alone lets a chunked request (no length given) grow the
process's memory without limit, before any signature or token is looked at. ``read_body``
counts what arrives and stops at the limit, whatever the transfer encoding.

``HostCheck`` answers only requests whose ``Host`` header names an allowed host: an API
bound to loopback is otherwise readable by any web page through DNS rebinding (a page on a
name that resolves to 127.0.0.1 reads ``/api/incidents`` as its own origin).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostCheck", "host_of", "read_body"]

log = logging.getLogger(__name__)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` once more than ``limit`` bytes are declared or have arrived."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def host_of(header: str) -> str:
    """The host of a ``Host`` header, lowercased, without port or IPv6 brackets."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    name, colon, port = value.rpartition(":")
    return name if colon and port.isdigit() else value


class HostCheck:
    """ASGI middleware: 400 for a ``Host`` that is not allowed (``*.name`` matches subdomains)."""

    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.exact = frozenset(h.lower() for h in allowed if not h.startswith("*."))
        self.suffixes = tuple(h[1:].lower() for h in allowed if h.startswith("*."))
        self.any = "*" in self.exact

    def allows(self, header: str) -> bool:
        host = host_of(header)
        return self.any or host in self.exact or host.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.any:
            await self.app(scope, receive, send)
            return
        header = ""
        for key, value in scope.get("headers", ()):
            if key == b"host":
                header = value.decode("latin-1")
                break
        if self.allows(header):
            await self.app(scope, receive, send)
            return
        log.warning(
            "request for host %r refused: not in api.allowed_hosts (%s)",
            header[:100],
            ", ".join(sorted(self.exact) + [f"*{s}" for s in self.suffixes]),
        )
        body = b"host not allowed: add it to api.allowed_hosts\n"
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
