"""open_store: connection settings, idempotent and concurrent migration, password-free errors."""

from __future__ import annotations

import multiprocessing
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.integration.store import values as v
from tests.integration.store.test_migrations import HEAD, OLDER, migrate_to, revision_of
from tests.stores import sqlite_write_lock_is_free
from vanguard.errors import StoreError, StoreNotFound
from vanguard.store import AuditLog, IncidentRepo, SqlLedger, Store, default_store_url, open_store
from vanguard.store.database import backup_sqlite


def test_sqlite_creates_its_directory_and_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    """Every commit is synced (``synchronous=FULL``, 2): with WAL and ``NORMAL`` a ledger
    ``begin`` could vanish in a power loss after its side effect had started."""
    url = default_store_url(tmp_path / "deep" / "data")
    store = open_store(url)
    try:
        with store.engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            synced = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    finally:
        store.close()
    assert (tmp_path / "deep" / "data" / "vanguard.db").is_file()
    assert url.endswith("/deep/data/vanguard.db")
    assert (mode, keys, synced) == ("wal", 1, 2)
    assert isinstance(busy, int)
    assert busy >= 1000


def _read_empty_and_close(store: Store) -> None:
    """The store reads as one without incidents; it is closed either way."""
    try:
        with store.session() as session:
            assert IncidentRepo(session).list_incidents() == []
    finally:
        store.close()


def test_in_memory_sqlite_works_for_one_process() -> None:
    _read_empty_and_close(open_store("sqlite://"))


def test_opening_twice_is_a_no_op_and_keeps_one_revision(store_url: str) -> None:
    for _ in range(2):
        store = open_store(store_url)
        try:
            with store.session() as session:
                revisions = session.execute(text("SELECT version_num FROM alembic_version")).all()
                heads = session.execute(text("SELECT seq FROM audit_head")).all()
        finally:
            store.close()
        assert revisions == [(HEAD,)]
        assert heads == [(0,)]


def _open_and_close(url: str) -> str:
    store = open_store(url)
    store.close()
    return store.url


