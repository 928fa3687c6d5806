"""The live watch's series states, kept in the store a generation at a time.

Each sweep of a watcher reads the generation its workflow names and writes the next one
under a token of its own; the workflow carries only the number and the token of the
attempt that answered. A sweep retried after it wrote (its worker died before answering)
reads the same generation again and writes the next under a new token, so retries are
harmless, and an attempt the workflow stopped waiting for (it runs on; a sweep cannot be
interrupted) writes a row nobody reads. The generation read stays until the one after the
next is written.
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

    def load(self, watcher: str, generation: int, token: str) -> bytes | None:
        """The states JSON of ``generation`` as ``token`` wrote it, or ``None``."""
        row = self.session.get(WatchStateRow, (watcher, generation, token))
        return None if row is None else zlib.decompress(row.states)

    def save(
        self,
        watcher: str,
        generation: int,
        token: str,
        states_json: bytes,
        series: int,
        now: datetime,
    ) -> None:
        """Write ``generation`` under ``token`` and drop the generations before the one it
        was computed from."""
        packed = zlib.compress(states_json, LEVEL)
        row = self.session.get(WatchStateRow, (watcher, generation, token))
        if row is None:
            self.session.add(
                WatchStateRow(
                    watcher=watcher,
                    generation=generation,
                    token=token,
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

    def generations(self, watcher: str) -> list[tuple[int, str]]:
        """The generations kept for ``watcher`` with their tokens, oldest first."""
        rows = self.session.execute(
            select(WatchStateRow.generation, WatchStateRow.token)
            .where(WatchStateRow.watcher == watcher)
            .order_by(WatchStateRow.generation, WatchStateRow.saved_at)
        )
        return [(generation, token) for generation, token in rows]
