"""``vanguard incidents approve|decline INCIDENT_ID``: answer an incident that waits for a human.

Policy can require a person's approval for some actions (``require_approval_for``); the
incident's workflow then waits, and these commands send it the answer as a Temporal signal.
An approval is not a bypass: the workflow runs every gate again with the approver's name,
so a freeze window or a rate limit that closed meanwhile still stops the action. The store
is read first, so an incident that does not wait (any more) is refused with its state
instead of signalling a workflow that would ignore the answer; so is one whose workflow has
ended. Of the answers sent, the workflow keeps the first, except that a decline replaces an
approval until the action is scheduled: after sending an approval the command reads the
answers from the workflow's history and says so, and fails, when a decline stands. For the
same reason an approved incident can still be declined: its action waits for the baseline to
be read, and a re-run for its backoff, and a decline meanwhile stops it. A decline that
comes once the action is scheduled does not: the command reads from the workflow's history
which it was, and fails when it came too late.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from temporalio.service import RPCError, RPCStatusCode

from vanguard.cli.apps import incidents_app
from vanguard.cli.core import ByOpt, ConfigOpt, StoreOpt, console, login_name
from vanguard.config import load_settings
from vanguard.errors import EngineError, InputError
from vanguard.incident import IncidentState

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

__all__ = ["Answer", "approve", "decline", "standing"]

TemporalOpt = Annotated[
    str | None,
    typer.Option(help="HOST:PORT of Temporal (default: the config's, or the embedded server's)"),
]


Answer = tuple[bool, str]
"""One answer as the workflow holds it: approved or not, and ``approved by NAME``."""
SETTLE_S = 15.0
"""Longest wait for a workflow task in flight to end before the answers are read: signals
that arrive meanwhile reach the history only then (within the task timeout, 10 s)."""


def standing(answers: Sequence[Answer]) -> Answer | None:
    """The answer the workflow keeps of ``answers`` (in the order it received them).

    The first answer counts and later approvals are ignored, but a decline replaces an
    approval: the rule of ``RemediationWorkflow``'s approve and decline signals.
    """
    kept: Answer | None = None
    for answer in answers:
        if kept is None or (kept[0] and not answer[0]):
            kept = answer
    return kept


async def _settled(handle: WorkflowHandle[object, object]) -> None:
    """Return once no workflow task is in flight, ``SETTLE_S`` at most.

    Temporal holds back signals that arrive while a workflow task is in flight until the
    task ends (a worker stopped mid-task holds them until it times out).
    """
    from temporalio.api.enums.v1 import PendingWorkflowTaskState

    in_flight = PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        pending = (await handle.describe()).raw_description.pending_workflow_task
        if pending.state != in_flight:
            return
        await asyncio.sleep(0.2)


async def _answers_sent(client: Client, handle: WorkflowHandle[object, object]) -> list[Answer]:
    """The approvals and declines the workflow received, in order, from its history, once
    the task in flight that may hold some back has ended."""
    from temporalio.api.enums.v1 import EventType

    from vanguard.engine.workflows import RemediationWorkflow

    await _settled(handle)
    verbs = {
        RemediationWorkflow.approve.__name__: (True, "approved"),
        RemediationWorkflow.decline.__name__: (False, "declined"),
    }
    answers: list[Answer] = []
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            continue
        signalled = event.workflow_execution_signaled_event_attributes
        if signalled.signal_name not in verbs:
            continue
        approved, verb = verbs[signalled.signal_name]
        (who,) = await client.data_converter.decode(signalled.input.payloads, [str])
        answers.append((approved, f"{verb} by {who}"))
    return answers


async def _too_late(client: Client, handle: WorkflowHandle[Any, Any], who: str) -> bool | None:
    """Whether the last decline sent as ``who`` came after the workflow scheduled its action,
    from its history; ``None`` while the history does not hold it yet.

    The workflow hears a signal before it acts on the events that came with it, so the order
    of the two events is the order it saw them in (the ``late_decline`` query says the same,
    but needs a worker running; the history does not).
    """
    from temporalio.api.enums.v1 import EventType

    from vanguard.engine.activities import Activities
    from vanguard.engine.workflows import RemediationWorkflow

    await _settled(handle)
    scheduled = False
    too_late: bool | None = None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled = scheduled or name == Activities.apply_action.__name__
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signalled = event.workflow_execution_signaled_event_attributes
            if signalled.signal_name != RemediationWorkflow.decline.__name__:
                continue
            (sender,) = await client.data_converter.decode(signalled.input.payloads, [str])
            if sender == who:
                too_late = scheduled
    return too_late


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
    from temporalio.client import WorkflowExecutionStatus

    from vanguard.engine.client import connect
    from vanguard.engine.workflows import RemediationWorkflow, workflow_id_for
    from vanguard.store import IncidentRepo, open_store

    who = login_name(by)
    url, address, namespace = _where(config, store, temporal)
    the_store = open_store(url)
    try:
        with the_store.session() as session:
            incident = IncidentRepo(session).get_incident(incident_id)
    finally:
        the_store.close()
    if incident is None:
        raise InputError(f"no incident {incident_id!r} in {the_store.url}")
    answerable = {IncidentState.awaiting_approval}
    if not approve:
        answerable.add(IncidentState.approved)
    if incident.state not in answerable:
        raise InputError(
            f"incident {incident_id} is {incident.state.value}, not awaiting approval: "
            "there is nothing to answer"
        )
    signal = RemediationWorkflow.approve if approve else RemediationWorkflow.decline
    ended = f"incident {incident_id} is no longer awaiting approval: its workflow has ended"

    async def send() -> tuple[list[Answer], bool]:
        client = await connect(address, namespace)
        handle = client.get_workflow_handle(workflow_id_for(incident_id))
        try:
            status = (await handle.describe()).status
            if status is not WorkflowExecutionStatus.RUNNING:
                raise InputError(f"{ended} ({status.name.lower() if status else 'unknown'})")
            await handle.signal(signal, who)
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                raise InputError(f"{ended} or is not on Temporal at {address}: {exc}") from exc
            raise EngineError(
                f"cannot signal the workflow of incident {incident_id} at {address}: {exc}"
            ) from exc
        if not approve:
            return [], incident.state is IncidentState.approved and await late(client, handle)
        try:
            return await _answers_sent(client, handle), False
        except RPCError as exc:
            raise EngineError(
                f"approval of {incident_id} sent as {who}, but whether a decline stands could "
                f"not be read from Temporal at {address}: {exc}"
            ) from exc

    async def late(client: Client, handle: WorkflowHandle[Any, Any]) -> bool:
        """Whether the decline reached the workflow once its action was scheduled."""
        unknown = (
            f"decline of {incident_id} sent as {who}, but whether it came before the action "
            f"was scheduled could not be read from Temporal at {address}"
        )
        try:
            too_late = await _too_late(client, handle, who)
        except RPCError as exc:
            raise EngineError(f"{unknown}: {exc}") from exc
        if too_late is None:
            raise EngineError(
                f"{unknown}: the workflow's task is still in flight; `vanguard incidents show "
                f"{incident_id}` says how it ended"
            )
        return too_late

    answers, too_late = asyncio.run(send())
    kept = standing(answers)
    if too_late:
        raise InputError(
            f"decline of {incident_id} sent as {who} came too late: the action was already "
            "scheduled and will run (or ran); to undo it see "
            f"`vanguard incidents show {incident_id}`"
        )
    if not approve and incident.state is IncidentState.approved:
        console.print(f"{incident_id} declined by {who}: the action will not run", highlight=False)
        return
    if not approve:
        console.print(f"{incident_id} declined by {who}: nothing will be done", highlight=False)
        return
    if kept is not None and not kept[0]:
        raise InputError(
            f"approval of {incident_id} sent as {who}, but a decline stands ({kept[1]}): "
            "a decline wins until the action starts, so the incident will not act"
        )
    if kept is not None and kept[1] != f"approved by {who}":
        console.print(
            f"{incident_id} was already {kept[1]}; the approval sent as {who} changes "
            "nothing: every gate runs again before it acts",
            highlight=False,
        )
        return
    console.print(
        f"approval of {incident_id} sent as {who}: every gate runs again before it acts",
        highlight=False,
    )


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
    incident_id: Annotated[
        str,
        typer.Argument(
            help="the incident that waits for approval, or is approved and has not acted yet"
        ),
    ],
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    temporal: TemporalOpt = None,
    by: ByOpt = None,
) -> None:
    """Decline the action an incident waits on, or an approved one not yet under way; it
    ends without acting."""
    _answer(incident_id, approve=False, config=config, store=store, temporal=temporal, by=by)
