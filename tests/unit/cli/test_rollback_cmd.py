"""``vanguard rollback`` of an incident that is not there changes nothing and makes no store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.entry import run
from vanguard.store import default_store_url, open_store


def test_a_rollback_pointed_at_no_store_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in data_dir made an empty store, then said the incident was not in it."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'typo'}\n")
    assert run(monkeypatch, "rollback", "inc-1", "-c", str(config)) == 2
    url = default_store_url(tmp_path / "typo")
    assert capsys.readouterr().err.startswith(
        f"error [store.not_found]: no Vanguard store at {url}"
    )
    assert not (tmp_path / "typo").exists()


def test_a_rollback_of_an_unknown_incident_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    open_store(default_store_url(data)).close()
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {data}\n")
    assert run(monkeypatch, "rollback", "inc-typo", "-c", str(config)) == 2
    assert capsys.readouterr().err == (
        f"error: no incident 'inc-typo' in the store at {default_store_url(data)}; nothing was "
        "rolled back (vanguard incidents list shows the incidents there)\n"
    )
    assert sorted(p.name for p in data.iterdir()) == ["vanguard.db"]
