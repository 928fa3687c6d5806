"""IncidentRepo: every value round-trips exactly, queries filter and order as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from tests.integration.store import values as v
from vanguard.errors import StoreError
from vanguard.incident import IncidentState
from vanguard.model import OutcomeStatus, Remedy, Verdict
from vanguard.store import AuditLog, IncidentRepo, Store

S = IncidentState


def test_incident_round_trips_and_updates_state_and_history(store: Store) -> None:
    opened = v.incident("inc-1")
    with store.session() as session:
        IncidentRepo(session).save_incident(opened)
    moved = v.advanced(opened, S.diagnosed, S.approved)
    with store.session() as session:
        IncidentRepo(session).save_incident(moved)
    with store.session() as session:
        loaded = IncidentRepo(session).get_incident("inc-1")
        missing = IncidentRepo(session).get_incident("nope")
    assert loaded == moved
    assert loaded is not None
    assert loaded.state is S.approved
    assert [c.state for c in loaded.history] == [S.open, S.diagnosed, S.approved]
    assert loaded.alert.detected_at.tzinfo is not None
    assert loaded.alert.detected_at == v.T0
    assert missing is None


def test_timestamps_in_other_zones_come_back_as_the_same_instant(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = v.incident("inc-tz").transition(
        S.failed, at=datetime(2026, 3, 1, 13, 0, 0, 1, tzinfo=plus_two), reason="bad"
    )
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(local)
        repo.save_action(
            v.action("inc-tz", "k-tz").model_copy(update={"finished_at": local.history[-1].at})
        )
    with store.session() as session:
        loaded = IncidentRepo(session).get_incident("inc-tz")
        count = IncidentRepo(session).count_actions(
            "checkout", datetime(2026, 3, 1, 11, 0, 0, 1, tzinfo=UTC)
        )
    assert loaded is not None
    assert loaded.history[-1].at == datetime(2026, 3, 1, 11, 0, 0, 1, tzinfo=UTC)
    assert count == 1


def test_list_is_newest_first_and_filters_by_state_and_service(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(v.incident("a", "checkout", minutes=0))
        repo.save_incident(v.advanced(v.incident("b", "search", minutes=10), S.diagnosed))
        repo.save_incident(v.incident("c", "checkout", minutes=20))
        repo.save_incident(v.advanced(v.incident("d", "checkout", minutes=5), S.diagnosed))
    with store.session() as session:
        repo = IncidentRepo(session)
        newest = [i.incident_id for i in repo.list_incidents()]
        limited = [i.incident_id for i in repo.list_incidents(limit=2)]
        diagnosed = [i.incident_id for i in repo.list_incidents(state=S.diagnosed)]
        checkout = [i.incident_id for i in repo.list_incidents(service="checkout")]
        both = [i.incident_id for i in repo.list_incidents(state=S.open, service="checkout")]
        none = repo.list_incidents(service="unknown")
        by_state = repo.count_by_state()
    assert newest == ["c", "b", "d", "a"]
    assert limited == ["c", "b"]
    assert diagnosed == ["b", "d"]
    assert checkout == ["c", "d", "a"]
    assert both == ["c", "a"]
    assert none == []
    assert by_state == {S.open: 2, S.diagnosed: 2}


def test_ids_since_and_audit_entries_of_some_incidents(store: Store) -> None:
    """What the notify activity asks to find the last message of the same news."""
    with store.session() as session:
        repo, audit = IncidentRepo(session), AuditLog(session)
        for iid, service, minutes in (("a", "checkout", 0), ("b", "checkout", 10)):
            repo.save_incident(v.incident(iid, service, minutes=minutes))
        repo.save_incident(v.incident("c", "search", minutes=20))
        repo.save_incident(v.incident("d", "checkout", minutes=30))
        for iid, kind in (("a", "notified"), ("b", "notify.held"), ("c", "notified")):
            audit.append(incident_id=iid, kind=kind, payload={"n": iid}, at=v.at(40))
        audit.append(incident_id="d", kind="note", payload={}, at=v.at(41))
    with store.session() as session:
        repo, audit = IncidentRepo(session), AuditLog(session)
        since_b = repo.ids_since("checkout", v.at(10))
        since_b_elsewhere = repo.ids_since(
            "checkout", v.at(10).astimezone(timezone(timedelta(hours=-5)))
        )
        everything = repo.ids_since("checkout", v.at(-60))
        of = audit.entries_of(everything, ("notified", "notify.held"))
        nothing = audit.entries_of([], ("notified",))
    assert since_b == since_b_elsewhere == ["b", "d"]
    assert everything == ["a", "b", "d"]
    assert [(e.incident_id, e.kind) for e in of] == [("a", "notified"), ("b", "notify.held")]
    assert nothing == []


@pytest.mark.parametrize("limit", [0, -1, 100_000])
def test_list_refuses_an_unbounded_or_empty_limit(store: Store, limit: int) -> None:
    with store.session() as session, pytest.raises(StoreError, match="limit"):
        IncidentRepo(session).list_incidents(limit=limit)


def test_record_holds_every_value_attached_to_the_incident(store: Store) -> None:
    inc = v.incident("inc-r")
    signals = [v.signal("checkout", -m, 60.0 + m) for m in range(4)]
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(inc)
        repo.add_signals("inc-r", signals[:2])
        repo.add_signals("inc-r", signals[2:])
        repo.save_diagnosis("inc-r", v.diagnosis(inc.alert.alert_id))
        repo.save_decision(v.decision("inc-r", approved=False))
        repo.save_decision(v.decision("inc-r", approved=True, minutes=3))
        repo.save_action(v.action("inc-r", "k2", minutes=4))
        repo.save_action(v.action("inc-r", "k1", minutes=3))
        repo.save_verification("inc-r", v.verification(Verdict.unchanged))
        repo.save_verification("inc-r", v.verification())
        repo.save_outcome(v.outcome("inc-r"))
        AuditLog(session).append(
            incident_id="inc-r", kind="decided", payload={"ok": True}, at=v.at(3)
        )
        AuditLog(session).append(incident_id="other", kind="noise", payload={}, at=v.at(3))
    with store.session() as session:
        record = IncidentRepo(session).get_record("inc-r")
        absent = IncidentRepo(session).get_record("absent")
    assert absent is None
    assert record is not None
    assert record.incident == inc
    assert record.signals == tuple(signals)
    assert record.diagnosis == v.diagnosis(inc.alert.alert_id)
    assert record.decision == v.decision("inc-r", approved=True, minutes=3)
    assert record.actions == (
        v.action("inc-r", "k1", minutes=3),
        v.action("inc-r", "k2", minutes=4),
    )
    assert record.verification == v.verification()
    assert record.outcome == v.outcome("inc-r")
    assert [(e.kind, e.payload) for e in record.audit] == [("decided", {"ok": True})]
    assert record.model_validate_json(record.model_dump_json()) == record


def test_extreme_floats_and_nested_json_survive_exactly(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(v.incident("inc-f"))
        repo.save_verification("inc-f", v.verification())
    with store.session() as session:
        record = IncidentRepo(session).get_record("inc-f")
    assert record is not None
    assert record.verification is not None
    assert record.verification.figures["tiny"] == 1e-300
    assert record.verification.figures["huge"] == 1.5e300
    assert record.incident.alert.attributes == {"unit": "%", "window": [1, 2.5, None, "x"]}
    assert type(record.incident.alert.attributes["window"][0]) is int  # type: ignore[index]


def test_saving_a_value_for_an_unknown_incident_is_an_error(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        with pytest.raises(StoreError, match="not stored"):
            repo.save_decision(v.decision("ghost"))
        with pytest.raises(StoreError, match="not stored"):
            repo.add_signals("ghost", [v.signal("x", 0, 1.0)])
        with pytest.raises(StoreError, match="not stored"):
            repo.save_outcome(v.outcome("ghost"))


def test_an_action_retry_overwrites_and_a_key_cannot_change_incident(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(v.incident("i1"))
        repo.save_incident(v.incident("i2"))
        repo.save_action(v.action("i1", "key", applied=False))
        repo.save_action(v.action("i1", "key", applied=True))
        with pytest.raises(StoreError, match="already belongs"):
            repo.save_action(v.action("i2", "key"))
    with store.session() as session:
        record = IncidentRepo(session).get_record("i1")
    assert record is not None
    assert record.actions == (v.action("i1", "key", applied=True),)


def test_count_actions_counts_applied_actions_of_the_service_since_a_time(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(v.incident("c1", "checkout"))
        repo.save_incident(v.incident("c2", "checkout"))
        repo.save_incident(v.incident("s1", "search"))
        repo.save_action(v.action("c1", "a", minutes=10))
        repo.save_action(v.action("c1", "b", minutes=20))
        repo.save_action(v.action("c2", "c", minutes=30))
        repo.save_action(v.action("c2", "dry", minutes=40, applied=False))
        repo.save_action(v.action("s1", "d", minutes=50))
    with store.session() as session:
        repo = IncidentRepo(session)
        counts = [repo.count_actions("checkout", v.at(m)) for m in (0, 10, 10.5, 30, 31)]
        search = repo.count_actions("search", v.at(0))
        other = repo.count_actions("nobody", v.at(0))
        with pytest.raises(StoreError, match="no time zone"):
            repo.count_actions("checkout", datetime(2026, 1, 1))
    assert counts == [3, 3, 2, 1, 0]
    assert (search, other) == (1, 0)


def test_outcomes_for_pattern_oldest_first(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        for n, (pattern, minutes) in enumerate([("p", 30), ("q", 10), ("p", 20), (None, 5)]):
            repo.save_incident(v.incident(f"o{n}"))
            repo.save_outcome(
                v.outcome(f"o{n}", pattern, status=OutcomeStatus.escalated, minutes=minutes)
            )
    with store.session() as session:
        repo = IncidentRepo(session)
        p = repo.outcomes_for_pattern("p")
        q = repo.outcomes_for_pattern("q")
        none = repo.outcomes_for_pattern("unknown")
    assert [o.incident_id for o in p] == ["o2", "o0"]
    assert [o.status for o in p] == [OutcomeStatus.escalated] * 2
    assert [o.incident_id for o in q] == ["o1"]
    assert none == []


def test_a_unit_of_work_rolls_back_when_it_raises(store: Store) -> None:
    def fail_after_save() -> None:
        with store.session() as session:
            IncidentRepo(session).save_incident(v.incident("lost"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_after_save()
    with store.session() as session:
        assert IncidentRepo(session).get_incident("lost") is None


def test_database_errors_become_store_errors_and_roll_back(store: Store) -> None:
    def fail_in_sql() -> None:
        with store.session() as session:
            IncidentRepo(session).save_incident(v.incident("kept-out"))
            session.execute(text("SELECT * FROM no_such_table"))

    with pytest.raises(StoreError, match="no_such_table") as caught:
        fail_in_sql()
    assert caught.value.__cause__ is not None
    with store.session() as session:
        assert IncidentRepo(session).get_incident("kept-out") is None


def test_deleting_an_incident_removes_what_hangs_off_it(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(v.incident("gone"))
        repo.add_signals("gone", [v.signal("checkout", 0, 1.0)])
        repo.save_action(v.action("gone", "k"))
    with store.session() as session:
        session.execute(text("DELETE FROM incidents WHERE incident_id = 'gone'"))
    with store.session() as session:
        left = (
            session.scalar(text("SELECT count(*) FROM signals")),
            session.scalar(text("SELECT count(*) FROM actions")),
        )
    assert left == (0, 0)


def test_a_stored_value_that_no_longer_validates_is_a_store_error(store: Store) -> None:
    with store.session() as session:
        IncidentRepo(session).save_incident(v.incident("old"))
        session.execute(
            text("UPDATE incidents SET body = :b WHERE incident_id = 'old'"),
            {"b": '{"incident_id": "old", "unknown_field": 1}'},
        )
    with store.session() as session, pytest.raises(StoreError, match="incident old"):
        IncidentRepo(session).get_incident("old")


def test_unmetered_kinds_are_left_out_of_the_counts(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(v.incident("inc-m"))
        repo.save_action(v.action("inc-m", "k-restart", minutes=1))
        triage = v.action("inc-m", "k-issue", minutes=3).model_copy(
            update={"action": "github.triage"}
        )
        repo.save_action(triage)
    with store.session() as session:
        repo = IncidentRepo(session)
        since = v.T0 - timedelta(days=1)
        assert repo.count_actions("checkout", since) == 2
        assert repo.count_actions("checkout", since, excluding=["github.triage"]) == 1
        assert repo.count_all_actions(since, excluding=["github.triage"]) == 1
        assert repo.last_action_at("checkout") == v.at(3)
        assert repo.last_action_at("checkout", excluding=["github.triage"]) == v.at(1)


def test_an_approved_unmetered_action_does_not_hold_a_slot(store: Store) -> None:
    """An approved triage not yet run held back a re-run through the cooldown."""
    restart = v.advanced(v.incident("inc-r"), S.diagnosed, S.approved)
    triage = v.advanced(v.incident("inc-t"), S.diagnosed, S.approved)
    issue = v.diagnosis("alert-inc-t").model_copy(
        update={"remedy": Remedy(action="github.triage", params={})}
    )
    with store.session() as session:
        repo = IncidentRepo(session)
        for inc in (restart, triage):
            repo.save_incident(inc)
        repo.save_diagnosis("inc-r", v.diagnosis("alert-inc-r"))
        repo.save_diagnosis("inc-t", issue)
    since = v.T0 - timedelta(days=1)
    with store.session() as session:
        repo = IncidentRepo(session)
        assert repo.count_in_flight("checkout", since=since) == 2
        assert (
            repo.count_in_flight("checkout", since=since, excluding_actions=["github.triage"]) == 1
        )
        assert repo.count_in_flight(since=since, excluding_actions=["github.triage"]) == 1


def test_open_fingerprints_finds_an_open_incident_behind_many_newer_closed_ones(
    store: Store,
) -> None:
    """The sweep's guard against a second incident for a series looked at a service's 50
    newest incidents: one waiting for approval behind more was not seen."""
    waiting = v.advanced(v.incident("inc-old", minutes=0), S.diagnosed)
    waiting = waiting.model_copy(
        update={"alert": waiting.alert.model_copy(update={"fingerprint": "checkout/queue"})}
    )
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(waiting)
        for n in range(60):
            repo.save_incident(v.advanced(v.incident(f"inc-{n}", minutes=n + 1), S.failed))
        repo.save_incident(v.incident("inc-other", "search", minutes=90))
    with store.read_session() as session:
        repo = IncidentRepo(session)
        assert repo.open_fingerprints(["checkout"]) == {"checkout/queue"}
        assert repo.open_fingerprints(["checkout", "search", "checkout"]) == {
            "checkout/queue",
            "search/memory_percent",
        }
        assert repo.open_fingerprints([]) == set()
