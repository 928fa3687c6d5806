"""The audit trail: a single hash chain of redacted entries, tamper-evident against its head.

Each entry stores ``sha256(prev_hash + canonical JSON of the entry)``; changing, removing or
reordering any entry breaks every hash after it, which ``verify_chain`` reports. The chain has
no key and its head lives in the same database, so whoever can write there can rewrite an
entry and every hash after it, or cut the tail and move the head back, and the chain still
holds: only a head kept elsewhere (``KeptHead``, checked by ``verify_chain``) shows that.
Appenders lock the chain-head row (``SELECT ... FOR UPDATE`` on PostgreSQL, the database write
lock on SQLite) and ``prev_hash`` is unique, so concurrent writers extend one chain and never
fork it. Secrets are redacted before hashing, so neither the rows nor the hashes depend on them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, JsonValue
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vanguard.errors import InputError, StoreError
from vanguard.redact import redact
from vanguard.store.tables import GENESIS_HASH, AuditEntryRow, AuditHeadRow

__all__ = [
    "AuditEntry",
    "AuditLog",
    "ChainCheck",
    "KeptHead",
    "canonical_json",
    "entry_hash",
    "verify_entries",
]

HEAD_ID = 1
_KEPT_HEAD = re.compile(r"(\d+):([0-9a-fA-F]{64})")


class AuditEntry(BaseModel):
    """One recorded event; ``seq`` counts from 1 along the chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    incident_id: str | None
    kind: str
    payload: dict[str, JsonValue]
    at: AwareDatetime
    prev_hash: str
    hash: str


class ChainCheck(BaseModel):
    """The result of walking the chain: ``first_bad_id`` is the first entry that fails.

    ``partial``: the entries were not the whole chain (an export of one incident says so),
    or did not start at entry 1 (a full export whose first entries were cut reads the same),
    so only each entry, their order and the links between consecutive ones were checked.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    count: int
    first_bad_id: int | None = None
    reason: str
    partial: bool = False


class KeptHead(BaseModel):
    """A chain head kept away from the store: entry ``seq`` had ``hash`` when it was kept.

    The hash of an entry covers every entry before it, so a chain that still links from
    entry 1 and still holds this hash at ``seq`` was not rewritten up to there since.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> KeptHead:
        """``SEQ:HASH`` as ``vanguard audit verify`` prints it; ``InputError`` otherwise."""
        match = _KEPT_HEAD.fullmatch(text.strip())
        if match is None:
            raise InputError(
                f"kept head {text!r}: not SEQ:HASH (an entry number, a colon and the 64 hex "
                "digits of its hash, as `vanguard audit verify` prints it after 'head')"
            )
        return cls(seq=int(match[1]), hash=match[2].lower())

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


