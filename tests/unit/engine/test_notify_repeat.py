"""The notify activity on a real SQLite store: the same decline is told once per window."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.notifiers import Refusing
from tests.unit.engine.test_activities import PATTERN, T0, RerunAdapter, _alert
from tests.unit.notify.builders import result
from vanguard.act.base import MemoryLedger
from vanguard.config import Settings
from vanguard.decide import PolicyConfig
from vanguard.engine.activities import Activities
from vanguard.engine.messages import (
    ApplyInput,
    CloseInput,
    DecideInput,
    DiagnoseInput,
    NotifyInput,
    OpenInput,
    VerifyInput,
)
from vanguard.errors import AdapterError, NotifyError, StoreError
from vanguard.model import NOT_BEGUN, ActionRequest, ActionResult, Outcome, OutcomeStatus
from vanguard.notify import MemoryNotifier, Notifier
from vanguard.notify.base import HELD, NOTIFIED
from vanguard.store import AuditLog, Store


class NeverBegins(RerunAdapter):
    """Refuses before it begins, as supervisord does a misspelt program."""

    def apply(self, request: ActionRequest) -> ActionResult:
        raise AdapterError("supervisord at 127.0.0.1:9001: BAD_NAME: no such program 'web2'")


class Loop:
    """Incidents of one CI service whose daily action is spent after the first."""

    def __init__(
        self,
        store: Store,
        repeat_s: float,
        *,
        ask: bool = False,
        also: Notifier | None = None,
        begins: bool = True,
    ) -> None:
        self.now = T0
        self.notifier = MemoryNotifier()
        settings = Settings(
            data_dir=Path("."),
            policy=PolicyConfig(
                min_confidence=0.5,
                max_actions_per_service_per_day=1,
                require_approval_for=("ci.rerun",) if ask else (),
            ),
            notify_repeat_s=repeat_s,
        )
        self.store = store
        self.acts = Activities(
            settings,
            store,
            [PATTERN],
            {"ci.rerun": RerunAdapter(True) if begins else NeverBegins(True)},
            MemoryLedger(),
            [self.notifier, *([also] if also else [])],
            clock=lambda: self.now,
        )

    def incident(self, minutes: int) -> str:
        """Open, diagnose, decide (act when approved), close and notify one incident; an
        action that never began ends *failed*, teaching nothing, as the workflow ends it."""
        self.now = T0 + timedelta(minutes=minutes)
        alert = _alert(minutes).model_copy(update={"detected_at": self.now})
        iid = f"inc-{minutes}"
        acts = self.acts
        acts.open_incident(OpenInput(incident_id=iid, alert=alert))
        diagnosis = acts.diagnose(DiagnoseInput(incident_id=iid, alert=alert))
        decision = acts.decide(DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis))
        status, reason, teaches = OutcomeStatus.declined, decision.reason, True
        if decision.needs_approval:
            acts.notify(NotifyInput(incident_id=iid, phase="approval"))
        elif decision.approved:
            apply = ApplyInput(incident_id=iid, alert=alert, diagnosis=diagnosis)
            try:
                action = acts.apply_action(apply)
            except AdapterError as exc:
                assert acts.action_begun(apply) is None
                status, reason = OutcomeStatus.failed, f"action failed: {exc}; {NOT_BEGUN}"
                teaches = False
            else:
                acts.verify(
                    VerifyInput(incident_id=iid, alert=alert, diagnosis=diagnosis, action=action)
                )
                status = OutcomeStatus.resolved
        outcome = Outcome(
            incident_id=iid,
            pattern_id=diagnosis.pattern_id,
            status=status,
            reason=reason,
            finished_at=self.now,
            teaches=teaches,
        )
        acts.close_incident(CloseInput(outcome=outcome, decision=decision))
        acts.notify(NotifyInput(incident_id=iid, status=status))
        return iid

    def told(self) -> list[tuple[str, str]]:
        return [(m.incident_id, m.title.split("]")[0] + "]") for m in self.notifier.messages]

    def held(self, incident_id: str) -> list[dict[str, object]]:
        with self.store.session() as session:
            entries = AuditLog(session).entries(incident_id)
        return [dict(e.payload) for e in entries if e.kind == HELD]


def test_a_decline_repeated_within_the_window_is_recorded_not_sent(store: Store) -> None:
    loop = Loop(store, repeat_s=4 * 3600)
    loop.incident(0)
    loop.incident(15)
    held = loop.incident(30)
    loop.acts.notify(NotifyInput(incident_id=held, status=OutcomeStatus.declined))
    loop.incident(45)
    assert loop.told() == [("inc-0", "[resolved]"), ("inc-15", "[declined]")]
    (hold,) = loop.held(held)
    assert hold["repeat_of"] == "inc-15"
    assert hold["repeat_key"] == "octo/repo/ci_job_failed|ci_flaky_network|declined|rate_limit"
    assert hold["notified_at"] == datetime.isoformat(T0 + timedelta(minutes=15))


def test_after_the_window_the_decline_is_told_again_with_what_was_held(store: Store) -> None:
    loop = Loop(store, repeat_s=3600)
    loop.incident(0)
    for minutes in (15, 30, 45, 60):
        loop.incident(minutes)
    loop.incident(76)
    told = loop.told()
    assert told == [("inc-0", "[resolved]"), ("inc-15", "[declined]"), ("inc-76", "[declined]")]
    last = loop.notifier.messages[-1].body
    since = (T0 + timedelta(minutes=30)).isoformat()
    assert f"Since {since}, 3 more incidents ended the same way" in last


def test_a_zero_window_tells_every_decline(store: Store) -> None:
    loop = Loop(store, repeat_s=0)
    for minutes in (0, 15, 30):
        loop.incident(minutes)
    assert [title for _, title in loop.told()] == ["[resolved]", "[declined]", "[declined]"]
    assert loop.held("inc-30") == []


def test_every_incident_that_asked_a_person_is_told_how_it_ended(store: Store) -> None:
    """Nobody answered any of them: each request and each timeout reaches people."""
    loop = Loop(store, repeat_s=4 * 3600, ask=True)
    for minutes in (0, 70, 140):
        loop.incident(minutes)
    titles = [title for _, title in loop.told()]
    assert titles == ["[needs approval]", "[declined]"] * 3
    assert all(loop.held(f"inc-{m}") == [] for m in (0, 70, 140))


def test_a_retry_after_one_channel_failed_sends_the_same_message_to_the_rest(
    store: Store,
) -> None:
    chat = Refusing(lambda message, refused: refused == 0 and "more incidents" in message.body)
    loop = Loop(store, repeat_s=3600, also=chat)
    loop.incident(0)
    for minutes in (15, 30, 45):
        loop.incident(minutes)
    with pytest.raises(NotifyError):
        loop.incident(76)
    loop.acts.notify(NotifyInput(incident_id="inc-76", status=OutcomeStatus.declined))
    first, second = loop.notifier.messages[-1], chat.messages[-1]
    assert chat.refused == 1
    assert first.incident_id == second.incident_id == "inc-76"
    assert first.body == second.body
    assert "2 more incidents ended the same way" in second.body
    assert loop.held("inc-76") == []


def test_a_channel_added_in_front_during_a_retry_is_told_and_none_twice(store: Store) -> None:
    """Slack is down, so the outcome is retried; meanwhile someone adds a pager in front of
    the list and restarts the worker. Keys by position gave the pager Teams' "done"."""
    loop = Loop(store, repeat_s=0)
    teams = Refusing(lambda message, refused: False, channel="teams")
    slack = Refusing(lambda message, refused: refused == 0, channel="slack")
    loop.acts.notifiers = [teams, slack]
    with pytest.raises(NotifyError):
        loop.incident(0)
    pager = Refusing(lambda message, refused: False, channel="pager")
    loop.acts.notifiers = [pager, teams, slack]
    loop.acts.notify(NotifyInput(incident_id="inc-0", status=OutcomeStatus.resolved))
    assert [len(c.messages) for c in (pager, teams, slack)] == [1, 1, 1]
    loop.acts.notifiers = [slack]
    loop.acts.notify(NotifyInput(incident_id="inc-0", status=OutcomeStatus.resolved))
    assert len(slack.messages) == 1, "a channel removed in front hands nobody its key"


