"""The webhook notifier against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import hashlib
import html
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.unit.notify.builders import (
    S,
    decision,
    diagnosis,
    incident,
    outcome,
    result,
    verification,
)
from vanguard.config import NotifyTarget
from vanguard.engine.runtime import build_notifiers
from vanguard.errors import ConfigError, NotifyError
from vanguard.model import OutcomeStatus, Remedy, Severity
from vanguard.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    Message,
    WebhookNotifier,
    render,
    verify_signature,
)
from vanguard.notify.channels import CHAT_LIMIT, chat_text

pytestmark = pytest.mark.integration

SECRET = "whsec-3f9a1c0d7e"
TOKEN_PATH = "/hooks/T0001/B0002/tok3n-in-path"


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server that records every POST and answers by path."""

    server: ThreadingHTTPServer
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"


def make_handler(receiver_box: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver_box[0].deliveries.append(
                Delivery(path=self.path, headers=dict(self.headers.items()), body=body)
            )
            if self.path.startswith("/slow"):
                time.sleep(1.5)
            status = 500 if self.path.startswith("/fail") else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(box))
    server.daemon_threads = True
    box.append(Receiver(server=server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def message() -> Message:
    return Message(
        title="[resolved] leaky memory_percent: memory_leak_gradual",
        body="restarted",
        severity=Severity.info,
        incident_id="inc-42",
        undo="vanguard rollback inc-42",
    )


def test_signed_delivery_verifies_and_round_trips(receiver: Receiver) -> None:
    sent = message()
    with WebhookNotifier(receiver.base + TOKEN_PATH, SECRET) as hook:
        hook.send(sent)
        hook.send(sent)
    first, second = receiver.deliveries
    assert first.path == TOKEN_PATH
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"].startswith("vanguard/")
    assert verify_signature(first.body, SECRET, first.headers[SIGNATURE_HEADER])
    assert not verify_signature(first.body, "wrong-secret", first.headers[SIGNATURE_HEADER])
    assert Message.model_validate_json(first.body) == sent
    assert first.headers[DELIVERY_HEADER] == hashlib.sha256(first.body).hexdigest()[:32]
    assert second.headers[DELIVERY_HEADER] == first.headers[DELIVERY_HEADER]
    assert SECRET.encode() not in first.body


def test_unsigned_delivery_has_no_signature(receiver: Receiver) -> None:
    with WebhookNotifier(receiver.base + "/plain") as hook:
        hook.send(message())
    (delivery,) = receiver.deliveries
    assert SIGNATURE_HEADER not in delivery.headers
    assert DELIVERY_HEADER in delivery.headers


def test_error_status_raises_without_leaking_the_path(receiver: Receiver) -> None:
    hook = WebhookNotifier(receiver.base + "/fail" + TOKEN_PATH, SECRET)
    with hook, pytest.raises(NotifyError) as info:
        hook.send(message())
    text = str(info.value)
    assert text == f"webhook {receiver.base} answered 500 for incident inc-42"
    assert "tok3n" not in text
    assert info.value.code == "notify"


def test_slow_receiver_times_out(receiver: Receiver) -> None:
    with WebhookNotifier(receiver.base + "/slow", timeout=0.3) as hook:
        started = time.monotonic()
        with pytest.raises(NotifyError, match=r"no answer within 0\.3 s") as info:
            hook.send(message())
    assert time.monotonic() - started < 1.4
    assert info.value.__cause__ is not None


def test_unreachable_receiver_raises_action_failed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = WebhookNotifier(f"http://127.0.0.1:{port}{TOKEN_PATH}", timeout=2)
    with hook, pytest.raises(NotifyError) as info:
        hook.send(message())
    assert str(info.value) == f"webhook http://127.0.0.1:{port}: ConnectError"
    assert "tok3n" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://xn--abc-.example.org" + TOKEN_PATH, "https://xn--abc-.example.org"),
        ("https://hööks-.example.org" + TOKEN_PATH, "https://hööks-.example.org"),
        ("https://hooks.example.org" + TOKEN_PATH + "\x01", "https://hooks.example.org"),
        ("https://hooks.example.org:99999" + TOKEN_PATH, "https://hooks.example.org"),
        ("https://[::1" + TOKEN_PATH, ""),
    ],
)
def test_a_malformed_url_is_refused_when_the_channel_is_built(url: str, origin: str) -> None:
    with pytest.raises(ConfigError) as info:
        WebhookNotifier(url)
    text = str(info.value)
    assert text.startswith(f"url: webhook url{' at ' + origin if origin else ''} is malformed")
    assert "tok3n" not in text


