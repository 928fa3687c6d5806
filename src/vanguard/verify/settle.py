"""What to do after verification: resolve, roll back, or hand over to a human (pure).

``improved`` resolves. ``degraded`` and ``unchanged`` mean the action did not help: roll it
back when the adapter can undo it, otherwise escalate, since Vanguard cannot restore the
earlier state itself. ``inconclusive`` escalates and leaves the change in place: undoing on
no evidence could do as much harm as the action.
"""

from __future__ import annotations

from typing import Literal

from vanguard.model import Frozen, Verdict, Verification

__all__ = ["Settlement", "settle"]


class Settlement(Frozen):
    next_step: Literal["resolve", "roll_back", "escalate"]
    reason: str


def settle(
    verification: Verification, *, undo_possible: bool, rollback_safe: bool = True
) -> Settlement:
    """Map a verification verdict to the next step of the incident.

    ``undo_possible``: the adapter can undo the action; ``rollback_safe``: the pattern lets
    Vanguard do so on its own. An action that can be undone but whose pattern is not
    rollback-safe escalates, and its reason says a person may undo it."""
    verdict = verification.verdict
    if verdict is Verdict.improved:
        return Settlement(next_step="resolve", reason=f"verified: {verification.reason}")
    if verdict is Verdict.inconclusive:
        return Settlement(
            next_step="escalate",
            reason=f"cannot tell whether the action helped ({verification.reason}); left in place",
        )
    if undo_possible and rollback_safe:
        return Settlement(
            next_step="roll_back",
            reason=f"the action did not help ({verification.reason}); rolling back",
        )
    if undo_possible:
        return Settlement(
            next_step="escalate",
            reason=f"the action did not help ({verification.reason}); not rolled back "
            "automatically (the pattern is not rollback_safe): a person may undo it",
        )
    return Settlement(
        next_step="escalate",
        reason=f"the action did not help ({verification.reason}) and cannot be undone",
    )
