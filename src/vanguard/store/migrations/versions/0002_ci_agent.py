"""CI agent: webhook deliveries (dedupe), finished run attempts, triage issues.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "github_deliveries",
        sa.Column("delivery_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(60), nullable=False),
        sa.Column("action", sa.String(60), nullable=True),
        sa.Column("repository", sa.String(200), nullable=True),
        sa.Column("received_at", _ts(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("incident_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_github_deliveries"),
    )
    op.create_index(
        "ix_github_deliveries_received_at", "github_deliveries", ["received_at"], unique=False
    )
    op.create_table(
        "ci_attempts",
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_attempt", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("workflow", sa.String(200), nullable=False),
        sa.Column("head_sha", sa.String(64), nullable=False),
        sa.Column("head_branch", sa.String(250), nullable=True),
        sa.Column("default_branch", sa.String(250), nullable=False),
        sa.Column("conclusion", sa.String(40), nullable=False),
        sa.Column("finished_at", _ts(), nullable=False),
        sa.Column("category", sa.String(60), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("retryable", sa.Boolean(), nullable=True),
        sa.Column("rerun_by_vanguard", sa.Boolean(), nullable=False),
        sa.Column("incident_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("repository", "run_id", "run_attempt", name="pk_ci_attempts"),
    )
    op.create_index(
        "ix_ci_attempts_fingerprint_finished",
        "ci_attempts",
        ["fingerprint", "finished_at"],
        unique=False,
    )
    op.create_table(
        "ci_triage",
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("issue_number", sa.Integer(), nullable=True),
        sa.Column("ignored", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("repository", "fingerprint", name="pk_ci_triage"),
    )


def downgrade() -> None:
    op.drop_table("ci_triage")
    op.drop_index("ix_ci_attempts_fingerprint_finished", table_name="ci_attempts")
    op.drop_table("ci_attempts")
    op.drop_index("ix_github_deliveries_received_at", table_name="github_deliveries")
    op.drop_table("github_deliveries")