def test_a_url_refused_below_the_client_is_a_notify_error_naming_the_host() -> None:
    """httpx raises ``InvalidURL`` and IDNA a ``ValueError``, neither an ``HTTPError``: both
    must reach the caller as ``NotifyError``, or the channels after this one are never tried."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.InvalidURL("Invalid non-printable ASCII character in URL")

    def idna(request: httpx.Request) -> httpx.Response:
        raise ValueError("A-label must not end with a hyphen")

    for handler in (refuse, idna):
        hook = WebhookNotifier(
            "https://hooks.example.org" + TOKEN_PATH, transport=httpx.MockTransport(handler)
        )
        with hook, pytest.raises(NotifyError) as info:
            hook.send(message())
        assert str(info.value).startswith("webhook https://hooks.example.org: ")
        assert "tok3n" not in str(info.value)


def test_rendered_incident_reaches_the_receiver_without_secrets(receiver: Receiver) -> None:
    db_password = "pg-pa55word-9f3"
    rendered = render(
        incident(S.diagnosed, S.approved, S.applied, S.verifying, S.resolved),
        diagnosis(
            remedy=Remedy(
                action="pgbouncer.resize",
                params={"pool": "app", "dsn": f"postgresql://app:{db_password}@127.0.0.1/app"},
            )
        ),
        decision(),
        result(possible=True, before={"size": 10, "password": db_password}),
        verification(),
        outcome(OutcomeStatus.resolved),
        secrets=[SECRET],
    )
    with WebhookNotifier(receiver.base + "/incidents", SECRET) as hook:
        hook.send(rendered)
    (delivery,) = receiver.deliveries
    received = Message.model_validate_json(delivery.body)
    assert received.undo == "vanguard rollback inc-42"
    assert "How to undo" in received.body
    assert db_password.encode() not in delivery.body
    assert SECRET.encode() not in delivery.body


def test_chat_format_posts_text_that_chat_webhooks_take(receiver: Receiver) -> None:
    with WebhookNotifier(receiver.base + TOKEN_PATH, format="chat") as hook:
        hook.send(message())
    (delivery,) = receiver.deliveries
    assert json.loads(delivery.body) == {
        "text": "*[resolved] leaky memory_percent: memory_leak_gradual*\nrestarted\n"
        "*Undo:* vanguard rollback inc-42"
    }


def test_a_long_chat_message_is_cut_and_points_to_the_rest() -> None:
    long = message().model_copy(update={"body": "step\n" * 2000})
    text = chat_text(long)
    assert len(text) <= CHAT_LIMIT
    assert "… (vanguard incidents show inc-42)\n*Undo:* vanguard rollback inc-42" in text
    assert chat_text(message()).count("\n") == 2


def test_outside_text_in_a_chat_message_cannot_mention_the_channel_or_forge_a_link() -> None:
    """A contributor names a fork's workflow: Slack's controls, a markdown link and a
    mention reach the channel as text, and read the same."""
    forged = "<https://evil.example/|vanguard rollback inc-1>"
    body = (
        f"CI <!channel> failed {forged} [vanguard rollback inc-1](https://evil.example/)\n"
        "[ref]: https://evil.example/ @here <@U024BE7LH> R&D"
    )
    sent = Message(
        title="[escalated] octo/repo ci_job_failed: CI <!here>",
        body=body,
        severity=Severity.critical,
        incident_id="inc-1",
        undo="vanguard rollback inc-1 -c /etc/vanguard/vanguard.yaml",
    )
    text = chat_text(sent)
    assert [c for c in ("<", ">", "](", "]:", "@here") if c in text] == []
    assert "&lt;!channel&gt;" in text
    assert "R&amp;D" in text
    assert text.endswith("\n*Undo:* vanguard rollback inc-1 -c /etc/vanguard/vanguard.yaml")
    shown = html.unescape(text.replace("\u200b", ""))
    assert shown == f"*{sent.title}*\n{body}\n*Undo:* {sent.undo}"


def test_a_chat_undo_line_reads_as_written() -> None:
    manual = message().model_copy(update={"undo": "git -C /srv/conf revert <commit> && reload"})
    assert chat_text(manual).endswith(
        "*Undo:* git -C /srv/conf revert &lt;commit&gt; &amp;&amp; reload"
    )


@pytest.mark.parametrize("lead", range(5))
def test_a_chat_message_is_never_cut_inside_an_escape(lead: int) -> None:
    long = message().model_copy(update={"body": "x" * lead + "<&>" * 2000})
    text = chat_text(long)
    assert len(text) <= CHAT_LIMIT
    assert re.search(r"&(?!amp;|lt;|gt;)", text) is None


def test_a_chat_url_with_its_token_comes_from_the_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_HOOK", receiver.base + TOKEN_PATH)
    (hook,) = build_notifiers([NotifyTarget(kind="webhook", url_env="CHAT_HOOK", format="chat")])
    hook.send(message())
    assert receiver.deliveries[0].path == TOKEN_PATH
    assert "tok3n" not in repr(hook)
