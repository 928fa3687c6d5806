"""``IncidentRepo`` queries as SQLite plans them: what each reads of a long history."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event

from tests.integration.store import values as v
from vanguard.incident import IncidentState
from vanguard.store import IncidentRepo, Store


@contextmanager
def _statements(store: Store) -> Iterator[list[tuple[str, Any]]]:
    """The SQL (with its parameters) that the store runs inside the block."""
    seen: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:
        seen.append((args[2], args[3]))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_the_in_flight_counts_read_only_the_services_recent_incidents(store: Store) -> None:
    """Each decision counts a service's incidents changed in the last minutes; SQLite read
    every incident the service ever had for it (0.1 s a count with 100,000)."""
    with store.session() as session:
        repo = IncidentRepo(session)
        for n in range(3):
            repo.save_incident(v.incident(f"inc-{n}", minutes=n))
    unsettled = (IncidentState.applied, IncidentState.verifying, IncidentState.rolling_back)
    with store.session() as session, _statements(store) as seen:
        repo = IncidentRepo(session)
        repo.count_in_flight("checkout", since=v.T0 - timedelta(minutes=30), states=unsettled)
        ((sql, params),) = [(sql, params) for sql, params in seen if "FROM incidents" in sql]
        explained = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
        plan = [row[3] for row in explained]
    (incidents,) = [step for step in plan if " incidents " in step]
    assert "USING INDEX ix_incidents_service_updated (service_name=? AND updated_at>?)" in (
        incidents
    )
