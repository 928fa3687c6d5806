"""The Alembic migrations match the ORM mappings, can be undone and redone, and keep the
rows of a store at any earlier revision."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import vanguard.ci.tables  # noqa: F401  (registers the CI agent's tables in the metadata)
from tests.integration.store import values as v
from vanguard.incident import IncidentState
from vanguard.model import OutcomeStatus
from vanguard.store import IncidentRepo, open_store
from vanguard.store.database import MIGRATIONS_DIR, alembic_config
from vanguard.store.tables import UtcDateTime, metadata

HEAD = "0010"
TABLES = {
    "actions",
    "ci_attempts",
    "ci_poll_etags",
    "ci_triage",
    "github_api_budget",
    "github_deliveries",
    "audit_entries",
    "audit_head",
    "decisions",
    "diagnoses",
    "incidents",
    "ledger",
    "pauses",
    "outcomes",
    "signals",
    "verifications",
    "watch_states",
}


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


OLDER = sorted(r.revision for r in _scripts().walk_revisions() if r.revision != HEAD)
"""Every revision a store may still be at when this Vanguard opens it."""


def migrate_to(url: str, revision: str) -> None:
    """Bring the empty database at ``url`` to ``revision``, as an older Vanguard left it."""
    if url.startswith("sqlite"):
        Path(make_url(url).database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_there_is_one_linear_history() -> None:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        scripts = ScriptDirectory.from_config(alembic_config(conn))
    engine.dispose()
    assert scripts.get_heads() == [HEAD]
    assert [r.revision for r in scripts.walk_revisions()] == [
        HEAD,
        "0009",
        "0008",
        "0007",
        "0006",
        "0005",
        "0004",
        "0003",
        "0002",
        "0001",
    ]


def test_the_migrated_schema_matches_the_orm(store_url: str) -> None:
    store = open_store(store_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            diffs = compare_metadata(context, metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        store.close()
    assert diffs == []
    assert tables == TABLES | {"alembic_version"}


def test_downgrade_to_base_and_upgrade_again(store_url: str) -> None:
    open_store(store_url).close()
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        with engine.connect() as conn:
            emptied = set(inspect(conn).get_table_names())
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "head")
        with engine.connect() as conn:
            restored = set(inspect(conn).get_table_names())
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    assert emptied <= {"alembic_version"}
    assert restored == TABLES | {"alembic_version"}
    assert current == HEAD


@pytest.mark.parametrize("base", OLDER)
def test_a_store_at_an_older_revision_keeps_its_rows_when_migrated(
    store_url: str, base: str
) -> None:
    """An incident with its action and ledger entry, and a CI attempt, written by the
    Vanguard of ``base``, read the same after the upgrade; the columns added since take
    their defaults, a run id past 2^31 fits once ``run_id`` is a BIGINT (0005), and the
    decision's in-flight count finds the incident through the index of 0009."""
    migrate_to(store_url, base)
    incident = v.incident("i1")
    action = v.action("i1", "i1:apply")
    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO incidents (incident_id, state, service_name, opened_at,"
                    " updated_at, body) VALUES ('i1', 'open', 'checkout',"
                    " '2026-03-01 09:30:15.123456', '2026-03-01 09:30:15.123456', :body)"
                ),
                {"body": incident.model_dump_json()},
            )
            conn.execute(
                text(
                    "INSERT INTO actions (idempotency_key, incident_id, action, target, applied,"
                    " finished_at, body) VALUES ('i1:apply', 'i1', 'supervisor.restart',"
                    " 'worker', true, '2026-03-01 09:32:15.123456', :body)"
                ),
                {"body": action.model_dump_json()},
            )
            conn.execute(
                text("INSERT INTO ledger (key, before, result) VALUES ('i1:apply', :before, :r)"),
                {"before": json.dumps({"pid": 41}), "r": action.model_dump_json()},
            )
            if base >= "0002":
                conn.execute(
                    text(
                        "INSERT INTO ci_attempts (repository, run_id, run_attempt, workflow,"
                        " head_sha, default_branch, conclusion, finished_at, rerun_by_vanguard)"
                        " VALUES ('o/r', 2000000000, 1, 'ci', 'abc', 'main', 'failure',"
                        " '2026-03-01 09:30:15.123456', false)"
                    )
                )
    finally:
        engine.dispose()
    store = open_store(store_url)
    try:
        with store.session() as session:
            record = IncidentRepo(session).get_record("i1")
            ledger = session.execute(text("SELECT count(*) FROM ledger")).scalar()
            in_flight = IncidentRepo(session).count_in_flight(
                "checkout", since=v.T0 - timedelta(minutes=1), states=(IncidentState.open,)
            )
            indexes = {i["name"] for i in inspect(session.connection()).get_indexes("incidents")}
            if base >= "0002":
                handled, fork = session.execute(
                    text("SELECT handled, from_fork FROM ci_attempts")
                ).one()
                assert (bool(handled), bool(fork)) == (True, False)
                session.execute(text("UPDATE ci_attempts SET run_id = 9000000000"))
    finally:
        store.close()
    assert record is not None
    assert record.incident == incident
    assert record.actions == (action,)
    assert ledger == 1
    assert in_flight == 1
    assert "ix_incidents_service_updated" in indexes
    assert revision_of(store_url) == HEAD


