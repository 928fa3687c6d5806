"""An HTTP sink on 127.0.0.1 that records every JSON request (Alertmanager, notifiers, actions)."""

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
    """One request: path, headers and the parsed body (``None`` when not JSON)."""

    def __init__(
        self, path: str, headers: dict[str, str], raw: bytes, method: str = "POST"
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.raw = raw
        try:
            self.body: Any = json.loads(raw)
        except ValueError:
            self.body = None


class WebhookReceiver:
    """Records POST/PUT/PATCH to any path and answers 200; ``wait_for`` blocks until one matches.

    ``script(path, (status, headers), ..., body=b"...")`` queues the answers to the next
    requests to ``path``, in order; once they are used up, 200 again (with no body).
    ``on_request``, when set, runs before each answer (a receiver that acts, like a runbook
    automation).
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
        self.on_request: Callable[[Received], None] | None = None
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                got = Received(self.path, dict(self.headers), raw, self.command)
                if receiver.on_request is not None:
                    receiver.on_request(got)
                with receiver._cond:
                    receiver.received.append(got)
                    queue = receiver._answers.get(self.path) or []
                    status, headers, body = queue.pop(0) if queue else (200, {}, b"")
                    receiver._cond.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = do_PATCH = _record  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def script(self, path: str, *answers: tuple[int, dict[str, str]], body: bytes = b"") -> None:
        """Answer the next requests to ``path`` with these statuses and headers, and ``body``."""
        with self._cond:
            queue = self._answers.setdefault(path, [])
            queue.extend((status, headers, body) for status, headers in answers)

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
