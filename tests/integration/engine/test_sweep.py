"""The sweep against real endpoints: an unreachable target backs off, goes stale, stays quiet."""

from __future__ import annotations

import contextlib
import http.server
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from prometheus_client import Histogram

from tests.servers.exporter import Exporter
from tests.servers.pgbouncer import StartPgBouncer
from tests.servers.prometheus import PrometheusServer, ScrapeTarget, StartPrometheus
from vanguard.config import (
    PgBouncerConfig,
    PrometheusSource,
    ScrapeConfig,
    ServiceConfig,
    Settings,
    WatchConfig,
)
from vanguard.detect.watch import WatchRule
from vanguard.engine.messages import SweepInput, SweepResult
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.sweep import SERIES_TTL_S, WORSENED
from vanguard.incident import Incident, IncidentState
from vanguard.model import Alert
from vanguard.netutil import free_port
from vanguard.sources.prometheus import TargetState
from vanguard.store import AuditLog, IncidentRepo

pytestmark = pytest.mark.integration

S = IncidentState


def test_unreachable_target_is_retried_with_backoff_marked_stale_and_logged_sparingly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    settings = Settings(
        data_dir=tmp_path,
        services=(
            ServiceConfig(
                name="ghost",
                scrape=ScrapeConfig(url=dead, interval_s=1, timeout_s=0.5),
                watch=(WatchConfig(metric="up", rule=WatchRule(threshold=1)),),
            ),
        ),
    )
    runtime = build_runtime(settings, notifiers=[])
    now = datetime(2026, 6, 1, tzinfo=UTC)
    runtime.activities.clock = lambda: now
    inp = SweepInput(states={}, scrape_state={})
    attempts: list[TargetState] = []
    raised: list[tuple[int, Alert]] = []
    caplog.set_level(logging.DEBUG, logger="vanguard")
    try:
        for _ in range(60):
            result = runtime.activities.sweep(inp)
            target = TargetState.model_validate(result.scrape_state["ghost"])
            raised.extend((target.consecutive_failures, alert) for alert in result.alerts)
            if not attempts or target != attempts[-1]:
                attempts.append(target)
            inp = SweepInput(states=result.states, scrape_state=result.scrape_state)
            now += timedelta(seconds=1)
    finally:
        runtime.close()

    failures = [a.consecutive_failures for a in attempts]
    assert failures[:5] == [1, 2, 3, 4, 5], "each due attempt counts one more failure"
    gaps = [
        (b.next_due - a.next_due).total_seconds()
        for a, b in pairwise(attempts)
        if a.next_due and b.next_due
    ]
    assert gaps == sorted(gaps), f"backoff must not shrink: {gaps}"
    assert gaps[-1] > gaps[0]
    assert not attempts[1].stale
    assert attempts[2].stale, "stale after three misses in a row"
    assert len(attempts) < 15, "an unreachable target is not hammered every sweep"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in warnings]
    assert "1 in a row" in warnings[0].getMessage()
    assert "stale" in warnings[1].getMessage()
    assert [(failures, a.fingerprint) for failures, a in raised] == [
        (3, "ghost/vanguard_target_up")
    ], "one alert when its series turn stale, none again within the cooldown"
    down = raised[0][1]
    assert down.severity == "critical"
    assert down.attributes["kind"] == "down"
    assert "3 reads in a row failed" in down.summary
    assert "it never answered" in down.summary
    assert "ConnectError" in down.summary


def _sweeps(
    runtime: Runtime, inp: SweepInput, clock: list[datetime], seconds: float, step_s: float = 1.0
) -> tuple[SweepInput, list[Alert]]:
    """Sweep every ``step_s`` for ``seconds`` of ``clock``; the last input and every alert."""
    alerts: list[Alert] = []
    for _ in range(int(seconds / step_s)):
        result = runtime.activities.sweep(inp)
        alerts.extend(result.alerts)
        inp = SweepInput(states=result.states, scrape_state=result.scrape_state)
        clock[0] += timedelta(seconds=step_s)
    return inp, alerts


