"""What a configuration exposes: ``vanguard config check`` says it, ``vanguard up`` and
``vanguard api`` refuse an API anyone could start remedies through; what ``--verbose`` shows."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.cli.entry import run
from vanguard.cli import core
from vanguard.cli.apps import app
from vanguard.config import ApiConfig, Settings
from vanguard.diagnose.patterns import builtin_patterns_dir
from vanguard.errors import ConfigError


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
    bare = _checked(tmp_path, "{host: 0.0.0.0, insecure_anonymous_alerts: true}")
    assert "api.host is 0.0.0.0, beyond loopback: the dashboard, /api/incidents" in bare
    assert "POST /api/alertmanager needs no token" in bare
    assert "/webhooks/alertmanager" not in bare, "the route is /api/alertmanager"
    assert "anyone who reaches it can post an alert that starts a remedy" in bare
    assert "api.allowed_hosts is not set: any Host is answered" in bare
    tokened = _checked(
        tmp_path,
        "{host: 0.0.0.0, alertmanager_token_env: AM_TOKEN, allowed_hosts: [vg.example]}",
    )
    assert "beyond loopback" in tokened
    assert "starts a remedy" not in tokened
    assert "allowed_hosts" not in tokened


@pytest.mark.parametrize("command", ["up", "api"])
def test_an_api_beyond_loopback_without_a_token_does_not_start(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """Both started in silence with ``api.host: 0.0.0.0``, taking alerts from anyone."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\napi: {{host: 0.0.0.0, port: 1}}\n")
    assert run(monkeypatch, command, "-c", str(config)) == 2
    said = capsys.readouterr().err
    assert f"{config}: api.alertmanager_token_env: api.host is 0.0.0.0, beyond loopback" in said
    assert "api.insecure_anonymous_alerts: true" in said
    assert not (tmp_path / "data").exists(), "nothing was started"


def test_config_check_fails_on_what_up_and_api_refuse(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """It warned and exited 0, so a CI gate passed a file the deploy then failed to start."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\napi: {{host: 0.0.0.0, port: 1}}\n")
    assert run(monkeypatch, "config", "check", str(config)) == 2
    checked = capsys.readouterr().err
    assert run(monkeypatch, "up", "-c", str(config)) == 2
    assert checked == capsys.readouterr().err
    assert checked.startswith(
        f"{config}: api.alertmanager_token_env: api.host is 0.0.0.0, beyond loopback"
    )


def test_the_warnings_of_an_exposed_api_are_what_it_logs_as_it_starts() -> None:
    """With the opt-in, the API starts; what it exposes is said when it does."""
    told = ApiConfig(host="0.0.0.0", insecure_anonymous_alerts=True).check_exposure()
    assert any("needs no token (api.insecure_anonymous_alerts)" in line for line in told)
    assert any("api.allowed_hosts is not set" in line for line in told)
    assert ApiConfig(host="127.0.0.1").check_exposure() == []
    with pytest.raises(ConfigError, match=re.escape("api.insecure_anonymous_alerts: true")):
        ApiConfig(host="10.1.2.3").check_exposure()
    fenced = ApiConfig(host="::", alertmanager_token_env="AM_TOKEN", allowed_hosts=["vg.example"])
    assert len(fenced.check_exposure()) == 1, "only the pages without a login"


def test_an_exposed_api_logs_what_stays_exposed_as_it_starts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only ``config check`` said it; ``vanguard up`` and ``vanguard api`` started silently."""
    settings = Settings(api=ApiConfig(host="0.0.0.0", alertmanager_token_env="AM_TOKEN"))
    with caplog.at_level(logging.WARNING, logger="vanguard.api"):
        core._exposure(settings)
    assert "api.allowed_hosts is not set: any Host is answered" in caplog.text
    assert "have no login" in caplog.text


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


def test_a_pattern_that_replaces_a_built_in_one_is_noted(tmp_path: Path) -> None:
    """It replaced the built-in in silence: ``--strict`` said ok. A note, not a warning:
    replacing a built-in pattern is a team's right, so ``--strict`` still passes."""
    patterns = tmp_path / "patterns"
    patterns.mkdir()
    leak = (builtin_patterns_dir() / "memory_leak_gradual.yaml").read_text(encoding="utf-8")
    (patterns / "memory_leak_gradual.yaml").write_text(leak, encoding="utf-8")
    config = tmp_path / "vanguard.yaml"
    config.write_text("patterns_dirs: [patterns]\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["config", "check", "--strict", str(config)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert (
        f"{config}: note: {patterns / 'memory_leak_gradual.yaml'} overrides the built-in "
        "memory_leak_gradual"
    ) in result.output
    assert f"{config}: ok (" in result.output
