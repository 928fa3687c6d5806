"""Scrape a real exporter, and read back through a real Prometheus what it scraped."""

from __future__ import annotations

import logging
import socketserver
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import Counter

from tests.servers.exporter import Exporter
from tests.servers.process import throttled
from tests.servers.prometheus import ScrapeTarget, StartPrometheus
from vanguard.config import WatchConfig
from vanguard.detect.watch import SeriesState, WatchRule, step
from vanguard.errors import ScrapeError
from vanguard.model import Alert
from vanguard.netutil import free_port
from vanguard.sources.prometheus import (
    PrometheusClient,
    ScrapeSchedule,
    Series,
    TargetState,
    poll_targets,
    read_server,
    scrape,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_scrape_reads_a_live_exporter() -> None:
    with Exporter() as exporter, httpx.Client() as client:
        memory = exporter.gauge("app_memory_bytes", "Resident memory.", ("instance",))
        memory.labels("a").set(123.0)
        memory.labels("b").set(456.0)
        signals = scrape(
            exporter.url,
            service_name="app",
            now=NOW,
            client=client,
            metrics={"app_memory_bytes"},
        ).signals
    assert {s.labels["instance"]: s.value for s in signals} == {"a": 123.0, "b": 456.0}
    assert {(s.service_name, s.timestamp, s.source) for s in signals} == {
        ("app", NOW, exporter.url)
    }


def test_a_scraped_counter_is_watched_as_its_rate_through_a_restart() -> None:
    """A real exporter's counter, read as the live loop reads it: 20 more every 2 s is
    10/s, before and after the process restarts (the counter starts again from 0; the
    sample after the drop only primes the next rate)."""
    watch = WatchConfig(metric="app_requests_total", rule=WatchRule(threshold=5.0, warmup=3))
    assert watch.kind == "counter"
    state: SeriesState | None = None
    alerts: list[tuple[int, Alert]] = []
    with Exporter() as exporter, httpx.Client() as client:
        served = Counter("app_requests", "Requests served.", registry=exporter.registry)
        for i in range(12):
            if i == 8:
                served.reset()
            served.inc(20)
            (signal,) = scrape(
                exporter.url,
                service_name="app",
                now=NOW + timedelta(seconds=2 * i),
                client=client,
                metrics={watch.metric},
            ).signals
            state, alert = step(state, signal, watch.rule)
            if alert is not None:
                alerts.append((i, alert))
    assert state is not None
    assert state.values == (10.0,) * 10
    assert state.last_raw == 80.0
    ((i, breach),) = alerts
    assert (i, breach.attributes["kind"]) == (1, "breach"), "the first rate, warm-up or not"
    assert breach.summary.endswith("threshold 5/s breached")


def test_dead_target_backs_off_goes_stale_and_recovers() -> None:
    exporter = Exporter()
    exporter.gauge("app_up", "Up.").set(1)
    states = {"app": TargetState(url=exporter.url, service_name="app")}
    schedule = ScrapeSchedule(interval_s=1, stale_after=2, max_backoff_s=4)
    now = NOW
    with httpx.Client() as client:
        for _ in range(3):
            signals, states = poll_targets(states, now=now, client=client, schedule=schedule)
            assert signals == []
            now = states["app"].next_due or now
        assert states["app"].stale
        assert "ConnectError" in (states["app"].last_error or "")
        with exporter:
            signals, states = poll_targets(states, now=now, client=client, schedule=schedule)
    assert [s.value for s in signals if s.metric_type == "app_up"] == [1.0]
    assert not states["app"].stale


def test_unreachable_endpoint_is_a_scrape_error() -> None:
    with httpx.Client() as client, pytest.raises(ScrapeError, match="ConnectError"):
        scrape(f"http://127.0.0.1:{free_port()}/metrics", service_name="x", now=NOW, client=client)


def test_query_range_returns_what_prometheus_scraped(prometheus_server: StartPrometheus) -> None:
    with Exporter() as exporter:
        level = exporter.gauge("app_queue_depth", "Queued jobs.")
        level.set(5)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        start = datetime.now(UTC)
        time.sleep(2.2)
        level.set(9)
        time.sleep(2.2)
        end = datetime.now(UTC)
    with PrometheusClient(server.url) as api:
        series = api.query_range('app_queue_depth{job="app"}', start, end, timedelta(seconds=1))
        (instant,) = api.query('up{job="app"}', end - timedelta(seconds=1))
    assert len(series) == 1
    assert series[0].labels["job"] == "app"
    values = [p.value for p in series[0].points]
    assert set(values) == {5.0, 9.0}
    assert values == sorted(values)
    assert instant.points[0].value == 1.0
    signals = series[0].signals(service_name="app", source=server.url)
    assert [s.value for s in signals] == values
    assert {s.metric_type for s in signals} == {"app_queue_depth"}


def test_bad_query_is_a_scrape_error_with_prometheus_message(
    prometheus_server: StartPrometheus,
) -> None:
    server = prometheus_server([], wait_up=False)
    with PrometheusClient(server.url) as api, pytest.raises(ScrapeError, match="parse error"):
        api.query("sum(", NOW)


def test_rule_files_are_loaded(prometheus_server: StartPrometheus, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n"
    )
    with Exporter() as exporter:
        exporter.gauge("app_x", "X.").set(1)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)], rule_files=[rules])
        deadline = time.monotonic() + 10
        found: list[float] = []
        with PrometheusClient(server.url) as api:
            while not found and time.monotonic() < deadline:
                time.sleep(0.5)
                found = [
                    s.points[0].value for s in api.query('job:up:sum{job="app"}', datetime.now(UTC))
                ]
    assert found == [1.0]


