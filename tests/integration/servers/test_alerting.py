"""Prometheus → Alertmanager → webhook, the path external alerts take into Vanguard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.servers.alertmanager import StartAlertmanager
from tests.servers.exporter import Exporter
from tests.servers.prometheus import ScrapeTarget, StartPrometheus
from tests.servers.webhook import Received, WebhookReceiver

pytestmark = pytest.mark.integration

RULES = """\
groups:
- name: app
  rules:
  - alert: QueueTooDeep
    expr: app_queue_depth > 10
    labels: {severity: warning}
    annotations: {summary: "queue depth {{ $value }}"}
"""


def _is(status: str, alertname: str) -> Callable[[Received], bool]:
    def match(r: Received) -> bool:
        body = r.body
        return (
            isinstance(body, dict)
            and body.get("status") == status
            and any(a["labels"].get("alertname") == alertname for a in body.get("alerts", []))
        )

    return match


def test_alert_fires_and_resolves_through_alertmanager(
    prometheus_server: StartPrometheus,
    alertmanager_server: StartAlertmanager,
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    alertmanager = alertmanager_server(webhook_receiver.url("/alert"))
    with Exporter() as exporter:
        depth = exporter.gauge("app_queue_depth", "Queued jobs.")
        depth.set(50)
        prometheus_server(
            [ScrapeTarget(job="app", url=exporter.url)],
            rule_files=[rules],
            alertmanager=alertmanager.url,
        )
        fired = webhook_receiver.wait_for(_is("firing", "QueueTooDeep"))
        depth.set(0)
        resolved = webhook_receiver.wait_for(_is("resolved", "QueueTooDeep"))
    assert fired.path == "/alert"
    assert fired.body["alerts"][0]["annotations"]["summary"] == "queue depth 50"
    assert fired.headers["User-Agent"].startswith("Alertmanager/")
    assert resolved.body["alerts"][0]["labels"]["severity"] == "warning"
