"""Which outcomes are the same news, and what the audit trail says was told or held."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.unit.notify.builders import T0, decision, outcome, result
from vanguard.model import NOT_BEGUN, GateVerdict, OutcomeStatus
from vanguard.notify.base import HELD, NOTIFIED
from vanguard.notify.repeat import held_note, repeat_history, repeat_key
from vanguard.store.audit import AuditEntry

RATE_LIMITED = decision(
    approved=False,
    verdicts=(
        GateVerdict(gate="confidence", passed=True, reason="0.87 >= 0.80"),
        GateVerdict(gate="rate_limit", passed=False, reason="3/3 actions on leaky in 24 h"),
    ),
    reason="declined: rate_limit",
)


def test_a_decline_is_keyed_by_fingerprint_pattern_and_the_gates_that_said_no() -> None:
    key = repeat_key("leaky/mem", outcome(OutcomeStatus.declined), RATE_LIMITED, ())
    assert key == "leaky/mem|memory_leak_gradual|declined|rate_limit"
    frozen = RATE_LIMITED.model_copy(
        update={"verdicts": (GateVerdict(gate="window", passed=False, reason="freeze"),)}
    )
    assert repeat_key("leaky/mem", outcome(OutcomeStatus.declined), frozen, ()) != key
    assert repeat_key("other/mem", outcome(OutcomeStatus.declined), RATE_LIMITED, ()) != key


def test_a_dry_run_and_an_escalation_with_no_pattern_can_repeat() -> None:
    dry = repeat_key("leaky/mem", outcome(OutcomeStatus.dry_run), decision(dry_run=True), ())
    assert dry == "leaky/mem|memory_leak_gradual|dry_run|"
    unknown = outcome(OutcomeStatus.escalated).model_copy(update={"pattern_id": None})
    assert repeat_key("leaky/mem", unknown, None, ()) == "leaky/mem|-|escalated|"


@pytest.mark.parametrize(
    "status",
    [OutcomeStatus.resolved, OutcomeStatus.rolled_back, OutcomeStatus.failed],
)
def test_outcomes_that_changed_something_are_always_news(status: OutcomeStatus) -> None:
    assert repeat_key("leaky/mem", outcome(status), decision(), (result(),)) is None


def test_an_escalation_after_a_pattern_matched_or_an_applied_action_is_news() -> None:
    assert repeat_key("leaky/mem", outcome(OutcomeStatus.escalated), decision(), ()) is None
    declined_after_acting = repeat_key(
        "leaky/mem", outcome(OutcomeStatus.declined), RATE_LIMITED, (result(),)
    )
    assert declined_after_acting is None
    assert repeat_key("leaky/mem", None, RATE_LIMITED, ()) is None


def test_a_failure_before_the_action_began_repeats_and_one_after_is_news() -> None:
    """Nothing changed when the ledger shows the action never began: the breaker's next
    trial fails the same way, so it is the same news (``docs/operations.md``)."""
    never = outcome(OutcomeStatus.failed, f"action failed: no such program; {NOT_BEGUN}")
    never = never.model_copy(update={"teaches": False})
    assert repeat_key("leaky/mem", never, decision(), ()) == "leaky/mem|memory_leak_gradual|failed|"
    began = outcome(OutcomeStatus.failed, "action failed: connection reset")
    assert repeat_key("leaky/mem", began, decision(), ()) is None
    assert repeat_key("leaky/mem", never, decision(), (), asked=True) is None


def test_the_outcome_of_an_incident_that_asked_a_person_is_always_news() -> None:
    declined = outcome(OutcomeStatus.declined)
    asking = RATE_LIMITED.model_copy(update={"needs_approval": True})
    assert repeat_key("leaky/mem", declined, asking, ()) is None
    assert repeat_key("leaky/mem", declined, RATE_LIMITED, (), asked=True) is None
    assert repeat_key("leaky/mem", declined, RATE_LIMITED, ()) is not None


def test_a_persons_decline_is_news_not_a_repeat_of_a_withheld_rerun() -> None:
    """The store keeps an auto-approved incident's decision *approved* either way, so a
    person's decline of a re-run was keyed as the re-run a pause withheld a moment ago,
    and held: the channel never heard that a person declined."""
    approved = decision()
    paused = outcome(OutcomeStatus.declined, "incident x: approved, but not applied: paused")
    assert repeat_key("o/r/fp", paused, approved, ()) is not None
    for reason in (
        "declined by mallory before the action",
        "declined by cancelling its workflow in Temporal before the action",
    ):
        by_a_person = outcome(OutcomeStatus.declined, reason)
        assert repeat_key("o/r/fp", by_a_person, approved, ()) is None, reason


def _entry(seq: int, kind: str, key: str, minutes: int) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        incident_id=f"inc-{seq}",
        kind=kind,
        payload={"repeat_key": key},
        at=T0 + timedelta(minutes=minutes),
        prev_hash=f"{seq - 1:064d}",
        hash=f"{seq:064d}",
    )


def test_history_finds_the_last_message_in_the_window_and_counts_what_was_held() -> None:
    entries = [
        _entry(1, NOTIFIED, "k", 0),
        _entry(2, HELD, "k", 15),
        _entry(3, NOTIFIED, "other", 20),
        _entry(4, HELD, "k", 30),
    ]
    inside = repeat_history(list(reversed(entries)), "k", T0)
    assert inside.notified is not None
    assert inside.notified.seq == 1
    assert (inside.held, inside.held_since) == (2, T0 + timedelta(minutes=15))
    later = repeat_history(entries, "k", T0 + timedelta(minutes=1))
    assert later.notified is None, "told too long ago: send again"
    note = held_note(later)
    assert note is not None
    assert note.startswith(f"Since {(T0 + timedelta(minutes=15)).isoformat()}, 2 more incidents")


def test_nothing_held_adds_no_note() -> None:
    history = repeat_history([_entry(1, NOTIFIED, "k", 0)], "k", T0 + timedelta(hours=5))
    assert (history.notified, history.held) == (None, 0)
    assert held_note(history) is None
