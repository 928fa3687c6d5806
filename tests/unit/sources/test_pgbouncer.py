"""SHOW POOLS / SHOW DATABASES rows become Signals named like the exporter's series."""

from __future__ import annotations

from datetime import UTC, datetime

from vanguard.sources.pgbouncer import pool_signals

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
POOLS = [
    {
        "database": "bench",
        "user": "postgres",
        "cl_active": 2,
        "cl_waiting": 18,
        "sv_active": 2,
        "sv_idle": 0,
        "maxwait": 1,
        "maxwait_us": 250000,
        "pool_mode": "transaction",
    },
    {"database": "pgbouncer", "user": "pgbouncer", "cl_active": 1, "cl_waiting": 0},
]
DATABASES = [{"name": "bench", "pool_size": 2}, {"name": "pgbouncer", "pool_size": 2}]


def _by_name(metrics: list[str] | None = None) -> dict[str, float]:
    signals = pool_signals(
        POOLS, DATABASES, source="pgbouncer:x", service_name="db", now=NOW, metrics=metrics
    )
    assert all(s.timestamp == NOW and s.service_name == "db" for s in signals)
    return {s.metric_type: s.value for s in signals}


def test_pools_and_databases_become_exporter_named_series() -> None:
    values = _by_name()
    assert values == {
        "pgbouncer_pools_client_active_connections": 2,
        "pgbouncer_pools_client_waiting_connections": 18,
        "pgbouncer_pools_server_active_connections": 2,
        "pgbouncer_pools_server_idle_connections": 0,
        "pgbouncer_pools_client_maxwait_seconds": 1.25,
        "pgbouncer_databases_database_pool_size": 2,
    }


def test_admin_database_is_left_out_and_labels_name_the_pool() -> None:
    signals = pool_signals(POOLS, DATABASES, source="s", service_name="db", now=NOW)
    assert {s.labels.get("database") for s in signals} == {"bench"}
    waiting = next(s for s in signals if s.metric_type.endswith("waiting_connections"))
    assert waiting.labels == {"database": "bench", "user": "postgres"}


def test_only_the_asked_metrics_are_returned() -> None:
    assert list(_by_name(["pgbouncer_pools_client_waiting_connections"])) == [
        "pgbouncer_pools_client_waiting_connections"
    ]


def test_missing_or_non_numeric_columns_are_skipped() -> None:
    rows = [{"database": "bench", "user": "u", "cl_waiting": "n/a", "cl_active": None}]
    assert pool_signals(rows, [], source="s", service_name="db", now=NOW) == []
