"""The adapter protocol every action kind implements, and the idempotency ledger.

``plan`` says what would happen (dry-run), ``apply`` does it once per idempotency key and
returns an ``ActionResult`` with an ``UndoRecord``, ``verify`` checks the adapter's own
post-condition, ``rollback`` undoes an applied action. Adapters consult the ``Ledger``
before any side effect: a retried or replayed activity returns the recorded result, and an
attempt that crashed half-way is reconciled against the state observed before it. A
workflow that stopped waiting for an action fences its key when the ledger shows it never
began, so an attempt still running somewhere cannot begin it afterwards.

Two optional hooks let an adapter shape when the engine acts: ``Deferred.due`` names a time
before which its action must not run (a re-run's backoff), and ``Withdrawable.unwanted``
says why an approved action is no longer wanted. The engine waits first and asks both
before it runs the gates again, so whatever happened during the wait (a pause, an ignore,
an outage) stops the action, and nothing is begun in the ledger until then.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from vanguard.errors import ActionFenced, AdapterError, InvalidParams, describe_validation_error
from vanguard.model import (
    ActionRequest,
    ActionResult,
    Check,
    Plan,
    RollbackRequest,
    UndoRecord,
)

__all__ = [
    "FENCE_ACTION",
    "MAX_DUE_S",
    "Adapter",
    "Deferred",
    "Ledger",
    "LedgerEntry",
    "MemoryLedger",
    "Withdrawable",
    "begin_once",
    "cannot_undo",
    "fence_result",
    "fenced_error",
    "validate_params",
]

P = TypeVar("P", bound=BaseModel)


FENCE_ACTION = "vanguard.fence"
"""The ``action`` of the result a fence records: no adapter has this kind."""


class LedgerEntry(BaseModel):
    """A side effect that was begun (``before`` known) and maybe finished (``result``),
    or a fence: a key settled as never begun, which no attempt may begin any more."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    before: dict[str, JsonValue] = Field(default_factory=dict)
    result: ActionResult | None = None

    @property
    def fenced(self) -> bool:
        return self.result is not None and self.result.action == FENCE_ACTION


def fence_result(key: str, incident_id: str, target: str, at: datetime) -> ActionResult:
    """What a fence records for ``key``: nothing applied, nothing to undo."""
    return ActionResult(
        idempotency_key=key,
        incident_id=incident_id,
        action=FENCE_ACTION,
        target=target,
        applied=False,
        undo=UndoRecord(
            action=FENCE_ACTION, target=target, possible=False, instructions="nothing to undo"
        ),
        message="fenced: the workflow settled this action as never begun",
        finished_at=at,
    )


class Ledger(Protocol):
    """Remembers side effects by idempotency key, durably in production.

    ``begin`` and ``fence`` are atomic on the key, so exactly one of them wins a race: an
    attempt whose ``begin`` loses to a fence gets ``ActionFenced`` before any side effect,
    a ``begin`` that loses to another ``begin`` returns ``False``, and a fence that loses
    returns the begun entry.
    """

    def get(self, key: str) -> LedgerEntry | None: ...

    def begin(self, key: str, before: dict[str, JsonValue]) -> bool:
        """Record the state before a side effect: ``True`` when this call began ``key``,
        ``False`` when it was known (the entry stands as it was); a fenced key raises
        ``ActionFenced``."""
        ...

    def fence(self, key: str, result: ActionResult) -> LedgerEntry:
        """Settle an unknown ``key`` as never begun (recording ``result``, see
        ``fence_result``); the entry now stored, the begun one if ``begin`` came first."""
        ...

    def finish(self, key: str, result: ActionResult) -> None: ...


