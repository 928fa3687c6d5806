"""The Alembic migrations match the ORM mappings and can be undone and redone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

import vanguard.ci.tables  # noqa: F401  (registers the CI agent's tables in the metadata)
from vanguard.store import open_store
from vanguard.store.database import alembic_config
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