def test_a_target_that_dies_pages_again_after_the_cooldown_and_afresh_after_it_answered(
    tmp_path: Path,
) -> None:
    """A dead target is the worst outage there is: its series just stop. Its alert comes
    when they turn stale, again each cooldown while it stays dead (not while an incident
    of it is open), and at once for a new death after it answered again."""
    exporter = Exporter()
    exporter.gauge("rss", "rss").set(10)
    settings = Settings(
        data_dir=tmp_path,
        services=(
            ServiceConfig(
                name="leaky",
                scrape=ScrapeConfig(url=exporter.url, interval_s=1, timeout_s=5),
                watch=(WatchConfig(metric="rss", rule=WatchRule(threshold=1000)),),
            ),
        ),
    )
    runtime = build_runtime(settings, notifiers=[])
    clock = [datetime(2026, 6, 1, tzinfo=UTC)]
    runtime.activities.clock = lambda: clock[0]
    try:
        exporter.start()
        inp, alerts = _sweeps(runtime, SweepInput(states={}, scrape_state={}), clock, 5)
        assert alerts == []
        exporter.stop()
        inp, alerts = _sweeps(runtime, inp, clock, 60)
        (down,) = alerts
        assert down.fingerprint == "leaky/vanguard_target_up"
        assert "last answer at 00:00:04 UTC" in down.summary

        with runtime.store.session() as session:
            IncidentRepo(session).save_incident(Incident.open("inc-down", down))
        inp, alerts = _sweeps(runtime, inp, clock, 1000, step_s=10)
        assert alerts == [], "held while its incident is open"
        with runtime.store.session() as session:
            repo = IncidentRepo(session)
            incident = repo.get_incident("inc-down")
            assert incident is not None
            diagnosed = incident.transition(IncidentState.diagnosed, at=clock[0], reason="t")
            repo.save_incident(
                diagnosed.transition(IncidentState.escalated, at=clock[0], reason="t")
            )
        inp, alerts = _sweeps(runtime, inp, clock, 400, step_s=10)
        assert [a.fingerprint for a in alerts] == [down.fingerprint], (
            "raised again once nothing holds it"
        )

        exporter.start()
        inp, alerts = _sweeps(runtime, inp, clock, 400, step_s=5)
        assert alerts == []
        assert TargetState.model_validate(inp.scrape_state["leaky"]).down_alerted_at is None
        exporter.stop()
        inp, alerts = _sweeps(runtime, inp, clock, 60)
        assert [a.fingerprint for a in alerts] == [down.fingerprint], (
            "a new death is told at once, not after the cooldown of the last one"
        )
    finally:
        exporter.stop()
        runtime.close()


def test_a_target_down_while_an_action_on_its_service_is_under_way_is_that_incidents_business(
    tmp_path: Path,
) -> None:
    """A restart takes its target down a while: no page of its own while the action is
    applied or verified; once the incident is closed, a target still down is raised."""
    exporter = Exporter()
    exporter.gauge("rss", "rss").set(500)
    service = ServiceConfig(
        name="leaky",
        scrape=ScrapeConfig(url=exporter.url, interval_s=1, timeout_s=5),
        watch=(WatchConfig(metric="rss", rule=WatchRule(threshold=100)),),
    )
    runtime = build_runtime(Settings(data_dir=tmp_path, services=(service,)), notifiers=[])
    clock = [datetime(2026, 6, 1, tzinfo=UTC)]
    runtime.activities.clock = lambda: clock[0]
    try:
        exporter.start()
        inp, (breach,) = _sweeps(runtime, SweepInput(states={}, scrape_state={}), clock, 1)
        acting = Incident.open("inc-restart", breach)
        for state in (S.diagnosed, S.approved, S.applied, S.verifying):
            acting = acting.transition(state, at=clock[0], reason="t")
        with runtime.store.session() as session:
            IncidentRepo(session).save_incident(acting)
        exporter.stop()
        inp, alerts = _sweeps(runtime, inp, clock, 60)
        assert alerts == [], "the restart's own downtime pages nobody"
        with runtime.store.session() as session:
            IncidentRepo(session).save_incident(
                acting.transition(S.escalated, at=clock[0], reason="did not come back")
            )
        inp, alerts = _sweeps(runtime, inp, clock, 400, step_s=10)
        assert [a.fingerprint for a in alerts] == ["leaky/vanguard_target_up"]
    finally:
        exporter.stop()
        runtime.close()