def canonical_json(value: JsonValue) -> str:
    """Sorted keys, no spaces, no NaN: the same value always gives the same bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    incident_id: str | None,
    kind: str,
    payload: Mapping[str, JsonValue],
    at: datetime,
) -> str:
    """The hash that links an entry to its predecessor."""
    body = canonical_json(
        {
            "seq": seq,
            "incident_id": incident_id,
            "kind": kind,
            "payload": dict(payload),
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        incident_id=row.incident_id,
        kind=row.kind,
        payload=row.payload,
        at=row.at,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditLog:
    """Appends to and reads the chain inside the caller's transaction; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self,
        *,
        incident_id: str | None,
        kind: str,
        payload: Mapping[str, JsonValue],
        at: datetime,
    ) -> AuditEntry:
        """Redact, hash and append one entry at the head of the chain."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise StoreError(f"audit entry {kind!r}: time {at.isoformat()} has no zone")
        clean = redact(dict(payload))
        if not isinstance(clean, dict):
            raise StoreError(f"audit entry {kind!r}: payload must be a mapping")
        try:
            canonical_json(clean)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"audit entry {kind!r}: payload is not finite JSON: {exc}") from exc
        utc = at.astimezone(UTC)
        head = self.session.scalars(
            select(AuditHeadRow).where(AuditHeadRow.id == HEAD_ID).with_for_update()
        ).one_or_none()
        if head is None:
            raise StoreError("audit chain head is missing; was the store migrated?")
        seq = head.seq + 1
        digest = entry_hash(
            head.hash, seq=seq, incident_id=incident_id, kind=kind, payload=clean, at=utc
        )
        row = AuditEntryRow(
            seq=seq,
            incident_id=incident_id,
            kind=kind,
            at=utc,
            payload=clean,
            prev_hash=head.hash,
            hash=digest,
        )
        self.session.add(row)
        head.seq = seq
        head.hash = digest
        self.session.flush()
        return _entry(row)

    def entries(self, incident_id: str | None = None) -> list[AuditEntry]:
        """Entries in chain order, all of them or those of one incident."""
        query = select(AuditEntryRow).order_by(AuditEntryRow.seq)
        if incident_id is not None:
            query = query.where(AuditEntryRow.incident_id == incident_id)
        return [_entry(row) for row in self.session.scalars(query)]

    def entries_of(self, incident_ids: Sequence[str], kinds: Sequence[str]) -> list[AuditEntry]:
        """Entries of the given kinds for the given incidents, in chain order."""
        if not incident_ids or not kinds:
            return []
        query = (
            select(AuditEntryRow)
            .where(AuditEntryRow.incident_id.in_(list(incident_ids)))
            .where(AuditEntryRow.kind.in_(list(kinds)))
            .order_by(AuditEntryRow.seq)
        )
        return [_entry(row) for row in self.session.scalars(query)]

    def count_by_kind(self, kinds: Sequence[str]) -> dict[str, int]:
        """How many entries of each given kind the chain holds (kinds with none are 0)."""
        query = (
            select(AuditEntryRow.kind, func.count())
            .where(AuditEntryRow.kind.in_(list(kinds)))
            .group_by(AuditEntryRow.kind)
        )
        found = {str(kind): int(n) for kind, n in self.session.execute(query)}
        return {kind: found.get(kind, 0) for kind in kinds}

    def stream(self, incident_id: str | None = None) -> Iterator[AuditEntry]:
        """Entries in chain order, read in batches (an export of a long chain)."""
        query = select(AuditEntryRow).order_by(AuditEntryRow.seq)
        if incident_id is not None:
            query = query.where(AuditEntryRow.incident_id == incident_id)
        rows = self.session.scalars(query.execution_options(yield_per=1000))
        try:
            for row in rows:
                yield _entry(row)
        finally:
            rows.close()

    def verify_chain(self, kept: Sequence[KeptHead] = ()) -> ChainCheck:
        """Walk the chain from entry 1 to its head and report the first entry that does not
        hold, or a ``kept`` head it no longer holds.

        The head is read first and the walk stops at it: an entry appended meanwhile (on
        PostgreSQL each statement of a ``Store.session`` sees the newest commits) lies past
        it and is left for the next walk, while entries cut from the end are missing below it.
        """
        head = self.session.get(AuditHeadRow, HEAD_ID)
        if head is None:
            return ChainCheck(ok=False, count=0, reason="chain head row is missing")
        head_seq, head_hash = head.seq, head.hash
        chain = (
            select(AuditEntryRow)
            .where(AuditEntryRow.seq <= head_seq)
            .order_by(AuditEntryRow.seq)
            .execution_options(yield_per=1000)
        )
        rows = self.session.scalars(chain)
        found = {0: GENESIS_HASH}
        try:
            broken, count, prev = _walk(_noting(rows, {k.seq for k in kept}, found))
        finally:
            rows.close()
        if broken is not None:
            return broken
        if head_seq != count or head_hash != prev:
            return ChainCheck(
                ok=False,
                count=count,
                first_bad_id=count + 1 if head_seq != count else max(count, 1),
                reason=f"head says {head_seq} entries ending {head_hash[:12]}, "
                f"found {count} ending {prev[:12]}: entries were removed or the head was edited",
            )
        beyond = self._past_the_head()
        if beyond is not None:
            return ChainCheck(
                ok=False,
                count=count,
                first_bad_id=beyond,
                reason=f"entry {beyond} lies past the chain's head: entries were added "
                "without moving the head, or the head was moved back",
            )
        return _against_kept(count, prev, kept, found)

    def _past_the_head(self) -> int | None:
        """The first entry past the head, if any.

        One statement, so one snapshot on either backend: an append commits its entry and
        the head together, so an entry past the head is never a write in flight.
        """
        head_seq = select(AuditHeadRow.seq).where(AuditHeadRow.id == HEAD_ID).scalar_subquery()
        query = select(func.min(AuditEntryRow.seq)).where(AuditEntryRow.seq > head_seq)
        return self.session.scalar(query)


def verify_entries(
    entries: Iterable[AuditEntry], *, partial: bool = False, kept: Sequence[KeptHead] = ()
) -> ChainCheck:
    """Walk an exported chain (``vanguard audit export``) without the store.

    A whole export, from entry 1, is checked as the chain: a copy kept elsewhere can then be
    checked on its own. Removing entries from its end cannot be seen from the file alone;
    compare its last hash with the head ``vanguard audit verify`` prints, or pass it in
    ``kept``. ``partial`` (one incident's entries, which may start at entry 1 and skip
    others') or entries that do not start at entry 1 are checked entry by entry, and the
    result is ``partial``; they cannot show a kept head (``InputError``).
    """
    listed = iter(entries)
    first = next(listed, None)
    if first is None:
        return ChainCheck(ok=False, count=0, reason="the export holds no entries")
    if partial or first.seq != 1:
        if kept:
            raise InputError(
                "a partial export (one incident's entries, or a chain that does not start at "
                "entry 1) cannot show a kept head: check it against the store or a whole export"
            )
        return _check_partial(itertools.chain([first], listed))
    found = {0: GENESIS_HASH}
    wanted = {k.seq for k in kept}
    broken, count, prev = _walk(_noting(itertools.chain([first], listed), wanted, found))
    if broken is not None:
        return broken
    return _against_kept(count, prev, kept, found)


def _noting(links: Iterable[_L], wanted: set[int], found: MutableMapping[int, str]) -> Iterator[_L]:
    """The links, unchanged; the hash of each whose seq is ``wanted`` goes into ``found``."""
    for link in links:
        if link.seq in wanted:
            found[link.seq] = link.hash
        yield link


def _against_kept(
    count: int, prev: str, kept: Sequence[KeptHead], found: Mapping[int, str]
) -> ChainCheck:
    """The verdict on a chain that holds from entry 1 to ``count``: intact, unless it no
    longer holds a head kept elsewhere."""
    for mark in sorted(kept, key=lambda k: k.seq):
        now = found.get(mark.seq) if mark.seq <= count else None
        if now is None:
            return ChainCheck(
                ok=False,
                count=count,
                reason=f"entry {mark.seq} of the kept head {mark.seq}:{mark.hash[:12]} is "
                f"missing: the chain ends at entry {count}, so entries were cut from its end "
                "and its head moved back since that head was kept",
            )
        if now != mark.hash:
            return ChainCheck(
                ok=False,
                count=count,
                reason=f"entry {mark.seq} no longer has the hash kept for it "
                f"({mark.hash[:12]}, now {now[:12]}): the chain was rewritten up to entry "
                f"{mark.seq} since that head was kept",
            )
    held = ""
    if kept:
        seqs = ", ".join(str(s) for s in sorted({k.seq for k in kept}))
        held = f", kept head{'s' if ',' in seqs else ''} {seqs} unchanged"
    return ChainCheck(
        ok=True, count=count, reason=f"{count} entries, chain intact{held}, head {count}:{prev}"
    )


def _check_partial(entries: Iterable[AuditEntry]) -> ChainCheck:
    """An export that is not the whole chain (``--incident``): each entry must match its
    own hash, entries must come in order, and consecutive ones must link. What lies between
    or before them cannot be told from the file; the reason says so."""
    count = 0
    previous: AuditEntry | None = None
    for entry in entries:
        if previous is not None and entry.seq <= previous.seq:
            return ChainCheck(
                ok=False,
                count=count,
                first_bad_id=entry.seq,
                reason=f"entry {entry.seq} follows entry {previous.seq}: entries were reordered",
            )
        expected = previous.hash if previous and entry.seq == previous.seq + 1 else None
        bad = _check_link(entry, expected_seq=entry.seq, prev=expected or entry.prev_hash)
        if bad is not None:
            return ChainCheck(ok=False, count=count, first_bad_id=bad[0], reason=bad[1])
        count += 1
        previous = entry
    return ChainCheck(
        ok=True,
        count=count,
        partial=True,
        reason=f"{count} entries of a partial export, each intact and in order; whether "
        "entries are missing between or before them cannot be told from the file (compare "
        "with the store: vanguard audit verify)",
    )


def _walk(links: Iterable[_Link]) -> tuple[ChainCheck | None, int, str]:
    """Follow links from genesis: the first break (or ``None``), how many held, the last hash."""
    prev = GENESIS_HASH
    count = 0
    for link in links:
        bad = _check_link(link, expected_seq=count + 1, prev=prev)
        if bad is not None:
            return (
                ChainCheck(ok=False, count=count, first_bad_id=bad[0], reason=bad[1]),
                count,
                prev,
            )
        count += 1
        prev = link.hash
    return None, count, prev


class _Link(Protocol):
    """A stored row or an exported entry: what a link of the chain is checked by."""

    @property
    def seq(self) -> int: ...
    @property
    def incident_id(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, JsonValue]: ...
    @property
    def at(self) -> datetime: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


_L = TypeVar("_L", bound=_Link)


def _check_link(row: _Link, *, expected_seq: int, prev: str) -> tuple[int, str] | None:
    if row.seq != expected_seq:
        return expected_seq, (
            f"expected entry {expected_seq}, found {row.seq}: "
            "entries are missing, reordered or renumbered"
        )
    if row.prev_hash != prev:
        return row.seq, f"entry {row.seq} does not link to the entry before it"
    try:
        recomputed = entry_hash(
            prev,
            seq=row.seq,
            incident_id=row.incident_id,
            kind=row.kind,
            payload=row.payload,
            at=row.at,
        )
    except ValueError:
        return row.seq, (
            f"entry {row.seq} was altered: it holds a number JSON cannot carry "
            "(NaN or infinity), which no entry is written with"
        )
    if recomputed != row.hash:
        return row.seq, f"entry {row.seq} was altered: its content no longer matches its hash"
    return None
