"""An index on the audit trail's kinds: /metrics counts notifications by kind.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_entries_kind", "audit_entries", ["kind"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_entries_kind", table_name="audit_entries")
