"""GitHub poll state: the poller's ETags and the GitHub API budget, shared by processes.

Both lived in each process's memory: ``vanguard ci poll --once`` from cron never sent
``If-None-Match``, each process had its own hourly cap, and a ``Retry-After`` one process
was told was forgotten by the next. The budget also keeps the strictest ``poll`` settings the
processes used, so one with a larger cap or a smaller reserve cannot spend another's reserve.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ci_poll_etags",
        sa.Column("repository", sa.String(200), nullable=False),
        sa.Column("etag", sa.String(200), nullable=False),
        sa.Column("saved_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("repository", name="pk_ci_poll_etags"),
    )
    op.create_table(
        "github_api_budget",
        sa.Column("api_url", sa.String(300), nullable=False),
        sa.Column("calls_per_hour", sa.Integer(), nullable=False),
        sa.Column("calls_per_hour_seen_at", _ts(), nullable=False),
        sa.Column("reserve", sa.Integer(), nullable=False),
        sa.Column("reserve_seen_at", _ts(), nullable=False),
        sa.Column("window_start", _ts(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("reset_at", _ts(), nullable=True),
        sa.Column("blocked_until", _ts(), nullable=True),
        sa.Column("blocked_reason", sa.String(300), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("api_url", name="pk_github_api_budget"),
    )


def downgrade() -> None:
    op.drop_table("github_api_budget")
    op.drop_table("ci_poll_etags")