def _at_revision(url: str, revision: str) -> None:
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def _rows_at_0007(url: str, n: int) -> None:
    """``n`` incidents diagnosed with a restart and resolved, as 0007 stored them, plus one
    whose outcome taught nothing, one without a diagnosis and one no pattern explained."""
    incidents = sa.table(
        "incidents",
        *(sa.column(name) for name in ("incident_id", "state", "service_name")),
        sa.column("opened_at", UtcDateTime()),
        sa.column("updated_at", UtcDateTime()),
        sa.column("body", sa.JSON),
    )
    diagnoses = sa.table(
        "diagnoses", sa.column("incident_id"), sa.column("pattern_id"), sa.column("body", sa.JSON)
    )
    outcomes = sa.table(
        "outcomes",
        *(sa.column(name) for name in ("incident_id", "pattern_id", "status")),
        sa.column("finished_at", UtcDateTime()),
        sa.column("body", sa.JSON),
    )

    def old(body: dict[str, Any]) -> dict[str, Any]:
        return {k: value for k, value in body.items() if k not in {"action", "pattern_version"}}

    plan: list[tuple[str, OutcomeStatus, bool, str | None]] = [
        (f"i{k:05d}", OutcomeStatus.resolved, True, "memory_leak_gradual") for k in range(n)
    ]
    plan += [
        ("untaught", OutcomeStatus.escalated, False, "memory_leak_gradual"),
        ("undiagnosed", OutcomeStatus.failed, True, "memory_leak_gradual"),
        ("unexplained", OutcomeStatus.declined, True, None),
    ]
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                incidents.insert(),
                [
                    {
                        "incident_id": iid,
                        "state": "resolved",
                        "service_name": "checkout",
                        "opened_at": v.at(0),
                        "updated_at": v.at(0),
                        "body": v.incident(iid).model_dump(mode="json"),
                    }
                    for iid, *_ in plan
                ],
            )
            conn.execute(
                diagnoses.insert(),
                [
                    {
                        "incident_id": iid,
                        "pattern_id": pattern,
                        "body": old(v.diagnosis(f"alert-{iid}", pattern).model_dump(mode="json"))
                        if pattern
                        else {"alert_id": f"alert-{iid}", "pattern_id": None, "confidence": 0.0},
                    }
                    for iid, _, _, pattern in plan
                    if iid != "undiagnosed"
                ],
            )
            conn.execute(
                outcomes.insert(),
                [
                    {
                        "incident_id": iid,
                        "pattern_id": pattern,
                        "status": status.value,
                        "finished_at": v.at(6),
                        "body": old(
                            v.outcome(iid, pattern, status=status)
                            .model_copy(update={"teaches": teaches})
                            .model_dump(mode="json")
                        ),
                    }
                    for iid, status, teaches, pattern in plan
                ],
            )
    finally:
        engine.dispose()


def test_upgrading_to_0008_keeps_the_outcomes_and_fills_what_they_lacked(store_url: str) -> None:
    """Rows of 0007 (over several pages of the backfill) keep their values, take their
    action from their diagnosis and ``teaches`` from their JSON; downgrading gives them
    back as 0007 stored them."""
    n = 1200
    _at_revision(store_url, "0007")
    _rows_at_0007(store_url, n)
    store = open_store(store_url)
    try:
        with store.session() as session:
            repo = IncidentRepo(session)
            records = {iid: repo.get_record(iid) for iid in ("i00000", "untaught", "undiagnosed")}
            counts = repo.outcome_counts({"memory_leak_gradual": "supervisor.restart"})
            elsewhere = repo.outcome_counts({"memory_leak_gradual": "config.set"})
            kept = session.execute(sa.text("SELECT count(*) FROM outcomes")).scalar_one()
    finally:
        store.close()
    outcome = {
        iid: r.outcome for iid, r in records.items() if r is not None and r.outcome is not None
    }
    assert kept == n + 3
    assert outcome["i00000"].action == "supervisor.restart"
    assert outcome["i00000"].status is OutcomeStatus.resolved
    assert outcome["untaught"].teaches is False
    assert outcome["undiagnosed"].action is None
    found = counts["memory_leak_gradual"]
    assert (found.won, found.lost, found.ignored) == (n, 1, 1)
    other = elsewhere["memory_leak_gradual"]
    assert (other.won, other.lost, other.ignored) == (0, 1, 0), "only the undiagnosed one"

    engine = create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0007")
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("outcomes")}
            bodies = (
                conn.execute(
                    sa.select(sa.column("body", sa.JSON)).select_from(sa.table("outcomes"))
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert columns == {"incident_id", "pattern_id", "status", "finished_at", "body"}
    assert len(bodies) == n + 3
    assert not any("action" in body for body in bodies)
