"""The adapter protocol every action kind implements, and the idempotency ledger.

``plan`` says what would happen (dry-run), ``apply`` does it once per idempotency key and
returns an ``ActionResult`` with an ``UndoRecord``, ``verify`` checks the adapter's own
post-condition, ``rollback`` undoes an applied action. Adapters consult the ``Ledger``
before any side effect: a retried or replayed activity returns the recorded result, and an
attempt that crashed half-way is reconciled against the state observed before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from vanguard.errors import InvalidParams, describe_validation_error
from vanguard.model import ActionRequest, ActionResult, Check, Plan, RollbackRequest

__all__ = [
    "Adapter",
    "Ledger",
    "LedgerEntry",
    "MemoryLedger",
    "cannot_undo",
    "validate_params",
]

P = TypeVar("P", bound=BaseModel)


class LedgerEntry(BaseModel):
    """A side effect that was begun (``before`` known) and maybe finished (``result``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    before: dict[str, JsonValue] = Field(default_factory=dict)
    result: ActionResult | None = None


class Ledger(Protocol):
    """Remembers side effects by idempotency key, durably in production."""

    def get(self, key: str) -> LedgerEntry | None: ...

    def begin(self, key: str, before: dict[str, JsonValue]) -> None: ...

    def finish(self, key: str, result: ActionResult) -> None: ...


class MemoryLedger:
    """In-memory ``Ledger`` for unit tests and dry runs."""

    def __init__(self) -> None:
        self._entries: dict[str, LedgerEntry] = {}

    def get(self, key: str) -> LedgerEntry | None:
        return self._entries.get(key)

    def begin(self, key: str, before: dict[str, JsonValue]) -> None:
        if key not in self._entries:
            self._entries[key] = LedgerEntry(key=key, before=before)

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
