"""``vanguard ci poll --once`` as cron runs it: its exit code says whether anything was polled,
and it spends the GitHub API budget kept in the store.

Real Temporal dev server; GitHub is a loopback port nothing listens on (every listing
fails), since Prism answers every request.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.ci.client import StoredBudget
from vanguard.cli.apps import app
from vanguard.clock import utcnow
from vanguard.config import load_settings
from vanguard.netutil import free_port
from vanguard.store import open_store

pytestmark = pytest.mark.integration


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'state'}\n"
        "github:\n"
        f"  api_url: http://127.0.0.1:{free_port()}\n"
        "  token_env: VANGUARD_TEST_GH_TOKEN\n"
        "  repositories: [acme/api, acme/web]\n"
    )
    return config


def _poll_once(config: Path, temporal_address: str) -> list[str]:
    result = CliRunner().invoke(
        app,
        ["ci", "poll", "-c", str(config), "--temporal", temporal_address, "--once"],
        env={"VANGUARD_TEST_GH_TOKEN": "ghs_poll_token_value", "COLUMNS": "200"},
    )
    assert result.exit_code == 1, result.output
    return result.output.splitlines()


def test_a_poll_that_reached_no_repository_exits_1_and_says_each_failure_once(
    temporal_address: str, tmp_path: Path
) -> None:
    lines = _poll_once(_config(tmp_path), temporal_address)
    assert [line.split(":")[0] for line in lines if "skipped" in line] == ["acme/api", "acme/web"]
    assert lines[-1] == "no repository could be polled"


def test_a_poll_from_cron_keeps_to_the_wait_kept_in_the_store(
    temporal_address: str, tmp_path: Path
) -> None:
    """Built without the store, its client had a budget of its own: it called GitHub while
    GitHub had told another process of the store to wait."""
    config = _config(tmp_path)
    settings = load_settings(config)
    assert settings.github is not None
    store = open_store(settings.resolved_store_url())
    now = utcnow()
    try:
        StoredBudget(store, settings.github, clock=lambda: now).change(
            lambda budget: budget.observe(now, 429, {"Retry-After": "600"})
        )
    finally:
        store.close()
    lines = _poll_once(config, temporal_address)
    waited = "skipped: GitHub API budget: GitHub asked us to wait: Retry-After 600 s (HTTP 429)"
    assert [line for line in lines if waited in line] == [
        f"acme/api: {waited}; retry at {(now + timedelta(seconds=600)).isoformat()}",
        f"acme/web: {waited}; retry at {(now + timedelta(seconds=600)).isoformat()}",
    ]
