"""``webhook.call``: parameters, ``Retry-After``, the plan and pattern checks (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import JsonValue

from vanguard.act.base import LedgerEntry, MemoryLedger
from vanguard.act.registry import build_adapters, check_patterns
from vanguard.act.webhook import WebhookCallAdapter, retry_after_s
from vanguard.config import Settings
from vanguard.diagnose.patterns import Pattern
from vanguard.errors import AdapterError, ConfigError
from vanguard.model import ActionRequest, RollbackRequest, UndoRecord

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _request(**params: JsonValue) -> ActionRequest:
    return ActionRequest(
        idempotency_key="inc-1:apply",
        incident_id="inc-1",
        action="webhook.call",
        target="checkout",
        params=params,
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "exactly one of 'url' and 'url_env'"),
        ({"url": "http://a/x", "url_env": "HOOK"}, "exactly one of 'url' and 'url_env'"),
        ({"url": "ftp://a/x"}, "must be http(s)://host"),
        ({"url": "https://ops:pw@a/x"}, "holds credentials"),
        (
            {"url": "https://hooks.slack.com/services/T0001/B0001/Xk9fQ2mZr7LpW4vB8nC3sD6t"},
            "url looks like it holds a secret in its path or query",
        ),
        (
            {"url": "https://ci.example/job/deploy/build?token=Sh0rt"},
            "name that variable in url_env",
        ),
        (
            {
                "url": "http://a/x",
                "undo_url": "https://hooks.example/u/0f3a9c4e1b7d2a8f6e5c3b1a9d7f4e2c",
            },
            "undo_url looks like it holds a secret",
        ),
        (
            {"url": "http://a/x", "undo_url": "https://ci.example/undo?job=x&api%5Fkey=k"},
            "name that variable in undo_url_env",
        ),
        ({"url": "http://a:99999/x"}, "url is not a URL one can call"),
        ({"url": "http://a/x", "undo_url": "http://b", "undo_url_env": "U"}, "exclude"),
        ({"url": "http://a/x", "expect_status": [700]}, "100..599"),
        ({"url": "http://a/x", "method": "DELETE"}, "method"),
        ({"url": "http://a/x", "attempts": 0}, "attempts"),
        ({"url": "http://a/x", "attempts": 10, "max_wait_s": 60}, "within 240 s"),
        ({"url": "http://a/x", "url_env": None, "bogus": 1}, "bogus"),
        ({"url_env": "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}, "looks like a secret"),
        ({"url": "http://a/x", "secret_env": "AKIAIOSFODNN7EXAMPLE"}, "looks like a secret"),
        (
            {"url": "http://a/x", "undo_url_env": "github_pat_11ABCDEFG0123456789_abcdefghij"},
            "looks",
        ),
    ],
)
def test_bad_params_are_refused_with_the_key(params: dict[str, JsonValue], message: str) -> None:
    adapter = WebhookCallAdapter(MemoryLedger())
    with pytest.raises(AdapterError, match=r"webhook\.call: invalid params") as info:
        adapter.plan(_request(**params))
    assert message in str(info.value)
    assert "pw@" not in str(info.value)
    assert not [s for s in ("ghp_", "AKIA", "github_pat_") if s in str(info.value)]
    assert not [s for s in ("Xk9fQ2", "Sh0rt", "0f3a9c", "api%5Fkey") if s in str(info.value)]


@pytest.mark.parametrize(
    "url",
    [
        "https://runbooks.internal/undo/recycle-worker",
        "https://deploy.example/api/v2/services/checkout-7/scale?replicas=4&reason=leak",
        "https://hooks.example/jobs/rebuild-index-2026/trigger",
    ],
)
def test_an_inline_url_without_a_token_is_accepted(url: str) -> None:
    plan = WebhookCallAdapter(MemoryLedger()).plan(_request(url=url, undo_url=url))
    assert plan.undoable


UNCALLABLE = ["http://127.0.0.1:99999/tok-7c1d", "http://[::1/tok-7c1d"]


@pytest.mark.parametrize("url", UNCALLABLE)
def test_a_url_env_that_cannot_be_called_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("HOOK", url)
    ledger = MemoryLedger()
    with pytest.raises(ConfigError, match="not a URL one can call") as info:
        WebhookCallAdapter(ledger).apply(_request(url_env="HOOK"))
    assert info.value.key == "url_env"
    assert "tok-7c1d" not in str(info.value)
    assert ledger.get("inc-1:apply") is None


@pytest.mark.parametrize("url", UNCALLABLE)
def test_an_undo_url_env_that_cannot_be_called_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("UNDO_HOOK", url)
    undo = UndoRecord(
        action="webhook.call",
        target="checkout",
        possible=True,
        params={"undo_url_env": "UNDO_HOOK"},
        instructions="",
    )
    request = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=undo)
    with pytest.raises(ConfigError, match="not a URL one can call") as info:
        WebhookCallAdapter(MemoryLedger()).rollback(request)
    assert info.value.key == "undo_url_env"
    assert "tok-7c1d" not in str(info.value)


class BegunMeanwhile(MemoryLedger):
    """Another attempt of the key begins between this one's ledger read and its begin."""

    def get(self, key: str) -> LedgerEntry | None:
        found = super().get(key)
        if found is None:
            self.begin(key, {"url": "http://127.0.0.1:1", "method": "POST"})
        return found


