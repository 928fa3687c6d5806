"""Initial schema: incidents and their values, the audit chain and the idempotency ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["incident_id"],
        ["incidents.incident_id"],
        name=f"fk_{table}_incident_id_incidents",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("service_name", sa.String(200), nullable=False),
        sa.Column("opened_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name="pk_incidents"),
    )
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_index("ix_incidents_service_name", "incidents", ["service_name"])
    op.create_index("ix_incidents_opened_at", "incidents", ["opened_at"])

    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("observed_at", _ts(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _incident_fk("signals"),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
    )
    op.create_index(
        "ix_signals_incident_position", "signals", ["incident_id", "position"], unique=True
    )

    op.create_table(
        "diagnoses",
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("pattern_id", sa.String(200), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        _incident_fk("diagnoses"),
        sa.PrimaryKeyConstraint("incident_id", name="pk_diagnoses"),
    )
    op.create_index("ix_diagnoses_pattern_id", "diagnoses", ["pattern_id"])

    op.create_table(
        "decisions",
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("decided_at", _ts(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _incident_fk("decisions"),
        sa.PrimaryKeyConstraint("incident_id", name="pk_decisions"),
    )

    op.create_table(
        "actions",
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _incident_fk("actions"),
        sa.PrimaryKeyConstraint("idempotency_key", name="pk_actions"),
    )
    op.create_index("ix_actions_incident_id", "actions", ["incident_id"])
    op.create_index("ix_actions_applied_finished", "actions", ["applied", "finished_at"])

    op.create_table(
        "verifications",
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(40), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _incident_fk("verifications"),
        sa.PrimaryKeyConstraint("incident_id", name="pk_verifications"),
    )

    op.create_table(
        "outcomes",
        sa.Column("incident_id", sa.String(200), nullable=False),
        sa.Column("pattern_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("finished_at", _ts(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        _incident_fk("outcomes"),
        sa.PrimaryKeyConstraint("incident_id", name="pk_outcomes"),
    )
    op.create_index("ix_outcomes_pattern_id", "outcomes", ["pattern_id"])

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("incident_id", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_entries_prev_hash"),
        sa.UniqueConstraint("hash", name="uq_audit_entries_hash"),
    )
    op.create_index("ix_audit_entries_incident_id", "audit_entries", ["incident_id"])

    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])

    op.create_table(
        "ledger",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_ledger"),
    )


def downgrade() -> None:
    op.drop_table("ledger")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_entries_incident_id", table_name="audit_entries")
    op.drop_table("audit_entries")
    op.drop_index("ix_outcomes_pattern_id", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_table("verifications")
    op.drop_index("ix_actions_applied_finished", table_name="actions")
    op.drop_index("ix_actions_incident_id", table_name="actions")
    op.drop_table("actions")
    op.drop_table("decisions")
    op.drop_index("ix_diagnoses_pattern_id", table_name="diagnoses")
    op.drop_table("diagnoses")
    op.drop_index("ix_signals_incident_position", table_name="signals")
    op.drop_table("signals")
    op.drop_index("ix_incidents_opened_at", table_name="incidents")
    op.drop_index("ix_incidents_service_name", table_name="incidents")
    op.drop_index("ix_incidents_state", table_name="incidents")
    op.drop_table("incidents")
