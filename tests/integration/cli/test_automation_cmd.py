"""``vanguard automation`` on SQLite and PostgreSQL, run from a machine whose clock is off."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from tests.stores import store_url  # noqa: F401  (SQLite and PostgreSQL in turn)
from vanguard import clock
from vanguard.cli import automation_cmd
from vanguard.cli.apps import app
from vanguard.clock import utcnow
from vanguard.model import Pause
from vanguard.store import PauseRepo, open_store

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


def _skew_the_command_clock(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """The command's clock runs ``by`` off the store's and the workers': every reading of
    it through Vanguard's clock, wherever imported."""
    real = clock.utcnow

    def skewed() -> datetime:
        return real() + by

    monkeypatch.setattr(clock, "utcnow", skewed)
    monkeypatch.setattr(automation_cmd, "utcnow", skewed, raising=False)


def _run(url: str, *args: str) -> str:
    result = CliRunner().invoke(app, ["automation", *args, "--store", url])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _in_force_for_the_workers(url: str) -> list[Pause]:
    store = open_store(url, create=False)
    try:
        with store.session() as session:
            return PauseRepo(session).active(utcnow())
    finally:
        store.close()


@pytest.mark.parametrize("skew", [-3 * HOUR, 3 * HOUR], ids=["behind", "ahead"])
def test_a_pause_for_a_while_lasts_that_long_whatever_the_laptops_clock(
    store_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    skew: timedelta,
) -> None:
    """``--for 2h`` was counted from the laptop's clock: 3 h behind, it wrote a pause that
    had ended an hour before it was written ("paused" was printed and every worker went on
    acting); 3 h ahead, one that held for 5 h."""
    _skew_the_command_clock(monkeypatch, skew)
    before = utcnow()
    _run(store_url, "pause", "--service", "web", "--for", "2h", "--reason", "failover")
    after = utcnow()

    (seen,) = _in_force_for_the_workers(store_url)
    assert seen.until is not None
    slack = timedelta(seconds=1)
    assert before + 2 * HOUR - slack <= seen.until <= after + 2 * HOUR + slack
    assert before - slack <= seen.started_at <= after + slack, "shown by the store's clock"


def test_status_and_resume_see_the_pause_the_workers_see_from_a_laptop_hours_ahead(
    store_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """From a laptop 3 h ahead, a pause for 2h that every worker still honoured read as
    over: ``status`` said automation was running and ``resume`` found nothing to end."""
    _run(store_url, "pause", "--service", "web", "--for", "2h", "--reason", "failover")
    _skew_the_command_clock(monkeypatch, 3 * HOUR)
    assert "automation paused on service web" in _run(store_url, "status")
    assert "resumed automation on service web (1 pause(s))" in _run(
        store_url, "resume", "--service", "web"
    )
    assert _in_force_for_the_workers(store_url) == []
