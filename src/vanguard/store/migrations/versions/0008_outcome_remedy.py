"""Outcomes keep their remedy's action, the pattern's version and whether they teach.

Calibration counted every outcome of a pattern id, whatever remedy it tried, by reading
and validating every outcome ever stored on each diagnosis; it now counts in SQL only the
outcomes of the pattern's current action, and the circuit breaker reads a service's newest
outcomes first (the index on pattern and time serves both). Existing rows take ``teaches``
from their JSON and their action from their incident's diagnosis, written into their JSON
too; their version stays unknown.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 500
NEW_FIELDS = frozenset({"action", "pattern_version"})
"""Fields of the stored outcome's JSON that the model before this revision refuses."""

outcomes = sa.table(
    "outcomes",
    sa.column("incident_id", sa.String),
    sa.column("teaches", sa.Boolean),
    sa.column("action", sa.String),
    sa.column("body", sa.JSON),
)
diagnoses = sa.table("diagnoses", sa.column("incident_id", sa.String), sa.column("body", sa.JSON))

Page = list[tuple[str, dict[str, Any], dict[str, Any] | None]]


def upgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.add_column(
            sa.Column("teaches", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("action", sa.String(200), nullable=True))
        batch.add_column(sa.Column("pattern_version", sa.Integer(), nullable=True))
    op.drop_index("ix_outcomes_pattern_id", table_name="outcomes")
    op.create_index("ix_outcomes_pattern_finished", "outcomes", ["pattern_id", "finished_at"])
    for page in _pages():
        changed = [
            _filled(incident_id, body, diagnosis)
            for incident_id, body, diagnosis in page
            if _action(diagnosis) is not None or body.get("teaches") is False
        ]
        if changed:
            op.get_bind().execute(
                outcomes.update()
                .where(outcomes.c.incident_id == sa.bindparam("id"))
                .values(
                    teaches=sa.bindparam("new_teaches"),
                    action=sa.bindparam("new_action"),
                    body=sa.bindparam("new_body", type_=sa.JSON),
                ),
                changed,
            )


def downgrade() -> None:
    for page in _pages():
        changed = [
            {"id": incident_id, "new_body": {k: body[k] for k in body.keys() - NEW_FIELDS}}
            for incident_id, body, _ in page
            if NEW_FIELDS & body.keys()
        ]
        if changed:
            op.get_bind().execute(
                outcomes.update()
                .where(outcomes.c.incident_id == sa.bindparam("id"))
                .values(body=sa.bindparam("new_body", type_=sa.JSON)),
                changed,
            )
    op.drop_index("ix_outcomes_pattern_finished", table_name="outcomes")
    op.create_index("ix_outcomes_pattern_id", "outcomes", ["pattern_id"])
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("pattern_version")
        batch.drop_column("action")
        batch.drop_column("teaches")


def _pages() -> Iterator[Page]:
    """Every stored outcome with its diagnosis's JSON, a page at a time, by incident id."""
    after = ""
    while True:
        page: Page = [
            (row[0], row[1], row[2])
            for row in op.get_bind().execute(
                sa.select(outcomes.c.incident_id, outcomes.c.body, diagnoses.c.body)
                .select_from(
                    outcomes.outerjoin(diagnoses, diagnoses.c.incident_id == outcomes.c.incident_id)
                )
                .where(outcomes.c.incident_id > after)
                .order_by(outcomes.c.incident_id)
                .limit(PAGE)
            )
        ]
        if not page:
            return
        yield page
        after = page[-1][0]


def _action(diagnosis: dict[str, Any] | None) -> str | None:
    remedy = (diagnosis or {}).get("remedy")
    action = remedy.get("action") if isinstance(remedy, dict) else None
    return action if isinstance(action, str) else None


def _filled(
    incident_id: str, body: dict[str, Any], diagnosis: dict[str, Any] | None
) -> dict[str, Any]:
    action = _action(diagnosis)
    return {
        "id": incident_id,
        "new_teaches": body.get("teaches") is not False,
        "new_action": action,
        "new_body": body if action is None else {**body, "action": action},
    }
