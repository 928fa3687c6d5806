"""``vanguard config check`` on what a configuration exposes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.cli.apps import app


def _checked(tmp_path: Path, api: str) -> str:
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"api: {api}\n")
    result = CliRunner().invoke(app, ["config", "check", str(config)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_an_api_on_loopback_is_not_remarked(tmp_path: Path, host: str) -> None:
    assert "beyond loopback" not in _checked(tmp_path, f"{{host: '{host}'}}")


def test_an_api_beyond_loopback_is_told_what_anyone_reaching_it_can_do(tmp_path: Path) -> None:
    """It passed in silence: an unauthenticated dashboard, and an Alertmanager webhook
    that lets anyone who reaches it start a remedy."""
    bare = _checked(tmp_path, "{host: 0.0.0.0}")
    assert "api.host is 0.0.0.0, beyond loopback: the dashboard and /metrics" in bare
    assert "anyone who reaches it can post an alert that starts a remedy" in bare
    tokened = _checked(tmp_path, "{host: 0.0.0.0, alertmanager_token_env: AM_TOKEN}")
    assert "beyond loopback" in tokened
    assert "starts a remedy" not in tokened
