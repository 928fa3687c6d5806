"""What ``vanguard up`` prints of where it listens, and who can use the Web UI."""

from __future__ import annotations

from vanguard.cli.core import banner
from vanguard.config import TemporalConfig
from vanguard.engine.embedded import Endpoints


def _endpoints(ui: str | None) -> Endpoints:
    return Endpoints(
        temporal="127.0.0.1:17233",
        temporal_ui=ui,
        api="http://127.0.0.1:8780",
        task_queue="vanguard",
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
