"""Watch states: the live watch's per-series detector states, one row a generation.

They travelled in the watcher workflow's history; one sweep's payload passed Temporal's
2 MB limit near a thousand series.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "watch_states",
        sa.Column("watcher", sa.String(300), nullable=False),
        sa.Column("generation", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("states", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("watcher", "generation", "token", name="pk_watch_states"),
    )


def downgrade() -> None:
    op.drop_table("watch_states")
