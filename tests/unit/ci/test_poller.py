"""The poller: conditional listings, runs already known are skipped, failures isolated."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

import vanguard.store.database as database
from tests.unit.ci.test_client import _api
from vanguard.ci.client import GithubkitApi, MemoryGitHub, RunsPage, StoredBudget
from vanguard.ci.config import GitHubConfig, PollConfig
from vanguard.ci.events import WorkflowJob, WorkflowRun
from vanguard.ci.health import health_figures
from vanguard.ci.intake import POLL_RETRY_AFTER, CiIntake
from vanguard.ci.poller import poll_once
from vanguard.ci.records import CiRepo
from vanguard.errors import AdapterError
from vanguard.model import Alert
from vanguard.store import Store, default_store_url, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parents[2] / "fixtures" / "github"
LOG = (FIXTURES / "logs" / "compile_rust.log").read_bytes()


class Starter:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        self.alerts.append(alert)
        return f"inc-{len(self.alerts)}", True


class Github(MemoryGitHub):
    def list_runs(self, repository: str, *, etag: str | None, per_page: int) -> RunsPage:
        if repository == "down/repo":
            raise AdapterError("GitHub API budget: spent")
        return super().list_runs(repository, etag=etag, per_page=per_page)


async def test_poll_handles_new_runs_once_and_respects_etags(store: Store) -> None:
    github = Github()
    github.runs[("o/r", 1)] = WorkflowRun(
        id=1, head_sha="a", status="completed", conclusion="failure", updated_at=NOW
    )
    github.runs[("o/r", 2)] = WorkflowRun(
        id=2, head_sha="b", status="completed", conclusion="success", updated_at=NOW
    )
    github.runs[("o/r", 3)] = WorkflowRun(id=3, head_sha="c", status="in_progress")
    github.jobs[("o/r", 1)] = [
        WorkflowJob(id=10, run_id=1, status="completed", conclusion="failure")
    ]
    github.logs[("o/r", 10)] = LOG
    config = GitHubConfig(repositories=("o/r", "down/repo"))
    starter = Starter()
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)

    first = await poll_once(github, intake, config)
    assert first.outcomes["o/r"] == "3 run(s) listed, 2 new"
    assert first.outcomes["down/repo"].startswith("skipped: GitHub API budget")
    assert first.skipped == ("down/repo",)
    assert [a.labels["heal"] for a in starter.alerts] == ["triage"]

    second = await poll_once(github, intake, config)
    assert second.outcomes["o/r"] == "not modified"

    github.etags["o/r"] = "v1"
    third = await poll_once(github, intake, config)
    assert third.outcomes["o/r"] == "3 run(s) listed, 0 new"
    assert len(starter.alerts) == 1


def _etag(store: Store, repository: str) -> str | None:
    with store.session() as session:
        return CiRepo(session).poll_etag(repository)


class DownStarter(Starter):
    down = True

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        if self.down:
            raise ConnectionRefusedError("temporal: tcp connect error")
        return await super().__call__(alert)


async def test_a_run_that_could_not_be_handled_is_listed_again_next_poll(store: Store) -> None:
    github = Github()
    github.etags["o/r"] = "v1"
    github.runs[("o/r", 1)] = WorkflowRun(
        id=1, head_sha="a", status="completed", conclusion="failure", updated_at=NOW
    )
    github.jobs[("o/r", 1)] = [
        WorkflowJob(id=10, run_id=1, status="completed", conclusion="failure")
    ]
    github.logs[("o/r", 10)] = LOG
    config = GitHubConfig(repositories=("o/r",))
    starter = DownStarter()
    now = [NOW]
    intake = CiIntake(store, github, config, starter, clock=lambda: now[0])

    first = await poll_once(github, intake, config)
    assert first.outcomes["o/r"] == "1 run(s) listed, 1 new, 1 failed (listed again next time)"
    assert _etag(store, "o/r") is None
    starter.down = False
    soon = await poll_once(github, intake, config)
    assert soon.outcomes["o/r"] == (
        "1 run(s) listed, 0 new, 1 not handled yet (listed again next time)"
    ), "its logs are not read again on every poll"
    assert _etag(store, "o/r") is None
    now[0] = NOW + POLL_RETRY_AFTER
    second = await poll_once(github, intake, config)
    assert second.outcomes["o/r"] == "1 run(s) listed, 1 new"
    assert _etag(store, "o/r") == "v1"
    assert len(starter.alerts) == 1
    third = await poll_once(github, intake, config)
    assert third.outcomes["o/r"] == "not modified"


async def test_a_run_another_poller_is_handling_keeps_the_listing_uncached(store: Store) -> None:
    """A poll delivery still 'received' (a poller that died, or one running now)."""
    github = Github()
    github.etags["o/r"] = "v1"
    github.runs[("o/r", 2)] = WorkflowRun(
        id=2, head_sha="a", status="completed", conclusion="failure", updated_at=NOW
    )
    config = GitHubConfig(repositories=("o/r",))
    intake = CiIntake(store, github, config, Starter(), clock=lambda: NOW)
    with store.session() as session:
        CiRepo(session).claim_delivery(
            "poll:o/r:2:1",
            event="workflow_run",
            action="completed",
            repository="o/r",
            at=NOW,
            status="received",
            reason="found by polling",
        )
    with store.session() as session:
        CiRepo(session).save_poll_etag("o/r", "v0", at=NOW)
    report = await poll_once(github, intake, config)
    assert report.outcomes["o/r"].endswith("1 not handled yet (listed again next time)")
    assert _etag(store, "o/r") is None, "the ETag it was listed with is forgotten too"


async def test_a_workflow_without_a_run_name_is_one_report_row_delivered_or_polled(
    store: Store,
) -> None:
    """A delivery names the run from its ``workflow`` object, the poller from the workflow.

    GitHub is ``test_client``'s in-process stand-in (an httpx ``MockTransport``), a unit
    test's way to list a run without a name and answer the workflow's lookup.
    """
    delivered = json.loads(
        (FIXTURES / "payloads" / "workflow_run.completed.success.json").read_text()
    )
    repository = delivered["repository"]["full_name"]
    workflow = delivered["workflow"]
    polled = dict(delivered["workflow_run"], id=delivered["workflow_run"]["id"] + 1)
    assert delivered["workflow_run"]["name"] == polled["name"] == ""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"/actions/workflows/{workflow['id']}"):
            return httpx.Response(200, json=workflow)
        return httpx.Response(200, json={"workflow_runs": [polled]})

    api = _api(handler)
    config = GitHubConfig(repositories=(repository,))
    intake = CiIntake(store, api, config, Starter(), clock=lambda: NOW)

    assert (await intake.receive("d", "workflow_run", json.dumps(delivered).encode())).status == (
        "accepted"
    )
    report = await poll_once(api, intake, config)
    assert report.outcomes[repository] == "1 run(s) listed, 1 new"
    with store.session() as session:
        attempts = CiRepo(session).attempts()
    assert len(attempts) == 2
    assert [f.workflow for f in health_figures(attempts)] == ["test"]


def _cron_poll(
    store: Store,
    config: GitHubConfig,
    handler: Callable[[httpx.Request], httpx.Response],
    now: datetime,
) -> tuple[GithubkitApi, CiIntake]:
    """What one ``vanguard ci poll --once`` from cron holds: a client, its budget and an
    intake of its own, with nothing of an earlier run but the store."""
    budget = StoredBudget(store, config.model_copy(), clock=lambda: now)
    api = _api(handler, budget, clock=lambda: now)
    return api, CiIntake(store, api, config, Starter(), clock=lambda: now)


async def test_a_poll_from_cron_lists_conditionally_and_pays_nothing_for_a_304(
    store: Store,
) -> None:
    """Each ``--once`` started with no ETag: every listing was paid for, every run."""
    sent: list[httpx.Request] = []
    run = {"id": 5, "name": "ci", "head_sha": "a", "status": "completed", "conclusion": "success"}

    def github(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.headers.get("If-None-Match") == 'W/"v1"':
            return httpx.Response(304, headers={"ETag": 'W/"v1"'})
        return httpx.Response(200, headers={"ETag": 'W/"v1"'}, json={"workflow_runs": [run]})

    config = GitHubConfig(repositories=("o/r",), poll=PollConfig(calls_per_hour=10, reserve=0))
    api, intake = _cron_poll(store, config, github, NOW)
    first = await poll_once(api, intake, config)
    assert first.outcomes["o/r"] == "1 run(s) listed, 1 new"
    assert api.budget.used == 1

    api, intake = _cron_poll(store, config, github, NOW + timedelta(minutes=5))
    second = await poll_once(api, intake, config)
    assert second.outcomes["o/r"] == "not modified"
    assert sent[1].headers["If-None-Match"] == 'W/"v1"'
    assert api.budget.used == 1, "GitHub does not charge a 304, nor does the budget"


async def test_a_retry_after_one_poll_was_told_holds_the_next_back_until_it_passes(
    store: Store,
) -> None:
    """A new process forgot GitHub's wait and called again, which GitHub may answer by
    banning the integration."""
    sent: list[httpx.Request] = []

    def github(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if len(sent) == 1:
            return httpx.Response(
                429, headers={"Retry-After": "120"}, json={"message": "slow down"}
            )
        return httpx.Response(200, headers={"ETag": 'W/"v1"'}, json={"workflow_runs": []})

    config = GitHubConfig(repositories=("o/r",))
    api, intake = _cron_poll(store, config, github, NOW)
    told = await poll_once(api, intake, config)
    assert told.outcomes["o/r"].startswith("skipped: GitHub GET /repos/o/r/actions/runs: HTTP 429")

    api, intake = _cron_poll(store, config, github, NOW + timedelta(seconds=60))
    held = await poll_once(api, intake, config)
    assert held.outcomes["o/r"] == (
        "skipped: GitHub API budget: GitHub asked us to wait: Retry-After 120 s (HTTP 429); "
        f"retry at {(NOW + timedelta(seconds=120)).isoformat()}"
    )
    assert len(sent) == 1

    api, intake = _cron_poll(store, config, github, NOW + timedelta(seconds=120))
    after = await poll_once(api, intake, config)
    assert after.outcomes["o/r"] == "0 run(s) listed, 0 new"
    assert len(sent) == 2


class DyingStarter(Starter):
    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        raise KeyboardInterrupt


async def test_a_poller_that_dies_while_handling_keeps_the_etag_it_listed_with(
    store: Store,
) -> None:
    """The new ETag is kept only once the page is handled, so the run is listed again."""
    github = Github()
    github.etags["o/r"] = "v1"
    github.runs[("o/r", 1)] = WorkflowRun(
        id=1, head_sha="a", status="completed", conclusion="failure", updated_at=NOW
    )
    github.jobs[("o/r", 1)] = [
        WorkflowJob(id=10, run_id=1, status="completed", conclusion="failure")
    ]
    github.logs[("o/r", 10)] = LOG
    with store.session() as session:
        CiRepo(session).save_poll_etag("o/r", "v0", at=NOW)
    config = GitHubConfig(repositories=("o/r",))
    dying = CiIntake(store, github, config, DyingStarter(), clock=lambda: NOW)
    with pytest.raises(KeyboardInterrupt):
        await poll_once(github, dying, config)
    assert _etag(store, "o/r") == "v0"

    starter = Starter()
    later = CiIntake(store, github, config, starter, clock=lambda: NOW + POLL_RETRY_AFTER)
    report = await poll_once(github, later, config)
    assert report.outcomes["o/r"] == "1 run(s) listed, 1 new"
    assert len(starter.alerts) == 1
    assert _etag(store, "o/r") == "v1"


async def test_an_absurd_retry_after_skips_the_repositories_not_the_poll(store: Store) -> None:
    """A wait past what a datetime holds raised OverflowError and ended ``vanguard ci poll``."""

    def github(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": str(10**12)}, json={})

    config = GitHubConfig(repositories=("o/r", "o/s"))
    api, intake = _cron_poll(store, config, github, NOW)
    report = await poll_once(api, intake, config)
    assert report.skipped == ("o/r", "o/s")
    assert report.outcomes["o/r"].startswith(
        "skipped: GitHub GET /repos/o/r/actions/runs: HTTP 429"
    )
    assert report.outcomes["o/s"] == (
        "skipped: GitHub API budget: GitHub asked us to wait: Retry-After 1000000000000 s "
        "(HTTP 429), capped at 3600 s by this host's clock; "
        f"retry at {(NOW + timedelta(hours=1)).isoformat()}"
    )


async def test_a_store_that_cannot_be_read_skips_each_repository(store: Store) -> None:
    config = GitHubConfig(repositories=("o/r", "o/s"))
    github = Github()
    intake = CiIntake(store, github, config, Starter(), clock=lambda: NOW)
    store.close()
    report = await poll_once(github, intake, config)
    assert report.skipped == ("o/r", "o/s")
    assert report.outcomes["o/r"].startswith("skipped: store: store sqlite:")


async def test_a_busy_store_neither_holds_the_etag_read_nor_ends_the_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock (a long prune): the ETag is read without it,
    and one that cannot be saved costs the next poll a listing, not this poll its end."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = default_store_url(tmp_path)
    store = open_store(url)
    with store.session() as session:
        CiRepo(session).save_poll_etag("o/r", "v0", at=NOW)
    github = Github()
    github.etags["o/r"] = "v1"
    config = GitHubConfig(repositories=("o/r",))
    intake = CiIntake(store, github, config, Starter(), clock=lambda: NOW)
    seen: list[str | None] = []
    listed = github.list_runs

    def list_runs(repository: str, *, etag: str | None, per_page: int) -> RunsPage:
        seen.append(etag)
        return listed(repository, etag=etag, per_page=per_page)

    monkeypatch.setattr(github, "list_runs", list_runs)
    try:
        with closing(sqlite3.connect(make_url(url).database or "", isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")
            report = await poll_once(github, intake, config)
            other.execute("ROLLBACK")
        assert seen == ["v0"]
        assert report.outcomes["o/r"].startswith(
            "0 run(s) listed, 0 new; its ETag could not be kept (store: "
        )
        assert report.outcomes["o/r"].endswith("): listed again next time")
        assert report.skipped == ()
        assert _etag(store, "o/r") == "v0"
    finally:
        store.close()
