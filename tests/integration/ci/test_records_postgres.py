"""Claiming deliveries on a real PostgreSQL: of concurrent claims of one id, one wins; the
GitHub API budget that every process spends loses no call to a race."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from vanguard.ci.budget import ApiBudget
from vanguard.ci.health import AttemptRecord
from vanguard.ci.records import STALE_RECEIVED, CiRepo, stale_opening
from vanguard.store import Store, open_store

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CLAIMS = 6


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    the_store = open_store(postgres_url)
    yield the_store
    the_store.close()


def _race(store: Store, delivery_id: str) -> list[bool]:
    return _race_at(store, delivery_id, NOW)


def _race_at(store: Store, delivery_id: str, at: datetime) -> list[bool]:
    start = threading.Barrier(CLAIMS)

    def claim(n: int) -> bool:
        start.wait()
        with store.session() as session:
            return CiRepo(session).claim_delivery(
                delivery_id,
                event="workflow_run",
                action="completed",
                repository="o/r",
                at=at,
                status="received",
                reason=f"claim {n}",
            )

    with ThreadPoolExecutor(CLAIMS) as pool:
        return list(pool.map(claim, range(CLAIMS)))


def test_concurrent_first_deliveries_are_claimed_once(store: Store) -> None:
    assert sorted(_race(store, "new")) == [False] * (CLAIMS - 1) + [True]


def test_concurrent_redeliveries_of_a_failed_delivery_are_claimed_once(store: Store) -> None:
    with store.session() as session:
        repo = CiRepo(session)
        repo.claim_delivery(
            "again",
            event="workflow_run",
            action="completed",
            repository="o/r",
            at=NOW,
            status="received",
            reason="first",
        )
        repo.settle_delivery("again", "failed", "AdapterError: GitHub unreachable", None)
    assert sorted(_race(store, "again")) == [False] * (CLAIMS - 1) + [True]
    with store.session() as session:
        row = CiRepo(session).delivery("again")
        assert row is not None
        assert row.status == "received"
        assert row.reason.startswith("claim ")


def test_a_real_run_id_past_32_bits_is_recorded(store: Store) -> None:
    """GitHub's run ids passed 2**31 long ago; PostgreSQL's integer stops there."""
    record = AttemptRecord(
        repository="o/r",
        workflow="ci",
        run_id=12_345_678_901,
        run_attempt=1,
        head_sha="a" * 40,
        head_branch="main",
        conclusion="failure",
        at=NOW,
        default_branch="main",
    )
    with store.session() as session:
        CiRepo(session).record_attempt(record, handled=False)
    with store.session() as session:
        assert not CiRepo(session).attempt_handled("o/r", 12_345_678_901, 1)
        assert [a.run_id for a in CiRepo(session).attempts(repository="o/r")] == [12_345_678_901]


def test_an_attempt_of_a_fork_stays_marked_as_one(store: Store) -> None:
    record = AttemptRecord(
        repository="o/fork-flag",
        workflow="ci",
        run_id=77,
        run_attempt=1,
        head_sha="b" * 40,
        head_branch="main",
        conclusion="failure",
        at=NOW,
        from_fork=True,
    )
    with store.session() as session:
        CiRepo(session).record_attempt(record)
    with store.session() as session:
        CiRepo(session).record_attempt(record.model_copy(update={"from_fork": False}))
    with store.session() as session:
        (stored,) = CiRepo(session).attempts(repository="o/fork-flag")
    assert stored.from_fork
    assert not stored.on_default_branch


def test_a_delivery_left_received_is_reclaimed_only_once_stale(store: Store) -> None:
    with store.session() as session:
        repo = CiRepo(session)
        assert repo.claim_delivery(
            "stale",
            event="workflow_run",
            action="completed",
            repository="o/r",
            at=NOW,
            status="received",
            reason="being handled",
        )
    with store.session() as session:
        early = CiRepo(session).claim_delivery(
            "stale",
            event="workflow_run",
            action="completed",
            repository="o/r",
            at=NOW + STALE_RECEIVED / 2,
            status="received",
            reason="again",
        )
    assert not early
    assert sorted(_race_at(store, "stale", NOW + STALE_RECEIVED * 2)) == [False] * (CLAIMS - 1) + [
        True
    ]


def _race_triage(store: Store, fingerprint: str) -> list[bool]:
    start = threading.Barrier(CLAIMS)

    def claim(n: int) -> bool:
        start.wait()
        with store.session() as session:
            return CiRepo(session).claim_triage(
                "o/r", fingerprint, key=f"inc-{n}", at=NOW, stale_after=stale_opening(30)
            )

    with ThreadPoolExecutor(CLAIMS) as pool:
        return list(pool.map(claim, range(CLAIMS)))


def test_concurrent_openings_of_one_fingerprints_issue_are_claimed_once(store: Store) -> None:
    assert sorted(_race_triage(store, "fresh")) == [False] * (CLAIMS - 1) + [True]
    with store.session() as session:
        CiRepo(session).save_triage("o/r", "forgotten", at=NOW, body={"note": "issue deleted"})
    assert sorted(_race_triage(store, "forgotten")) == [False] * (CLAIMS - 1) + [True]


def test_concurrent_updates_of_one_issue_keep_every_change(store: Store) -> None:
    """Each incident read the row, worked on GitHub, then wrote back what it had read: the
    other's comment was forgotten (so its retry commented twice), and a person's close
    noted meanwhile was overwritten."""
    with store.session() as session:
        CiRepo(session).save_triage("o/r", "busy", at=NOW, issue_number=7, body={})
    start = threading.Barrier(CLAIMS)

    def comment(n: int) -> int:
        start.wait()
        with store.session() as session:
            return CiRepo(session).update_triage(
                "o/r", "busy", at=NOW, issue_number=7, changes={}, commenter=f"inc-{n}"
            )

    with ThreadPoolExecutor(CLAIMS) as pool:
        assert list(pool.map(comment, range(CLAIMS))) == [7] * CLAIMS
    with store.session() as session:
        repo = CiRepo(session)
        row = repo.triage("o/r", "busy")
        assert row is not None
        repo.save_triage("o/r", "busy", at=NOW, body={**row.body, "state": "closed"})
    with store.session() as session:
        CiRepo(session).update_triage(
            "o/r", "busy", at=NOW, issue_number=7, changes={"title": "t"}, commenter="late"
        )
    with store.session() as session:
        row = CiRepo(session).triage("o/r", "busy")
        assert row is not None
        assert sorted(row.body["commented_by"]) == sorted(
            [f"inc-{n}" for n in range(CLAIMS)] + ["late"]
        )
        assert (row.body["state"], row.body["title"]) == ("closed", "t")


def test_a_person_closing_the_issue_keeps_what_the_keeper_wrote_meanwhile(store: Store) -> None:
    """The ``issues`` delivery reads the row, the keeper records a comment, then the close
    is noted: the close touches the state alone (it wrote back the row as read)."""
    with store.session() as session:
        CiRepo(session).save_triage("o/r", "closing", at=NOW, issue_number=7, body={})
    with store.session() as delivery:
        repo = CiRepo(delivery)
        read = repo.triage_by_issue("o/r", 7)
        assert read is not None
        with store.session() as keeper:
            CiRepo(keeper).update_triage(
                "o/r", "closing", at=NOW, issue_number=7, changes={}, commenter="inc-1"
            )
        assert repo.note_issue("o/r", read.fingerprint, at=NOW, issue_number=7, state="closed")
        assert not repo.note_issue("o/r", read.fingerprint, at=NOW, issue_number=8, forget=True)
    with store.session() as session:
        row = CiRepo(session).triage("o/r", "closing")
        assert row is not None
        assert (row.body, row.issue_number) == ({"state": "closed", "commented_by": ["inc-1"]}, 7)


def test_a_second_issue_does_not_replace_the_one_recorded(store: Store) -> None:
    """The holder of a claim taken over as stale comes back with its own issue: the row
    keeps the one recorded first, and says so."""
    with store.session() as session:
        repo = CiRepo(session)
        assert repo.claim_triage("o/r", "twice", key="slow", at=NOW, stale_after=stale_opening(30))
    later = NOW + stale_opening(30) * 2
    with store.session() as session:
        repo = CiRepo(session)
        assert repo.claim_triage(
            "o/r", "twice", key="next", at=later, stale_after=stale_opening(30)
        )
        assert not repo.renew_triage_claim("o/r", "twice", key="slow", at=later)
        assert repo.renew_triage_claim("o/r", "twice", key="next", at=later)
        assert repo.update_triage("o/r", "twice", at=later, issue_number=1, changes={}) == 1
    with store.session() as session:
        repo = CiRepo(session)
        assert repo.update_triage("o/r", "twice", at=later, issue_number=2, changes={}) == 1
        row = repo.triage("o/r", "twice")
        assert row is not None
        assert row.issue_number == 1
        assert "opening" not in row.body


def test_concurrent_spenders_of_the_budget_lose_no_call_and_overspend_none(store: Store) -> None:
    """``vanguard up``, its workers and a cron poller spend one budget: each spend is a
    read and a write under the row's lock, the first one's insert included, so none is
    lost and the cap is never passed."""
    cap = CLAIMS * 3
    limits = ApiBudget(calls_per_hour=cap)
    start = threading.Barrier(CLAIMS)

    def spend(_: int) -> list[int]:
        start.wait()
        spent: list[int] = []
        for _ in range(4):
            with store.session() as session:
                budget = CiRepo(session).change_budget(
                    "https://api.github.com",
                    limits,
                    lambda b: b.spend(NOW) if b.check(NOW).allowed else b,
                    at=NOW,
                )
            spent.append(budget.used)
        return spent

    with ThreadPoolExecutor(CLAIMS) as pool:
        seen = [used for spent in pool.map(spend, range(CLAIMS)) for used in spent]
    with store.session() as session:
        kept = CiRepo(session).budget("https://api.github.com", limits, at=NOW)
    assert kept.used == cap
    assert sorted(seen) == [*range(1, cap + 1), *[cap] * CLAIMS], "no two spent one call"


def test_concurrent_first_saves_of_an_etag_keep_one(store: Store) -> None:
    start = threading.Barrier(CLAIMS)

    def save(n: int) -> None:
        start.wait()
        with store.session() as session:
            CiRepo(session).save_poll_etag("o/raced", f'W/"{n}"', at=NOW)

    with ThreadPoolExecutor(CLAIMS) as pool:
        list(pool.map(save, range(CLAIMS)))
    with store.session() as session:
        assert CiRepo(session).poll_etag("o/raced") in {f'W/"{n}"' for n in range(CLAIMS)}


def test_the_strictest_settings_hold_and_a_wait_is_cleared(store: Store) -> None:
    """What ``vanguard ci budget --clear-block`` and the settings of each process do to the
    row, on PostgreSQL's own timestamps."""
    api = "https://ghe.example.com/api/v3"
    strict, loose = ApiBudget(calls_per_hour=100, reserve=20), ApiBudget(calls_per_hour=1000)
    with store.session() as session:
        CiRepo(session).change_budget(
            api, strict, lambda b: b.observe(NOW, 429, {"Retry-After": "600"}), at=NOW
        )
    with store.session() as session:
        held = CiRepo(session).change_budget(api, loose, lambda b: b.spend(NOW), at=NOW)
        cleared = CiRepo(session).clear_budget_blocks(at=NOW)
    with store.read_session() as session:
        kept = dict(CiRepo(session).kept_budgets())[api]
    assert (held.calls_per_hour, held.reserve) == (100, 20)
    assert api in cleared
    assert (kept.calls_per_hour, kept.reserve, kept.used) == (100, 20, 1)
    assert (kept.blocked_until, kept.blocked_reason) == (None, "")