def test_a_service_may_opt_out_of_the_down_alert(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    service = ServiceConfig(
        name="batch",
        scrape=ScrapeConfig(url=dead, interval_s=1, timeout_s=0.5),
        watch=(WatchConfig(metric="rss", rule=WatchRule(threshold=1000)),),
        alert_when_down=False,
    )
    runtime = build_runtime(Settings(data_dir=tmp_path, services=(service,)), notifiers=[])
    clock = [datetime(2026, 6, 1, tzinfo=UTC)]
    runtime.activities.clock = lambda: clock[0]
    try:
        inp, alerts = _sweeps(runtime, SweepInput(states={}, scrape_state={}), clock, 60)
    finally:
        runtime.close()
    assert TargetState.model_validate(inp.scrape_state["batch"]).stale
    assert alerts == []


def test_an_alert_dropped_while_its_series_is_busy_is_raised_once_it_is_free(
    tmp_path: Path,
) -> None:
    """A breach seen while the series was suppressed (after a remedy) or had an open
    incident must not start the detector's cooldown: once free, it is raised at once."""
    with Exporter() as exporter:
        memory = exporter.gauge("process_resident_memory_bytes", "rss")
        memory.set(50)
        settings = Settings(
            data_dir=tmp_path,
            services=(
                ServiceConfig(
                    name="leaky",
                    scrape=ScrapeConfig(url=exporter.url, interval_s=1),
                    watch=(
                        WatchConfig(
                            metric="process_resident_memory_bytes",
                            rule=WatchRule(threshold=100, direction="up", warmup=3),
                        ),
                    ),
                ),
            ),
        )
        runtime = build_runtime(settings, notifiers=[])
        now = datetime(2026, 6, 1, tzinfo=UTC)
        runtime.activities.clock = lambda: now
        try:
            warm = SweepInput(states={}, scrape_state={})
            for _ in range(4):
                result = runtime.activities.sweep(warm)
                assert result.alerts == ()
                warm = SweepInput(states=result.states, scrape_state=result.scrape_state)
                now += timedelta(seconds=2)
            memory.set(500)
            (breach,) = runtime.activities.sweep(warm).alerts
            assert "breach" in breach.summary
            busy = warm.model_copy(update={"suppressed": (breach.fingerprint,)})
            held = runtime.activities.sweep(busy)
            assert held.alerts == ()
            now += timedelta(seconds=2)
            free = runtime.activities.sweep(
                SweepInput(states=held.states, scrape_state=held.scrape_state)
            )
            assert [a.fingerprint for a in free.alerts] == [breach.fingerprint]

            with runtime.store.session() as session:
                IncidentRepo(session).save_incident(Incident.open("inc-busy", breach))
            now += timedelta(seconds=2)
            open_one = runtime.activities.sweep(
                SweepInput(states=held.states, scrape_state=free.scrape_state)
            )
            assert open_one.alerts == ()
            with runtime.store.session() as session:
                repo = IncidentRepo(session)
                incident = repo.get_incident("inc-busy")
                assert incident is not None
                diagnosed = incident.transition(IncidentState.diagnosed, at=now, reason="test")
                closed_one = diagnosed.transition(IncidentState.escalated, at=now, reason="test")
                repo.save_incident(closed_one)
            now += timedelta(seconds=2)
            closed = runtime.activities.sweep(
                SweepInput(states=open_one.states, scrape_state=open_one.scrape_state)
            )
            assert [a.fingerprint for a in closed.alerts] == [breach.fingerprint]
        finally:
            runtime.close()


def test_an_open_incident_behind_many_newer_ones_still_holds_its_series(
    tmp_path: Path,
) -> None:
    """The guard looked at a service's 50 newest incidents: one waiting for approval
    behind more was not seen, and its series opened a second incident."""
    with Exporter() as exporter:
        exporter.gauge("rss", "rss").set(500)
        service = ServiceConfig(
            name="leaky",
            scrape=ScrapeConfig(url=exporter.url, interval_s=1),
            watch=(WatchConfig(metric="rss", rule=WatchRule(threshold=100)),),
        )
        runtime = build_runtime(Settings(data_dir=tmp_path, services=(service,)), notifiers=[])
        now = datetime(2026, 6, 1, tzinfo=UTC)
        runtime.activities.clock = lambda: now
        try:
            (breach,) = runtime.activities.sweep(SweepInput(states={}, scrape_state={})).alerts
            with runtime.store.session() as session:
                repo = IncidentRepo(session)
                repo.save_incident(Incident.open("inc-waiting", breach))
                for n in range(60):
                    other = breach.model_copy(
                        update={
                            "fingerprint": f"leaky/other{n}",
                            "detected_at": now + timedelta(minutes=n + 1),
                        }
                    )
                    opened = Incident.open(f"inc-{n}", other)
                    repo.save_incident(
                        opened.transition(IncidentState.failed, at=other.detected_at, reason="t")
                    )
            result = runtime.activities.sweep(SweepInput(states={}, scrape_state={}))
        finally:
            runtime.close()
    assert result.alerts == ()


def test_the_state_of_a_series_its_target_stopped_reporting_is_forgotten(
    tmp_path: Path,
) -> None:
    """Pods come and go; every sweep carries every state, so the gone must not pile up."""
    with Exporter() as exporter:
        memory = exporter.gauge("mem", "rss", labels=("pod",))
        for pod in ("a", "b", "c"):
            memory.labels(pod=pod).set(50)
        settings = Settings(
            data_dir=tmp_path,
            services=(
                ServiceConfig(
                    name="web",
                    scrape=ScrapeConfig(url=exporter.url, interval_s=1),
                    watch=(WatchConfig(metric="mem", rule=WatchRule(threshold=1000)),),
                ),
            ),
        )
        runtime = build_runtime(settings, notifiers=[])
        now = datetime(2026, 6, 1, tzinfo=UTC)
        runtime.activities.clock = lambda: now
        try:
            first = runtime.activities.sweep(SweepInput(states={}, scrape_state={}))
            assert len(first.states) == 3
            memory.remove("a")
            now += timedelta(seconds=30)
            soon = runtime.activities.sweep(
                SweepInput(states=first.states, scrape_state=first.scrape_state)
            )
            assert len(soon.states) == 3, "a series missing from one scrape is kept a while"
            now += timedelta(seconds=SERIES_TTL_S)
            later = runtime.activities.sweep(
                SweepInput(states=soon.states, scrape_state=soon.scrape_state)
            )
        finally:
            runtime.close()
    assert sorted(later.states) == ["web/mem{pod=b}", "web/mem{pod=c}"]


def _read_from(server: PrometheusServer, tmp_path: Path, *watch: WatchConfig) -> Settings:
    """One service, ``app``, read every second from ``server``'s job ``app``."""
    source = PrometheusSource(url=server.url, selector={"job": "app"}, interval_s=1)
    return Settings(
        data_dir=tmp_path, services=(ServiceConfig(name="app", prometheus=source, watch=watch),)
    )


def test_a_service_read_from_a_prometheus_server_is_watched_and_alerts(
    prometheus_server: StartPrometheus, tmp_path: Path
) -> None:
    """The live loop reads a Prometheus server, not only exposition endpoints."""
    with Exporter() as exporter:
        depth = exporter.gauge("app_queue_depth", "Queued jobs.", labels=("queue",))
        depth.labels(queue="mail").set(5)
        depth.labels(queue="sms").set(7)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        settings = _read_from(
            server,
            tmp_path,
            WatchConfig(
                metric="app_queue_depth",
                labels={"queue": "mail"},
                rule=WatchRule(threshold=100, warmup=3),
            ),
        )
        runtime = build_runtime(settings, notifiers=[])
        try:
            inp = SweepInput(states={}, scrape_state={})
            for _ in range(4):
                result = runtime.activities.sweep(inp)
                assert result.alerts == ()
                inp = SweepInput(states=result.states, scrape_state=result.scrape_state)
                time.sleep(1.1)
            (key,) = result.states
            assert key.startswith("app/app_queue_depth{")
            assert "queue=mail" in key
            depth.labels(queue="mail").set(500)
            deadline = time.monotonic() + 20
            alerts: tuple[Alert, ...] = ()
            while not alerts and time.monotonic() < deadline:
                time.sleep(1.1)
                result = runtime.activities.sweep(inp)
                inp = SweepInput(states=result.states, scrape_state=result.scrape_state)
                alerts = result.alerts
        finally:
            runtime.close()
    (alert,) = alerts
    assert alert.service_name == "app"
    assert alert.labels["queue"] == "mail"
    assert "breach" in alert.summary


class _Stamped(http.server.BaseHTTPRequestHandler):
    """Serves the exposition text the test sets (``body``)."""

    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def _served(handler: type[_Stamped]) -> Iterator[str]:
    """``handler`` on a loopback port for the block; yields its ``/metrics`` URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def _scraping(url: str, tmp_path: Path, name: str, *watch: WatchConfig) -> Settings:
    """One service, ``name``, scraped from ``url`` every second."""
    scrape = ScrapeConfig(url=url, interval_s=1)
    return Settings(
        data_dir=tmp_path, services=(ServiceConfig(name=name, scrape=scrape, watch=watch),)
    )


def _told_each_sweep(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    handler: type[_Stamped],
    bodies: Sequence[bytes | Callable[[datetime], bytes]],
    level: int = logging.WARNING,
) -> tuple[list[list[str]], SweepResult]:
    """One sweep of watcher ``w1`` per body (or made from the sweep's time), 2 s apart,
    with what each logged; the last result."""
    runtime = build_runtime(settings, notifiers=[])
    now = datetime(2026, 6, 1, tzinfo=UTC)
    runtime.activities.clock = lambda: now
    caplog.set_level(level, logger="vanguard")
    inp = SweepInput(states={}, scrape_state={}, watcher="w1")
    told: list[list[str]] = []
    try:
        for body in bodies:
            handler.body = body(now) if callable(body) else body
            caplog.clear()
            result = runtime.activities.sweep(inp)
            told.append([r.getMessage() for r in caplog.records])
            inp = SweepInput(states=result.states, scrape_state=result.scrape_state, watcher="w1")
            now += timedelta(seconds=2)
    finally:
        runtime.close()
    return told, result


def _ahead(seconds: float) -> Callable[[datetime], bytes]:
    """A sample stamped ``seconds`` after the sweep's time."""
    return lambda now: f"queue_depth 3 {int((now.timestamp() + seconds) * 1000)}\n".encode()


def test_a_target_stamping_samples_ahead_of_our_clock_is_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Its samples would be skipped as out of order once its clock is put right, silently
    (at most 5 minutes: a sample stamped further back means the clock moved back, and the
    series goes on from it)."""
    with _served(_Stamped) as url:
        settings = _scraping(
            url,
            tmp_path,
            "skewed",
            WatchConfig(metric="queue_depth", rule=WatchRule(threshold=100)),
        )
        told_each, result = _told_each_sweep(
            settings,
            caplog,
            _Stamped,
            [_ahead(seconds) for seconds in (600, 610, 0, 0)],
        )
    told = [message for messages in told_each for message in messages]
    assert len(told) == 2, told
    assert "600 s ahead" in told[0]
    assert "skewed" in told[0]
    assert "on time again" in told[1]
    (state,) = result.states.values()
    assert state.skipped == 0, "10 min back is the clock put right, not a late sample"
    assert state.n == 4


DECLARING = """\
# TYPE queue_wait_seconds %(type)s
queue_wait_seconds_count %(waits)d
queue_wait_seconds_sum %(waits)d
# TYPE pool_count gauge
pool_count 4
# TYPE depth gauge
depth 3
"""


def test_a_watched_series_declared_another_kind_is_told_once_per_declaration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A counter watched raw reads its restarts as falls, a gauge watched as a rate hides
    its breach: the sweep says so once, and again when the declaration changes, never
    for a series whose kind agrees; the configured kind is kept."""

    class Declaring(_Stamped):
        body = b""

    with _served(Declaring) as url:
        settings = _scraping(
            url,
            tmp_path,
            "jobs",
            WatchConfig.model_validate({"metric": "queue_wait_seconds_count"}),
            WatchConfig.model_validate({"metric": "pool_count"}),
            WatchConfig.model_validate({"metric": "depth", "kind": "counter"}),
        )
        told, result = _told_each_sweep(
            settings,
            caplog,
            Declaring,
            [
                (DECLARING % {"waits": n, "type": wait_type}).encode()
                for n, wait_type in enumerate(["histogram"] * 3 + ["summary"] * 2)
            ],
        )
    first, *again, changed, last = told
    assert len(first) == 2, first
    wait, depth = sorted(first, key=lambda m: "depth" in m)
    assert wait.startswith(f"jobs: {url} declares queue_wait_seconds_count a counter ")
    assert "(# TYPE queue_wait_seconds histogram)" in wait
    assert "watched as a gauge (taken from its name)" in wait
    assert "a restart reads as a fall" in wait
    assert wait.endswith("write 'kind: counter' in its watch entry")
    assert "declares depth a gauge (# TYPE depth gauge)" in depth
    assert "watched as a counter ('kind: counter' is written)" in depth
    assert "a breach of its value goes unseen" in depth
    assert depth.endswith("write 'kind: gauge' in its watch entry")
    assert not any("pool_count" in m for m in first), "a kind that agrees is not told"
    assert again == [[], []], "not every sweep"
    (summary,) = changed
    assert "(# TYPE queue_wait_seconds summary)" in summary
    assert last == []
    assert result.states["jobs/queue_wait_seconds_count{}"].last_raw is None, (
        "the configured gauge is kept, not turned into a counter"
    )


def test_a_series_a_prometheus_server_declares_a_counter_is_told_once_if_watched_raw(
    prometheus_server: StartPrometheus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's metadata API says what its targets declare (a histogram's ``_count``
    is a counter), asked once, not at every sweep; a gauge watched as one is not told."""
    with Exporter() as exporter:
        waits = Histogram("queue_wait_seconds", "Waits.", registry=exporter.registry)
        waits.observe(0.5)
        exporter.gauge("pool_count", "Open connections.").set(4)
        server = prometheus_server([ScrapeTarget(job="app", url=exporter.url)])
        settings = _read_from(
            server,
            tmp_path,
            WatchConfig.model_validate({"metric": "queue_wait_seconds_count"}),
            WatchConfig.model_validate({"metric": "pool_count", "kind": "gauge"}),
        )
        runtime = build_runtime(settings, notifiers=[])
        caplog.set_level(logging.WARNING, logger="vanguard")
        try:
            inp = SweepInput(states={}, scrape_state={}, watcher="w1")
            for _ in range(3):
                result = runtime.activities.sweep(inp)
                inp = SweepInput(
                    states=result.states, scrape_state=result.scrape_state, watcher="w1"
                )
                waits.observe(0.5)
                time.sleep(1.1)
        finally:
            runtime.close()
    read = sorted(key.split("{")[0] for key in result.states)
    assert read == ["app/pool_count", "app/queue_wait_seconds_count"], "both were read"
    (told,) = [r.getMessage() for r in caplog.records]
    assert told.startswith(f"app: {server.url} declares queue_wait_seconds_count a counter ")
    assert "(# TYPE queue_wait_seconds histogram)" in told
    assert "taken from its name" in told
    assert "write 'kind: counter'" in told


def test_a_watch_entry_that_matches_nothing_is_told_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A misspelt metric or label watched nothing, and nothing said so: the loop looked
    healthy. Told once per entry, with the labels its metric does have; told again only
    after it matched something in between."""

    class Queues(_Stamped):
        body = b'myapp_queue_depth{queue="jobs"} 3\n'

    matching = b'myapp_queue_depth{queue="job"} 3\n'

    with _served(Queues) as url:
        settings = _scraping(
            url,
            tmp_path,
            "app",
            WatchConfig(metric="myapp_queue_dept", rule=WatchRule(threshold=100)),
            WatchConfig(
                metric="myapp_queue_depth", labels={"queue": "job"}, rule=WatchRule(threshold=9)
            ),
        )
        told, _ = _told_each_sweep(
            settings,
            caplog,
            Queues,
            [Queues.body, Queues.body, matching],
            level=logging.INFO,
        )
    typo, label = told[0]
    assert typo == (
        "app: watch[0] (myapp_queue_dept) matches no series: the target has no series of "
        "that name; it watches nothing until it does"
    )
    assert label == (
        "app: watch[1] (myapp_queue_depth with labels {'queue': 'job'}) matches no series: "
        "its 1 series have other labels (queue=jobs); it watches nothing until it does"
    )
    assert told[1] == [], "told once"
    assert told[2] == ["app: watch[1] matches 1 series again"]


def test_a_pgbouncer_that_stops_answering_holds_neither_the_sweep_nor_other_services(
    pgbouncer_server: StartPgBouncer, tmp_path: Path
) -> None:
    """A console stopped (SIGSTOP) mid-read held the sweep for ever: ``web``, read after
    ``db``, was never read and its breach never raised; the sweep's retries stranded a
    worker thread each. The read ends at its timeout and the console backs off."""
    bouncer = pgbouncer_server()
    with (
        Exporter() as exporter,
        ThreadPoolExecutor(1) as pool,
        bouncer.stopped_at(b"SHOW POOLS") as dsn,
    ):
        exporter.gauge("queue_depth", "Queued jobs.").set(500)
        settings = Settings(
            data_dir=tmp_path,
            services=(
                ServiceConfig(
                    name="db",
                    pgbouncer=PgBouncerConfig(
                        admin_dsn=dsn, ini_path=bouncer.ini_path, interval_s=1, timeout_s=1
                    ),
                    watch=(WatchConfig(metric="pgbouncer_pools_client_waiting_connections"),),
                ),
                ServiceConfig(
                    name="web",
                    scrape=ScrapeConfig(url=exporter.url, interval_s=1),
                    watch=(
                        WatchConfig(metric="queue_depth", rule=WatchRule(threshold=100, warmup=3)),
                    ),
                ),
            ),
        )
        runtime = build_runtime(settings, notifiers=[])
        now = datetime(2026, 6, 1, tzinfo=UTC)
        runtime.activities.clock = lambda: now
        inp = SweepInput(states={}, scrape_state={})
        took: list[float] = []
        results: list[SweepResult] = []
        try:
            for _ in range(3):
                started = time.monotonic()
                results.append(pool.submit(runtime.activities.sweep, inp).result(timeout=20))
                took.append(time.monotonic() - started)
                inp = SweepInput(states=results[-1].states, scrape_state=results[-1].scrape_state)
                now += timedelta(seconds=1)
        finally:
            runtime.close()
    assert max(took) < 4, took
    db = TargetState.model_validate(results[0].scrape_state["db"])
    assert db.consecutive_failures == 1
    assert "no answer within 1 s" in (db.last_error or "")
    (breach,) = results[0].alerts
    assert breach.service_name == "web"
    assert "breach" in breach.summary


class _Late(_Stamped):
    """Answers after ``delay_s``."""

    body = b"queue_depth 3\n"
    delay_s = 0.0

    def do_GET(self) -> None:
        time.sleep(self.delay_s)
        with contextlib.suppress(ConnectionError):
            super().do_GET()


def _many(url: str, tmp_path: Path, count: int, timeout_s: float) -> Settings:
    """``count`` services ``s0``, ``s1``, ... all scraping ``url`` every second."""
    return Settings(
        data_dir=tmp_path,
        services=tuple(
            ServiceConfig(
                name=f"s{i}",
                scrape=ScrapeConfig(url=f"{url}?s={i}", interval_s=1, timeout_s=timeout_s),
                watch=(WatchConfig(metric="queue_depth", rule=WatchRule(threshold=100)),),
            )
            for i in range(count)
        ),
    )


def _read_by(result: SweepResult, now: datetime) -> list[str]:
    """The services a sweep at ``now`` read."""
    return sorted(
        name
        for name, raw in result.scrape_state.items()
        if TargetState.model_validate(raw).last_success == now
    )


def test_services_a_sweep_has_no_time_left_for_are_read_first_next_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Read one after another, slow targets held the sweep past its timeout, and the
    schedule of every target was lost with it. Now the sweep reads a few at a time
    within its budget; a service not read by then keeps its schedule and comes first."""

    class Slow(_Late):
        delay_s = 1.0

    with _served(Slow) as url:
        runtime = build_runtime(_many(url, tmp_path, 6, timeout_s=2), notifiers=[])
        runtime.activities.sweep_budget_s = 1.9
        now = datetime(2026, 6, 1, tzinfo=UTC)
        runtime.activities.clock = lambda: now
        caplog.set_level(logging.WARNING, logger="vanguard")
        try:
            started = time.monotonic()
            first = runtime.activities.sweep(SweepInput(states={}, scrape_state={}))
            took = time.monotonic() - started
            now += timedelta(seconds=1)
            second = runtime.activities.sweep(
                SweepInput(states=first.states, scrape_state=first.scrape_state)
            )
        finally:
            runtime.close()
    assert took < 3.0, f"the sweep took {took:.1f} s, past its 1.9 s"
    assert _read_by(first, now - timedelta(seconds=1)) == ["s0", "s1", "s2", "s3"]
    assert sorted(first.scrape_state) == ["s0", "s1", "s2", "s3"], "s4 and s5 keep theirs"
    assert {"s4", "s5"} <= set(_read_by(second, now)), "the longest waiting come first"
    (told,) = [r.getMessage() for r in caplog.records if "not read" in r.getMessage()]
    assert told.startswith("sweep: 2 service(s) not read within its 1.9 s (s4, s5)"), "once"


class _Stalling(_Stamped):
    """Sends its headers after 1.0 s and its body 1.9 s later: each wait within a 2 s
    timeout (the headers with room for a slow machine), the whole far past it."""

    body = b"queue_depth 3\n"

    def do_GET(self) -> None:
        time.sleep(1.0)
        with contextlib.suppress(ConnectionError):
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(1.9)
            self.wfile.write(self.body)


def test_a_target_still_reading_past_its_timeout_when_the_budget_is_spent_backs_off(
    tmp_path: Path,
) -> None:
    """The sweep does not wait for it: its read counts as failed, so it backs off instead
    of taking the budget again at the next sweep."""
    with _served(_Stalling) as url:
        runtime = build_runtime(_many(url, tmp_path, 1, timeout_s=2), notifiers=[])
        runtime.activities.sweep_budget_s = 2.4
        now = datetime(2026, 6, 1, tzinfo=UTC)
        runtime.activities.clock = lambda: now
        try:
            started = time.monotonic()
            result = runtime.activities.sweep(SweepInput(states={}, scrape_state={}))
            took = time.monotonic() - started
        finally:
            runtime.close()
    assert took < 3.2, f"the sweep took {took:.1f} s, past its 2.4 s"
    target = TargetState.model_validate(result.scrape_state["s0"])
    assert target.consecutive_failures == 1
    assert "past its timeout, when the sweep's 2.4 s were spent" in (target.last_error or "")
    assert target.next_due == now + timedelta(seconds=2), "backed off"


def _counting(per_s: float, delays: Sequence[float]) -> type[_Stamped]:
    """A counter growing ``per_s`` a second, read when its answer is made, after each of
    ``delays`` in turn: a target that is slow to answer now and then."""
    started = time.time()
    turns = itertools.cycle(delays)

    class Counting(_Stamped):
        def do_GET(self) -> None:
            time.sleep(next(turns))
            count = per_s * (time.time() - started)
            self.body = f"# TYPE requests_total counter\nrequests_total {count:.3f}\n".encode()
            super().do_GET()

    return Counting


def test_a_counters_rate_takes_on_no_targets_latency(tmp_path: Path) -> None:
    """Samples were stamped when the sweep began: a steady 30/s read as about 64/s and
    14/s by turns, behind a target that answers at once and after 1.2 s by turns, and as
    much on that target's own counter, a false critical breach of 50/s. Each target's
    samples are stamped when it answered."""
    rule = WatchRule(threshold=50, warmup=3)
    watch = (WatchConfig(metric="requests_total", rule=rule),)
    with (
        _served(_counting(30, [0.0, 1.2])) as slow,
        _served(_counting(30, [0.0])) as steady,
    ):
        settings = Settings(
            data_dir=tmp_path,
            services=(
                ServiceConfig(
                    name="slow", scrape=ScrapeConfig(url=slow, interval_s=1), watch=watch
                ),
                ServiceConfig(
                    name="web", scrape=ScrapeConfig(url=steady, interval_s=1), watch=watch
                ),
            ),
        )
        runtime = build_runtime(settings, notifiers=[])
        inp = SweepInput(states={}, scrape_state={})
        alerts: list[Alert] = []
        try:
            for _ in range(7):
                result = runtime.activities.sweep(inp)
                alerts += result.alerts
                inp = SweepInput(states=result.states, scrape_state=result.scrape_state)
                time.sleep(1.05)
        finally:
            runtime.close()
    rates = {key.split("/")[0]: state.values for key, state in result.states.items()}
    assert len(rates["web"]) >= 5
    assert all(22 < rate < 38 for rate in (*rates["web"], *rates["slow"])), rates
    assert alerts == []


def _sweep_once(
    runtime: Runtime, last: SweepInput | SweepResult, clock: list[datetime]
) -> SweepResult:
    """One sweep going on from ``last``, then a second of ``clock``."""
    result = runtime.activities.sweep(
        SweepInput(states=last.states, scrape_state=last.scrape_state)
    )
    clock[0] += timedelta(seconds=1)
    return result


def test_a_more_urgent_alert_of_an_incident_waiting_for_a_person_is_passed_on_once(
    tmp_path: Path,
) -> None:
    """A forecast asked a person; the breach it predicted came before the answer. The
    breach opens nothing new (the incident is open), but is news for that incident, told
    until it is on record; an incident not waiting for anyone gets none."""
    exporter = Exporter()
    exporter.gauge("rss", "rss").set(500)
    service = ServiceConfig(
        name="leaky",
        scrape=ScrapeConfig(url=exporter.url, interval_s=1, timeout_s=5),
        watch=(WatchConfig(metric="rss", rule=WatchRule(threshold=100)),),
    )
    runtime = build_runtime(Settings(data_dir=tmp_path, services=(service,)), notifiers=[])
    clock = [datetime(2026, 6, 1, tzinfo=UTC)]
    runtime.activities.clock = lambda: clock[0]
    forecast = Alert(
        alert_id="a-forecast",
        fingerprint="leaky/rss",
        source="watch",
        service_name="leaky",
        metric_type="rss",
        detected_at=clock[0],
        summary="rss predicted over 100 in 40 s",
        anomaly_score=0.0,
        confidence=0.7,
        attributes={"kind": "forecast"},
    )
    asking = Incident.open("inc-asks", forecast).transition(S.diagnosed, at=clock[0], reason="t")
    asking = asking.transition(S.awaiting_approval, at=clock[0], reason="t")
    with runtime.store.session() as session:
        IncidentRepo(session).save_incident(asking)
    try:
        exporter.start()
        first = _sweep_once(runtime, SweepInput(states={}, scrape_state={}), clock)
        again = _sweep_once(runtime, first, clock)
        with runtime.store.session() as session:
            AuditLog(session).append(
                incident_id="inc-asks", kind=WORSENED, payload={"kind": "breach"}, at=clock[0]
            )
        told = _sweep_once(runtime, again, clock)
        with runtime.store.session() as session:
            IncidentRepo(session).save_incident(
                asking.transition(S.approved, at=clock[0], reason="t")
            )
        acting = _sweep_once(runtime, told, clock)
    finally:
        exporter.stop()
        runtime.close()
    assert (first.alerts, again.alerts, told.alerts, acting.alerts) == ((), (), (), ())
    assert [(w.incident_id, w.alert.attributes["kind"]) for w in first.worsened] == [
        ("inc-asks", "breach")
    ]
    assert [(w.incident_id, w.alert.attributes["kind"]) for w in again.worsened] == [
        ("inc-asks", "breach")
    ], "told again until it is on record"
    assert told.worsened == (), "on record: told"
    assert acting.worsened == (), "nobody is waiting to be told"
