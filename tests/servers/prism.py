"""GitHub's REST API served by Prism from GitHub's own OpenAPI description, on loopback.

The full description (13 MB, 800+ paths) takes Prism ~13 s to load, so ``trim_spec`` keeps
only the operations the CI agent calls, with every component they reference, and patches the
four problems REAL_COMPONENTS.md §4 lists: ``application/vnd.github+json`` copies of every
JSON response (GitHub clients send that Accept header), ``nullable`` moved off ``oneOf``
schemas (Prism otherwise skips request-body validation), no ``x-webhooks`` (dangling refs),
and the job/run log redirects pointed at a loopback ``LogServer`` instead of GitHub. A fifth:
path parameters declared ``oneOf: [integer, string]`` (``workflow_id``: an id or a file
name) become ``anyOf``, since a numeric id matches both branches and Prism refuses it. A
sixth: an attempt's jobs listing answers with the example job failed (the agent reads only
failed jobs, and the description's one example passed).

Prism is stateless; a ``RecordingProxy`` in front of it keeps what the code under test sent,
so tests can assert on requests (e.g. exactly one re-run) as well as on status codes. It can
also hold a run's state (``runs``), which a re-run moves on as GitHub does: Prism's example
run is always ``queued``, which no failed run is.
"""

from __future__ import annotations

import copy
import http.client
import json
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.servers.process import read_tail, require_binary, stop_popen
from vanguard.netutil import free_port, wait_for_port

__all__ = [
    "LOG_HOST",
    "OPERATIONS",
    "LogServer",
    "PrismServer",
    "RecordedRequest",
    "RecordingProxy",
    "node_modules",
    "patch_spec",
    "trim_spec",
]

HOST = "127.0.0.1"
LOG_HOST = "https://pipelines.actions.githubusercontent.com"
REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_PATH = re.compile(r"/repos/[^/]+/[^/]+/actions/runs/(\d+)(/rerun-failed-jobs)?(?:\?.*)?$")

OPERATIONS: dict[str, tuple[str, ...]] = {
    "/rate_limit": ("get",),
    "/app/installations/{installation_id}/access_tokens": ("post",),
    "/repos/{owner}/{repo}": ("get",),
    "/repos/{owner}/{repo}/actions/runs": ("get",),
    "/repos/{owner}/{repo}/actions/runs/{run_id}": ("get",),
    "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs": ("get",),
    "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs": ("get",),
    "/repos/{owner}/{repo}/actions/runs/{run_id}/logs": ("get",),
    "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun-failed-jobs": ("post",),
    "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel": ("post",),
    "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs": ("get",),
    "/repos/{owner}/{repo}/actions/jobs/{job_id}": ("get",),
    "/repos/{owner}/{repo}/actions/jobs/{job_id}/logs": ("get",),
    "/repos/{owner}/{repo}/actions/jobs/{job_id}/rerun": ("post",),
    "/repos/{owner}/{repo}/issues": ("get", "post"),
    "/repos/{owner}/{repo}/issues/{issue_number}": ("get", "patch"),
    "/repos/{owner}/{repo}/issues/{issue_number}/comments": ("post",),
    "/repos/{owner}/{repo}/issues/{issue_number}/labels": ("post",),
    "/repos/{owner}/{repo}/contents/{path}": ("get",),
    "/repos/{owner}/{repo}/collaborators/{username}/permission": ("get",),
}
"""Every REST operation the CI agent uses: runs, jobs, logs, re-runs, issues, permissions."""


