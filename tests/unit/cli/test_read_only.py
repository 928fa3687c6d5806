"""Commands that only read never make a store: pointed at none, they fail with exit 2."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.unit.cli.entry import run
from vanguard.store import default_store_url, open_store
from vanguard.store.database import Store

READERS = [
    ("audit", "verify"),
    ("audit", "export"),
    ("incidents", "list"),
    ("incidents", "show", "inc-1"),
    ("patterns",),
    ("automation", "status"),
]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_reader_pointed_at_no_store_fails_and_creates_nothing(
    command: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = default_store_url(tmp_path / "typo")
    assert run(monkeypatch, *command, "--store", url) == 2
    out, err = capsys.readouterr()
    assert err == f"error [store.not_found]: no Vanguard store at {url} (no file {url[10:]})\n"
    assert "intact" not in out
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("command", [("audit", "verify"), ("ci", "report")], ids=" ".join)
def test_a_config_whose_data_dir_is_wrong_is_no_store_either(
    command: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'gone'}\n")
    assert run(monkeypatch, *command, "-c", str(config)) == 2
    assert "no Vanguard store at sqlite:///" in capsys.readouterr().err
    assert not (tmp_path / "gone").exists()


@pytest.mark.parametrize("command", [*READERS, ("ci", "report")], ids=" ".join)
def test_a_reader_reads_without_the_write_lock(
    command: tuple[str, ...],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A write session (SQLite ``BEGIN IMMEDIATE``) would hold the worker's and the
    intake's writes for as long as the command reads, as the API's reads do not."""
    url = default_store_url(tmp_path)
    open_store(url).close()
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path}\n")
    writes: list[str] = []

    def refused(store: Store) -> AbstractContextManager[Session]:
        writes.append(" ".join(command))
        return _read(store)

    _read = Store.read_session
    monkeypatch.setattr(Store, "session", refused)
    where = ["-c", str(config)] if command == ("ci", "report") else ["--store", url]
    run(monkeypatch, *command, *where)
    assert writes == []
