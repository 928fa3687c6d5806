"""Connect to Temporal (embedded dev server or a cluster) and start Vanguard's workflows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from vanguard.engine.messages import RemediationInput, WatcherInput
from vanguard.engine.workflows import (
    RemediationWorkflow,
    WatcherWorkflow,
    incident_id_for,
    workflow_id_for,
)
from vanguard.errors import InputError, TemporalUnavailable
from vanguard.model import Alert, Outcome

__all__ = ["WATCHER_ID", "connect", "make_starter", "start_remediation", "start_watcher"]

WATCHER_ID = "vanguard-watcher"


async def connect(address: str, namespace: str = "default", *, timeout_s: float = 10.0) -> Client:
    """Connect, failing fast with ``TemporalUnavailable`` instead of hanging."""
    try:
        return await asyncio.wait_for(
            Client.connect(address, namespace=namespace, data_converter=pydantic_data_converter),
            timeout=timeout_s,
        )
    except (TimeoutError, RuntimeError, OSError) as exc:
        raise TemporalUnavailable(
            f"cannot reach Temporal at {address} within {timeout_s:.0f} s: {exc or 'timed out'}"
        ) from exc


async def start_remediation(
    client: Client, alert: Alert, *, task_queue: str, window_s: float
) -> tuple[str, WorkflowHandle[RemediationWorkflow, Outcome] | None]:
    """Start the incident for ``alert``; a duplicate delivery of the same alert starts nothing.

    An incident whose workflow is running or completed is a duplicate. One whose workflow
    failed, timed out, was terminated or cancelled is started again: its workflow may have
    failed for a store down longer than its steps retry, and every step resumes from what
    the store holds (the incident, diagnosis and decision recorded, the action keyed in the
    ledger), so a resend re-drives it instead of being answered "duplicate" for ever.
    Raises ``InputError`` when Temporal refuses the alert itself (``INVALID_ARGUMENT``, such
    as a payload over its size limit): sending it again cannot help.
    """
    incident_id = incident_id_for(alert)
    try:
        handle = await client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(incident_id=incident_id, alert=alert, window_s=window_s),
            id=workflow_id_for(incident_id),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:
        return incident_id, None
    except RPCError as exc:
        if exc.status is RPCStatusCode.INVALID_ARGUMENT:
            raise InputError(
                f"Temporal refused to start incident {incident_id}: {exc.message}"
            ) from exc
        raise
    return incident_id, handle


def make_starter(
    client: Client, *, task_queue: str, window_s: float
) -> Callable[[Alert], Awaitable[tuple[str, bool]]]:
    """What webhook receivers and pollers call: start the alert's incident, say if it was new."""

    async def start(alert: Alert) -> tuple[str, bool]:
        incident_id, handle = await start_remediation(
            client, alert, task_queue=task_queue, window_s=window_s
        )
        return incident_id, handle is not None

    return start


async def start_watcher(
    client: Client, inp: WatcherInput, *, task_queue: str
) -> WorkflowHandle[WatcherWorkflow, int]:
    """Start the sweep of ``task_queue``, or attach to the one already running."""
    return await client.start_workflow(
        WatcherWorkflow.run,
        inp,
        id=f"{WATCHER_ID}-{task_queue}",
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
