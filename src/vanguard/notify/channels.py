"""Outbound channels: a signed JSON webhook.

The webhook POSTs the ``Message`` as JSON, or with ``format="chat"`` as ``{"text": ...}``
(Slack, Mattermost and Teams incoming webhooks), escaped so that outside text cannot mention
the channel or forge a link, and cut to ``CHAT_LIMIT`` characters. With a secret, the header
``X-Vanguard-Signature-256: sha256=<hex>`` carries the HMAC-SHA256 of the exact body, the
way GitHub signs its deliveries, so receivers can check it with ``verify_signature``.
``X-Vanguard-Delivery`` is a digest of the body: a retried send carries the same id, so a
receiver can drop duplicates. Failures raise ``NotifyError`` naming only the scheme and host:
webhook paths often embed a token (Slack, Teams) and must not leak into logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

import httpx

from vanguard import __version__
from vanguard.errors import ConfigError, NotifyError
from vanguard.notify.base import Message
from vanguard.redact import is_placeholder

__all__ = [
    "CHAT_LIMIT",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookNotifier",
    "chat_escape",
    "chat_text",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Vanguard-Signature-256"
DELIVERY_HEADER = "X-Vanguard-Delivery"
CHAT_LIMIT = 3500
"""Characters of a chat message; Slack truncates longer ``text`` and advises under 4,000."""
_MARKDOWN_LINK = re.compile(r"\](?=\s*[(\[:])")
_MENTION = re.compile(r"@(?=\w)")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def chat_text(message: Message) -> str:
    """The message as one chat post: bold title, body, how to undo; long bodies cut.

    The title and body are ``chat_escape``d: they carry outside text (a workflow name from
    a fork's pull request, an alert's summary) that must not mention the whole channel or
    show a link whose text reads like a Vanguard command. The undo line, which Vanguard
    writes, only has ``&``, ``<`` and ``>`` escaped, so it reads and pastes exactly.
    """
    undo = f"\n*Undo:* {_entities(message.undo)}" if message.undo else ""
    head = f"*{chat_escape(message.title)}*\n"
    room = CHAT_LIMIT - len(head) - len(undo)
    body = chat_escape(message.body)
    if len(body) > room:
        more = f"\n… (vanguard incidents show {_entities(message.incident_id)})"
        cut = _PARTIAL_ENTITY.sub("", body[: max(0, room - len(more))])
        body = cut.rstrip() + more
    return head + body + undo


def chat_escape(text: str) -> str:
    """``text`` shown as it is by Slack, Mattermost and Teams, never acted on as a control.

    ``&``, ``<`` and ``>`` become entities, as Slack asks, so ``<!channel>`` or
    ``<https://…|label>`` are shown, not acted on. For the markdown receivers a zero-width
    space goes after a ``]`` that a link or reference would follow, and after an ``@``
    before a name, so ``[text](url)`` stays text and ``@channel`` mentions nobody, while
    both read the same.
    """
    text = _MARKDOWN_LINK.sub("]\u200b", _entities(text))
    return _MENTION.sub("@\u200b", text)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=`` and the hex HMAC-SHA256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, secret: str, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret`` (constant time)."""
    if not header:
        return False
    return hmac.compare_digest(sign(body, secret), header)


class WebhookNotifier:
    """POSTs each message as JSON to ``url``, signed when a ``secret`` is given."""

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        format: Literal["vanguard", "chat"] = "vanguard",
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
            host = httpx.URL(url).host
        except (httpx.InvalidURL, ValueError) as exc:
            raise ConfigError(
                f"webhook url{_origin(url)} is malformed ({type(exc).__name__}): check its "
                "host, port and characters",
                key="url",
            ) from exc
        if parts.scheme not in ("http", "https") or not host:
            raise ConfigError(
                f"webhook url must be http(s)://host/..., got scheme {parts.scheme!r}", key="url"
            )
        if secret is not None and is_placeholder(secret):
            raise ConfigError("webhook secret is empty or a placeholder", key="secret")
        if not 0 < timeout <= 300:
            raise ConfigError(f"timeout must be in (0, 300] seconds, got {timeout}", key="timeout")
        self.url = url
        self.format = format
        self.channel = f"webhook:{format}:{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        """Who this channel is, for the notify ledger: the same URL and format, the same
        channel, wherever it stands in ``notify:``."""
        self.timeout = timeout
        self._secret = secret
        self._where = f"{parts.scheme}://{parts.hostname}" + (f":{port}" if port else "")
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        signed = "signed" if self._secret is not None else "unsigned"
        return f"WebhookNotifier({self._where}, {signed})"

    def send(self, message: Message) -> None:
        """Deliver ``message``; a transport error, a URL httpx refuses or a non-2xx answer
        raises ``NotifyError``, so the channels after this one are still tried."""
        if self.format == "chat":
            body = json.dumps({"text": chat_text(message)}, ensure_ascii=False).encode()
        else:
            body = message.model_dump_json().encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"vanguard/{__version__}",
            DELIVERY_HEADER: hashlib.sha256(body).hexdigest()[:32],
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        try:
            response = self._client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise NotifyError(
                f"webhook {self._where}: no answer within {self.timeout:g} s"
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise NotifyError(f"webhook {self._where}: {type(exc).__name__}") from exc
        if not response.is_success:
            raise NotifyError(
                f"webhook {self._where} answered {response.status_code} for incident "
                f"{message.incident_id}"
            )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _origin(url: str) -> str:
    """`` at scheme://host`` of ``url`` as far as it parses, for a message; never its path."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return ""
    return f" at {parts.scheme}://{host}" if host else ""
