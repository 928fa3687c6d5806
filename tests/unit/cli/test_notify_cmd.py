"""``vanguard notify test`` with nothing to send to, or only the log."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vanguard.cli import app

runner = CliRunner()


def test_no_channel_at_all_fails_and_says_nobody_would_be_told(tmp_path: Path) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text("notify: []\n")
    result = runner.invoke(app, ["notify", "test", "-c", str(config)])
    assert result.exit_code == 1
    assert "no notify channels: nobody would be told" in " ".join(result.output.split())


def test_the_default_channel_is_the_log(tmp_path: Path) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text("data_dir: .vanguard\n")
    result = runner.invoke(app, ["notify", "test", "-c", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "1. log: written to Vanguard's own log"
    assert "no person is told unless something reads it" in " ".join(lines[1:])
