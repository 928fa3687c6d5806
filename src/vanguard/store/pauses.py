"""Pauses: a person stops Vanguard acting, on one service or on all, until resumed or expired.

A pause is the kill switch an operator reaches for in the middle of an incident: detection
and diagnosis go on, every incident is still recorded, but no gate lets an action through
(``vanguard.decide.gates.PauseGate``, which no approval lifts) and an action approved before
the pause is not applied. Pausing and resuming are written to the audit trail.

One scope (a service, or all) has one pause in force: pausing it again extends that pause
instead of stacking another, so listings, metrics and ``resume`` see one per scope.

The commands time a pause by the store's clock (``PauseRepo.now``), not their own: the
workers that honour it read the same store, and a laptop's clock may be hours off.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Select, or_, select, text
from sqlalchemy.orm import Session

from vanguard.model import Pause
from vanguard.store.audit import AuditLog
from vanguard.store.tables import PauseRow

__all__ = ["PauseRepo"]

PAUSE_LOCK_KEY = 0x76616E6770617573  # "vangpaus": serialises pausing on PostgreSQL


def _pause(row: PauseRow) -> Pause:
    return Pause(
        pause_id=row.id,
        service_name=row.service_name,
        reason=row.reason,
        paused_by=row.paused_by,
        started_at=row.started_at,
        until=row.until,
    )


def _lasting(row: PauseRow) -> tuple[bool, datetime, int]:
    """Sort key of one scope's pauses: the longest-lasting, then the newest, sorts last."""
    return row.until is None, row.until or datetime.min.replace(tzinfo=UTC), row.id


def _one_per_scope(rows: Iterable[PauseRow]) -> list[PauseRow]:
    """The longest-lasting pause of each scope (pauses stacked before extending existed)."""
    kept: dict[str | None, PauseRow] = {}
    for row in rows:
        if row.service_name not in kept or _lasting(row) > _lasting(kept[row.service_name]):
            kept[row.service_name] = row
    return sorted(kept.values(), key=lambda row: row.id)


def _scope(service: str | None) -> ColumnElement[bool]:
    """Exactly this scope: one service, or the pause on all (``None``)."""
    if service is None:
        return PauseRow.service_name.is_(None)
    return PauseRow.service_name == service


def _in_force(now: datetime) -> Select[PauseRow]:
    """Pauses not resumed nor expired at ``now``. A pause holds from the moment it is
    written, whatever its start says: that is the clock of the machine that ran the
    command, and one running ahead of the worker's would leave the worker acting."""
    return select(PauseRow).where(
        PauseRow.resumed_at.is_(None),
        or_(PauseRow.until.is_(None), PauseRow.until > now),
    )


class PauseRepo:
    """Pauses inside the caller's unit of work; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> datetime:
        """Now by the store's clock: PostgreSQL's ``now()``, the start of this unit of work.

        A pause's end is measured from it, so ``--for 2h`` means two hours from when it is
        written, whatever the clock of the machine that ran the command. A SQLite store has
        no clock of its own: SQLite reads the clock of the host it is on, which the commands
        and workers sharing its file share, so it answers that.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            stamped: datetime = self.session.execute(text("SELECT now()")).scalar_one()
            return stamped.astimezone(UTC)
        said: str = self.session.execute(
            text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        ).scalar_one()
        return datetime.fromisoformat(said).replace(tzinfo=UTC)

    def pause(
        self,
        *,
        service: str | None,
        reason: str,
        by: str,
        now: datetime,
        until: datetime | None = None,
    ) -> Pause:
        """Pause ``service`` (``None``: every service), or extend the pause in force on it.

        Extending keeps the pause's start and takes the new reason and person; it lasts as
        long as the longer of the two (``until=None``, until resumed, outlasts any time), so
        pausing again never shortens a pause. Each is audited: ``automation.paused``, or
        ``automation.pause_extended`` with what the pause was before.
        """
        self._lock()
        row = self._current(service, now)
        if row is None:
            return self._record(service=service, reason=reason, by=by, now=now, until=until)
        before = _pause(row)
        row.until = None if until is None or row.until is None else max(row.until, until)
        row.reason = reason
        row.paused_by = by
        self.session.flush()
        pause = _pause(row)
        AuditLog(self.session).append(
            incident_id=None,
            kind="automation.pause_extended",
            payload={
                **pause.model_dump(mode="json"),
                "before": before.model_dump(mode="json", include={"reason", "paused_by", "until"}),
            },
            at=now,
        )
        return pause

    def _record(
        self, *, service: str | None, reason: str, by: str, now: datetime, until: datetime | None
    ) -> Pause:
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

    def _lock(self) -> None:
        """Serialise pausing until the unit of work ends (SQLite's ``BEGIN IMMEDIATE`` does).

        Two people pausing one scope at once must not both find it unpaused.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PAUSE_LOCK_KEY}
            )

    def _current(self, service: str | None, now: datetime) -> PauseRow | None:
        rows = self.session.scalars(_in_force(now).where(_scope(service))).all()
        return max(rows, key=_lasting) if rows else None

    def in_force(self, service: str | None, now: datetime) -> Pause | None:
        """The pause in force at ``now`` on exactly this scope (``None``: the pause on all)."""
        row = self._current(service, now)
        return _pause(row) if row is not None else None

    def active(self, now: datetime, service: str | None = None) -> list[Pause]:
        """Pauses in force at ``now``, one per scope: every one, or those that stop ``service``."""
        query = _in_force(now)
        if service is not None:
            query = query.where(or_(_scope(None), _scope(service)))
        return [_pause(row) for row in _one_per_scope(self.session.scalars(query))]

    def resume(self, *, service: str | None, by: str, now: datetime) -> list[Pause]:
        """End the pauses in force on exactly this scope (one service, or all: ``None``)."""
        query = select(PauseRow).where(
            PauseRow.resumed_at.is_(None),
            or_(PauseRow.until.is_(None), PauseRow.until > now),
        )
        query = query.where(_scope(service))
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
