"""Whether a recorded failed attempt was handled to the end (its incident started).

A failed run is recorded before its incident starts, so that storm detection sees it at
once; when the start fails (the engine is down) or the process dies, the attempt must stay
visible as unhandled, or the poller would take it as done and nothing would retry it.
Rows from before this revision were handled.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ci_attempts") as batch:
        batch.add_column(
            sa.Column("handled", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("ci_attempts") as batch:
        batch.drop_column("handled")