def test_an_attempt_that_lost_the_key_does_not_call_alongside_the_other() -> None:
    """The receiver is not reachable: a call would fail differently, after its retries."""
    adapter = WebhookCallAdapter(BegunMeanwhile(), sleep=lambda s: None)
    with pytest.raises(AdapterError, match="another attempt began this action"):
        adapter.apply(_request(url="http://127.0.0.1:1/hook", attempts=1))


def test_retry_after_reads_seconds_and_dates() -> None:
    assert retry_after_s("7", NOW) == 7.0
    assert retry_after_s("Sun, 06 Dec 2026 12:00:30 GMT", NOW) == 30.0
    assert retry_after_s("Sun, 06 Dec 2026 11:00:00 GMT", NOW) == 0.0
    assert retry_after_s("soon", NOW) is None
    assert retry_after_s(None, NOW) is None


def test_plan_names_host_key_retries_and_undo_without_the_path() -> None:
    adapter = WebhookCallAdapter(MemoryLedger())
    plan = adapter.plan(
        _request(
            url="https://hooks.example.org/T01/secret-path",
            undo_url_env="UNDO_HOOK",
            secret_env="HOOK_SECRET",
        )
    )
    text = "\n".join(plan.steps)
    assert plan.undoable
    assert (
        "POST the pattern's body and the incident's id as JSON signed (HMAC-SHA256) to "
        "https://hooks.example.org"
    ) in text
    assert "Idempotency-Key: inc-1:apply" in text
    assert "$UNDO_HOOK" in text
    assert "secret-path" not in text
    assert not adapter.plan(_request(url_env="HOOK")).undoable


def test_a_pattern_may_name_the_action_and_its_params_are_checked() -> None:
    adapters = build_adapters(MemoryLedger(), Settings())
    assert {"webhook.call", "config.set"} <= set(adapters)

    def pattern(params: dict[str, JsonValue]) -> Pattern:
        return Pattern.model_validate(
            {
                "id": "queue_backlog",
                "description": "a queue backs up",
                "metric": "queue_depth",
                "signature": [{"field": "anomaly_score", "op": "gte", "value": 0.95}],
                "remedy": {"action": "webhook.call", "params": params},
                "rollback_safe": True,
                "prior_confidence": 0.7,
            }
        )

    check_patterns([pattern({"body": {"workers": 2}, "method": "PUT"})], adapters)
    with pytest.raises(ConfigError, match=r"remedy\.params\.method"):
        check_patterns([pattern({"method": "GET"})], adapters)