def test_a_delivery_keyed_by_position_is_resent_at_most_once_and_never_held(
    store: Store,
) -> None:
    """A retry in flight across the upgrade: the memory channel took the first decline
    under the old key (by position), the chat was down, and a like decline was told since.
    The retry tells both channels once (not holding what a channel took) and then stops."""
    loop = Loop(store, repeat_s=3600)
    chat = Refusing(lambda message, refused: False, channel="chat")
    loop.incident(0)
    loop.acts.notifiers = []
    loop.incident(15)
    loop.acts.ledger.finish("inc-15:notify:0:MemoryNotifier", result(applied=True))
    loop.acts.ledger.begin("inc-15:notify:1:Refusing", {})
    loop.acts.notifiers = [loop.notifier, chat]
    loop.incident(20)
    for _ in range(3):
        loop.acts.notify(NotifyInput(incident_id="inc-15", status=OutcomeStatus.declined))
    assert [m.incident_id for m in chat.messages] == ["inc-20", "inc-15"]
    assert loop.told()[-2:] == [("inc-20", "[declined]"), ("inc-15", "[declined]")]
    assert loop.held("inc-15") == []


def test_a_delivery_whose_audit_entry_was_lost_is_recorded_by_the_retry(store: Store) -> None:
    """Every channel took the decline, then the database refused the ``notified`` entry.
    The retry sends nothing again and writes the entry once, so the next like decline is
    held as the repeat it is."""
    loop = Loop(store, repeat_s=3600)
    loop.incident(0)
    with store.session() as session:
        session.execute(
            text(
                "CREATE TRIGGER refuse_notified BEFORE INSERT ON audit_entries "
                "WHEN NEW.kind = 'notified' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
            )
        )
    with pytest.raises(StoreError):
        loop.incident(15)
    with store.session() as session:
        session.execute(text("DROP TRIGGER refuse_notified"))
    for _ in range(2):
        loop.acts.notify(NotifyInput(incident_id="inc-15", status=OutcomeStatus.declined))
    with store.session() as session:
        notified = [e.payload for e in AuditLog(session).entries("inc-15") if e.kind == NOTIFIED]
    assert notified == [
        {
            "title": loop.notifier.messages[-1].title,
            "channels": 1,
            "phase": "outcome",
            "repeat_key": "octo/repo/ci_job_failed|ci_flaky_network|declined|rate_limit",
        }
    ]
    loop.incident(30)
    assert loop.told() == [("inc-0", "[resolved]"), ("inc-15", "[declined]")]
    assert loop.held("inc-30")[0]["repeat_of"] == "inc-15"


def test_an_action_that_never_begins_is_told_once_then_held_like_a_repeat(store: Store) -> None:
    """A misspelt program: every trial the breaker lets through after its cooldown fails
    before it begins, the same news each time. The first failure is told; the rest within
    ``notify_repeat_s`` are held, and the next one told says how many went unsent."""
    loop = Loop(store, repeat_s=4 * 3600, begins=False)
    for minutes in (0, 15, 30, 45, 91, 152, 245):
        loop.incident(minutes)
    assert loop.told() == [
        ("inc-0", "[failed]"),
        ("inc-45", "[declined]"),
        ("inc-245", "[failed]"),
    ]
    assert [loop.held(f"inc-{m}")[0]["repeat_of"] for m in (15, 30, 91, 152)] == ["inc-0"] * 4
    assert "4 more incidents ended the same way" in loop.notifier.messages[-1].body
