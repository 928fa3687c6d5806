"""SQLAlchemy 2.0 typed mappings: one table per value, each row holding the value's JSON.

Every pydantic value is stored whole as JSON (``body``) so it round-trips exactly; the few
columns beside it exist only to filter, order and join. Timestamps are stored in UTC and
always read back timezone-aware, on SQLite as well as on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "GENESIS_HASH",
    "ActionRow",
    "AuditEntryRow",
    "AuditHeadRow",
    "Base",
    "DecisionRow",
    "DiagnosisRow",
    "IncidentRow",
    "LedgerRow",
    "OutcomeRow",
    "PauseRow",
    "SignalRow",
    "UtcDateTime",
    "VerificationRow",
    "WatchStateRow",
    "metadata",
]

GENESIS_HASH = "0" * 64

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp kept in UTC; naive values are refused, never guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; give a zone")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


metadata = Base.metadata

ID = String(200)


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_service_updated", "service_name", "updated_at"),)

    incident_id: Mapped[str] = mapped_column(ID, primary_key=True)
    state: Mapped[str] = mapped_column(String(40), index=True)
    service_name: Mapped[str] = mapped_column(String(200), index=True)
    opened_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]


class SignalRow(Base):
    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_incident_position", "incident_id", "position", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.incident_id", ondelete="CASCADE")
    )
    position: Mapped[int]
    observed_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]


class DiagnosisRow(Base):
    __tablename__ = "diagnoses"

    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.incident_id", ondelete="CASCADE"), primary_key=True
    )
    pattern_id: Mapped[str | None] = mapped_column(String(200), index=True)
    body: Mapped[dict[str, Any]]


class DecisionRow(Base):
    __tablename__ = "decisions"

    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.incident_id", ondelete="CASCADE"), primary_key=True
    )
    approved: Mapped[bool] = mapped_column(Boolean)
    decided_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]


class ActionRow(Base):
    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_applied_finished", "applied", "finished_at"),)

    idempotency_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.incident_id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(300))
    applied: Mapped[bool] = mapped_column(Boolean)
    finished_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]


class VerificationRow(Base):
    __tablename__ = "verifications"

    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.incident_id", ondelete="CASCADE"), primary_key=True
    )
    verdict: Mapped[str] = mapped_column(String(40))
    body: Mapped[dict[str, Any]]


class OutcomeRow(Base):
    """``teaches`` and ``action`` are there for calibration to count in SQL."""

    __tablename__ = "outcomes"
    __table_args__ = (Index("ix_outcomes_pattern_finished", "pattern_id", "finished_at"),)

    incident_id: Mapped[str] = mapped_column(
        ID, ForeignKey("incidents.incident_id", ondelete="CASCADE"), primary_key=True
    )
    pattern_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(40))
    finished_at: Mapped[datetime]
    teaches: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    action: Mapped[str | None] = mapped_column(String(200))
    pattern_version: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[dict[str, Any]]


class AuditEntryRow(Base):
    """One link of the hash chain; ``prev_hash`` is unique, so the chain cannot fork."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    incident_id: Mapped[str | None] = mapped_column(ID, index=True)
    kind: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHeadRow(Base):
    """The single chain-head row; appenders lock it so concurrent appends serialise."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class LedgerRow(Base):
    """An idempotency key: begun before the side effect, finished with its result."""

    __tablename__ = "ledger"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    before: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class PauseRow(Base):
    """A person's order to stop acting: on one service or (``service_name`` null) on all."""

    __tablename__ = "pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_name: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(2000))
    paused_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    until: Mapped[datetime | None]
    resumed_at: Mapped[datetime | None] = mapped_column(index=True)
    resumed_by: Mapped[str | None] = mapped_column(String(200))


class WatchStateRow(Base):
    """One generation of a watcher's series states: compressed JSON, keyed by series.

    A sweep reads generation *k* and writes *k + 1* under a token of its own; the workflow
    carries only the number and the token of the attempt it heard from, so its history
    holds no per-series state, and an attempt it stopped waiting for writes a row that is
    never read.
    """

    __tablename__ = "watch_states"

    watcher: Mapped[str] = mapped_column(String(300), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    saved_at: Mapped[datetime]
    series: Mapped[int] = mapped_column(Integer)
    states: Mapped[bytes] = mapped_column(LargeBinary)
