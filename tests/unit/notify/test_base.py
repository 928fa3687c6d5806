"""In-process notifiers and the webhook notifier's refusal of bad settings."""

from __future__ import annotations

import logging

import pydantic
import pytest

from vanguard.errors import ConfigError, NotifyError
from vanguard.model import Severity
from vanguard.notify import (
    BroadcastNotifier,
    LogNotifier,
    MemoryNotifier,
    Message,
    Notifier,
    WebhookNotifier,
    sign,
    verify_signature,
)
from vanguard.notify.base import channel_ids


def message(severity: Severity = Severity.info) -> Message:
    return Message(title="t", body="b", severity=severity, incident_id="i", undo=None)


def test_memory_notifier_keeps_messages_in_order() -> None:
    notifier = MemoryNotifier()
    assert isinstance(notifier, Notifier)
    notifier.send(message(Severity.info))
    notifier.send(message(Severity.critical))
    assert [m.severity for m in notifier.messages] == [Severity.info, Severity.critical]


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.info, logging.INFO),
        (Severity.warning, logging.WARNING),
        (Severity.critical, logging.ERROR),
    ],
)
def test_log_notifier_logs_at_the_severity_level(
    severity: Severity, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = LogNotifier()
    assert isinstance(notifier, Notifier)
    with caplog.at_level(logging.DEBUG, logger="vanguard.notify"):
        notifier.send(message(severity))
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(level, "t\nb")]
    assert getattr(caplog.records[0], "incident_id", None) == "i"


def test_message_is_frozen_and_needs_a_title() -> None:
    with pytest.raises(pydantic.ValidationError):
        Message(title="", body="b", severity=Severity.info, incident_id="i")
    with pytest.raises(pydantic.ValidationError):
        message().title = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "secret", "key"),
    [
        ("ftp://host/x", None, "url"),
        ("not a url", None, "url"),
        ("https://hooks.example/x", "", "secret"),
        ("https://hooks.example/x", "  ", "secret"),
        ("https://hooks.example/x", "changeme", "secret"),
        ("https://hooks.example/x", "CHANGEME", "secret"),
    ],
)
def test_webhook_refuses_bad_settings(url: str, secret: str | None, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        WebhookNotifier(url, secret)
    assert info.value.key == key


def test_webhook_refuses_unbounded_timeout() -> None:
    with pytest.raises(ConfigError, match="timeout"):
        WebhookNotifier("https://hooks.example/x", timeout=0)


def test_webhook_repr_hides_path_and_secret() -> None:
    with WebhookNotifier("https://hooks.example:8443/T000/B000/XXXX", "s3cr3t-value") as hook:
        text = repr(hook)
    assert text == "WebhookNotifier(https://hooks.example:8443, signed)"


def test_signature_round_trip() -> None:
    body = b'{"a": 1}'
    header = sign(body, "k3y-value")
    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert verify_signature(body, "k3y-value", header)
    assert not verify_signature(body + b" ", "k3y-value", header)
    assert not verify_signature(body, "other-key", header)
    assert not verify_signature(body, "k3y-value", None)


class Broken:
    """A channel that always fails, the way a real one reports it."""

    def __repr__(self) -> str:
        return "Broken()"

    def send(self, message: Message) -> None:
        raise NotifyError("receiver answered 503")


def test_broadcast_reaches_every_channel_and_reports_failures() -> None:
    first, last = MemoryNotifier(), MemoryNotifier()
    broadcast = BroadcastNotifier([first, Broken(), last])
    assert isinstance(broadcast, Notifier)
    with pytest.raises(NotifyError) as info:
        broadcast.send(message())
    assert len(first.messages) == len(last.messages) == 1
    assert (
        str(info.value) == "1 of 3 channels failed for incident i: Broken(): receiver answered 503"
    )
    assert isinstance(info.value.__cause__, NotifyError)


def test_broadcast_without_failures_is_silent() -> None:
    sink = MemoryNotifier()
    BroadcastNotifier([sink, sink]).send(message())
    assert len(sink.messages) == 2


def test_a_channel_is_named_by_what_it_is_not_where_it_stands() -> None:
    """The notify ledger keys deliveries by these names: editing ``notify:`` around a
    channel must not hand it another channel's record."""
    slack = "https://hooks.slack.example/services/T0/B0/tok3n"
    ids = channel_ids(
        [
            WebhookNotifier(slack, format="chat"),
            LogNotifier(),
            WebhookNotifier("https://hooks.example.org/vanguard"),
            MemoryNotifier(),
            MemoryNotifier(),
            Broken(),
        ]
    )
    assert ids[1:] == ["log", ids[2], "memory", "memory#2", "Broken"]
    assert ids[0].startswith("webhook:chat:")
    assert ids[2].startswith("webhook:vanguard:")
    assert "tok3n" not in ids[0]
    assert channel_ids([LogNotifier(), WebhookNotifier(slack, format="chat")])[1] == ids[0]
    assert channel_ids([WebhookNotifier(slack)])[0] != ids[0], "another format, another channel"
