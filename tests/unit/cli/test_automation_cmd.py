"""``vanguard automation pause|resume|status`` on a real SQLite store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanguard.cli.apps import app
from vanguard.cli.automation_cmd import parse_duration
from vanguard.clock import utcnow
from vanguard.errors import InputError
from vanguard.store import AuditLog, PauseRepo, default_store_url, open_store


@pytest.fixture
def url(tmp_path: Path) -> str:
    return default_store_url(tmp_path)


def _run(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["automation", *args, "--store", url])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


def test_pause_status_resume_and_the_audit_trail(url: str) -> None:
    said = _run(url, "pause", "--reason", "failover drill", "--by", "erin")
    assert "automation paused on every service by erin" in said
    assert "resume with: vanguard automation resume" in said
    _run(url, "pause", "--service", "web", "--for", "2h", "--reason", "deploy", "--by", "erin")
    status = _run(url, "status")
    assert "every service" in status
    assert "service web" in status

    after = _run(url, "resume", "--by", "frank")
    assert "resumed automation on every service (1 pause(s))" in after
    assert "still in force: automation paused on service web" in after
    assert "no pause was in force on service db" in _run(url, "resume", "--service", "db")
    _run(url, "resume", "--service", "web")
    assert "automation is running" in _run(url, "status")
    assert "no pause was in force on any service" in _run(url, "resume")

    store = open_store(url)
    with store.session() as session:
        kinds = [e.kind for e in AuditLog(session).entries()]
        chain = AuditLog(session).verify_chain()
    store.close()
    assert kinds == [
        "automation.paused",
        "automation.paused",
        "automation.resumed",
        "automation.resumed",
    ]
    assert chain.ok


def test_pausing_a_paused_service_again_extends_its_pause(url: str) -> None:
    def said(*args: str) -> str:
        return " ".join(_run(url, *args).split())

    said("pause", "--service", "web", "--for", "1h", "--reason", "deploy", "--by", "erin")
    again = said("pause", "--service", "web", "--for", "3h", "--reason", "slow", "--by", "bo")
    assert "already paused; the pause is extended: automation paused on service web by bo" in again
    shorter = said("pause", "--service", "web", "--for", "1m", "--reason", "x")
    assert shorter.startswith(
        "already paused, and the pause lasts longer than --for 1m: it keeps its end"
    )
    assert "extended" not in shorter, "one message, and a true one"
    said("pause", "--reason", "drill")
    again = said("pause", "--reason", "still drilling")
    assert again.startswith("already paused until resumed; the pause takes the new reason")
    said("resume")
    assert said("status").count("automation paused on service web") == 1
    resumed = said("resume", "--service", "web")
    assert "resumed automation on service web (1 pause(s))" in resumed
    assert "automation is running" in said("status")


def test_a_pause_for_a_while_ends_by_itself(url: str) -> None:
    store = open_store(url)
    now = utcnow()
    with store.session() as session:
        repo = PauseRepo(session)
        repo.pause(
            service="web",
            reason="r",
            by="x",
            now=now - timedelta(hours=3),
            until=now - timedelta(hours=1),
        )
        repo.pause(service=None, reason="r", by="x", now=now, until=now + timedelta(hours=1))
        assert [p.service_name for p in repo.active(now, "web")] == [None]
        assert repo.active(now + timedelta(hours=2)) == []
        assert repo.active(now, "db")[0].service_name is None, "a pause on all stops each"
    store.close()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1d", 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "0m", "31d", "1h 30m"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(InputError, match="--for"):
        parse_duration(text)


def test_a_pause_needs_a_reason(url: str) -> None:
    with pytest.raises(InputError, match="say why"):
        _run(url, "pause", "--reason", "  ")


def test_a_pause_on_a_name_the_config_does_not_know_warns_and_goes_ahead(
    tmp_path: Path,
) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text(
        f"data_dir: {tmp_path / 'data'}\n"
        "services:\n  - name: leaky\n    type: python-web\n"
        "github:\n  repositories: [octo-org/api]\n"
    )
    runner = CliRunner()
    typo = runner.invoke(
        app, ["automation", "pause", "--reason", "x", "--service", "leakyy", "-c", str(config)]
    )
    assert typo.exit_code == 0, typo.output
    assert "names no service 'leakyy' (known: leaky, octo-org/api)" in " ".join(typo.output.split())
    repo = runner.invoke(
        app,
        ["automation", "pause", "--reason", "x", "--service", "octo-org/api", "-c", str(config)],
    )
    assert repo.exit_code == 0, repo.output
    assert "warning" not in repo.output
    status = runner.invoke(app, ["automation", "status", "-c", str(config)])
    assert "service leakyy" in status.output


def test_a_config_that_does_not_load_never_stops_a_pause(tmp_path: Path) -> None:
    """The kill switch must work when the file is broken: the name check is only a warning."""
    config = tmp_path / "vanguard.yaml"
    config.write_text("policy: {dry_run: maybe}\n")
    url = default_store_url(tmp_path)
    args = ["pause", "--reason", "x", "--service", "web", "-c", str(config), "--store", url]
    result = CliRunner().invoke(app, ["automation", *args])
    assert result.exit_code == 0, result.output
    assert "could not read" in " ".join(result.output.split())
    store = open_store(url)
    try:
        with store.session() as session:
            assert [p.service_name for p in PauseRepo(session).active(utcnow())] == ["web"]
    finally:
        store.close()


def test_brackets_in_a_reason_are_text_not_markup(url: str) -> None:
    said = _run(url, "pause", "--reason", "per [/ops] runbook [bold]now[/bold]", "--by", "erin")
    assert "per [/ops] runbook [bold]now[/bold]" in " ".join(said.split())
    assert "per [/ops] runbook [bold]now[/bold]" in " ".join(_run(url, "status").split())