def begin_once(ledger: Ledger, key: str, before: dict[str, JsonValue]) -> ActionResult | None:
    """Begin ``key`` for this attempt: ``None`` when it did, and may act.

    An attempt that finds the key begun by another (the two read the ledger before either
    began: one stalled, Temporal started the other) must not act too: it gets the other's
    result once that finished, and until then an ``AdapterError``, which is retried; the
    retry finds the entry and reconciles from it.
    """
    if ledger.begin(key, before):
        return None
    entry = ledger.get(key)
    if entry is not None and entry.result is not None:
        return entry.result
    raise AdapterError(
        f"{key}: another attempt began this action and has not finished; not acting "
        "alongside it (retrying, then reconciling from what that attempt recorded)"
    )


def fenced_error(key: str) -> ActionFenced:
    return ActionFenced(
        f"{key}: the workflow stopped waiting for this action and settled it as never "
        "begun; this late attempt leaves it undone"
    )


class MemoryLedger:
    """In-memory ``Ledger`` for unit tests and dry runs."""

    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}

    def get(self, key: str) -> LedgerEntry | None:
        return self._entries.get(key)

    def begin(self, key: str, before: dict[str, JsonValue]) -> bool:
        known = self._entries.get(key)
        if known is None:
            self._entries[key] = LedgerEntry(key=key, before=before)
            return True
        if known.fenced:
            raise fenced_error(key)
        return False

    def fence(self, key: str, result: ActionResult) -> LedgerEntry:
        return self._entries.setdefault(key, LedgerEntry(key=key, result=result))

    def finish(self, key: str, result: ActionResult) -> None:
        entry = self._entries.get(key) or LedgerEntry(key=key)
        self._entries[key] = entry.model_copy(update={"result": result})


@runtime_checkable
class Adapter(Protocol):
    """One action kind (``supervisor.restart``, ``pgbouncer.resize``, ...)."""

    kind: ClassVar[str]
    params_model: ClassVar[type[BaseModel]]

    def plan(self, request: ActionRequest) -> Plan: ...

    def apply(self, request: ActionRequest) -> ActionResult: ...

    def verify(self, result: ActionResult) -> Check: ...

    def rollback(self, request: RollbackRequest) -> ActionResult: ...


MAX_DUE_S = 270.0
"""The longest an action may wait for its ``due`` time. The incident's workflow waits it
now; incidents started before wait inside the apply activity, whose 5-minute timeout must
still leave time for the checks and the action."""


@runtime_checkable
class Deferred(Protocol):
    """An adapter whose action must not run before a time the engine waits for."""

    def due(self, request: ActionRequest) -> datetime | None:
        """The time before which ``request`` must not be applied, or ``None`` (at once).

        Derived from the request's incident (its alert's time), not from when it is asked,
        so an activity retried after a crash during the wait waits only what is left.
        """
        ...


@runtime_checkable
class Withdrawable(Protocol):
    """An adapter that can tell an approved action is no longer wanted."""

    def unwanted(self, request: ActionRequest) -> str | None:
        """Why ``request`` should not be applied any more, or ``None``; read after the
        wait, right before the gates run again. It must change nothing."""
        ...


def validate_params(model: type[P], kind: str, raw: Mapping[str, JsonValue]) -> P:
    """An action's params as ``model``; an ``InvalidParams`` naming every bad key otherwise."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        problems = describe_validation_error(exc, root="<params>")
        raise InvalidParams(f"{kind}: invalid params: {problems}") from exc


def cannot_undo(kind: str, request: RollbackRequest, what: str, at: datetime) -> ActionResult:
    """The rollback answer of an action that cannot be undone: nothing touched, escalate.

    ``applied=False`` tells the caller nothing changed; the message carries the manual
    instructions from the undo record so the escalation says what a human can do.
    """
    undo = request.undo
    return ActionResult(
        idempotency_key=request.idempotency_key,
        incident_id=request.incident_id,
        action=kind,
        target=undo.target,
        applied=False,
        undo=undo,
        message=f"{what} cannot be undone; escalate: {undo.instructions}",
        finished_at=at,
    )
