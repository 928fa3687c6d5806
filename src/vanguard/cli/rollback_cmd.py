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
from vanguard.config import Settings, load_settings
from vanguard.errors import InputError, StoreError, StoreNotFound

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
    _known(settings, incident_id)
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


def _known(settings: Settings, incident_id: str) -> None:
    """Refuse an incident the store does not hold before the runtime makes a store: a typo
    in the id, or in the configuration's ``data_dir``, must leave nothing behind.

    A store that is there but that a read-only open declines (one a writer must migrate
    first) is left to the runtime, which opens it as writers do and looks again.
    """
    from vanguard.store import IncidentRepo, open_store, redact_url

    url = settings.resolved_store_url()
    try:
        store = open_store(url, create=False)
    except StoreNotFound:
        raise
    except StoreError:
        return
    try:
        with store.session() as session:
            found = IncidentRepo(session).get_incident(incident_id) is not None
    finally:
        store.close()
    if not found:
        raise InputError(
            f"no incident {incident_id!r} in the store at {redact_url(url)}; nothing was "
            "rolled back (vanguard incidents list shows the incidents there)"
        )
