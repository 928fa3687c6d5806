"""The Alertmanager receiver over HTTP: deliveries start incidents once, bad ones are refused,
and alerts for services not configured start nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vanguard.api import create_app
from vanguard.api.alertmanager import MAX_ALERTS, MAX_BODY_BYTES
from vanguard.config import ServiceConfig
from vanguard.errors import InputError
from vanguard.model import Alert
from vanguard.sources.alertmanager import MAX_LABEL_VALUE
from vanguard.store import open_store

pytestmark = pytest.mark.integration

FIRING = Path(__file__).parents[2] / "fixtures" / "alertmanager" / "firing.json"
SERVICES = (ServiceConfig(name="app-db", type="pgbouncer"),)


class Starter:
    """Starts each incident id once, like the engine's workflow-id reuse policy."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.known: set[str] = set()

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        self.alerts.append(alert)
        incident_id = f"inc-{alert.alert_id}"
        new = incident_id not in self.known
        self.known.add(incident_id)
        return incident_id, new


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Starter]]:
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    starter = Starter()
    try:
        with TestClient(create_app(store, starter=starter, services=SERVICES)) as client:
            yield client, starter
    finally:
        store.close()


def test_a_delivery_twice_starts_one_incident(api: tuple[TestClient, Starter]) -> None:
    client, starter = api
    body: dict[str, Any] = json.loads(FIRING.read_text())
    first = client.post("/api/alertmanager", json=body)
    second = client.post("/api/alertmanager", json={**body, "groupKey": "replica-2"})
    assert first.status_code == second.status_code == 202
    assert len(first.json()["started"]) == 1
    assert first.json()["ignored"] == 1
    assert second.json()["started"] == []
    assert second.json()["duplicates"] == first.json()["started"]
    assert [a.service_name for a in starter.alerts] == ["app-db", "app-db"]


