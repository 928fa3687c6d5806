"""Call a webhook as a remedy: the ``webhook.call`` action.

Many fixes live behind someone else's endpoint: a runbook automation, a deploy system's
"scale out" hook, a Jenkins job trigger. ``webhook.call`` sends one JSON request there,
signed like Vanguard's notifications (``X-Vanguard-Signature-256``, HMAC-SHA256 of the exact
body) when a secret is configured, and carrying the action's idempotency key in the
``Idempotency-Key`` header.

Delivery over HTTP is at least once, never exactly once: when the worker dies after sending
and before recording the answer, nobody can know whether the receiver acted. So the key
is begun in the ``Ledger`` before the first byte is sent, and a replayed apply sends again
with the **same** ``Idempotency-Key`` (and the same body, hence the same signature): the
receiver drops the repeat. A finished key returns the recorded answer and sends nothing.

Transient failures (no connection, a timeout, 408, 425, 429, 5xx) are retried inside the
call, ``attempts`` times in all, waiting ``backoff_s`` × 2ⁿ or the answer's ``Retry-After``
(at most ``max_wait_s``); any other answer outside ``expect_status`` (2xx by default) fails
the action at once. An action with ``undo_url`` can be rolled back: the same request goes
there with ``"undo": true``. Without it, rollback escalates with instructions.

URLs that embed a token (Slack, Jenkins) belong in an environment variable (``url_env``,
``undo_url_env``): the records keep the variable's name and the URL's scheme and host only.
An inline ``url`` or ``undo_url`` whose path or query looks like it holds a secret is
refused, since an inline ``undo_url`` is kept whole in the undo record (a rollback calls
it) and a token in a path cannot be recognised to be masked later.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from vanguard import __version__
from vanguard.act.base import Ledger, begin_once, cannot_undo, validate_params
from vanguard.clock import utcnow
from vanguard.config import resolve_secret
from vanguard.errors import ActionFailed, AdapterError, ConfigError
from vanguard.model import ActionRequest, ActionResult, Check, Plan, RollbackRequest, UndoRecord
from vanguard.notify.channels import DELIVERY_HEADER, SIGNATURE_HEADER, sign
from vanguard.redact import REDACTED, redact_text, url_holds_secret
from vanguard.yamlsource import EnvName

__all__ = [
    "IDEMPOTENCY_HEADER",
    "MAX_CALL_S",
    "RETRYABLE_STATUS",
    "WebhookCallAdapter",
    "WebhookCallParams",
    "retry_after_s",
]

IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
"""Answers that say "not now" rather than "no": the call is sent again after a wait."""
_ANSWER_CHARS = 300
MAX_CALL_S = 240.0
"""Longest a call may take with every retry, inside the engine's 5-minute action timeout."""


def _where(url: str) -> str:
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _answer(text: str, url: str) -> str:
    """What the receiver answered, as it may be recorded: without the called URL's path.

    A receiver may echo the URL it was called at, and a URL from ``url_env`` carries its
    token in the path or query, which ``redact_text`` cannot recognise. The path, the query
    and every long segment of them (where tokens live) are masked before the text is cut.
    """
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    pieces = [parts.path + query, parts.path, parts.query]
    pieces += [piece for piece in re.split(r"[/?&=;]", parts.path + query) if len(piece) >= 16]
    for piece in sorted({x for x in pieces if len(x) > 1}, key=len, reverse=True):
        text = text.replace(piece, REDACTED).replace(piece.replace("/", "\\/"), REDACTED)
    return redact_text(text)[:_ANSWER_CHARS]


def _check_url(value: str, what: str) -> str:
    """``value`` if it is an http(s) URL one can call; the message never shows its path."""
    try:
        parts = urlsplit(value)
        where = _where(value)
    except ValueError:
        raise ValueError(
            f"{what} is not a URL one can call: its host or port is malformed "
            "(a port is a number up to 65535)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be http(s)://host/..., got {where!r}")
    if parts.username or parts.password:
        raise ValueError(
            f"{what} holds credentials, which would be recorded with every action; "
            f"use {what}_env or a secret_env signature instead"
        )
    return value


