"""Commands that only read never make a store: pointed at none, they fail with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.entry import run
from vanguard.store import default_store_url

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