def test_processes_starting_at_once_migrate_once(store_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as pool:
        urls = pool.map(_open_and_close, [store_url] * 3, chunksize=1)
    assert len(urls) == 3
    store = open_store(store_url)
    try:
        with store.session() as session:
            revisions = session.execute(text("SELECT version_num FROM alembic_version")).all()
            heads = session.execute(text("SELECT seq, hash FROM audit_head")).all()
    finally:
        store.close()
    assert revisions == [(HEAD,)]
    assert len(heads) == 1


def test_a_closed_store_refuses_new_work(store: Store) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"), store.session():
        pass
    with pytest.raises(StoreError, match="closed"), store.read_session():
        pass


def _audit_count(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM audit_entries")).scalar_one())


def test_a_read_session_reads_one_snapshot_and_holds_no_writer_up(
    store: Store, store_url: str
) -> None:
    worker = open_store(store_url)
    try:
        with store.read_session() as session:
            before = _audit_count(session)
            if store.dialect == "sqlite":
                assert sqlite_write_lock_is_free(store_url)
            with worker.session() as writing:
                AuditLog(writing).append(incident_id=None, kind="k", payload={}, at=v.T0)
            during = _audit_count(session)
        with store.read_session() as session:
            after = _audit_count(session)
    finally:
        worker.close()
    assert (before, during, after) == (0, 0, 1)


def test_a_read_session_refuses_writes_and_a_unit_of_work_after_it_writes(store: Store) -> None:
    with pytest.raises(StoreError, match=r"read-only|readonly"), store.read_session() as session:
        AuditLog(session).append(incident_id=None, kind="k", payload={}, at=v.T0)
    with store.session() as session:
        AuditLog(session).append(incident_id=None, kind="k", payload={}, at=v.T0)
    with store.read_session() as session:
        assert _audit_count(session) == 1


@pytest.mark.integration
def test_unreachable_postgres_error_names_the_url_without_password() -> None:
    url = "postgresql+psycopg://vanguard:sup3r-s3cret@127.0.0.1:1/vanguard?connect_timeout=2"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "sup3r-s3cret" not in message
    assert "vanguard:***@127.0.0.1:1/vanguard" in message
    assert caught.value.__cause__ is not None


@pytest.mark.integration
def test_a_password_given_as_a_query_parameter_is_masked_in_errors() -> None:
    """libpq takes ``?password=``; it was printed whole in every StoreError."""
    url = "postgresql+psycopg://app@127.0.0.1:1/vg?connect_timeout=2&password=S3cretPw"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "S3cretPw" not in message
    assert "app@127.0.0.1:1/vg?connect_timeout=2&password=[REDACTED]" in message


@pytest.mark.integration
def test_the_url_a_store_shows_masks_a_query_password(postgres_url: str) -> None:
    """``Store.url`` is what the ``vanguard up`` banner and every StoreError print."""
    store = open_store(f"{postgres_url}?password=S3cretPw")
    store.close()
    assert "S3cretPw" not in store.url
    assert store.url.endswith("?password=[REDACTED]")
    with pytest.raises(StoreError) as caught, store.session():
        pass
    assert "S3cretPw" not in str(caught.value)


@pytest.mark.integration
def test_a_postgresql_url_without_driver_uses_psycopg(postgres_url: str) -> None:
    store = open_store(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        with store.session() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1
    finally:
        store.close()
    assert store.url == postgres_url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("mysql://root:pw-hidden@127.0.0.1/x", "unsupported database"),
        ("postgresql+psycopg2://u:pw-hidden@127.0.0.1/x", "psycopg 3"),
        ("not a url at all pw-hidden", "cannot open"),
    ],
)
def test_unsupported_urls_are_refused_clearly(url: str, why: str) -> None:
    with pytest.raises(StoreError, match=why) as caught:
        open_store(url)
    assert "pw-hidden" not in str(caught.value)


@pytest.mark.parametrize("create", [True, False], ids=["writer", "reader"])
def test_a_database_newer_than_the_code_is_refused_saying_so(store_url: str, create: bool) -> None:
    """Alembic's own refusal read "Can't locate revision identified by 'ffff'"."""
    store = open_store(store_url)
    try:
        with store.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    finally:
        store.close()
    with pytest.raises(StoreError) as caught:
        open_store(store_url, create=create)
    assert str(caught.value).startswith(
        f"store {store.url}: migrated by a newer Vanguard (revision ffff); this one knows up "
        f"to {HEAD}: upgrade this installation"
    )
    assert revision_of(store_url) == "ffff"


def test_a_reader_refuses_an_older_store_and_leaves_it_as_it_was(store_url: str) -> None:
    """A newer CLI listing incidents moved production's schema, and the older workers then
    refused to start; a command that only reads now says what to do instead."""
    previous = OLDER[-1]
    migrate_to(store_url, previous)
    with pytest.raises(StoreError) as caught:
        open_store(store_url, create=False)
    message = str(caught.value)
    assert f": at schema revision {previous}, older than the {HEAD} this Vanguard needs" in message
    assert "upgrade the workers (they migrate it when they start)" in message
    assert revision_of(store_url) == previous
    open_store(store_url).close()
    assert revision_of(store_url) == HEAD
    _read_empty_and_close(open_store(store_url, create=False))


def test_sqlite_file_in_an_unwritable_place_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open"):
        open_store(f"sqlite:///{blocker}/sub/vanguard.db")


def test_a_reader_finds_no_store_where_none_is_and_creates_nothing(store_url: str) -> None:
    """``create=False`` (commands that only read): a missing SQLite file or an empty database
    is ``StoreNotFound``, the password masked, and neither a file nor a table is made."""
    url = store_url.replace("@", ":pw-hidden@", 1)
    with pytest.raises(StoreNotFound, match="no Vanguard store at ") as caught:
        open_store(url, create=False)
    assert "pw-hidden" not in str(caught.value)
    if url.startswith("sqlite"):
        assert not Path(make_url(url).database or "").parent.exists()
    with pytest.raises(StoreNotFound, match="no Vanguard store"):
        open_store(url, create=False)
    open_store(url).close()
    _read_empty_and_close(open_store(url, create=False))


def test_a_reader_refuses_a_sqlite_database_without_vanguard_tables(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreNotFound, match=r"\(the database has no Vanguard tables\)"):
        open_store(f"sqlite:///{other}", create=False)
    with pytest.raises(StoreNotFound, match="no file"):
        open_store(f"sqlite:///{tmp_path}", create=False)


def test_a_backup_taken_while_the_store_is_open_has_every_commit(tmp_path: Path) -> None:
    """The docs said to back up "the SQLite file in the data directory": a copy of it made
    while Vanguard ran lacked the commits still in its write-ahead log, here an incident
    and the ledger key begun just before."""
    data = tmp_path / "data"
    url = default_store_url(data)
    open_store(url).close()
    store = open_store(url)
    try:
        with store.session() as session:
            IncidentRepo(session).save_incident(v.incident("inc-1"))
        SqlLedger(store).begin("inc-1:apply", {"pid": 100})
        assert (data / "vanguard.db-wal").stat().st_size > 0, "the commits are in the log"
        revision = backup_sqlite(url, tmp_path / "backup.db")
        with store.session() as session:
            IncidentRepo(session).save_incident(v.incident("inc-2"))
    finally:
        store.close()
    assert revision == HEAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "data"]
    copy = open_store(f"sqlite:///{tmp_path / 'backup.db'}", create=False)
    try:
        with copy.session() as session:
            listed = [i.incident_id for i in IncidentRepo(session).list_incidents()]
        entry = SqlLedger(copy).get("inc-1:apply")
    finally:
        copy.close()
    assert listed == ["inc-1"]
    assert entry is not None
    assert entry.before == {"pid": 100}


def test_a_backup_refuses_what_it_cannot_copy_whole(tmp_path: Path) -> None:
    url = default_store_url(tmp_path / "data")
    with pytest.raises(StoreNotFound, match="no Vanguard store at"):
        backup_sqlite(url, tmp_path / "backup.db")
    open_store(url).close()
    taken = tmp_path / "taken.db"
    taken.write_text("yesterday's backup")
    with pytest.raises(StoreError, match="exists: a backup never overwrites a file"):
        backup_sqlite(url, taken)
    assert taken.read_text() == "yesterday's backup"
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(StoreNotFound, match="has no Vanguard tables"):
        backup_sqlite(f"sqlite:///{other}", tmp_path / "backup.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "other.db", "taken.db"]


def test_a_postgresql_store_is_backed_up_with_pg_dump() -> None:
    url = "postgresql+psycopg://vanguard:S3cretPw@db.internal:5433/vanguard"
    with pytest.raises(StoreError) as caught:
        backup_sqlite(url, Path("backup.db"))
    message = str(caught.value)
    assert message.endswith(
        "pg_dump --format=custom --file=BACKUP -h db.internal -p 5433 -U vanguard vanguard"
    )
    assert "S3cretPw" not in message
