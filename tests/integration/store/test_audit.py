"""The audit trail: one verifiable hash chain, tamper-evident, never holding a secret."""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from threading import Barrier as BarrierType
from typing import Any

import pytest
from pydantic import JsonValue
from sqlalchemy import delete, select, text, update

from tests.integration.store import values as v
from vanguard.errors import StoreError
from vanguard.store import AuditLog, Store, audit, open_store
from vanguard.store.audit import ChainCheck, KeptHead, entry_hash
from vanguard.store.tables import GENESIS_HASH, AuditEntryRow, AuditHeadRow

SECRETS = (
    "hunter2-db-password",
    "ghp_0123456789abcdefghijABCDEFGHIJklmnop",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2YW5ndWFyZCJ9.c2lnbmF0dXJl",
    "s3cr3t-cookie-value",
    "sk-live-abcdefghijklmnopqrstuvwxyz",
    "AKIAIOSFODNN7EXAMPLE",
)


def _fill(store: Store, n: int, start: int = 0) -> None:
    with store.session() as session:
        log = AuditLog(session)
        for i in range(start, start + n):
            log.append(
                incident_id=f"inc-{i % 2}", kind="step", payload={"i": i, "x": [i, 0.5]}, at=v.at(i)
            )


def _verify(store: Store, kept: Iterable[KeptHead] = ()) -> ChainCheck:
    with store.read_session() as session:
        return AuditLog(session).verify_chain(list(kept))


def _kept(store: Store) -> KeptHead:
    """The head as it stands, as a cron job would keep it off the host."""
    with store.read_session() as session:
        last = AuditLog(session).entries()[-1]
    return KeptHead(seq=last.seq, hash=last.hash)


def _during_the_walk(monkeypatch: pytest.MonkeyPatch, then: Callable[[], None]) -> None:
    """Make ``verify_chain`` run ``then`` once its walk has read entry 1, as a worker
    appending at that moment would."""
    real_walk = audit._walk

    def walk(links: Iterable[Any]) -> tuple[ChainCheck | None, int, str]:
        def interrupted() -> Iterator[Any]:
            for n, link in enumerate(links):
                if n == 1:
                    then()
                yield link

        return real_walk(interrupted())

    monkeypatch.setattr(audit, "_walk", walk)


def test_entries_link_from_genesis_and_verify(store: Store) -> None:
    _fill(store, 5)
    with store.session() as session:
        log = AuditLog(session)
        entries = log.entries()
        odd = log.entries("inc-1")
        check = log.verify_chain()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    for e in entries:
        assert e.hash == entry_hash(
            e.prev_hash,
            seq=e.seq,
            incident_id=e.incident_id,
            kind=e.kind,
            payload=e.payload,
            at=e.at,
        )
    assert [e.payload["i"] for e in odd] == [1, 3]
    assert entries[2].at == v.at(2)
    assert check.ok
    assert check.count == 5
    assert check.first_bad_id is None


def test_an_empty_chain_verifies(store: Store) -> None:
    with store.session() as session:
        check = AuditLog(session).verify_chain()
    assert (check.ok, check.count) == (True, 0)


def test_append_returns_what_is_stored(store: Store) -> None:
    with store.session() as session:
        made = AuditLog(session).append(incident_id=None, kind="boot", payload={"v": 1}, at=v.T0)
    with store.session() as session:
        (read,) = AuditLog(session).entries()
    assert read == made
    assert read.incident_id is None


@pytest.mark.parametrize(
    ("tamper", "first_bad", "why"),
    [
        (
            'UPDATE audit_entries SET payload = \'{"i": 99, "x": [2, 0.5]}\' WHERE seq = 3',
            3,
            "altered",
        ),
        ("UPDATE audit_entries SET kind = 'other' WHERE seq = 2", 2, "altered"),
        ("UPDATE audit_entries SET incident_id = 'inc-9' WHERE seq = 4", 4, "altered"),
        ("DELETE FROM audit_entries WHERE seq = 2", 2, "missing"),
        ("DELETE FROM audit_entries WHERE seq = 5", 5, "removed"),
        ("UPDATE audit_head SET hash = '" + "f" * 64 + "'", 5, "head"),
        (
            "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_entries WHERE seq = 4)",
            5,
            "past the chain's head",
        ),
    ],
)
def test_tampering_is_found_at_the_first_bad_entry(
    store: Store, tamper: str, first_bad: int, why: str
) -> None:
    _fill(store, 5)
    with store.session() as session:
        session.execute(text(tamper))
    with store.session() as session:
        check = AuditLog(session).verify_chain()
    assert not check.ok
    assert check.first_bad_id == first_bad
    assert why in check.reason


