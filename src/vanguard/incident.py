"""The incident and its explicit state machine.

An incident ties one alert to its diagnosis, decision, action and outcome. Its state may
only move along ``TRANSITIONS``; anything else raises ``InvalidTransition`` rather than
being silently ignored, so a replayed or confused workflow cannot corrupt the record.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

from vanguard.errors import InvalidTransition
from vanguard.model import Alert

__all__ = ["TERMINAL", "TRANSITIONS", "Incident", "IncidentState", "StateChange"]


class IncidentState(StrEnum):
    open = "open"
    diagnosed = "diagnosed"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    applied = "applied"
    verifying = "verifying"
    rolling_back = "rolling_back"
    resolved = "resolved"
    rolled_back = "rolled_back"
    escalated = "escalated"
    declined = "declined"
    dry_run = "dry_run"
    failed = "failed"


S = IncidentState

TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    S.open: frozenset({S.diagnosed, S.failed}),
    S.diagnosed: frozenset({S.approved, S.awaiting_approval, S.declined, S.dry_run, S.escalated}),
    S.awaiting_approval: frozenset({S.approved, S.declined, S.dry_run}),
    S.approved: frozenset({S.applied, S.declined, S.failed, S.escalated}),
    S.applied: frozenset({S.verifying, S.escalated}),
    S.verifying: frozenset({S.resolved, S.rolling_back, S.escalated}),
    S.rolling_back: frozenset({S.rolled_back, S.escalated}),
    S.resolved: frozenset(),
    S.rolled_back: frozenset(),
    S.escalated: frozenset(),
    S.declined: frozenset(),
    S.dry_run: frozenset(),
    S.failed: frozenset(),
}

TERMINAL: frozenset[IncidentState] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


class StateChange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    state: IncidentState
    at: AwareDatetime
    reason: str


class Incident(BaseModel):
    """An incident and its history; ``transition`` returns a new incident, never mutates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str
    alert: Alert
    state: IncidentState = IncidentState.open
    history: tuple[StateChange, ...] = ()

    @classmethod
    def open(cls, incident_id: str, alert: Alert) -> Incident:
        first = StateChange(state=S.open, at=alert.detected_at, reason=alert.summary)
        return cls(incident_id=incident_id, alert=alert, history=(first,))

    @property
    def closed(self) -> bool:
        return self.state in TERMINAL

    def can_move_to(self, target: IncidentState) -> bool:
        return target in TRANSITIONS[self.state]

    def transition(self, target: IncidentState, *, at: AwareDatetime, reason: str) -> Incident:
        """Move to ``target``; raise ``InvalidTransition`` if the table does not allow it."""
        if not self.can_move_to(target):
            allowed = ", ".join(sorted(TRANSITIONS[self.state])) or "none (terminal)"
            raise InvalidTransition(
                f"incident {self.incident_id}: cannot go from {self.state} to {target} "
                f"(allowed: {allowed})"
            )
        change = StateChange(state=target, at=at, reason=reason)
        return self.model_copy(update={"state": target, "history": (*self.history, change)})
