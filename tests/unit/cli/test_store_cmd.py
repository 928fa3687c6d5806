"""``vanguard store backup``: a copy of the SQLite store, refusing to overwrite one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.entry import run
from vanguard.store import IncidentRepo, default_store_url, open_store


def test_backup_copies_the_store_and_never_overwrites(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = default_store_url(tmp_path / "data")
    open_store(url).close()
    dest = tmp_path / "vanguard-backup.db"
    assert run(monkeypatch, "store", "backup", str(dest), "--store", url) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"backed up {url} to {dest} (schema revision 0")
    copy = open_store(f"sqlite:///{dest}", create=False)
    try:
        with copy.session() as session:
            assert IncidentRepo(session).list_incidents() == []
    finally:
        copy.close()
    assert run(monkeypatch, "store", "backup", str(dest), "--store", url) == 1
    assert "exists: a backup never overwrites a file; name a new one" in capsys.readouterr().err


def test_backup_of_no_store_is_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = default_store_url(tmp_path / "typo")
    assert run(monkeypatch, "store", "backup", str(tmp_path / "b.db"), "--store", url) == 2
    assert "no Vanguard store at" in capsys.readouterr().err
    assert not (tmp_path / "b.db").exists()


def test_backup_of_a_postgresql_store_says_to_use_pg_dump(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "postgresql://vanguard:S3cretPw@127.0.0.1:1/vanguard"
    assert run(monkeypatch, "store", "backup", str(tmp_path / "b.db"), "--store", url) == 1
    err = capsys.readouterr().err
    assert "back up PostgreSQL with its own tools: pg_dump --format=custom" in err
    assert "S3cretPw" not in err
