"""``vanguard incidents approve|decline INCIDENT_ID``: answer an incident that waits for a human.

Policy can require a person's approval for some actions (``require_approval_for``); the
incident's workflow then waits, and these commands send it the answer as a Temporal signal.
An approval is not a bypass: the workflow runs every gate again with the approver's name,
so a freeze window or a rate limit that closed meanwhile still stops the action. The store
is read first, so an incident that does not wait (any more) is refused with its state
instead of signalling a workflow that would ignore the answer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from temporalio.service import RPCError

from vanguard.cli.apps import incidents_app
from vanguard.cli.core import ByOpt, ConfigOpt, StoreOpt, console, login_name
from vanguard.config import load_settings
from vanguard.errors import EngineError, InputError
from vanguard.incident import IncidentState

__all__ = ["approve", "decline"]

TemporalOpt = Annotated[
    str | None,
    typer.Option(help="HOST:PORT of Temporal (default: the config's, or the embedded server's)"),
]


def _where(config: Path, store: str | None, temporal: str | None) -> tuple[str, str, str]:
    """Store URL, Temporal address and namespace: the options, else the configuration's.

    The configuration is read only for what the options leave open; an embedded Temporal is
    the dev server ``vanguard up`` runs on loopback at the configured port.
    """
    if store is not None and temporal is not None:
        return store, temporal, "default"
    settings = load_settings(config)
    engine = settings.temporal
    address = f"127.0.0.1:{engine.port}" if engine.embedded else engine.address
    return store or settings.resolved_store_url(), temporal or address, engine.namespace


def _answer(
    incident_id: str,
    *,
    approve: bool,
    config: Path,
    store: str | None,
    temporal: str | None,
    by: str | None,
) -> None:
    from vanguard.engine.client import connect
    from vanguard.engine.workflows import RemediationWorkflow, workflow_id_for
    from vanguard.store import IncidentRepo, open_store

    url, address, namespace = _where(config, store, temporal)
    the_store = open_store(url)
    try:
        with the_store.session() as session:
            incident = IncidentRepo(session).get_incident(incident_id)
    finally:
        the_store.close()
    if incident is None:
        raise InputError(f"no incident {incident_id!r} in {url}")
    if incident.state is not IncidentState.awaiting_approval:
        raise InputError(
            f"incident {incident_id} is {incident.state.value}, not awaiting approval: "
            "there is nothing to answer"
        )
    who = login_name(by)
    signal = RemediationWorkflow.approve if approve else RemediationWorkflow.decline

    async def send() -> None:
        client = await connect(address, namespace)
        handle = client.get_workflow_handle(workflow_id_for(incident_id))
        try:
            await handle.signal(signal, who)
        except RPCError as exc:
            raise EngineError(
                f"cannot signal the workflow of incident {incident_id} at {address}: {exc}"
            ) from exc

    asyncio.run(send())
    if approve:
        console.print(
            f"approval of {incident_id} sent as {who}: every gate runs again before it acts",
            highlight=False,
        )
    else:
        console.print(f"{incident_id} declined by {who}: nothing will be done", highlight=False)


@incidents_app.command("approve")
def approve(
    incident_id: Annotated[str, typer.Argument(help="the incident that waits for approval")],
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    temporal: TemporalOpt = None,
    by: ByOpt = None,
) -> None:
    """Approve the action an incident waits on; every gate runs again with your name."""
    _answer(incident_id, approve=True, config=config, store=store, temporal=temporal, by=by)


@incidents_app.command("decline")
def decline(
    incident_id: Annotated[str, typer.Argument(help="the incident that waits for approval")],
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    temporal: TemporalOpt = None,
    by: ByOpt = None,
) -> None:
    """Decline the action an incident waits on; it ends without acting."""
    _answer(incident_id, approve=False, config=config, store=store, temporal=temporal, by=by)
