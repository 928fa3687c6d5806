"""``vanguard replay --prometheus``: history read from a real Prometheus server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.servers.exporter import Exporter
from tests.servers.prometheus import ScrapeTarget, StartPrometheus
from vanguard.cli.apps import app

pytestmark = pytest.mark.integration


def test_replay_reads_the_watched_series_from_prometheus(
    prometheus_server: StartPrometheus, tmp_path: Path
) -> None:
    with Exporter() as exporter:
        depth = exporter.gauge("app_queue_depth", "Queued jobs.", ("queue",))
        depth.labels(queue="mail").set(5)
        depth.labels(queue="bulk").set(7)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        time.sleep(4.2)
        depth.labels(queue="mail").set(50)
        time.sleep(3.2)
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        "services:\n"
        "  - name: mailer\n"
        "    scrape: {url: 'http://127.0.0.1:9/metrics', interval_s: 1}\n"
        "    watch:\n"
        "      - metric: app_queue_depth\n"
        "        labels: {queue: mail}\n"
        "        rule: {threshold: 20, warmup: 3}\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--service",
            "mailer",
            "--prometheus",
            server.url,
            "--since",
            "30s",
            "--step",
            "1s",
            "-c",
            str(config),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["series"] == 1, "only the mail queue is watched"
    assert report["points"] >= 6
    kinds = [i["alert"]["attributes"]["kind"] for i in report["incidents"]]
    assert "breach" in kinds
    assert all(i["alert"]["labels"]["queue"] == "mail" for i in report["incidents"])
