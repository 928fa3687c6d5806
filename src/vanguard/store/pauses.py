"""Pauses: a person stops Vanguard acting, on one service or on all, until resumed or expired.

A pause is the kill switch an operator reaches for in the middle of an incident: detection
and diagnosis go on, every incident is still recorded, but no gate lets an action through
(``vanguard.decide.gates.PauseGate``, which no approval lifts) and an action approved before
the pause is not applied. Pausing and resuming are written to the audit trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vanguard.model import Pause
from vanguard.store.audit import AuditLog
from vanguard.store.tables import PauseRow

__all__ = ["PauseRepo"]


def _pause(row: PauseRow) -> Pause:
    return Pause(
        pause_id=row.id,
        service_name=row.service_name,
        reason=row.reason,
        paused_by=row.paused_by,
        started_at=row.started_at,
        until=row.until,
    )


class PauseRepo:
    """Pauses inside the caller's unit of work; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def pause(
        self,
        *,
        service: str | None,
        reason: str,
        by: str,
        now: datetime,
        until: datetime | None = None,
    ) -> Pause:
        """Record a pause and its audit entry; ``service=None`` pauses every service."""
        row = PauseRow(
            service_name=service,
            reason=reason,
            paused_by=by,
            started_at=now,
            until=until,
        )
        self.session.add(row)
        self.session.flush()
        pause = _pause(row)
        AuditLog(self.session).append(
            incident_id=None,
            kind="automation.paused",
            payload=pause.model_dump(mode="json"),
            at=now,
        )
        return pause

    def active(self, now: datetime, service: str | None = None) -> list[Pause]:
        """Pauses in force at ``now``: every one, or those that stop ``service``."""
        query = select(PauseRow).where(
            PauseRow.resumed_at.is_(None),
            PauseRow.started_at <= now,
            or_(PauseRow.until.is_(None), PauseRow.until > now),
        )
        if service is not None:
            query = query.where(
                or_(PauseRow.service_name.is_(None), PauseRow.service_name == service)
            )
        return [_pause(row) for row in self.session.scalars(query.order_by(PauseRow.id))]

    def resume(self, *, service: str | None, by: str, now: datetime) -> list[Pause]:
        """End the pauses in force on exactly this scope (one service, or all: ``None``)."""
        query = select(PauseRow).where(
            PauseRow.resumed_at.is_(None),
            or_(PauseRow.until.is_(None), PauseRow.until > now),
        )
        if service is None:
            query = query.where(PauseRow.service_name.is_(None))
        else:
            query = query.where(PauseRow.service_name == service)
        ended: list[Pause] = []
        for row in self.session.scalars(query.order_by(PauseRow.id)):
            row.resumed_at = now
            row.resumed_by = by
            ended.append(_pause(row))
        self.session.flush()
        if ended:
            AuditLog(self.session).append(
                incident_id=None,
                kind="automation.resumed",
                payload={
                    "service": service,
                    "by": by,
                    "pauses": [p.pause_id for p in ended],
                },
                at=now,
            )
        return ended
