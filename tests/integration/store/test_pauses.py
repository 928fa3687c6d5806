"""PauseRepo: one pause in force per scope; pausing again extends it, audited as such."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from vanguard.store import AuditLog, PauseRepo, Store
from vanguard.store.tables import PauseRow

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _kinds(store: Store) -> list[str]:
    with store.session() as session:
        return [e.kind for e in AuditLog(session).entries()]


def test_pausing_a_paused_scope_extends_the_pause_in_force(store: Store) -> None:
    with store.session() as session:
        first = PauseRepo(session).pause(
            service="web", reason="deploy", by="erin", now=T0, until=T0 + HOUR
        )
    with store.session() as session:
        again = PauseRepo(session).pause(
            service="web",
            reason="deploy overran",
            by="frank",
            now=T0 + HOUR / 2,
            until=T0 + 3 * HOUR,
        )
    with store.session() as session:
        repo = PauseRepo(session)
        (listed,) = repo.active(T0 + HOUR / 2)
        later = repo.active(T0 + 2 * HOUR)
        extended = AuditLog(session).entries()[-1]
    assert listed == again
    assert again.pause_id == first.pause_id
    assert again.started_at == T0, "the pause has held since it began"
    assert (again.reason, again.paused_by, again.until) == (
        "deploy overran",
        "frank",
        T0 + 3 * HOUR,
    )
    assert later == [again], "it lasts to the new end"
    assert extended.kind == "automation.pause_extended"
    assert extended.payload["before"] == {
        "reason": "deploy",
        "paused_by": "erin",
        "until": (T0 + HOUR).isoformat().replace("+00:00", "Z"),
    }
    assert _kinds(store) == ["automation.paused", "automation.pause_extended"]


def test_until_resumed_outlasts_any_time_and_pausing_again_never_shortens(store: Store) -> None:
    with store.session() as session:
        repo = PauseRepo(session)
        repo.pause(service=None, reason="drill", by="erin", now=T0, until=T0 + HOUR)
        endless = repo.pause(service=None, reason="bridge open", by="erin", now=T0, until=None)
        kept = repo.pause(service=None, reason="still open", by="frank", now=T0, until=T0 + HOUR)
        listed = repo.active(T0 + 10 * HOUR)
    assert endless.until is None
    assert kept.until is None, "a pause until resumed is not cut to an hour"
    assert kept.reason == "still open"
    assert listed == [kept]
    with store.session() as session:
        repo = PauseRepo(session)
        repo.pause(service="db", reason="r", by="x", now=T0, until=T0 + 3 * HOUR)
        shorter = repo.pause(service="db", reason="r2", by="x", now=T0, until=T0 + HOUR)
    assert shorter.until == T0 + 3 * HOUR


def test_scopes_are_paused_apart_and_an_ended_pause_is_not_extended(store: Store) -> None:
    with store.session() as session:
        repo = PauseRepo(session)
        everything = repo.pause(service=None, reason="all", by="x", now=T0)
        web = repo.pause(service="web", reason="web", by="x", now=T0, until=T0 + HOUR)
        db = repo.pause(service="db", reason="db", by="x", now=T0)
        fresh = repo.pause(service="web", reason="web again", by="x", now=T0 + 2 * HOUR)
        assert len({everything.pause_id, web.pause_id, db.pause_id, fresh.pause_id}) == 4
        assert fresh.started_at == T0 + 2 * HOUR
        assert [p.service_name for p in repo.active(T0 + 2 * HOUR)] == [None, "db", "web"]
        assert [p.service_name for p in repo.active(T0 + 2 * HOUR, "web")] == [None, "web"]
        repo.resume(service="db", by="y", now=T0 + 3 * HOUR)
        db_again = repo.pause(service="db", reason="db again", by="x", now=T0 + 4 * HOUR)
    assert db_again.pause_id != db.pause_id, "a resumed pause is over: a new one begins"


def test_pauses_stacked_before_extending_existed_list_once_and_resume_together(
    store: Store,
) -> None:
    with store.session() as session:
        for until in (T0 + HOUR, None, T0 + 2 * HOUR):
            session.add(
                PauseRow(
                    service_name="web", reason=f"{until}", paused_by="x", started_at=T0, until=until
                )
            )
    with store.session() as session:
        repo = PauseRepo(session)
        (listed,) = repo.active(T0)
        assert listed.until is None, "the scope is paused as long as its longest pause"
        extended = repo.pause(service="web", reason="one", by="y", now=T0 + HOUR / 2)
        assert extended.pause_id == listed.pause_id
        ended = repo.resume(service="web", by="z", now=T0 + HOUR / 2)
        assert len(ended) == 3
        assert repo.active(T0 + HOUR / 2) == []


def test_two_people_pausing_one_scope_at_once_make_one_pause(store: Store) -> None:
    """The second waits for the first's unit of work, then finds its pause and extends it."""
    done = threading.Event()

    def second() -> None:
        with store.session() as session:
            PauseRepo(session).pause(service="web", reason="second", by="frank", now=T0)
        done.set()

    with store.session() as session:
        PauseRepo(session).pause(service="web", reason="first", by="erin", now=T0)
        other = threading.Thread(target=second)
        other.start()
        assert not done.wait(0.5), "the second pause did not wait for the first"
    other.join(30)
    assert done.is_set()
    with store.session() as session:
        (listed,) = PauseRepo(session).active(T0)
    assert listed.reason == "second"
    assert _kinds(store) == ["automation.paused", "automation.pause_extended"]


def test_a_pause_written_by_a_clock_ahead_holds_at_once(store: Store) -> None:
    """`vanguard automation pause` stamps the pause with the clock of the machine it ran
    on; a laptop 90 s ahead of the workers was told "paused" while every worker's pause
    gate let actions through for 90 s."""
    worker_now = T0
    laptop_now = T0 + timedelta(seconds=90)
    with store.session() as session:
        made = PauseRepo(session).pause(service=None, reason="failover", by="alice", now=laptop_now)
    with store.session() as session:
        seen = PauseRepo(session).active(worker_now, "checkout")
    assert seen == [made]
    assert made.started_at == laptop_now, "shown as written"


def test_the_store_tells_its_own_time_in_utc(store: Store) -> None:
    """What the commands time a pause by: the database's clock, not the caller's."""
    before = datetime.now(UTC)
    with store.session() as session:
        said = PauseRepo(session).now()
    after = datetime.now(UTC)
    assert said.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= said <= after + timedelta(seconds=1)