def test_a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(store: Store) -> None:
    _fill(store, 3)
    with store.session() as session:
        (second,) = [e for e in AuditLog(session).entries() if e.seq == 2]
        forged = entry_hash(
            second.prev_hash,
            seq=2,
            incident_id=second.incident_id,
            kind="forged",
            payload=second.payload,
            at=second.at,
        )
        session.execute(
            text("UPDATE audit_entries SET kind = 'forged', hash = :h WHERE seq = 2"), {"h": forged}
        )
    with store.session() as session:
        check = AuditLog(session).verify_chain()
    assert (check.ok, check.first_bad_id) == (False, 3)


@pytest.mark.integration
def test_an_append_during_the_walk_is_not_taken_for_tampering_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement of a PostgreSQL unit of work sees the newest commits: the head is read
    before the walk, so an entry a worker appends meanwhile lies past it, not in a gap."""
    reader, worker = open_store(postgres_url), open_store(postgres_url)
    try:
        _fill(worker, 3)
        _during_the_walk(monkeypatch, lambda: _fill(worker, 1, start=3))
        with reader.session() as session:
            check = AuditLog(session).verify_chain()
        monkeypatch.undo()
        with reader.session() as session:
            again = AuditLog(session).verify_chain()
    finally:
        reader.close()
        worker.close()
    assert (check.ok, check.count) == (True, 3), check.reason
    assert (again.ok, again.count) == (True, 4), again.reason


def test_a_worker_appends_while_a_read_session_walks(
    store: Store, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a walk in ``Store.session`` holds the write lock, and the worker would wait
    for it (then fail after 30 s on a long chain); a read session holds none."""
    worker = open_store(store_url)
    try:
        _fill(worker, 3)
        _during_the_walk(monkeypatch, lambda: _fill(worker, 1, start=3))
        check = _verify(store)
        monkeypatch.undo()
        again = _verify(store)
    finally:
        worker.close()
    assert (check.ok, check.count) == (True, 3), check.reason
    assert (again.ok, again.count) == (True, 4), again.reason


def test_a_kept_head_shows_a_tail_cut_with_the_head_moved_back(store: Store) -> None:
    _fill(store, 2)
    early = _kept(store)
    _fill(store, 3, start=2)
    kept = _kept(store)
    with store.session() as session:
        session.execute(delete(AuditEntryRow).where(AuditEntryRow.seq > 3))
        three = session.scalars(select(AuditEntryRow.hash).where(AuditEntryRow.seq == 3)).one()
        session.execute(update(AuditHeadRow).values(seq=3, hash=three))
    alone, against_kept, against_early = (
        _verify(store),
        _verify(store, [kept]),
        _verify(store, [early]),
    )
    assert (alone.ok, alone.count) == (True, 3), "the chain alone cannot tell"
    assert not against_kept.ok
    assert against_kept.reason.startswith(f"entry 5 of the kept head 5:{kept.hash[:12]} is missing")
    assert "the chain ends at entry 3, so entries were cut from its end" in against_kept.reason
    assert against_early.ok, "entries up to an earlier kept head are still as they were"


def test_a_kept_head_shows_an_entry_rewritten_and_the_rest_rehashed(store: Store) -> None:
    _fill(store, 1)
    early = _kept(store)
    _fill(store, 4, start=1)
    kept = _kept(store)
    with store.session() as session:
        rows = session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)).all()
        rows[1].payload = {"i": 1, "status": "rewritten"}
        for n, row in enumerate(rows[1:]):  # free the unique hashes before rewriting them
            row.prev_hash, row.hash = f"p{n:063d}", f"h{n:063d}"
            session.flush()
        prev = rows[0].hash
        for row in rows[1:]:
            row.prev_hash = prev
            row.hash = prev = entry_hash(
                prev,
                seq=row.seq,
                incident_id=row.incident_id,
                kind=row.kind,
                payload=row.payload,
                at=row.at,
            )
            session.flush()
        session.execute(update(AuditHeadRow).values(hash=prev))
    assert _verify(store).ok, "the chain alone cannot tell"
    rewritten = _verify(store, [early, kept])
    assert not rewritten.ok
    assert rewritten.reason == (
        f"entry 5 no longer has the hash kept for it ({kept.hash[:12]}, now {prev[:12]}): "
        "the chain was rewritten up to entry 5 since that head was kept"
    )
    assert _verify(store, [early]).ok, "entry 1, before the rewrite, is as it was"


