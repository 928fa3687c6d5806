"""The embedded mode's sweep parameters come from every watched source, not only scrapes."""

from __future__ import annotations

from pathlib import Path

from vanguard.config import (
    PgBouncerConfig,
    ScrapeConfig,
    ServiceConfig,
    Settings,
    VerificationConfig,
    WatchConfig,
)
from vanguard.engine.embedded import watcher_input


def test_nothing_watched_starts_no_watcher() -> None:
    scraped = ServiceConfig(name="web", scrape=ScrapeConfig(url="http://127.0.0.1:1/metrics"))
    assert watcher_input(Settings(services=(scraped,))) is None


def test_pgbouncer_only_service_is_swept_at_its_interval(tmp_path: Path) -> None:
    pool = ServiceConfig(
        name="pool",
        pgbouncer=PgBouncerConfig(
            admin_dsn="host=127.0.0.1 port=6432 dbname=pgbouncer user=postgres",
            ini_path=tmp_path / "pgbouncer.ini",
            interval_s=2,
        ),
        watch=(WatchConfig(metric="pgbouncer_pools_client_waiting_connections"),),
    )
    web = ServiceConfig(
        name="web",
        scrape=ScrapeConfig(url="http://127.0.0.1:1/metrics", interval_s=7),
        watch=(WatchConfig(metric="process_resident_memory_bytes"),),
    )
    settings = Settings(services=(pool, web), verification=VerificationConfig(window_s=42))
    sweep = watcher_input(settings)
    assert sweep is not None
    assert sweep.interval_s == 2
    assert sweep.window_s == 42
