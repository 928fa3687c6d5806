"""``vanguard notify test``: send one message through every configured channel."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from vanguard.cli.apps import notify_app
from vanguard.cli.core import ConfigOpt, console
from vanguard.config import load_settings
from vanguard.errors import VanguardError
from vanguard.model import Severity
from vanguard.notify import Message

__all__ = ["notify_test"]


@notify_app.command("test")
def notify_test(config: ConfigOpt = Path("vanguard.yaml")) -> None:
    """Send a test message on each ``notify`` channel and say which took it (exit 1 if any
    did not): a webhook's URL, secret and format are checked before an incident needs them."""
    from vanguard.engine.runtime import build_notifiers

    settings = load_settings(config)
    if not settings.notify:
        console.print(f"{config}: no notify channels: nobody would be told", highlight=False)
        raise typer.Exit(code=1)
    now = datetime.now(UTC)
    message = Message(
        title="[test] Vanguard can reach this channel",
        body=(
            f"A test message sent by `vanguard notify test` at {now.isoformat()}. "
            "Incidents, requests for approval and their outcomes arrive here like this. "
            "Nothing happened to any service."
        ),
        severity=Severity.info,
        incident_id=f"test-{now:%Y%m%dT%H%M%S}",
    )
    failed = 0
    for n, target in enumerate(settings.notify, 1):
        name = f"{n}. {target.kind}" + (f" ({target.format})" if target.kind == "webhook" else "")
        try:
            (notifier,) = build_notifiers([target])
            notifier.send(message)
        except VanguardError as exc:
            failed += 1
            console.print(f"{name}: failed: {exc}", highlight=False, markup=False)
            continue
        took = "written to Vanguard's own log" if target.kind == "log" else "sent"
        console.print(f"{name}: {took}", highlight=False)
    if all(target.kind == "log" for target in settings.notify):
        console.print(
            "only the log: no person is told unless something reads it "
            "(add a webhook channel under 'notify')",
            highlight=False,
        )
    if failed:
        raise typer.Exit(code=1)
