"""Pool metrics both ways: SHOW POOLS read directly, and the PyPI exporter via Prometheus."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.pgbouncer_lab import (
    ALIAS,
    LAB_DIR,
    MAXWAIT,
    WAITING,
    Load,
    PgBouncerExporter,
    Pool,
    exporter_venv,
)
from tests.servers.pgbouncer import StartPgBouncer
from tests.servers.prometheus import ScrapeTarget, StartPrometheus
from vanguard.errors import ScrapeError
from vanguard.netutil import free_port
from vanguard.sources.pgbouncer import POOL_SIZE, read_pools
from vanguard.sources.prometheus import PrometheusClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_show_pools_read_directly_sees_the_queue(pgbouncer_server: StartPgBouncer) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    with Load(pool.bouncer, clients=10, seconds=20):
        pool.queued(4)
        time.sleep(1.0)
        signals = read_pools(pool.admin_dsn, service_name="db", now=datetime.now(UTC))
    values = {(s.metric_type, s.labels.get("database")): s.value for s in signals}
    assert values[(WAITING, ALIAS)] >= 4
    assert values[(POOL_SIZE, ALIAS)] == 2
    assert values[(MAXWAIT, ALIAS)] > 0
    assert all(s.labels.get("database") != "pgbouncer" for s in signals)


def test_an_unreachable_console_is_a_scrape_error() -> None:
    dsn = f"host=127.0.0.1 port={free_port()} dbname=pgbouncer user=postgres"
    with pytest.raises(ScrapeError, match="pgbouncer console"):
        read_pools(dsn, service_name="db", now=datetime.now(UTC), timeout_s=1)


def test_a_console_that_stops_answering_mid_read_fails_within_its_timeout(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """A PgBouncer stopped (SIGSTOP) once it has taken the connection never answers
    ``SHOW POOLS``; only connecting had a timeout, so the read waited for ever, and with
    it the sweep of every service."""
    bouncer = pgbouncer_server()
    with ThreadPoolExecutor(1) as pool, bouncer.stopped_at(b"SHOW POOLS") as dsn:
        started = time.monotonic()
        reading = pool.submit(
            read_pools, dsn, service_name="db", now=datetime.now(UTC), timeout_s=1
        )
        with pytest.raises(ScrapeError) as info:
            reading.result(timeout=10)
        took = time.monotonic() - started
    assert "no answer within 1 s" in str(info.value)
    assert took < 2.5, f"the read ended {took:.1f} s after it began"


def test_the_exporter_through_prometheus_gives_the_same_series(
    pgbouncer_server: StartPgBouncer, prometheus_server: StartPrometheus
) -> None:
    binary = exporter_venv(LAB_DIR)
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    url = f"postgresql://postgres@127.0.0.1:{pool.bouncer.port}/pgbouncer"
    with PgBouncerExporter(binary, url) as exporter:
        prometheus = prometheus_server([ScrapeTarget(job="pgbouncer", url=exporter.url)])
        start = datetime.now(UTC)
        with Load(pool.bouncer, clients=10, seconds=20):
            time.sleep(4)
            direct = read_pools(pool.admin_dsn, service_name="db", now=datetime.now(UTC))
        end = datetime.now(UTC) + timedelta(seconds=1)
        with PrometheusClient(prometheus.url) as client:
            series = client.query_range(f'{WAITING}{{database="{ALIAS}"}}', start, end, 1)
            sizes = client.query(f'{POOL_SIZE}{{database="{ALIAS}"}}', end)
    (waiting,) = series
    assert waiting.labels["database"] == ALIAS
    assert max(p.value for p in waiting.points) >= 4
    assert sizes[0].points[0].value == 2
    (direct_waiting,) = [s for s in direct if s.metric_type == WAITING]
    assert set(direct_waiting.labels) <= set(waiting.labels)
