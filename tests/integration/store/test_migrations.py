"""The Alembic migrations match the ORM mappings, can be undone and redone, and keep the
rows of a store at any earlier revision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

import vanguard.ci.tables  # noqa: F401  (registers the CI agent's tables in the metadata)
from tests.integration.store import values as v
from vanguard.store import IncidentRepo, open_store
from vanguard.store.database import MIGRATIONS_DIR, alembic_config
from vanguard.store.tables import metadata

HEAD = "0007"
TABLES = {
    "actions",
    "ci_attempts",
    "ci_triage",
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
    their defaults, and a run id past 2^31 fits once ``run_id`` is a BIGINT (0005)."""
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
    assert revision_of(store_url) == HEAD
