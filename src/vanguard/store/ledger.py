"""The durable idempotency ledger behind every side effect.

``begin`` must be on disk before the side effect starts, so that a crash half-way can be
reconciled on retry; therefore, unlike the repositories, each call here is its own committed
transaction. The key is the primary key: the first ``begin`` (or ``fence``) wins and later
ones change nothing, even when two workers race; a ``begin`` says whether it won, and one
that finds a fence raises.
Call it outside any open unit of work: on SQLite a unit of work holds the database's write
lock, so a ledger call inside one would wait for it in vain.
"""

from __future__ import annotations

from typing import Any

from pydantic import JsonValue, ValidationError
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vanguard.act.base import LedgerEntry, fenced_error
from vanguard.errors import StoreError
from vanguard.model import ActionResult
from vanguard.store.database import Store
from vanguard.store.tables import LedgerRow

__all__ = ["SqlLedger"]


class SqlLedger:
    """``vanguard.act.base.Ledger`` kept in the store's ``ledger`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> LedgerEntry | None:
        with self.store.session() as session:
            return _entry(session, key)

    def begin(self, key: str, before: dict[str, JsonValue]) -> bool:
        """Record that a side effect is about to happen: ``True`` when this call wrote the
        entry, ``False`` when the key was known (nothing changed); ``ActionFenced`` if it
        was fenced."""
        statement = self._insert({"key": key, "before": dict(before), "result": None})
        with self.store.session() as session:
            written = session.execute(
                statement.on_conflict_do_nothing(index_elements=["key"]).returning(LedgerRow.key)
            ).first()
            entry = _entry(session, key)
        if entry is not None and entry.fenced:
            raise fenced_error(key)
        return written is not None

    def fence(self, key: str, result: ActionResult) -> LedgerEntry:
        """Settle ``key`` as never begun unless it is known; the entry stored now."""
        body = result.model_dump(mode="json")
        statement = self._insert({"key": key, "before": {}, "result": body})
        with self.store.session() as session:
            session.execute(statement.on_conflict_do_nothing(index_elements=["key"]))
            entry = _entry(session, key)
        if entry is None:
            raise StoreError(f"ledger key {key!r}: gone right after it was written")
        return entry

    def finish(self, key: str, result: ActionResult) -> None:
        """Attach the result to the key (creating the entry if ``begin`` was skipped)."""
        body = result.model_dump(mode="json")
        statement = self._insert({"key": key, "before": {}, "result": body})
        with self.store.session() as session:
            session.execute(
                statement.on_conflict_do_update(index_elements=["key"], set_={"result": body})
            )

    def _insert(self, values: dict[str, Any]) -> postgresql.Insert | sqlite.Insert:
        if self.store.dialect == "postgresql":
            return postgresql.insert(LedgerRow).values(values)
        if self.store.dialect == "sqlite":
            return sqlite.insert(LedgerRow).values(values)
        raise StoreError(f"store {self.store.url}: no ledger for dialect {self.store.dialect}")


def _entry(session: Session, key: str) -> LedgerEntry | None:
    row = session.scalars(select(LedgerRow).where(LedgerRow.key == key)).one_or_none()
    if row is None:
        return None
    try:
        result = None if row.result is None else ActionResult.model_validate(row.result)
    except ValidationError as exc:
        raise StoreError(f"ledger key {key!r}: stored result no longer validates") from exc
    return LedgerEntry(key=row.key, before=row.before, result=result)
