"""Pauses: a person's order to stop acting on one service or on all of them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pauses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service_name", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("paused_by", sa.String(200), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("until", _ts(), nullable=True),
        sa.Column("resumed_at", _ts(), nullable=True),
        sa.Column("resumed_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pauses"),
    )
    op.create_index("ix_pauses_resumed_at", "pauses", ["resumed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pauses_resumed_at", table_name="pauses")
    op.drop_table("pauses")
