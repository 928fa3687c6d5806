"""The incident state machine: allowed paths work, everything else raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vanguard.errors import InvalidTransition
from vanguard.incident import TERMINAL, TRANSITIONS, Incident, IncidentState
from vanguard.model import Alert

T0 = datetime(2026, 1, 1, tzinfo=UTC)
S = IncidentState


def make_alert() -> Alert:
    return Alert(
        alert_id="a1",
        fingerprint="leaky/mem",
        source="detector:trend",
        service_name="leaky",
        metric_type="process_resident_memory_bytes",
        detected_at=T0,
        summary="memory rising",
        anomaly_score=0.9,
        confidence=0.87,
    )


def test_happy_path_records_every_step() -> None:
    inc = Incident.open("i1", make_alert())
    for n, state in enumerate([S.diagnosed, S.approved, S.applied, S.verifying, S.resolved], 1):
        inc = inc.transition(state, at=T0 + timedelta(seconds=n), reason=f"step {n}")
    assert inc.state is S.resolved
    assert inc.closed
    assert [h.state for h in inc.history] == [
        S.open,
        S.diagnosed,
        S.approved,
        S.applied,
        S.verifying,
        S.resolved,
    ]


def test_a_wait_for_approval_can_end_in_dry_run() -> None:
    """Dry run switched on while a person was asked: the answer is decided again and acts on
    nothing; the incident must be able to say so instead of failing its workflow."""
    inc = Incident.open("i1", make_alert()).transition(S.diagnosed, at=T0, reason="matched")
    inc = inc.transition(S.awaiting_approval, at=T0, reason="needs approval")
    assert inc.transition(S.dry_run, at=T0, reason="dry run since").state is S.dry_run


def test_transition_returns_new_incident_and_leaves_old_unchanged() -> None:
    inc = Incident.open("i1", make_alert())
    nxt = inc.transition(S.diagnosed, at=T0, reason="matched")
    assert inc.state is S.open
    assert nxt.state is S.diagnosed


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (s, t)
        for s in IncidentState
        for t in IncidentState
        if t not in TRANSITIONS[s] and s in {S.open, S.applied, S.resolved, S.verifying}
    ],
)
def test_every_disallowed_transition_raises(source: IncidentState, target: IncidentState) -> None:
    inc = Incident(incident_id="i1", alert=make_alert(), state=source)
    with pytest.raises(InvalidTransition, match=f"cannot go from {source} to {target}"):
        inc.transition(target, at=T0, reason="nope")


def test_terminal_states_have_no_exit() -> None:
    assert {S.resolved, S.rolled_back, S.escalated, S.declined, S.dry_run, S.failed} == TERMINAL
    for state in TERMINAL:
        assert not TRANSITIONS[state]


def test_every_state_reachable_from_open() -> None:
    seen = {S.open}
    frontier = [S.open]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(IncidentState)