@pytest.mark.parametrize(
    ("content", "status", "reason"),
    [
        (b"{nope", 400, "body is not JSON"),
        (b"", 400, "empty body"),
        (b'{"version": "4", "alerts": []}', 422, "groupKey"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "body is not JSON"),
        (
            b'{"version": "3", "groupKey": "g", "status": "firing", "receiver": "r", "alerts": []}',
            422,
            "version",
        ),
    ],
)
def test_malformed_deliveries_are_refused_and_the_reason_logged(
    api: tuple[TestClient, Starter],
    caplog: pytest.LogCaptureFixture,
    content: bytes,
    status: int,
    reason: str,
) -> None:
    client, starter = api
    caplog.set_level(logging.WARNING, logger="vanguard.api.alertmanager")
    response = client.post(
        "/api/alertmanager", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert reason in response.json()["detail"]
    assert any(reason in r.getMessage() for r in caplog.records)
    assert starter.alerts == []


def test_without_an_engine_the_receiver_says_so(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        with TestClient(create_app(store)) as client:
            response = client.post(
                "/api/alertmanager",
                content=FIRING.read_bytes(),
                headers={"Content-Type": "application/json"},
            )
    finally:
        store.close()
    assert response.status_code == 503


def test_a_configured_token_is_required(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    starter = Starter()
    body: dict[str, Any] = json.loads(FIRING.read_text())
    try:
        app = create_app(
            store, starter=starter, alertmanager_token="t0ken-for-am", services=SERVICES
        )
        with TestClient(app) as client:
            missing = client.post("/api/alertmanager", json=body)
            wrong = client.post(
                "/api/alertmanager", json=body, headers={"Authorization": "Bearer nope"}
            )
            right = client.post(
                "/api/alertmanager",
                json=body,
                headers={"Authorization": "Bearer t0ken-for-am"},
            )
    finally:
        store.close()
    assert missing.status_code == wrong.status_code == 401
    assert right.status_code == 202
    assert len(starter.alerts) == 1, "a refused delivery starts nothing"


def test_only_json_is_taken_so_a_web_page_cannot_post_alerts(
    api: tuple[TestClient, Starter],
) -> None:
    """A browser posts ``text/plain`` or a form across origins without asking first."""
    client, starter = api
    for kind in ("text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": kind} if kind else {}
        response = client.post("/api/alertmanager", content=FIRING.read_bytes(), headers=headers)
        assert response.status_code == 415, kind
        assert "expected application/json" in response.json()["detail"]
    assert starter.alerts == []


def test_a_body_over_the_limit_is_413_even_without_a_length(
    api: tuple[TestClient, Starter],
) -> None:
    client, starter = api
    chunk = b" " * (1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    response = client.post(
        "/api/alertmanager", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert starter.alerts == []


def test_an_engine_that_cannot_start_is_503_and_a_retry_starts_the_rest(tmp_path: Path) -> None:
    """Alertmanager retries a 5xx; the incidents started before the failure are duplicates."""
    calls: list[str] = []
    known: set[str] = set()

    async def flaky(alert: Alert) -> tuple[str, bool]:
        calls.append(alert.alert_id)
        if len(calls) == 2:
            raise ConnectionError("tcp connect error")
        incident_id = f"inc-{alert.alert_id}"
        new = incident_id not in known
        known.add(incident_id)
        return incident_id, new

    body: dict[str, Any] = json.loads(FIRING.read_text())
    first = body["alerts"][0]
    second = {**first, "labels": {**first["labels"], "instance": "b"}, "fingerprint": "5a1ec3f0"}
    body["alerts"] = [first, second]
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        with TestClient(create_app(store, starter=flaky, services=SERVICES)) as client:
            failed = client.post("/api/alertmanager", json=body)
            retried = client.post("/api/alertmanager", json=body)
    finally:
        store.close()
    assert failed.status_code == 503
    assert "ConnectionError" in failed.json()["detail"]
    assert "1 started before it" in failed.json()["detail"]
    assert retried.status_code == 202
    assert len(retried.json()["started"]) == 1
    assert len(retried.json()["duplicates"]) == 1


def test_a_storm_in_one_delivery_starts_at_most_max_alerts_and_says_so(
    api: tuple[TestClient, Starter], caplog: pytest.LogCaptureFixture
) -> None:
    client, starter = api
    body: dict[str, Any] = json.loads(FIRING.read_text())
    firing = body["alerts"][0]
    body["alerts"] = [
        {**firing, "labels": {**firing["labels"], "instance": f"h{i}"}, "fingerprint": f"{i:016x}"}
        for i in range(MAX_ALERTS + 37)
    ] + [body["alerts"][1]]
    with caplog.at_level(logging.WARNING, logger="vanguard.api.alertmanager"):
        response = client.post("/api/alertmanager", json=body)
    assert response.status_code == 202
    receipt = response.json()
    assert len(receipt["started"]) == MAX_ALERTS
    assert receipt["truncated"] == 37
    assert receipt["ignored"] == 1
    assert [a.alert_id.split("-")[1] for a in starter.alerts] == [
        f"{i:016x}" for i in range(MAX_ALERTS)
    ]
    assert f"{MAX_ALERTS + 37} firing alerts" in caplog.text
    assert "max_alerts" in caplog.text


def test_alerts_for_services_not_configured_start_nothing_and_are_logged_once(
    api: tuple[TestClient, Starter], caplog: pytest.LogCaptureFixture
) -> None:
    """They were diagnosed, approved and acted on, with the patterns the sender chose."""
    client, starter = api
    body: dict[str, Any] = json.loads(FIRING.read_text())
    known = body["alerts"][0]
    body["alerts"] = [
        {**known, "labels": {**known["labels"], "service": name}, "fingerprint": f"{i:016x}"}
        for i, name in enumerate(["not-configured", "web\nforged", "not-configured"])
    ] + body["alerts"]
    with caplog.at_level(logging.WARNING, logger="vanguard.api.alertmanager"):
        response = client.post("/api/alertmanager", json=body)
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["unknown_service"] == 3
    assert len(receipt["started"]) == 1
    assert receipt["ignored"] == 1
    assert [a.service_name for a in starter.alerts] == ["app-db"]
    (told,) = [
        r.getMessage() for r in caplog.records if "not in the configuration" in r.getMessage()
    ]
    assert "3 alert(s)" in told
    assert "'not-configured', 'web\\nforged'" in told
    assert "\n" not in told


def test_an_alert_the_engine_refuses_for_good_is_skipped_and_the_rest_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """It was a 503 that Alertmanager retried for ever, never reaching the alerts after it."""
    calls: list[str] = []

    async def refusing(alert: Alert) -> tuple[str, bool]:
        calls.append(alert.alert_id)
        if len(calls) == 1:
            raise InputError("Temporal refused to start incident x: Blob data size exceeds limit.")
        return f"inc-{alert.alert_id}", True

    body: dict[str, Any] = json.loads(FIRING.read_text())
    first = body["alerts"][0]
    second = {**first, "labels": {**first["labels"], "instance": "b"}, "fingerprint": "5a1ec3f0"}
    oversized = {
        **first,
        "labels": {**first["labels"], "huge": "v" * (MAX_LABEL_VALUE + 1)},
        "fingerprint": "0000000000000002",
    }
    body["alerts"] = [oversized, first, second]
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    try:
        with (
            TestClient(create_app(store, starter=refusing, services=SERVICES)) as client,
            caplog.at_level(logging.WARNING, logger="vanguard.api.alertmanager"),
        ):
            response = client.post("/api/alertmanager", json=body)
    finally:
        store.close()
    assert response.status_code == 202
    receipt = response.json()
    assert receipt["rejected"] == 2, "the oversized one and the one the engine refused"
    assert len(receipt["started"]) == 1
    assert len(calls) == 2, "the oversized alert never reached the engine"
    assert "too large" in caplog.text
    assert "refused by the engine" in caplog.text


def test_alert_names_are_logged_quoted(
    api: tuple[TestClient, Starter], caplog: pytest.LogCaptureFixture
) -> None:
    """A newline in ``alertname`` wrote a forged line into the log."""
    client, _ = api
    body: dict[str, Any] = json.loads(FIRING.read_text())
    body["alerts"][0]["labels"]["alertname"] = "Real\n2026-11-25 INFO forged line"
    with caplog.at_level(logging.INFO, logger="vanguard.api.alertmanager"):
        response = client.post("/api/alertmanager", json=body)
    assert response.status_code == 202
    (told,) = [r.getMessage() for r in caplog.records if "incident" in r.getMessage()]
    assert "\n" not in told
    assert "'Real\\n2026-11-25 INFO forged line'" in told
