"""The live watch's series states, kept in the store a generation at a time.

Each sweep of a watcher reads the generation its workflow names and writes the next one;
the workflow carries only that number. A sweep retried after it wrote (its worker died
before answering) reads the same generation again and overwrites the next, so retries
are harmless; the generation read stays until the one after the next is written.
"""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vanguard.store.tables import WatchStateRow

__all__ = ["WatchStateRepo"]

LEVEL = 1
"""zlib level: states are written every sweep, so speed beats the last few per cent."""


class WatchStateRepo:
    """Generations of a watcher's states inside the caller's unit of work; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def load(self, watcher: str, generation: int) -> bytes | None:
        """The states JSON of ``generation``, or ``None`` when it was never written."""
        row = self.session.get(WatchStateRow, (watcher, generation))
        return None if row is None else zlib.decompress(row.states)

    def save(
        self, watcher: str, generation: int, states_json: bytes, series: int, now: datetime
    ) -> None:
        """Write ``generation`` (replacing an earlier attempt's) and drop the ones before
        the generation it was computed from."""
        packed = zlib.compress(states_json, LEVEL)
        row = self.session.get(WatchStateRow, (watcher, generation))
        if row is None:
            self.session.add(
                WatchStateRow(
                    watcher=watcher,
                    generation=generation,
                    saved_at=now,
                    series=series,
                    states=packed,
                )
            )
        else:
            row.saved_at, row.series, row.states = now, series, packed
        self.session.execute(
            delete(WatchStateRow).where(
                WatchStateRow.watcher == watcher, WatchStateRow.generation < generation - 1
            )
        )

    def generations(self, watcher: str) -> list[int]:
        """The generations kept for ``watcher``, oldest first."""
        rows = self.session.scalars(
            select(WatchStateRow.generation)
            .where(WatchStateRow.watcher == watcher)
            .order_by(WatchStateRow.generation)
        )
        return list(rows)
