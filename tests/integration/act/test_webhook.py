"""The ``webhook.call`` adapter against a real HTTP server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import json

import pytest
from pydantic import JsonValue

from tests.servers.webhook import WebhookReceiver
from vanguard.act.base import MemoryLedger
from vanguard.act.webhook import IDEMPOTENCY_HEADER, WebhookCallAdapter
from vanguard.errors import ActionFailed, ConfigError
from vanguard.model import ActionRequest, RollbackRequest
from vanguard.notify import SIGNATURE_HEADER, verify_signature

pytestmark = pytest.mark.integration

SECRET = "hooksec-81d0f2a9c4"


def _request(params: dict[str, JsonValue], key: str = "inc-1:apply") -> ActionRequest:
    return ActionRequest(
        idempotency_key=key,
        incident_id="inc-1",
        action="webhook.call",
        target="checkout",
        params=params,
    )


def _adapter(ledger: MemoryLedger | None = None) -> tuple[WebhookCallAdapter, list[float]]:
    waits: list[float] = []
    return WebhookCallAdapter(ledger or MemoryLedger(), sleep=waits.append), waits


def test_call_is_signed_keyed_and_sent_once_per_key(
    webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    adapter, _ = _adapter()
    params: dict[str, JsonValue] = {
        "url": webhook_receiver.url("/scale-out"),
        "body": {"replicas": "+1"},
        "secret_env": "HOOK_SECRET",
    }
    result = adapter.apply(_request(params))
    again = adapter.apply(_request(params))

    assert again == result
    assert len(webhook_receiver.received) == 1
    got = webhook_receiver.received[0]
    assert got.method == "POST"
    assert got.path == "/scale-out"
    assert got.headers[IDEMPOTENCY_HEADER] == "inc-1:apply"
    assert verify_signature(got.raw, SECRET, got.headers[SIGNATURE_HEADER])
    assert got.body["replicas"] == "+1"
    assert got.body["vanguard"] == {
        "action": "webhook.call",
        "incident_id": "inc-1",
        "target": "checkout",
        "idempotency_key": "inc-1:apply",
        "undo": False,
    }
    assert result.applied
    assert result.after["status"] == 200
    check = adapter.verify(result)
    assert check.ok, check.reason
    assert SECRET not in result.model_dump_json()
    assert not result.undo.possible
    assert "by hand" in result.undo.instructions


def test_transient_answers_are_retried_with_the_same_key(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script("/hook", (503, {"Retry-After": "2"}), (502, {}))
    adapter, waits = _adapter()
    result = adapter.apply(_request({"url": webhook_receiver.url("/hook"), "backoff_s": 0.5}))

    assert result.after["attempts"] == 3
    keys = {r.headers[IDEMPOTENCY_HEADER] for r in webhook_receiver.received}
    bodies = {r.raw for r in webhook_receiver.received}
    assert len(webhook_receiver.received) == 3
    assert keys == {"inc-1:apply"}
    assert len(bodies) == 1
    assert waits == [2.0, 1.0]


def test_a_refusal_fails_at_once_and_a_persistent_outage_after_the_attempts(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.script("/refuse", (403, {}))
    adapter, waits = _adapter()
    with pytest.raises(ActionFailed, match="answered 403"):
        adapter.apply(_request({"url": webhook_receiver.url("/refuse")}))
    assert len(webhook_receiver.received) == 1
    assert waits == []

    webhook_receiver.script("/down", (503, {}), (503, {}), (503, {}))
    with pytest.raises(Exception, match="answered 503 after 3 attempt"):
        adapter.apply(_request({"url": webhook_receiver.url("/down")}, key="inc-2:apply"))
    assert sum(r.path == "/down" for r in webhook_receiver.received) == 3


def test_expected_status_is_honoured(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.script("/jenkins", (201, {}))
    adapter, _ = _adapter()
    with pytest.raises(ActionFailed, match="answered 201"):
        adapter.apply(_request({"url": webhook_receiver.url("/jenkins"), "expect_status": [202]}))


def test_an_interrupted_call_is_sent_again_with_the_same_key(
    webhook_receiver: WebhookReceiver,
) -> None:
    ledger = MemoryLedger()
    params: dict[str, JsonValue] = {"url": webhook_receiver.url("/hook"), "method": "PUT"}
    first, _ = _adapter(ledger)
    first.apply(_request(params))
    # The worker died after sending and before recording: the key is begun, not finished.
    ledger.begin("inc-9:apply", {"url": "http://127.0.0.1"})
    result = first.apply(_request(params, key="inc-9:apply"))

    assert result.before["replayed"] is True
    assert "same idempotency key" in result.message
    sent = [r for r in webhook_receiver.received if r.headers[IDEMPOTENCY_HEADER] == "inc-9:apply"]
    assert len(sent) == 1
    assert sent[0].method == "PUT"


def test_url_and_secret_from_the_environment_stay_out_of_the_records(
    webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_url = webhook_receiver.url("/trigger/tok-5b1e93aa70")
    monkeypatch.setenv("DEPLOY_HOOK", token_url)
    adapter, _ = _adapter()
    result = adapter.apply(_request({"url_env": "DEPLOY_HOOK"}))

    assert webhook_receiver.received[0].path == "/trigger/tok-5b1e93aa70"
    dumped = result.model_dump_json()
    assert "tok-5b1e93aa70" not in dumped
    assert result.after["url"] == f"http://127.0.0.1:{webhook_receiver.port}"


TOKEN_PATH = "/hooks/T000/B000/XyZsecretPathToken123"


def _echoing(receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """Put a token URL in $SLACK_HOOK whose receiver answers ``status`` echoing that URL."""
    token_url = receiver.url(TOKEN_PATH) + "?token=tok-9f2c44e1d07b6a35"
    monkeypatch.setenv("SLACK_HOOK", token_url)
    escaped = token_url.replace("/", "\\/")  # as PHP's json_encode writes it
    echo = f'{{"error": "no", "url": "{token_url}", "escaped": "{escaped}"}}'
    receiver.script(TOKEN_PATH + "?token=tok-9f2c44e1d07b6a35", (status, {}), body=echo.encode())


def _shows_no_token(text: str) -> bool:
    return not any(s in text for s in ("XyZsecretPathToken123", "tok-9f2c44e1d07b6a35", "T000"))


def test_a_refusal_echoing_the_secret_url_does_not_show_it(
    webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _echoing(webhook_receiver, monkeypatch, 401)
    with pytest.raises(ActionFailed, match="answered 401") as info:
        _adapter()[0].apply(_request({"url_env": "SLACK_HOOK"}))
    assert _shows_no_token(str(info.value)), str(info.value)


def test_an_answer_echoing_the_secret_url_is_recorded_without_it(
    webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _echoing(webhook_receiver, monkeypatch, 200)
    result = _adapter()[0].apply(_request({"url_env": "SLACK_HOOK"}))
    assert '"error": "no"' in str(result.after["answer"])
    assert _shows_no_token(result.model_dump_json()), result.after["answer"]


def test_a_missing_secret_sends_nothing_and_begins_nothing(
    webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABSENT_SECRET", raising=False)
    ledger = MemoryLedger()
    adapter, _ = _adapter(ledger)
    with pytest.raises(ConfigError, match="ABSENT_SECRET"):
        adapter.apply(
            _request({"url": webhook_receiver.url("/hook"), "secret_env": "ABSENT_SECRET"})
        )
    assert webhook_receiver.received == []
    assert ledger.get("inc-1:apply") is None


def test_rollback_sends_the_undo_call_once(webhook_receiver: WebhookReceiver) -> None:
    adapter, _ = _adapter()
    result = adapter.apply(
        _request(
            {
                "url": webhook_receiver.url("/scale-out"),
                "undo_url": webhook_receiver.url("/scale-in"),
                "undo_body": {"replicas": "-1"},
            }
        )
    )
    assert result.undo.possible
    request = RollbackRequest(
        idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo
    )
    undone = adapter.rollback(request)
    again = adapter.rollback(request)

    assert undone == again
    assert undone.applied
    undo_calls = [r for r in webhook_receiver.received if r.path == "/scale-in"]
    assert len(undo_calls) == 1
    body = json.loads(undo_calls[0].raw)
    assert body["replicas"] == "-1"
    assert body["vanguard"]["undo"] is True
    assert undo_calls[0].headers[IDEMPOTENCY_HEADER] == "inc-1:rollback"


def test_rollback_without_an_undo_url_touches_nothing(webhook_receiver: WebhookReceiver) -> None:
    adapter, _ = _adapter()
    result = adapter.apply(_request({"url": webhook_receiver.url("/hook")}))
    undone = adapter.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    assert not undone.applied
    assert "escalate" in undone.message
    assert len(webhook_receiver.received) == 1
