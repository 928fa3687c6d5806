"""``vanguard rollback INCIDENT_ID``: undo an incident's applied action by hand.

This is what the notification's "how to undo" promises. It goes through the adapter's own
``rollback`` under the same idempotency key as the automatic one, so whichever comes first
undoes the action and the other finds it done; the undo is recorded on the incident and in
the audit trail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from vanguard.cli.apps import app
from vanguard.cli.core import login_name
from vanguard.config import load_settings

__all__ = ["rollback"]

console = Console(markup=False)


@app.command()
def rollback(
    incident_id: Annotated[str, typer.Argument(help="the incident whose action to undo")],
    config: Annotated[
        Path, typer.Option("--config", "-c", help="vanguard.yaml", envvar="VANGUARD_CONFIG")
    ] = Path("vanguard.yaml"),
    who: Annotated[
        str | None, typer.Option("--by", "--who", help="who undoes it (default: the user)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Undo the incident's applied action (restores the earlier state, records who did it)."""
    from vanguard.engine.runtime import build_runtime

    settings = load_settings(config)
    runtime = build_runtime(settings, notifiers=[])
    try:
        result, new = runtime.activities.roll_back_by_hand(
            incident_id, who=f"hand:{login_name(who)}"
        )
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps({"new": new, "result": result.model_dump(mode="json")}))
        return
    if new:
        console.print(f"rolled back {incident_id}: {result.message}", highlight=False)
    else:
        console.print(f"{incident_id} was already rolled back: {result.message}", highlight=False)
