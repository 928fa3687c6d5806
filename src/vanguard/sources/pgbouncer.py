"""PgBouncer as a source: ``SHOW POOLS`` and ``SHOW DATABASES`` read from its admin console.

The series carry the names and labels of the Prometheus exporter
(``prometheus-pgbouncer-exporter``), so one pattern serves both paths: read directly here
(the embedded default) or through Prometheus' query API. ``pool_signals`` is the pure half;
``read_pools`` talks to the console. The console has no transactions and no prepared
statements: connections are autocommit with ``prepare_threshold=None``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg

from vanguard.errors import ScrapeError
from vanguard.model import Signal
from vanguard.netutil import shut_after

__all__ = ["POOL_METRICS", "admin_rows", "pool_signals", "read_pools"]

POOL_METRICS: Mapping[str, str] = {
    "cl_active": "pgbouncer_pools_client_active_connections",
    "cl_waiting": "pgbouncer_pools_client_waiting_connections",
    "sv_active": "pgbouncer_pools_server_active_connections",
    "sv_idle": "pgbouncer_pools_server_idle_connections",
}
MAXWAIT = "pgbouncer_pools_client_maxwait_seconds"
POOL_SIZE = "pgbouncer_databases_database_pool_size"


def _number(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def pool_signals(
    pools: Sequence[Mapping[str, Any]],
    databases: Sequence[Mapping[str, Any]],
    *,
    source: str,
    service_name: str,
    now: datetime,
    metrics: Collection[str] | None = None,
) -> list[Signal]:
    """Turn console rows into Signals; the admin database ``pgbouncer`` is left out.

    ``maxwait`` is whole seconds in the console, so the wait time adds ``maxwait_us``.
    """
    wanted = None if metrics is None else frozenset(metrics)
    out: list[Signal] = []

    def add(name: str, labels: dict[str, str], value: float | None) -> None:
        if value is None or (wanted is not None and name not in wanted):
            return
        out.append(
            Signal(
                source=source,
                service_name=service_name,
                metric_type=name,
                labels=labels,
                timestamp=now,
                value=value,
            )
        )

    for row in pools:
        database = str(row.get("database", ""))
        if database == "pgbouncer":
            continue
        labels = {"database": database, "user": str(row.get("user", ""))}
        for column, name in POOL_METRICS.items():
            add(name, labels, _number(row, column))
        seconds = _number(row, "maxwait")
        micros = _number(row, "maxwait_us") or 0.0
        add(MAXWAIT, labels, None if seconds is None else seconds + micros / 1e6)
    for row in databases:
        name = str(row.get("name", ""))
        if name == "pgbouncer":
            continue
        add(POOL_SIZE, {"database": name}, _number(row, "pool_size"))
    return out


def admin_rows(
    admin_dsn: str, commands: Sequence[str], *, timeout_s: float
) -> list[list[dict[str, Any]]]:
    """Run console commands in one connection; each result as a list of column dicts.

    The whole read must end within ``timeout_s`` of its start (connecting has libpq's own
    bound, at least 2 s): a console that stops answering once connected (SIGSTOPped,
    swapped out, behind a half-open connection) held the read for ever, and with it the
    sweep of every service.
    """
    deadline = time.monotonic() + timeout_s
    try:
        with (
            psycopg.connect(
                admin_dsn,
                autocommit=True,
                prepare_threshold=None,
                connect_timeout=max(1, round(timeout_s)),
            ) as conn,
            shut_after(conn.fileno(), deadline - time.monotonic()) as late,
        ):
            try:
                results: list[list[dict[str, Any]]] = []
                for command in commands:
                    cur = conn.execute(command)
                    names = [d.name for d in cur.description or ()]
                    results.append([dict(zip(names, row, strict=True)) for row in cur.fetchall()])
                return results
            except psycopg.Error as exc:
                if late.is_set():
                    raise ScrapeError(
                        f"pgbouncer console ({admin_dsn}): no answer within {timeout_s:g} s"
                    ) from exc
                raise
    except psycopg.Error as exc:
        raise ScrapeError(f"pgbouncer console ({admin_dsn}): {exc}") from exc


def read_pools(
    admin_dsn: str,
    *,
    service_name: str,
    now: datetime,
    metrics: Collection[str] | None = None,
    timeout_s: float = 5.0,
) -> list[Signal]:
    """``SHOW POOLS`` + ``SHOW DATABASES`` as Signals; any failure is a ``ScrapeError``."""
    pools, databases = admin_rows(admin_dsn, ("SHOW POOLS", "SHOW DATABASES"), timeout_s=timeout_s)
    return pool_signals(
        pools,
        databases,
        source=f"pgbouncer:{admin_dsn}",
        service_name=service_name,
        now=now,
        metrics=metrics,
    )
