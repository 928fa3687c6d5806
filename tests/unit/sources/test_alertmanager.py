"""Alertmanager v4 deliveries to Alerts: routing labels, trend annotations, stable ids,
configured services only, bounded alerts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from vanguard.model import Alert, Severity
from vanguard.sources.alertmanager import (
    MAX_LABEL_VALUE,
    MAX_LABELS,
    MAX_NAME,
    MAX_SUMMARY,
    AlertmanagerWebhook,
    WebhookAlerts,
    alerts_from_webhook,
)

FIRING = Path(__file__).parents[2] / "fixtures" / "alertmanager" / "firing.json"
SERVICES = {"app-db": "pgbouncer", "api": "python-web"}


def _payload() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(FIRING.read_text())
    return body


def _taken(body: dict[str, Any], services: dict[str, str] = SERVICES) -> WebhookAlerts:
    return alerts_from_webhook(AlertmanagerWebhook.model_validate(body), services)


def _alerts(body: dict[str, Any]) -> list[Alert]:
    return list(_taken(body).alerts)


def test_a_firing_alert_becomes_an_alert_for_its_service_and_series() -> None:
    (alert,) = _alerts(_payload())
    assert alert.service_name == "app-db"
    assert alert.metric_type == "pgbouncer_pools_client_waiting_connections"
    assert alert.labels == {"database": "app", "service_type": "pgbouncer", "user": "postgres"}
    assert alert.severity is Severity.warning
    assert alert.source == "alertmanager"
    assert alert.summary == "6 clients wait for a server connection"
    assert alert.detected_at.isoformat().startswith("2026-11-25T15:02:11.123")
    trend = alert.trend_analysis
    assert trend is not None
    assert (trend.current, trend.ema, trend.slope_per_hour, trend.zscore) == (6, 3.5, 4320, 2.1)
    assert alert.attributes["alertname"] == "PgBouncerClientsWaiting"


def test_duplicate_deliveries_give_the_same_alert_id_and_a_new_firing_a_new_one() -> None:
    first = _alerts(_payload())[0]
    again = _payload()
    again["groupKey"] = "replica-2"
    second = _alerts(again)[0]
    later = _payload()
    later["alerts"][0]["startsAt"] = "2026-11-25T16:00:00Z"
    third = _alerts(later)[0]
    assert first.alert_id == second.alert_id
    assert third.alert_id != first.alert_id


def test_job_and_alertname_stand_in_for_missing_service_and_metric() -> None:
    body = _payload()
    body["alerts"][0]["labels"] = {"alertname": "Down", "job": "api", "severity": "page"}
    body["alerts"][0]["annotations"] = {"current": "NaN", "confidence": "0.7"}
    (alert,) = _alerts(body)
    assert (alert.service_name, alert.metric_type) == ("api", "Down")
    assert alert.severity is Severity.warning
    assert alert.trend_analysis is None
    assert alert.confidence == 0.7
    assert alert.summary == "Down"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"version": "3"}, "version"),
        ({"alerts": [{"status": "firing", "labels": {}}]}, "alerts.0"),
        ({"status": "pending"}, "status"),
    ],
)
def test_malformed_payloads_are_rejected_with_the_field(change: dict[str, Any], where: str) -> None:
    body = {**_payload(), **change}
    with pytest.raises(ValidationError) as info:
        AlertmanagerWebhook.model_validate(body)
    assert ".".join(str(p) for p in info.value.errors()[0]["loc"]).startswith(where)


def test_secrets_in_labels_and_text_are_masked_as_the_alert_is_made() -> None:
    """What the alert carries reaches Temporal's history, the store and the dashboard."""
    body = _payload()
    body["alerts"][0]["labels"]["password"] = "hunter2hunter2"
    body["alerts"][0]["labels"]["dsn"] = "postgresql://app:Sup3rS3cret@db/x"
    body["alerts"][0]["annotations"]["summary"] = (
        "pool exhausted on postgresql://app:Sup3rS3cret@db/x "
        "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    )
    body["alerts"][0]["generatorURL"] = "http://admin:Pr0mPass@prometheus:9090/graph"
    body["groupKey"] = '{}/{}:{alertname="DBDown", db_password="hunter22x", api_token="s3cr3tt"}'
    (alert,) = _alerts(body)
    dumped = alert.model_dump_json()
    secrets = (
        "hunter2hunter2",
        "Sup3rS3cret",
        "ghp_abcdefghij",
        "Pr0mPass",
        "hunter22x",
        "s3cr3tt",
    )
    for secret in secrets:
        assert secret not in dumped
    assert alert.labels["password"] == "[REDACTED]"
    assert alert.summary.startswith("pool exhausted on postgresql://app:[REDACTED]@db/x")


def test_an_alert_for_a_service_not_configured_starts_nothing() -> None:
    """A sender could name any service: each new name got fresh rate limits, and a
    pattern holding its own target acted on it."""
    body = _payload()
    body["alerts"][0]["labels"]["service"] = "not-configured"
    taken = _taken(body)
    assert taken.alerts == ()
    assert taken.unknown == ("not-configured",)
    assert taken.resolved == 1
    assert _taken(_payload(), {}).unknown == ("app-db",)


def test_the_service_type_is_the_configurations_not_the_senders() -> None:
    """The ``service_type`` label chose which patterns could diagnose the alert."""
    body = _payload()
    body["alerts"][0]["labels"]["service_type"] = "pgbouncer"
    (alert,) = _taken(body, {"app-db": "python-web"}).alerts
    assert alert.labels["service_type"] == "python-web"
    del body["alerts"][0]["labels"]["service_type"]
    (alert,) = _alerts(body)
    assert alert.labels["service_type"] == "pgbouncer"


def test_the_instance_tells_hosts_apart_without_narrowing_the_series() -> None:
    """Two hosts of one service had the same fingerprint, so one's news was held as a
    repeat of the other's, and no page said which host alerted."""
    first = _payload()
    second = _payload()
    second["alerts"][0]["labels"]["instance"] = "10.0.0.2:9127"
    second["alerts"][0]["fingerprint"] = "ffff000011112222"
    (a,) = _alerts(first)
    (b,) = _alerts(second)
    assert a.fingerprint != b.fingerprint
    assert "instance=127.0.0.1:41235" in a.fingerprint
    assert (a.attributes["instance"], b.attributes["instance"]) == (
        "127.0.0.1:41235",
        "10.0.0.2:9127",
    )
    assert a.attributes["job"] == "pgbouncer"
    assert a.attributes["am_fingerprint"] == "5a1ec3f0a4d8e2b1"
    assert "instance" not in a.labels, "a service's own scrape carries no instance label"


def test_the_same_instant_with_another_offset_is_the_same_alert() -> None:
    utc = _payload()
    shifted = _payload()
    shifted["alerts"][0]["startsAt"] = "2026-11-25T16:02:11.123+01:00"
    (a,) = _alerts(utc)
    (b,) = _alerts(shifted)
    assert a.alert_id == b.alert_id
    assert b.detected_at.utcoffset() == timedelta(0)
    assert b.detected_at == a.detected_at


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        ({f"l{i}": "x" for i in range(MAX_LABELS)}, "labels, more than"),
        ({"big": "x" * (MAX_LABEL_VALUE + 1)}, "label 'big' is longer than"),
        ({"k" * 200: "x"}, "a label name longer than"),
        ({"metric": "m" * (MAX_NAME + 1)}, "metric name is longer than"),
    ],
    ids=["too-many-labels", "long-value", "long-name", "long-metric"],
)
def test_an_oversized_alert_is_rejected_and_the_rest_taken(
    labels: dict[str, str], says: str
) -> None:
    """An alert over Temporal's payload limit failed its whole delivery, every retry."""
    body = _payload()
    big = {**body["alerts"][0], "labels": {**body["alerts"][0]["labels"], **labels}}
    body["alerts"] = [big, *body["alerts"]]
    taken = _taken(body)
    assert len(taken.alerts) == 1
    (why,) = taken.rejected
    assert why.startswith("'PgBouncerClientsWaiting': ")
    assert says in why


def test_a_long_summary_is_cut() -> None:
    body = _payload()
    body["alerts"][0]["annotations"]["summary"] = "s" * (3 * 1024 * 1024)
    (alert,) = _alerts(body)
    assert len(alert.summary) == MAX_SUMMARY
    assert alert.summary.endswith("…")


def test_names_from_the_sender_are_quoted_in_the_reasons() -> None:
    """A newline in a label must not start a line of its own in the log."""
    body = _payload()
    body["alerts"][0]["labels"]["alertname"] = "x\n2026-01-01 INFO forged"
    body["alerts"][0]["labels"]["huge"] = "v" * (MAX_LABEL_VALUE + 1)
    (why,) = _taken(body).rejected
    assert "\n" not in why
