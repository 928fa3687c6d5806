"""``vanguard replay --prometheus``: history read from a real Prometheus server."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from typer.testing import CliRunner

from tests.servers.exporter import Exporter
from tests.servers.prometheus import ScrapeTarget, StartPrometheus
from vanguard.cli.apps import app
from vanguard.cli.replay_cmd import MAX_PANELS, prometheus_signals
from vanguard.config import ScrapeConfig, ServiceConfig, WatchConfig
from vanguard.decide import PolicyConfig
from vanguard.detect.watch import WatchRule
from vanguard.diagnose.patterns import load_patterns
from vanguard.evaluation.replay import replay
from vanguard.sources import PrometheusClient

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


def test_a_plot_of_more_series_than_it_draws_says_which_it_left_out(
    prometheus_server: StartPrometheus, tmp_path: Path
) -> None:
    """``--plot`` drew the first six series by name, without a word: with thirty queues
    the one that breached, last by name, was not drawn, nor said to be missing."""
    queues = [f"q{n:02d}" for n in range(MAX_PANELS + 3)]
    with Exporter() as exporter:
        depth = exporter.gauge("app_queue_depth", "Queued jobs.", ("queue",))
        for queue in queues:
            depth.labels(queue=queue).set(5)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        time.sleep(4.2)
        depth.labels(queue=queues[-1]).set(50)
        time.sleep(3.2)
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        "services:\n"
        "  - name: mailer\n"
        "    scrape: {url: 'http://127.0.0.1:9/metrics', interval_s: 1}\n"
        "    watch:\n"
        "      - metric: app_queue_depth\n"
        "        rule: {threshold: 20, warmup: 3}\n"
    )
    plot = tmp_path / "replay.svg"
    result = CliRunner().invoke(
        app,
        ["replay", "--service", "mailer", "--prometheus", server.url, "--since", "30s",
         "--step", "1s", "-c", str(config), "--plot", str(plot)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    drawn = [
        panel.get("data-label", "")
        for panel in ET.parse(plot).getroot().iter()
        if panel.get("class") == "panel"
    ]
    assert len(drawn) == MAX_PANELS
    assert any(f"queue={queues[-1]}" in label for label in drawn), "the one that breached"
    warning = " ".join(result.stderr.split())
    assert f"{plot}: {len(queues)} series, {MAX_PANELS} drawn" in warning
    assert "3 left out (mailer/app_queue_depth{" in warning
    assert all(f"queue={queue}" in warning for queue in queues[-4:-1])
    assert "whose service's prometheus.selector (or watch entries' labels) names them" in warning


def _replay_json(server_url: str, config: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["replay", "--service", "checkout", "--prometheus", server_url, "--since", "30s",
         "--step", "1s", "-c", str(config), "--json"],
    )  # fmt: skip
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_replay_reads_only_the_services_series_as_the_live_loop_asks(
    prometheus_server: StartPrometheus, tmp_path: Path
) -> None:
    """Two jobs export the same metric; the service is ``job="checkout"`` on a shared
    server. Replay asks with the service's ``prometheus.selector`` and escapes label
    values as the live read does (a quote or a backslash in one was a broken query)."""
    odd = 'a"b\\c'
    with Exporter() as checkout, Exporter() as shop:
        mine = checkout.gauge("app_queue_depth", "Queued jobs.", ("path",))
        mine.labels(path=odd).set(5)
        shop.gauge("app_queue_depth", "Queued jobs.", ("path",)).labels(path=odd).set(500)
        server = prometheus_server(
            [ScrapeTarget(job="checkout", url=checkout.url), ScrapeTarget(job="shop", url=shop.url)]
        )
        time.sleep(4.2)
        mine.labels(path=odd).set(50)
        time.sleep(3.2)
    config = tmp_path / "vanguard.yaml"

    def service(labels: dict[str, str]) -> dict[str, Any]:
        return {
            "name": "checkout",
            "prometheus": {"url": server.url, "selector": {"job": "checkout"}},
            "watch": [
                {"metric": "app_queue_depth", "labels": labels,
                 "rule": {"threshold": 20, "warmup": 3}},
            ],
        }  # fmt: skip

    for labels in ({"path": odd}, {}):
        config.write_text(json.dumps({"services": [service(labels)]}))
        report = _replay_json(server.url, config)
        assert report["series"] == 1, f"{labels}: only checkout's series"
        alerts = [i["alert"] for i in report["incidents"]]
        assert "breach" in [a["attributes"]["kind"] for a in alerts]
        assert {(a["labels"]["job"], a["labels"]["path"]) for a in alerts} == {("checkout", odd)}


class _SteadyCounter(Collector):
    """A counter that grows at exactly ``per_s`` a second, read whenever it is scraped."""

    def __init__(self, per_s: float) -> None:
        self.per_s = per_s
        self.since = time.time()

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "http_requests", "Requests served.", value=self.per_s * (time.time() - self.since)
        )


def test_replay_reads_each_sample_once_at_its_own_time(
    prometheus_server: StartPrometheus,
) -> None:
    """Prometheus scrapes every second; read every 0.25 s, a range query answers each step
    with the latest sample, so a steady 100/s counter read as 0, 0, 0 and 400/s and
    breached 150/s. The live loop reads each sample once, at its own time: so must replay."""
    service = ServiceConfig(
        name="web",
        scrape=ScrapeConfig(url="http://127.0.0.1:9/metrics", interval_s=1),
        watch=(WatchConfig(metric="http_requests_total", rule=WatchRule(threshold=150)),),
    )
    assert service.watch[0].rule.counter
    with Exporter() as exporter:
        exporter.registry.register(_SteadyCounter(per_s=100))
        server = prometheus_server([ScrapeTarget(job="web", url=exporter.url)])
        time.sleep(8)
    end = datetime.now(UTC)
    with PrometheusClient(server.url) as client:
        signals = prometheus_signals(
            client, service, end - timedelta(seconds=30), end, timedelta(seconds=0.25)
        )
    assert len(signals) >= 6
    gaps = [(b.timestamp - a.timestamp).total_seconds() for a, b in pairwise(signals)]
    assert min(gaps) > 0.5, f"one sample a scrape, each at its own time: {gaps}"
    rates = [(b.value - a.value) / gap for (a, b), gap in zip(pairwise(signals), gaps, strict=True)]
    assert all(75 < rate < 125 for rate in rates), rates
    report = replay(service, signals, load_patterns(), PolicyConfig(), incident_s=600)
    assert report.skipped == 0
    assert not [i for i in report.incidents if i.alert.attributes["kind"] == "breach"]
