"""An HTTP sink on 127.0.0.1 that records every POSTed JSON body (Alertmanager, notifiers)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from vanguard.netutil import free_port

__all__ = ["Received", "WebhookReceiver"]


class Received:
    """One POST: path, headers and the parsed body (``None`` when not JSON)."""

    def __init__(self, path: str, headers: dict[str, str], raw: bytes) -> None:
        self.path = path
        self.headers = headers
        self.raw = raw
        try:
            self.body: Any = json.loads(raw)
        except ValueError:
            self.body = None


class WebhookReceiver:
    """Records POSTs to any path and answers 200; ``wait_for`` blocks until one matches."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with receiver._cond:
                    receiver.received.append(Received(self.path, dict(self.headers), raw))
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(
        self, predicate: Callable[[Received], bool], *, timeout_s: float = 20.0
    ) -> Received:
        """Return the first POST matching ``predicate``; ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for item in self.received:
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no matching POST within {timeout_s} s; got {len(self.received)}"
                    )
                self._cond.wait(left)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
