"""``vanguard config check`` on what a configuration exposes; what ``--verbose`` shows."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.cli import core
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


def test_polling_more_repositories_than_half_the_budget_allows_is_remarked(
    tmp_path: Path,
) -> None:
    """15 repositories polled every minute list 900 times an hour: a cap of 1000 leaves a
    failure's logs and re-runs almost nothing when the listings change."""
    repos = ", ".join(f"acme/r{n}" for n in range(15))
    crowded = " ".join(_checked(tmp_path, "{}\ngithub: {repositories: [" + repos + "]}").split())
    assert "15 repositories every 60 s is up to 900 listings an hour" in crowded
    assert "raise poll.interval_s or poll.calls_per_hour" in crowded
    roomy = "{}\ngithub: {repositories: [" + repos + "], poll: {interval_s: 300}}"
    assert "listings an hour" not in _checked(tmp_path, roomy)


@pytest.mark.parametrize("verbose", [False, True])
def test_verbose_raises_vanguards_own_logs_not_the_libraries(verbose: bool) -> None:
    """--verbose printed hundreds of lines of HTTP connection DEBUG and nothing more of
    Vanguard's own."""
    names = ("vanguard", "httpcore", "httpx", "temporalio")
    before = {name: logging.getLogger(name).level for name in names}
    try:
        core._logging(verbose)
        levels = {name: logging.getLogger(name).getEffectiveLevel() for name in names}
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
    assert levels["vanguard"] == (logging.DEBUG if verbose else logging.INFO)
    assert {levels["httpcore"], levels["httpx"], levels["temporalio"]} == {logging.WARNING}