class _Drip(socketserver.BaseRequestHandler):
    """Answers 200 and then sends its body one byte every 0.2 s, for ever."""

    def handle(self) -> None:
        self.request.recv(65536)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
        try:
            self.request.sendall(head)
            for _ in range(100_000):
                self.request.sendall(b"#")
                time.sleep(0.2)
        except OSError:
            return


def test_a_target_that_drips_its_body_is_cut_off_at_the_timeout() -> None:
    """The timeout bounds the whole scrape, not each read, so one target cannot hold a sweep."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Drip)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    started = time.monotonic()
    try:
        with httpx.Client() as client, pytest.raises(ScrapeError, match="within 1 s"):
            scrape(url, service_name="s", now=datetime.now(UTC), client=client, timeout_s=1.0)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 3


def test_a_server_read_carries_each_samples_own_time(prometheus_server: StartPrometheus) -> None:
    """Read twice within one scrape interval, a series gives the same sample, not two points."""
    with Exporter() as exporter:
        exporter.gauge("app_queue_depth", "Queued jobs.").set(5)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        with PrometheusClient(server.url) as api:
            (first,) = read_server(
                api,
                ["app_queue_depth"],
                selector={"job": "app"},
                service_name="app",
                now=datetime.now(UTC),
            )
            sampled = first.timestamp
            again = [
                read_server(
                    api,
                    ["app_queue_depth"],
                    selector={"job": "app"},
                    service_name="app",
                    now=sampled + timedelta(seconds=offset),
                )[0]
                for offset in (0.1, 0.2)
            ]
    assert first.metric_type == "app_queue_depth"
    assert first.labels["job"] == "app"
    assert [s.timestamp for s in again] == [sampled, sampled]


class _Counting(PrometheusClient):
    """A client that notes each instant query it asks."""

    asked: list[str]

    def query(self, query: str, at: datetime) -> list[Series]:
        self.asked.append(query)
        return super().query(query, at)


def test_a_series_value_and_its_time_come_from_one_answer(
    prometheus_server: StartPrometheus,
) -> None:
    """Asked apart, a sample ingested between the two answers took its predecessor's time,
    and the read cost two queries a metric; labels the query adds stay out of the signal."""
    with Exporter() as exporter:
        depth = exporter.gauge("app_queue_depth", "Queued jobs.", labels=("queue",))
        depth.labels(queue="mail").set(5)
        depth.labels(queue="sms").set(7)
        exporter.gauge("app_workers", "Workers.").set(3)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        at = datetime.now(UTC)
        with _Counting(server.url) as api:
            api.asked = []
            read = read_server(
                api,
                ["app_queue_depth", "app_workers"],
                selector={"job": "app"},
                service_name="app",
                now=at,
            )
    assert len(api.asked) == 2, api.asked
    assert sorted((s.metric_type, s.labels.get("queue"), s.value) for s in read) == [
        ("app_queue_depth", "mail", 5.0),
        ("app_queue_depth", "sms", 7.0),
        ("app_workers", None, 3.0),
    ]
    assert all("vanguard_part" not in s.labels for s in read)
    assert all(s.timestamp < at for s in read), "each sample's own time, not the query's"


class _DripAnswer(socketserver.BaseRequestHandler):
    """An empty query answer sent one byte every 0.1 s (about 6 s in all): a server, or a
    proxy in front of one, that is slow to send what it has."""

    def handle(self) -> None:
        self.request.recv(65536)
        body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        try:
            self.request.sendall(head.encode() + b"\r\n\r\n")
            for byte in body:
                self.request.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            return


def test_a_server_that_drips_its_answer_is_cut_off_at_the_timeout() -> None:
    """httpx's timeouts are per read: a query with a 1 s timeout took 6 s."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _DripAnswer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with (
            PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=1) as api,
            pytest.raises(ScrapeError, match="no whole answer within 1 s"),
        ):
            api.query("up", NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 2


class _PartialAnswer(socketserver.BaseRequestHandler):
    """A query answer with a warning, as Thanos or Cortex give when one of their stores
    failed (a stand-in: neither runs here)."""

    def handle(self) -> None:
        self.request.recv(65536)
        body = (
            b'{"status":"success","warnings":["store eu-1 unavailable: partial response"],'
            b'"data":{"resultType":"vector","result":[]}}'
        )
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}"
        )
        self.request.sendall(head.encode() + b"\r\n\r\n" + body)


