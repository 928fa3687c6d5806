"""What ``vanguard up`` prints of where it listens, and who can use the Web UI."""

from __future__ import annotations

from vanguard.cli.core import banner
from vanguard.config import TemporalConfig
from vanguard.engine.embedded import Endpoints


def _endpoints(ui: str | None, github_webhook: str | None = None) -> Endpoints:
    return Endpoints(
        temporal="127.0.0.1:17233",
        temporal_ui=ui,
        api="http://127.0.0.1:8780",
        task_queue="vanguard",
        github_webhook=github_webhook,
    )


def test_the_web_ui_is_off_unless_asked_for() -> None:
    """It has no login and answers any Host: a web page could approve incidents through
    it by DNS rebinding, in anyone's name."""
    assert TemporalConfig().ui is False
    lines = banner(_endpoints(None), "sqlite:////data/vanguard.db")
    assert not any("Temporal UI" in line for line in lines)
    assert lines[-1] == "  Store         sqlite:////data/vanguard.db"


def test_a_web_ui_asked_for_is_shown_with_who_can_signal_through_it() -> None:
    (line,) = [x for x in banner(_endpoints("http://127.0.0.1:17243"), "s") if "UI" in x]
    assert line.startswith("  Temporal UI   http://127.0.0.1:17243  (no login: anyone on")
    assert "can approve or decline incidents here in any name" in line
    assert "DNS rebinding" in line


def test_the_github_webhook_is_listed_when_the_api_serves_it() -> None:
    """GitHub's webhook must be pointed there; without a ``github`` section there is none."""
    assert not any("GitHub" in line for line in banner(_endpoints(None), "s"))
    lines = banner(_endpoints(None, "http://127.0.0.1:8780/webhooks/github"), "s")
    (line,) = [x for x in lines if "GitHub" in x]
    assert line.startswith("  GitHub hook   http://127.0.0.1:8780/webhooks/github  (the payload")
    assert lines.index(line) == 1 + next(i for i, x in enumerate(lines) if "API" in x)
