"""An index on incidents by service and last change: the decision's in-flight counts.

``IncidentRepo.count_in_flight`` counts a service's incidents changed within the last
minutes; without it SQLite read every incident of the service (most of a decision's time
with 100,000 outcomes). SQLite's planner passes over an index on ``updated_at`` alone for
the one on ``service_name``, so the index leads with the service.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_incidents_service_updated", "incidents", ["service_name", "updated_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_service_updated", table_name="incidents")