def node_modules() -> Path:
    """The repository's ``node_modules`` (``npm ci`` from package-lock.json)."""
    return REPO_ROOT / "node_modules"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def trim_spec(spec: dict[str, Any], operations: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Keep ``operations`` and the transitive closure of the components they reference."""
    paths: dict[str, Any] = {}
    for path, methods in operations.items():
        item = spec["paths"][path]
        paths[path] = {m: item[m] for m in methods} | (
            {"parameters": item["parameters"]} if "parameters" in item else {}
        )
    components: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen or not ref.startswith("#/components/"):
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/", 3)
        value = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        pending.extend(_refs(value))
    return {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec["servers"],
        "paths": paths,
        "components": components,
    }


def _move_nullable(node: Any) -> int:
    """Move ``nullable`` from a type-less ``oneOf``/``anyOf`` schema into its first typed branch."""
    moved = 0
    if isinstance(node, dict):
        for key in ("oneOf", "anyOf"):
            branches = node.get(key)
            if node.get("nullable") is True and "type" not in node and isinstance(branches, list):
                typed = next((b for b in branches if isinstance(b, dict) and "type" in b), None)
                if typed is not None:
                    del node["nullable"]
                    typed["nullable"] = True
                    moved += 1
        for value in node.values():
            moved += _move_nullable(value)
    elif isinstance(node, list):
        for value in node:
            moved += _move_nullable(value)
    return moved


def patch_spec(spec: dict[str, Any], *, log_url: str) -> dict[str, Any]:
    """The six fixes that make Prism behave like GitHub for our calls (see module doc)."""
    spec = copy.deepcopy(spec)
    spec.pop("x-webhooks", None)
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content")
                if isinstance(content, dict) and "application/json" in content:
                    content.setdefault("application/vnd.github+json", content["application/json"])
                location = response.get("headers", {}).get("Location")
                if isinstance(location, dict) and isinstance(location.get("example"), str):
                    location["example"] = location["example"].replace(LOG_HOST, log_url)
    for response in spec["components"].get("responses", {}).values():
        content = response.get("content")
        if isinstance(content, dict) and "application/json" in content:
            content.setdefault("application/vnd.github+json", content["application/json"])
    _move_nullable(spec)
    for parameter in spec["components"].get("parameters", {}).values():
        schema = parameter.get("schema", {})
        if parameter.get("in") == "path" and "oneOf" in schema:
            schema["anyOf"] = schema.pop("oneOf")
    _failed_attempt_jobs(spec)
    return spec


ATTEMPT_JOBS = "/repos/{owner}/{repo}/actions/runs/{run_id}/attempts/{attempt_number}/jobs"


def _failed_attempt_jobs(spec: dict[str, Any]) -> None:
    """Answer an attempt's jobs listing with the spec's example job, failed.

    The only example is a job that passed, and the agent explains the failed jobs of the
    attempt it was told about: a failed run's attempt answers as GitHub would, while the
    run's ``filter=latest`` listing keeps the passing example.
    """
    if ATTEMPT_JOBS not in spec["paths"]:
        return
    examples = spec["components"].get("examples", {})
    failed = copy.deepcopy(examples["job-paginated"]["value"])
    for job in failed["jobs"]:
        job["conclusion"] = "failure"
    responses = spec["paths"][ATTEMPT_JOBS]["get"]["responses"]["200"]["content"]
    for content in responses.values():
        content["examples"] = {"default": {"value": failed}}


class LogServer:
    """Serves ``text`` (bytes) at every path: where the patched log redirects land."""

    def __init__(self) -> None:
        self.port = free_port()
        self.body = b""
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class RecordingProxy:
    """Forwards to Prism verbatim (redirects included) and records each request it saw."""

    upstream_port: int
    port: int = field(default_factory=free_port)
    requests: list[RecordedRequest] = field(default_factory=list)
    runs: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Fields a test sets on a run: a GET of it answers Prism's example with them, and a
    re-run Prism accepts starts its next attempt, ``queued``."""

    def __post_init__(self) -> None:
        proxy = self
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn = http.client.HTTPConnection(HOST, proxy.upstream_port, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    reply = conn.getresponse()
                    payload = reply.read()
                    with lock:
                        proxy.requests.append(
                            RecordedRequest(self.command, self.path, reply.status, body, headers)
                        )
                        payload = proxy._run_state(self.command, self.path, reply.status, payload)
                    self.send_response(reply.status)
                    for key, value in reply.getheaders():
                        if key.lower() not in {"transfer-encoding", "connection", "content-length"}:
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    conn.close()

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def do_PATCH(self) -> None:
                self._forward()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((HOST, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _run_state(self, method: str, path: str, status: int, payload: bytes) -> bytes:
        """Prism's answer, with the run's state from ``runs`` (see there)."""
        match = RUN_PATH.match(path)
        if match is None or int(match[1]) not in self.runs or status >= 300:
            return payload
        run = self.runs[int(match[1])]
        if match[2]:
            attempt = int(run.get("run_attempt", 1)) + 1
            run.update(run_attempt=attempt, status="queued", conclusion=None)
            return payload
        if method != "GET":
            return payload
        return json.dumps({**json.loads(payload), **run}).encode()

    def sent(self, method: str, path_part: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class PrismServer:
    """A running Prism mock of the trimmed, patched GitHub API, with its log server and proxy."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    logs: LogServer
    proxy: RecordingProxy

    @property
    def direct_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The address to give clients: the recording proxy in front of Prism."""
        return self.proxy.url

    @classmethod
    def start(cls, port: int, *, timeout_s: float = 60.0) -> PrismServer:
        modules = node_modules()
        binary = require_binary("prism", modules / ".bin" / "prism")
        source = modules / "@octokit" / "openapi" / "generated" / "api.github.com.json"
        if not source.is_file():
            require_binary("@octokit/openapi", source)
        root = Path(tempfile.mkdtemp(prefix="vanguard-prism-"))
        logs = LogServer()
        spec = patch_spec(trim_spec(json.loads(source.read_text()), OPERATIONS), log_url=logs.url)
        spec_file = root / "github-api.trim.json"
        spec_file.write_text(json.dumps(spec))
        log_file = root / "prism.log"
        with log_file.open("wb") as out:
            proc = subprocess.Popen(
                [str(binary), "mock", "-h", HOST, "-p", str(port), str(spec_file)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not wait_for_port(HOST, port, timeout_s=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_popen(proc)
                logs.stop()
                raise RuntimeError(f"prism did not start on {port}: {read_tail(log_file)}")
        return cls(root=root, port=port, proc=proc, logs=logs, proxy=RecordingProxy(port))

    def reset(self) -> None:
        """Forget recorded requests, run states and the served log (between tests)."""
        self.proxy.requests.clear()
        self.proxy.runs.clear()
        self.logs.body = b""
        self.logs.hits = 0

    def stop(self) -> None:
        self.proxy.stop()
        self.logs.stop()
        stop_popen(self.proc)
