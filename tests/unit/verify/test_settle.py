"""After verification: resolve, roll back, or escalate."""

from __future__ import annotations

import pytest

from vanguard.model import Verdict, Verification
from vanguard.verify import settle


def verification(verdict: Verdict) -> Verification:
    return Verification(verdict=verdict, reason=f"{verdict.value}: median 10 → 12")


@pytest.mark.parametrize(
    ("verdict", "undo_possible", "step"),
    [
        (Verdict.improved, True, "resolve"),
        (Verdict.improved, False, "resolve"),
        (Verdict.degraded, True, "roll_back"),
        (Verdict.degraded, False, "escalate"),
        (Verdict.unchanged, True, "roll_back"),
        (Verdict.unchanged, False, "escalate"),
        (Verdict.inconclusive, True, "escalate"),
        (Verdict.inconclusive, False, "escalate"),
    ],
)
def test_next_step(verdict: Verdict, undo_possible: bool, step: str) -> None:
    settlement = settle(verification(verdict), undo_possible=undo_possible)
    assert settlement.next_step == step
    assert f"{verdict.value}: median 10 → 12" in settlement.reason


def test_reasons_say_why() -> None:
    assert settle(verification(Verdict.degraded), undo_possible=False).reason.endswith(
        "and cannot be undone"
    )
    assert settle(verification(Verdict.inconclusive), undo_possible=True).reason.endswith(
        "left in place"
    )


def test_an_undoable_action_of_a_pattern_not_rollback_safe_is_left_to_a_person() -> None:
    """The action can be undone (`vanguard rollback` works); the pattern says Vanguard must
    not do it alone. The reason must not say it cannot be undone."""
    settlement = settle(verification(Verdict.degraded), undo_possible=True, rollback_safe=False)
    assert settlement.next_step == "escalate"
    assert "not rolled back automatically" in settlement.reason
    assert "cannot be undone" not in settlement.reason