def _check_inline(value: str, what: str) -> None:
    """Refuse an inline URL whose path or query looks like it holds a secret.

    Inline URLs are kept in the records: a token in a path segment (Slack, Jenkins) is not
    recognisable there afterwards, so it is caught here; the message never shows it.
    """
    if url_holds_secret(value):
        raise ValueError(
            f"{what} looks like it holds a secret in its path or query (a token), which "
            f"would be recorded with every action; put the URL in an environment variable "
            f"and name that variable in {what}_env instead"
        )


class WebhookCallParams(BaseModel):
    """Where to send the call and how: from the pattern's remedy and the service's config."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    url_env: EnvName | None = None
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    body: dict[str, JsonValue] = Field(default_factory=dict)
    secret_env: EnvName | None = None
    secret_file: str | None = None
    expect_status: tuple[int, ...] = ()
    undo_url: str | None = None
    undo_url_env: EnvName | None = None
    undo_body: dict[str, JsonValue] = Field(default_factory=dict)
    timeout_s: float = Field(default=10.0, gt=0.0, le=120.0)
    attempts: int = Field(default=3, ge=1, le=10)
    backoff_s: float = Field(default=1.0, ge=0.0, le=60.0)
    max_wait_s: float = Field(default=30.0, ge=0.0, le=300.0)

    @model_validator(mode="after")
    def _one_of_each(self) -> WebhookCallParams:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("exactly one of 'url' and 'url_env' is needed")
        if self.undo_url is not None and self.undo_url_env is not None:
            raise ValueError("'undo_url' and 'undo_url_env' exclude each other")
        if self.secret_env is not None and self.secret_file is not None:
            raise ValueError("'secret_env' and 'secret_file' exclude each other")
        if self.url is not None:
            _check_url(self.url, "url")
            _check_inline(self.url, "url")
        if self.undo_url is not None:
            _check_url(self.undo_url, "undo_url")
            _check_inline(self.undo_url, "undo_url")
        if any(not 100 <= code <= 599 for code in self.expect_status):
            raise ValueError("expect_status holds HTTP status codes, 100..599")
        worst = self.attempts * self.timeout_s + (self.attempts - 1) * self.max_wait_s
        if worst > MAX_CALL_S:
            raise ValueError(
                f"attempts × timeout_s + (attempts − 1) × max_wait_s is {worst:g} s; keep it "
                f"within {MAX_CALL_S:g} s, inside the engine's 5-minute limit for an action"
            )
        return self

    @property
    def undoable(self) -> bool:
        return self.undo_url is not None or self.undo_url_env is not None

    def accepts(self, status: int) -> bool:
        return _accepted(status, self.expect_status)


def _accepted(status: int, expected: tuple[int, ...]) -> bool:
    return status in expected if expected else 200 <= status < 300


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _resolve_url(url: str | None, env: str | None, what: str) -> str:
    if url is not None:
        return url
    value = resolve_secret(env=env, file=None, what=f"{what}_env")
    try:
        return _check_url(value, f"{what}_env")
    except ValueError as exc:
        raise ConfigError(str(exc), key=f"{what}_env") from exc


class WebhookCallAdapter:
    """``webhook.call``: one signed JSON request per idempotency key, retried while transient."""

    kind: ClassVar[str] = "webhook.call"
    params_model: ClassVar[type[BaseModel]] = WebhookCallParams

    def __init__(
        self,
        ledger: Ledger,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.sleep = sleep
        self.transport = transport

    @staticmethod
    def params(raw: dict[str, JsonValue]) -> WebhookCallParams:
        return validate_params(WebhookCallParams, "webhook.call", raw)

    def _secret(self, p: WebhookCallParams) -> str | None:
        if p.secret_env is None and p.secret_file is None:
            return None
        file = Path(p.secret_file) if p.secret_file is not None else None
        what = "secret_env" if p.secret_env is not None else "secret_file"
        return resolve_secret(env=p.secret_env, file=file, what=what)

    def plan(self, request: ActionRequest) -> Plan:
        p = self.params(request.params)
        where = _where(p.url) if p.url else f"the URL in ${p.url_env}"
        signed = " signed (HMAC-SHA256)" if p.secret_env or p.secret_file else ""
        steps = [
            f"{p.method} the pattern's body and the incident's id as JSON{signed} to {where} with "
            f"{IDEMPOTENCY_HEADER}: {request.idempotency_key}",
            f"retry up to {p.attempts} attempts while the answer is transient "
            "(no connection, timeout, 408/425/429/5xx)",
            "expect "
            + (", ".join(map(str, p.expect_status)) if p.expect_status else "a 2xx answer"),
        ]
        if p.undoable:
            target = _where(p.undo_url) if p.undo_url else f"the URL in ${p.undo_url_env}"
            steps.append(f'undo: the same call with "undo": true to {target}')
        return Plan(
            action=self.kind, target=request.target, steps=tuple(steps), undoable=p.undoable
        )

    def _payload(
        self, body: dict[str, JsonValue], key: str, incident_id: str, target: str, undo: bool
    ) -> bytes:
        vanguard: dict[str, JsonValue] = {
            "action": self.kind,
            "incident_id": incident_id,
            "target": target,
            "idempotency_key": key,
            "undo": undo,
        }
        return json.dumps({**body, "vanguard": vanguard}, sort_keys=True).encode()

    def _send(
        self, p: WebhookCallParams, url: str, payload: bytes, key: str, secret: str | None
    ) -> tuple[int, str, int]:
        """Send until a final answer: ``(status, answer as recorded, attempts used)``."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"vanguard/{__version__}",
            IDEMPOTENCY_HEADER: key,
            DELIVERY_HEADER: hashlib.sha256(key.encode()).hexdigest()[:32],
        }
        if secret is not None:
            headers[SIGNATURE_HEADER] = sign(payload, secret)
        where = _where(url)
        problem = ""
        with httpx.Client(timeout=p.timeout_s, transport=self.transport) as client:
            for attempt in range(1, p.attempts + 1):
                wait = p.backoff_s * 2 ** (attempt - 1)
                try:
                    response = client.request(p.method, url, content=payload, headers=headers)
                except httpx.TimeoutException:
                    problem = f"no answer within {p.timeout_s:g} s"
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                else:
                    status = response.status_code
                    if p.accepts(status) or status not in RETRYABLE_STATUS:
                        return status, _answer(response.text, url), attempt
                    problem = f"answered {status}"
                    asked = retry_after_s(response.headers.get("Retry-After"), self.clock())
                    if asked is not None:
                        wait = asked
                if attempt < p.attempts:
                    self.sleep(min(wait, p.max_wait_s))
        raise AdapterError(f"webhook {where}: {problem} after {p.attempts} attempt(s)")

    def _deliver(
        self, p: WebhookCallParams, url: str, payload: bytes, key: str, secret: str | None
    ) -> tuple[int, str, int]:
        status, answer, attempts = self._send(p, url, payload, key, secret)
        if not p.accepts(status):
            raise ActionFailed(f"webhook {_where(url)} answered {status}: {answer[:120]!r}")
        return status, answer, attempts

    def apply(self, request: ActionRequest) -> ActionResult:
        p = self.params(request.params)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        url = _resolve_url(p.url, p.url_env, "url")
        secret = self._secret(p)
        payload = self._payload(p.body, key, request.incident_id, request.target, undo=False)
        replay = entry is not None
        if entry is None:
            finished = begin_once(self.ledger, key, {"url": _where(url), "method": p.method})
            if finished is not None:
                return finished
        status, answer, attempts = self._deliver(p, url, payload, key, secret)
        undo_params: dict[str, JsonValue] = {
            "undo_url": p.undo_url,
            "undo_url_env": p.undo_url_env,
            "undo_body": p.undo_body,
            "method": p.method,
            "secret_env": p.secret_env,
            "secret_file": p.secret_file,
            "expect_status": list(p.expect_status),
            "timeout_s": p.timeout_s,
            "attempts": p.attempts,
            "backoff_s": p.backoff_s,
            "max_wait_s": p.max_wait_s,
        }
        result = ActionResult(
            idempotency_key=key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            before={"url": _where(url), "method": p.method, "replayed": replay},
            after={
                "url": _where(url),
                "status": status,
                "attempts": attempts,
                "answer": answer,
                "expect_status": list(p.expect_status),
            },
            undo=UndoRecord(
                action=self.kind,
                target=request.target,
                possible=p.undoable,
                params=undo_params,
                instructions=_instructions(p, url, key, request.incident_id),
            ),
            message=f"called {_where(url)}: {status} after {attempts} attempt(s)"
            + (
                " (sent again with the same idempotency key after an interrupted call)"
                if replay
                else ""
            ),
            finished_at=self.clock(),
        )
        self.ledger.finish(key, result)
        return result

    def verify(self, result: ActionResult) -> Check:
        """The receiver accepted the call; what it changed is judged by the metrics."""
        status = result.after.get("status")
        expected = result.after.get("expect_status")
        codes = (
            tuple(c for c in expected if isinstance(c, int)) if isinstance(expected, list) else ()
        )
        ok = isinstance(status, int) and _accepted(status, codes)
        observed: dict[str, JsonValue] = {"status": status, "url": result.after.get("url")}
        reason = (
            f"{result.after.get('url')} accepted the call ({status})"
            if ok
            else f"{result.after.get('url')} did not accept the call ({status})"
        )
        return Check(ok=ok, reason=reason, observed=observed)

    def rollback(self, request: RollbackRequest) -> ActionResult:
        """Send the undo call (same body, ``"undo": true``) when the action has an undo URL."""
        undo = request.undo
        key = request.idempotency_key
        if not undo.possible:
            return cannot_undo(self.kind, request, "this webhook call", self.clock())
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        raw = dict(undo.params)
        p = self.params(
            {
                **{k: v for k, v in raw.items() if k != "undo_body"},
                "url": raw.get("undo_url"),
                "url_env": raw.get("undo_url_env"),
                "body": raw.get("undo_body") or {},
            }
        )
        url = _resolve_url(p.url, p.url_env, "undo_url")
        secret = self._secret(p)
        payload = self._payload(p.body, key, request.incident_id, undo.target, undo=True)
        if entry is None:
            finished = begin_once(self.ledger, key, {"url": _where(url), "method": p.method})
            if finished is not None:
                return finished
        status, answer, attempts = self._deliver(p, url, payload, key, secret)
        return self._finish_rollback(request, url, status, answer, attempts)

    def _finish_rollback(
        self, request: RollbackRequest, url: str, status: int, answer: str, attempts: int
    ) -> ActionResult:
        undo = request.undo
        result = ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=undo.target,
            applied=True,
            before={"url": _where(url)},
            after={
                "url": _where(url),
                "status": status,
                "attempts": attempts,
                "answer": answer,
                "undo": True,
            },
            undo=UndoRecord(
                action=self.kind,
                target=undo.target,
                possible=False,
                instructions="this was the undo call; repeat the original action to redo it",
            ),
            message=f"undo call to {_where(url)}: {status} after {attempts} attempt(s)",
            finished_at=self.clock(),
        )
        self.ledger.finish(request.idempotency_key, result)
        return result


def _instructions(p: WebhookCallParams, url: str, key: str, incident_id: str) -> str:
    if p.undoable:
        target = _where(p.undo_url) if p.undo_url else f"the URL in ${p.undo_url_env}"
        return (
            f"vanguard rollback {incident_id} sends the undo call to {target}; by hand, "
            'send the same JSON with "undo": true to it'
        )
    return (
        f"the receiver at {_where(url)} was called with {IDEMPOTENCY_HEADER}: {key}; "
        "Vanguard has no undo URL for it: reverse what that receiver did by hand"
    )