def test_a_partial_answer_is_taken_and_its_warning_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _PartialAnswer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    caplog.set_level(logging.WARNING, logger="vanguard")
    try:
        with PrometheusClient(f"http://127.0.0.1:{server.server_address[1]}") as api:
            answers = [api.query("up", NOW) for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [[], [], []]
    told = [r.getMessage() for r in caplog.records if "partial" in r.getMessage()]
    assert len(told) == 1, told
    assert "store eu-1 unavailable" in told[0]


def test_a_read_of_a_slow_server_ends_within_one_timeout(
    prometheus_server: StartPrometheus,
) -> None:
    """A Prometheus starved of CPU (stopped and let run by turns) answers each query, two a
    metric, within the timeout (about 0.3 s here); one after another, the 20 queries took
    about 6 s, three times the timeout. All of a read's queries share one timeout now."""
    with Exporter() as exporter:
        for i in range(10):
            exporter.gauge(f"app_depth_{i}", "Queued jobs.").set(i)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        metrics = [f"app_depth_{i}" for i in range(10)]
        with PrometheusClient(server.url, timeout_s=2) as api:
            healthy = read_server(
                api, metrics, selector={"job": "app"}, service_name="app", now=datetime.now(UTC)
            )
            assert len(healthy) == 10
            started = time.monotonic()
            with (
                throttled(server.proc.pid, stopped_s=0.5, running_s=0.002),
                pytest.raises(ScrapeError, match="no whole answer within 2 s"),
            ):
                read_server(
                    api, metrics, selector={"job": "app"}, service_name="app", now=datetime.now(UTC)
                )
            took = time.monotonic() - started
    assert took < 3, f"the read took {took:.1f} s"
