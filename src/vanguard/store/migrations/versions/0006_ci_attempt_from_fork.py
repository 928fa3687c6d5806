"""Whether a recorded attempt built a fork's pull request.

A fork's pull request from a branch named like the default branch was counted as the
default branch in the health figures (time to recovery, red since). Rows from before this
revision are taken as the repository's own runs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ci_attempts") as batch:
        batch.add_column(
            sa.Column("from_fork", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("ci_attempts") as batch:
        batch.drop_column("from_fork")