def test_kept_heads_of_a_growing_chain_hold(store: Store) -> None:
    genesis = KeptHead(seq=0, hash=GENESIS_HASH)
    _fill(store, 3)
    kept = _kept(store)
    _fill(store, 3, start=3)
    check = _verify(store, [kept, genesis, kept])
    assert check.ok
    assert check.reason.startswith("6 entries, chain intact, kept heads 0, 3 unchanged, head 6:")
    assert check.reason.endswith(f"head {_kept(store)}")


def test_no_secret_reaches_the_database(store: Store) -> None:
    payload: dict[str, JsonValue] = {
        "db": {"url": f"postgresql://vanguard:{SECRETS[0]}@db.internal:5432/app", "pool": 5},
        "request": {
            "headers": {"Authorization": f"Bearer {SECRETS[2]}", "Cookie": SECRETS[3]},
            "items": [{"github_token": SECRETS[1]}, {"note": f"key {SECRETS[5]} rotated"}],
        },
        "message": f"openai says no to {SECRETS[4]}",
        "DB_PASSWORD": SECRETS[0],
        "private_key": {"pem": "anything"},
    }
    with store.session() as session:
        entry = AuditLog(session).append(incident_id="i", kind="act", payload=payload, at=v.T0)
    with store.session() as session:
        rows = session.execute(text("SELECT * FROM audit_entries")).all()
        head = session.execute(text("SELECT * FROM audit_head")).all()
        check = AuditLog(session).verify_chain()
    dumped = repr(rows) + repr(head) + entry.model_dump_json()
    for secret in SECRETS:
        assert secret not in dumped
    assert "db.internal:5432/app" in dumped
    assert entry.payload["db"] == {
        "url": "postgresql://vanguard:[REDACTED]@db.internal:5432/app",
        "pool": 5,
    }
    assert check.ok


def test_bad_input_is_refused_before_anything_is_written(store: Store) -> None:
    with store.session() as session:
        log = AuditLog(session)
        with pytest.raises(StoreError, match="no zone"):
            log.append(incident_id=None, kind="k", payload={}, at=datetime(2026, 1, 1))
        with pytest.raises(StoreError, match="finite"):
            log.append(incident_id=None, kind="k", payload={"x": float("nan")}, at=v.T0)
        with pytest.raises(StoreError, match="not JSON serializable"):
            log.append(incident_id=None, kind="k", payload={"x": {1, 2}}, at=v.T0)  # type: ignore[dict-item]
    with store.session() as session:
        assert AuditLog(session).verify_chain().count == 0


def test_concurrent_appenders_extend_one_chain(store: Store) -> None:
    per_thread, threads = 15, 4
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append_many(worker: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(per_thread):
                with store.session() as session:
                    AuditLog(session).append(
                        incident_id=f"w{worker}", kind="tick", payload={"i": i}, at=v.at(i)
                    )
        except BaseException as exc:  # reported below; a thread must not die silently
            failures.append(exc)

    workers = [threading.Thread(target=append_many, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)
    assert failures == []
    with store.session() as session:
        log = AuditLog(session)
        check = log.verify_chain()
        entries = log.entries()
    assert check.ok, check.reason
    assert check.count == per_thread * threads
    for n in range(threads):
        assert [e.payload["i"] for e in entries if e.incident_id == f"w{n}"] == list(
            range(per_thread)
        )


def _append_from_process(url: str, worker: int, count: int, start: BarrierType) -> int:
    store = open_store(url)
    try:
        start.wait(timeout=60)
        for i in range(count):
            with store.session() as session:
                AuditLog(session).append(
                    incident_id=f"p{worker}", kind="tick", payload={"i": i}, at=v.at(i)
                )
    finally:
        store.close()
    return count


def test_two_processes_appending_at_once_extend_one_chain(store: Store, store_url: str) -> None:
    per_process = 60
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        start = manager.Barrier(2)
        done = pool.starmap(
            _append_from_process, [(store_url, n, per_process, start) for n in range(2)]
        )
    with store.session() as session:
        check = AuditLog(session).verify_chain()
        owners = [str(e.incident_id) for e in AuditLog(session).entries()]
    assert done == [per_process, per_process]
    assert check.ok, check.reason
    assert check.count == 2 * per_process
    assert sorted(owners) == ["p0"] * per_process + ["p1"] * per_process
