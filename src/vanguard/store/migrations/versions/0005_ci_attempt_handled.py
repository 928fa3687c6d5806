"""Whether a recorded failed attempt was handled to the end; run ids in 64 bits.

A failed run is recorded before its incident starts, so that storm detection sees it at
once; when the start fails (the engine is down) or the process dies, the attempt must stay
visible as unhandled, or the poller would take it as done and nothing would retry it.
Rows from before this revision were handled.

GitHub's run ids passed 2^31 long ago: ``run_id`` was a 32-bit integer on PostgreSQL (SQLite
stores 64 bits whatever the declared type), so a real run could not be recorded there.

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
        batch.alter_column(
            "run_id", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ci_attempts") as batch:
        batch.alter_column(
            "run_id", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
        batch.drop_column("handled")
