"""The intake over an in-memory GitHub and a SQLite store: storms, commands, redelivery."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import vanguard.ci.reading as reading_module
from tests.unit.ci.test_client import _api, _collaborator
from vanguard.ci.client import MemoryGitHub
from vanguard.ci.config import GitHubConfig, HealingConfig, TriageConfig
from vanguard.ci.events import WorkflowJob, WorkflowRun
from vanguard.ci.health import AttemptRecord
from vanguard.ci.intake import CiIntake
from vanguard.ci.poller import poll_once
from vanguard.ci.records import STALE_RECEIVED, CiRepo
from vanguard.ci.tables import CiAttemptRow
from vanguard.ci.triage import RunLink, render_comment
from vanguard.diagnose import cilog
from vanguard.errors import ActionFailed, AdapterError
from vanguard.model import Alert
from vanguard.store import Store

FIXTURES = Path(__file__).parents[2] / "fixtures" / "github"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Starter:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        new = all(a.alert_id != alert.alert_id for a in self.alerts)
        self.alerts.append(alert)
        return f"inc-{len(self.alerts)}", new


@pytest.fixture
def github() -> MemoryGitHub:
    return MemoryGitHub()


@pytest.fixture
def starter() -> Starter:
    return Starter()


def _intake(
    store: Store,
    github: MemoryGitHub,
    starter: Starter,
    outage_repository: str | None = None,
    **triage: Any,
) -> CiIntake:
    config = GitHubConfig(
        healing=HealingConfig(
            storm_repositories=3, storm_window_s=900, outage_repository=outage_repository
        ),
        triage=TriageConfig(**triage),
    )
    return CiIntake(store, github, config, starter, clock=lambda: NOW)


def _failed_run_body(
    github: MemoryGitHub, repo: str, run_id: int, log: str, attempt: int = 1
) -> bytes:
    body: dict[str, Any] = json.loads(
        (FIXTURES / "payloads" / "workflow_run.completed.failure.json").read_text()
    )
    body["repository"]["full_name"] = repo
    body["workflow_run"]["head_repository"]["full_name"] = repo
    body["workflow_run"].update(
        {"id": run_id, "run_attempt": attempt, "updated_at": NOW.isoformat()}
    )
    run = WorkflowRun.model_validate(body["workflow_run"])
    github.runs[(repo, run_id)] = run
    github.jobs[(repo, run_id)] = [
        WorkflowJob(id=run_id * 10, run_id=run_id, status="completed", conclusion="failure")
    ]
    github.logs[(repo, run_id * 10)] = (FIXTURES / "logs" / f"{log}.log").read_bytes()
    return json.dumps(body).encode()


@pytest.mark.parametrize("hub", [None, "acme/ci-status"])
async def test_same_failure_in_many_repositories_is_one_outage(
    store: Store, github: MemoryGitHub, starter: Starter, hub: str | None
) -> None:
    intake = _intake(store, github, starter, outage_repository=hub)
    for n, repo in enumerate(["a/one", "b/two", "c/three", "d/four"]):
        body = _failed_run_body(github, repo, 100 + n, "network_econnreset")
        result = await intake.receive(f"d{n}", "workflow_run", body)
        assert result.status == "accepted", result.reason
    heals = [a.labels["heal"] for a in starter.alerts]
    assert heals == ["rerun", "rerun", "outage", "outage"]
    outage_ids = {a.alert_id for a in starter.alerts[2:]}
    assert len(outage_ids) == 1
    assert starter.alerts[3].attributes["outage_repositories"] == [
        "a/one",
        "b/two",
        "c/three",
        "d/four",
    ]
    filed_in = {a.service_name for a in starter.alerts[2:]}
    assert filed_in == {hub or "a/one"}, "the outage's issue goes where it was told to"


async def test_retries_stop_at_the_attempt_limit(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 7, "network_econnreset", attempt=3)
    await intake.receive("d", "workflow_run", body)
    (alert,) = starter.alerts
    assert alert.labels["heal"] == "triage"


def _triage_issue(store: Store, repo: str, fingerprint: str, number: int) -> None:
    with store.session() as session:
        CiRepo(session).save_triage(repo, fingerprint, at=NOW, issue_number=number)


async def _compile_failure_with_issue(
    intake: CiIntake, store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """Run 1 of o/r failed to compile; its fingerprint has triage issue #5."""
    await intake.receive("d1", "workflow_run", _failed_run_body(github, "o/r", 1, "compile_rust"))
    _triage_issue(store, "o/r", starter.alerts[0].labels["fingerprint"], 5)


def _comment(repo: str, number: int, login: str, text: str) -> bytes:
    body: dict[str, Any] = json.loads(
        (FIXTURES / "payloads" / "issue_comment.created.json").read_text()
    )
    body["repository"]["full_name"] = repo
    body["issue"]["number"] = number
    body["comment"]["user"]["login"] = login
    body["comment"]["body"] = text
    return json.dumps(body).encode()


def _outage_comment(repo: str, number: int, login: str, text: str) -> bytes:
    """A comment on an outage's issue (labelled ``ci:outage``, as Vanguard opens it)."""
    body: dict[str, Any] = json.loads(_comment(repo, number, login, text))
    body["issue"]["labels"] = [{"name": "vanguard"}, {"name": "ci:outage"}]
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("hub", "labelled"), [(None, True), ("acme/ci-status", True), ("acme/ci-status", False)]
)
async def test_ignore_on_an_outage_issue_stops_the_outage_and_retry_there_reruns_nothing(
    store: Store, github: MemoryGitHub, starter: Starter, hub: str | None, labelled: bool
) -> None:
    """The ignore used to be saved where nothing fails and was read after the storm: the
    reply said "no longer re-run" and every later failure still commented on the issue.
    An outage's issue is known by its label, or by the title Vanguard gave it."""
    intake = _intake(store, github, starter, outage_repository=hub, authorised_users=("lead",))
    for n, repo in enumerate(["a/one", "b/two", "c/three"]):
        body = _failed_run_body(github, repo, 100 + n, "network_econnreset")
        await intake.receive(f"d{n}", "workflow_run", body)
    outage = starter.alerts[-1]
    assert outage.labels["heal"] == "outage"
    home, fingerprint = outage.service_name, outage.labels["fingerprint"]
    title = {"title": "[vanguard] CI outage: network_transient: ECONNRESET"}
    with store.session() as session:
        CiRepo(session).save_triage(home, fingerprint, at=NOW, issue_number=9, body=title)
    command = _outage_comment if labelled else _comment
    said = await intake.receive("c1", "issue_comment", command(home, 9, "lead", "/vanguard ignore"))
    assert said.status == "accepted", said.reason
    assert f"the outage of {fingerprint} is ignored" in said.reason
    started = len(starter.alerts)
    for n, repo in enumerate(["d/four", "b/two"]):
        body = _failed_run_body(github, repo, 200 + n, "network_econnreset")
        later = await intake.receive(f"e{n}", "workflow_run", body)
        assert later.status == "accepted", later.reason
        assert "ignored" in later.reason
    assert len(starter.alerts) == started, "no comment on the outage issue, no re-run"

    retry = await intake.receive("c2", "issue_comment", command(home, 9, "lead", "/vanguard retry"))
    assert retry.status == "accepted", retry.reason
    assert "ignore is lifted; nothing is re-run" in retry.reason
    assert len(starter.alerts) == started
    again = await intake.receive(
        "e9", "workflow_run", _failed_run_body(github, "e/five", 300, "network_econnreset")
    )
    assert starter.alerts[-1].labels["heal"] == "outage", again.reason


async def test_ignore_from_an_authorised_user_stops_reruns(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter)
    await intake.receive(
        "d1", "workflow_run", _failed_run_body(github, "o/r", 1, "network_econnreset")
    )
    fingerprint = starter.alerts[0].labels["fingerprint"]
    _triage_issue(store, "o/r", fingerprint, 12)
    github.permissions[("o/r", "maintainer")] = "write"
    result = await intake.receive(
        "c1", "issue_comment", _comment("o/r", 12, "maintainer", "/vanguard ignore")
    )
    assert result.status == "accepted", result.reason
    again = await intake.receive(
        "d2", "workflow_run", _failed_run_body(github, "o/r", 2, "network_econnreset")
    )
    assert again.status == "accepted"
    assert "ignored" in again.reason
    assert len(starter.alerts) == 1


async def test_commands_from_unauthorised_users_are_refused(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter)
    await _compile_failure_with_issue(intake, store, github, starter)
    github.permissions[("o/r", "drive-by")] = "read"
    result = await intake.receive(
        "c1", "issue_comment", _comment("o/r", 5, "drive-by", "/vanguard retry")
    )
    assert result.status == "ignored"
    assert "refused" in result.reason
    assert len(starter.alerts) == 1


async def test_retry_from_a_listed_user_starts_a_rerun_of_the_latest_failure(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter, authorised_users=("lead",))
    await _compile_failure_with_issue(intake, store, github, starter)
    result = await intake.receive(
        "c1", "issue_comment", _comment("o/r", 5, "lead", "/vanguard retry")
    )
    assert result.status == "accepted", result.reason
    retry = starter.alerts[-1]
    assert retry.labels["heal"] == "rerun"
    assert retry.labels["requested_by"] == "lead"
    assert retry.labels["run_id"] == "1"


async def test_an_authorised_retry_asks_github_for_the_commenters_permission_once(
    store: Store, starter: Starter
) -> None:
    """One ``/vanguard retry`` is one permission look-up, counted on the wire: GitHub is
    ``test_client``'s stand-in, an httpx ``MockTransport``."""
    with store.session() as session:
        CiRepo(session).record_attempt(
            AttemptRecord(
                repository="o/r",
                workflow="ci",
                run_id=1,
                run_attempt=1,
                head_sha="a",
                conclusion="failure",
                at=NOW,
            ),
            category="compile",
            fingerprint="fp",
            handled=True,
        )
    _triage_issue(store, "o/r", "fp", 5)
    sent: list[str] = []
    answer = _collaborator("write", "write")

    def github(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        return answer(request)

    intake = CiIntake(store, _api(github), GitHubConfig(), starter, clock=lambda: NOW)
    result = await intake.receive(
        "c1", "issue_comment", _comment("o/r", 5, "maintainer", "/vanguard retry")
    )
    assert result.status == "accepted", result.reason
    assert starter.alerts[-1].labels["requested_by"] == "maintainer"
    assert sent == ["GET /repos/o/r/collaborators/maintainer/permission"]


async def test_comments_elsewhere_are_ignored(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter, authorised_users=("lead",))
    plain = await intake.receive("c1", "issue_comment", _comment("o/r", 5, "lead", "looks good"))
    stray = await intake.receive(
        "c2", "issue_comment", _comment("o/r", 99, "lead", "/vanguard retry")
    )
    assert plain.status == "ignored"
    assert stray.status == "ignored"
    assert "not a Vanguard triage issue" in stray.reason


class FlakyApi(MemoryGitHub):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    def run_jobs(
        self, repository: str, run_id: int, *, attempt: int | None = None
    ) -> list[WorkflowJob]:
        if self.down:
            raise AdapterError("GitHub is unreachable")
        return super().run_jobs(repository, run_id, attempt=attempt)


async def test_failed_handling_is_recorded_and_a_redelivery_is_processed(
    store: Store, starter: Starter
) -> None:
    github = FlakyApi()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 3, "network_econnreset")
    first = await intake.receive("d", "workflow_run", body)
    assert first.status == "failed"
    assert "unreachable" in first.reason
    github.down = False
    second = await intake.receive("d", "workflow_run", body)
    assert second.status == "accepted"
    third = await intake.receive("d", "workflow_run", body)
    assert third.status == "duplicate"
    assert len(starter.alerts) == 1


async def test_successful_runs_are_recorded_for_health(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter)
    body = (FIXTURES / "payloads" / "workflow_run.completed.success.json").read_bytes()
    result = await intake.receive("d", "workflow_run", body)
    assert result.status == "accepted"
    with store.session() as session:
        (attempt,) = CiRepo(session).attempts()
    assert attempt.conclusion == "success"
    assert starter.alerts == []


def _issue_event(repo: str, number: int, action: str) -> bytes:
    body: dict[str, Any] = json.loads((FIXTURES / "payloads" / "issues.opened.json").read_text())
    body["repository"]["full_name"] = repo
    body["issue"]["number"] = number
    body["action"] = action
    return json.dumps(body).encode()


async def test_closing_or_deleting_a_triage_issue_is_remembered(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter)
    _triage_issue(store, "o/r", "fp", 8)
    closed = await intake.receive("i1", "issues", _issue_event("o/r", 8, "closed"))
    assert closed.status == "accepted"
    with store.session() as session:
        row = CiRepo(session).triage("o/r", "fp")
        assert row is not None
        assert row.body["state"] == "closed"
    deleted = await intake.receive("i2", "issues", _issue_event("o/r", 8, "deleted"))
    assert "forgotten" in deleted.reason
    with store.session() as session:
        row = CiRepo(session).triage("o/r", "fp")
        assert row is not None
        assert row.issue_number is None
    other = await intake.receive("i3", "issues", _issue_event("o/r", 99, "closed"))
    assert other.status == "ignored"


class BrokenStarter(Starter):
    """Fails the way a Temporal client or a database driver does: not a ``VanguardError``."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        if self.broken:
            raise RuntimeError("temporal: connection refused")
        return await super().__call__(alert)


async def test_any_error_settles_the_delivery_as_failed_and_a_redelivery_is_processed(
    store: Store, github: MemoryGitHub
) -> None:
    starter = BrokenStarter()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 4, "network_econnreset")
    first = await intake.receive("d", "workflow_run", body)
    assert first.status == "failed"
    assert "RuntimeError: temporal: connection refused" in first.reason
    with store.session() as session:
        row = CiRepo(session).delivery("d")
        assert row is not None
        assert (row.status, row.reason) == ("failed", first.reason)
    starter.broken = False
    second = await intake.receive("d", "workflow_run", body)
    assert second.status == "accepted", second.reason
    assert len(starter.alerts) == 1


class GatedStarter(Starter):
    """Holds every start until released, so two deliveries can be in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        await self.release.wait()
        return await super().__call__(alert)


async def test_of_two_concurrent_redeliveries_of_a_failed_delivery_one_is_processed(
    store: Store,
) -> None:
    github = FlakyApi()
    starter = GatedStarter()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 5, "network_econnreset")
    assert (await intake.receive("d", "workflow_run", body)).status == "failed"
    github.down = False
    first = intake.start_receiving("d", "workflow_run", body)
    second = intake.start_receiving("d", "workflow_run", body)
    await asyncio.sleep(0.2)
    starter.release.set()
    results = sorted([(await first).status, (await second).status])
    assert results == ["accepted", "duplicate"]
    assert len(starter.alerts) == 1


async def test_close_waits_for_deliveries_still_being_handled(
    store: Store, github: MemoryGitHub
) -> None:
    starter = GatedStarter()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 6, "network_econnreset")
    intake.start_receiving("d", "workflow_run", body)
    await asyncio.sleep(0.1)
    assert intake.pending == 1
    closing = asyncio.ensure_future(intake.close())
    await asyncio.sleep(0.1)
    assert not closing.done()
    starter.release.set()
    await closing
    assert intake.pending == 0
    with store.session() as session:
        row = CiRepo(session).delivery("d")
        assert row is not None
        assert row.status == "accepted"


async def test_a_cancelled_handling_is_recorded_as_failed(
    store: Store, github: MemoryGitHub
) -> None:
    starter = GatedStarter()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 8, "network_econnreset")
    task = intake.start_receiving("d", "workflow_run", body)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with store.session() as session:
        row = CiRepo(session).delivery("d")
        assert row is not None
        assert (row.status, row.reason) == ("failed", "interrupted before handling ended")
    starter.release.set()
    again = await intake.receive("d", "workflow_run", body)
    assert again.status == "accepted"


async def test_a_polled_run_whose_handling_fails_is_settled_as_failed(
    store: Store, github: MemoryGitHub
) -> None:
    starter = BrokenStarter()
    intake = _intake(store, github, starter)
    _failed_run_body(github, "o/r", 9, "network_econnreset")
    result = await intake.receive_polled_run("o/r", "main", github.runs[("o/r", 9)])
    assert result is not None
    assert result.status == "failed"
    with store.session() as session:
        row = CiRepo(session).delivery(result.delivery_id)
        assert row is not None
        assert (row.status, row.reason) == ("failed", result.reason)


@pytest.mark.parametrize(("setting", "model"), [("builtin", "builtin"), ("none", None)])
async def test_line_model_setting_reaches_the_explanation(
    store: Store,
    github: MemoryGitHub,
    starter: Starter,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    model: str | None,
) -> None:
    seen: list[object] = []
    real = cilog.explain

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("model", "builtin"))
        return real(*args, **kwargs)

    monkeypatch.setattr(reading_module, "explain", spy)
    config = GitHubConfig.model_validate({"line_model": setting})
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)
    body = _failed_run_body(github, "o/r", 9, "network_econnreset")
    result = await intake.receive("d-model", "workflow_run", body)
    assert result.status == "accepted", result.reason
    assert seen == [model]


CILOGS = Path(__file__).parents[2] / "fixtures" / "cilogs"
STALE_DIST = (CILOGS / "github_actions_stale_dist.log").read_bytes()
"""A stale build output fails the job below a registry warning that every run prints."""
PASSING_DIST = (CILOGS / "github_actions_stale_dist_passing.log").read_bytes()
JOB_URL = "https://github.com/o/r/actions/runs/400/job/4000"


def _stale_dist_run(github: MemoryGitHub, *, branch: str = "master") -> bytes:
    body: dict[str, Any] = json.loads(
        (FIXTURES / "payloads" / "workflow_run.completed.failure.json").read_text()
    )
    body["repository"]["full_name"] = "o/r"
    body["workflow_run"].update({"id": 501, "head_branch": branch, "updated_at": NOW.isoformat()})
    run = WorkflowRun.model_validate(body["workflow_run"])
    github.runs[("o/r", 501)] = run
    github.jobs[("o/r", 501)] = [
        WorkflowJob(id=5010, run_id=501, name="build", status="completed", conclusion="failure")
    ]
    github.logs[("o/r", 5010)] = STALE_DIST
    return json.dumps(body).encode()


def _passing_run(
    github: MemoryGitHub, *, branch: str, job_name: str = "build", built: str = "o/r"
) -> None:
    github.runs[("o/r", 400)] = WorkflowRun.model_validate(
        {
            "id": 400,
            "workflow_id": 2823525,
            "head_sha": "0" * 40,
            "head_branch": branch,
            "status": "completed",
            "conclusion": "success",
            "event": "push" if built == "o/r" else "pull_request",
            "head_repository": {"full_name": built},
        }
    )
    github.jobs[("o/r", 400)] = [
        WorkflowJob(
            id=4000,
            run_id=400,
            name=job_name,
            status="completed",
            conclusion="success",
            html_url=JOB_URL,
        )
    ]
    github.logs[("o/r", 4000)] = PASSING_DIST


@pytest.mark.parametrize("branch", ["master", "feature/dist"])
async def test_a_failed_job_is_read_against_the_same_job_of_the_last_passing_run(
    store: Store, github: MemoryGitHub, starter: Starter, branch: str
) -> None:
    """The warning every run prints is not why this one failed: no re-run, an issue instead.

    A branch that never passed is compared with the default branch's last success.
    """
    intake = _intake(store, github, starter)
    _passing_run(github, branch="master")
    result = await intake.receive("d-base", "workflow_run", _stale_dist_run(github, branch=branch))
    assert result.status == "accepted", result.reason
    (alert,) = starter.alerts
    assert alert.labels["category"] != "network_transient"
    assert alert.labels["heal"] == "triage"
    assert alert.attributes["baseline_url"] == JOB_URL
    assert alert.attributes["headline"] == " M dist/index.js"


async def test_without_a_baseline_the_same_failure_would_be_re_run(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    config = GitHubConfig(baseline="none")
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)
    _passing_run(github, branch="master")
    await intake.receive("d-alone", "workflow_run", _stale_dist_run(github))
    (alert,) = starter.alerts
    assert (alert.labels["category"], alert.labels["heal"]) == ("network_transient", "rerun")
    assert "baseline_url" not in alert.attributes


class RefusingBaselines(MemoryGitHub):
    """GitHub (or the budget) refuses the look-up of the last passing run."""

    def last_success(self, repository: str, workflow_id: int, branch: str) -> WorkflowRun | None:
        raise AdapterError("GitHub API budget: reserve reached; retry at later")


@pytest.mark.parametrize(
    ("github", "passing"),
    [
        (MemoryGitHub(), {"job_name": "lint"}),
        (MemoryGitHub(), {"built": "someone/r"}),
        (RefusingBaselines(), {}),
    ],
    ids=["no-job-of-that-name", "fork-pull-request-on-a-same-named-branch", "look-up-refused"],
)
async def test_without_a_usable_passing_job_the_log_is_explained_alone(
    store: Store, starter: Starter, github: MemoryGitHub, passing: dict[str, str]
) -> None:
    intake = _intake(store, github, starter)
    _passing_run(github, branch="master", **passing)
    result = await intake.receive("d-alone", "workflow_run", _stale_dist_run(github))
    assert result.status == "accepted", result.reason
    (alert,) = starter.alerts
    assert alert.labels["heal"] == "rerun"
    assert "baseline_url" not in alert.attributes


class OneLogLeft(MemoryGitHub):
    """The budget allows one more log download, then refuses every other."""

    def __init__(self) -> None:
        super().__init__()
        self.streamed: list[int] = []

    def stream_job_log(self, repository: str, job_id: int) -> Iterator[bytes]:
        if self.streamed:
            raise AdapterError("GitHub API budget: reserve reached; retry at later")
        self.streamed.append(job_id)
        return super().stream_job_log(repository, job_id)


async def test_the_failed_log_is_read_before_the_budget_goes_to_its_baseline(
    store: Store, starter: Starter
) -> None:
    github = OneLogLeft()
    intake = _intake(store, github, starter)
    _passing_run(github, branch="master")
    result = await intake.receive("d-budget", "workflow_run", _stale_dist_run(github))
    assert result.status == "accepted", result.reason
    assert github.streamed == [5010]
    (alert,) = starter.alerts
    assert "baseline_url" not in alert.attributes


async def test_a_webhook_run_whose_incident_never_started_is_taken_up_by_the_poller(
    store: Store, github: MemoryGitHub
) -> None:
    """The engine was down: the attempt is recorded (storms see it) but not as handled."""
    starter = BrokenStarter()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 11, "network_econnreset")
    first = await intake.receive("d-down", "workflow_run", body)
    assert first.status == "failed"
    with store.session() as session:
        assert not CiRepo(session).attempt_handled("o/r", 11, 1)
        assert len(CiRepo(session).sightings(first_fingerprint(session), NOW)) == 1
    starter.broken = False
    polled = await intake.receive_polled_run("o/r", "main", github.runs[("o/r", 11)])
    assert polled is not None
    assert polled.status == "accepted", polled.reason
    assert len(starter.alerts) == 1
    with store.session() as session:
        assert CiRepo(session).attempt_handled("o/r", 11, 1)
    assert await intake.receive_polled_run("o/r", "main", github.runs[("o/r", 11)]) is None


def first_fingerprint(session: Session) -> str:
    (fingerprint,) = session.scalars(select(CiAttemptRow.fingerprint).distinct())
    assert fingerprint is not None
    return fingerprint


async def test_a_run_with_nothing_to_start_is_handled_and_not_polled_again(
    store: Store, github: MemoryGitHub
) -> None:
    """A failed run whose plan is to do nothing (its fingerprint is ignored) is handled."""
    starter = Starter()
    intake = _intake(store, github, starter)
    await intake.receive(
        "d-first", "workflow_run", _failed_run_body(github, "o/r", 11, "network_econnreset")
    )
    with store.session() as session:
        fingerprint = starter.alerts[0].labels["fingerprint"]
        CiRepo(session).save_triage("o/r", fingerprint, at=NOW, ignored=True)
    body = _failed_run_body(github, "o/r", 12, "network_econnreset")
    result = await intake.receive("d-ignored", "workflow_run", body)
    assert result.status == "accepted"
    assert len(starter.alerts) == 1, "nothing is started for an ignored fingerprint"
    assert await intake.receive_polled_run("o/r", "main", github.runs[("o/r", 12)]) is None


async def test_a_delivery_left_received_by_a_dead_process_can_be_redelivered(
    store: Store, github: MemoryGitHub
) -> None:
    starter = Starter()
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 13, "network_econnreset")
    with store.session() as session:
        CiRepo(session).claim_delivery(
            "d-dead",
            event="workflow_run",
            action="completed",
            repository="o/r",
            at=NOW - STALE_RECEIVED / 2,
            status="received",
            reason="being handled",
        )
    recent = await intake.receive("d-dead", "workflow_run", body)
    assert recent.status == "duplicate", "it may still be handled elsewhere"
    with store.session() as session:
        row = CiRepo(session).delivery("d-dead")
        assert row is not None
        row.received_at = NOW - STALE_RECEIVED - timedelta(seconds=1)
    stale = await intake.receive("d-dead", "workflow_run", body)
    assert stale.status == "accepted", stale.reason
    assert len(starter.alerts) == 1


async def test_a_handling_that_runs_past_the_stale_age_keeps_its_claim(
    store: Store, github: MemoryGitHub
) -> None:
    """Another process must not take a slow handling for a dead one and handle it again."""
    now = [NOW]
    taken: list[bool] = []

    class Slow(Starter):
        async def __call__(self, alert: Alert) -> tuple[str, bool]:
            now[0] += STALE_RECEIVED * 2
            await asyncio.sleep(0.2)
            with store.session() as session:
                taken.append(
                    CiRepo(session).claim_delivery(
                        "d-slow",
                        event="workflow_run",
                        action="completed",
                        repository="o/r",
                        at=now[0],
                        status="received",
                        reason="redelivered",
                    )
                )
            return await super().__call__(alert)

    starter = Slow()
    config = GitHubConfig(healing=HealingConfig(storm_repositories=3, storm_window_s=900))
    intake = CiIntake(store, github, config, starter, clock=lambda: now[0])
    intake.renew_every_s = 0.02
    body = _failed_run_body(github, "o/r", 14, "network_econnreset")
    result = await intake.receive("d-slow", "workflow_run", body)
    assert result.status == "accepted", result.reason
    assert taken == [False], "the claim was renewed while the handling ran"
    assert len(starter.alerts) == 1


async def test_vanguards_own_comment_quoting_a_log_is_never_a_command(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """A job that prints '/vanguard retry' must not make Vanguard order its own re-run."""
    intake = _intake(store, github, starter)
    await _compile_failure_with_issue(intake, store, github, starter)
    github.permissions[("o/r", "vanguard-bot")] = "write"
    run = RunLink(repository="o/r", run_id=1, attempt=1, workflow="CI")
    own = render_comment(run, ["error: x", "/vanguard retry"], "opened an issue")
    result = await intake.receive("c1", "issue_comment", _comment("o/r", 5, "vanguard-bot", own))
    assert result.status == "ignored"
    assert result.reason == "no /vanguard command"
    assert len(starter.alerts) == 1


async def test_a_bot_is_obeyed_only_when_listed(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    intake = _intake(store, github, starter)
    await _compile_failure_with_issue(intake, store, github, starter)
    github.permissions[("o/r", "helper[bot]")] = "write"
    body = json.loads(_comment("o/r", 5, "helper[bot]", "/vanguard retry"))
    body["comment"]["user"]["type"] = "Bot"
    result = await intake.receive("c1", "issue_comment", json.dumps(body).encode())
    assert result.status == "ignored"
    assert "is a bot" in result.reason
    listed = _intake(store, github, starter, authorised_users=("helper[bot]",))
    again = await listed.receive("c2", "issue_comment", json.dumps(body).encode())
    assert again.status == "accepted", again.reason


async def test_a_forks_run_is_recorded_as_such(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """A fork's pull request from a branch named main must not colour the default branch."""
    intake = _intake(store, github, starter)
    body = json.loads(_failed_run_body(github, "o/r", 21, "network_econnreset"))
    body["workflow_run"]["head_branch"] = "main"
    body["workflow_run"]["head_repository"]["full_name"] = "stranger/r"
    await intake.receive("d-fork", "workflow_run", json.dumps(body).encode())
    own = _failed_run_body(github, "o/r", 22, "network_econnreset")
    await intake.receive("d-own", "workflow_run", own)
    with store.session() as session:
        forks = {a.run_id: a.from_fork for a in CiRepo(session).attempts(repository="o/r")}
    assert forks == {21: True, 22: False}


async def test_a_run_github_could_not_start_is_a_workflow_file_issue_per_repository(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """No job, no log: the class is the workflow file's, never re-run, never an outage."""
    intake = _intake(store, github, starter)
    for n, repo in enumerate(["a/one", "b/two", "c/three"]):
        body = json.loads(_failed_run_body(github, repo, 300 + n, "network_econnreset"))
        body["workflow_run"]["conclusion"] = "startup_failure"
        body["workflow_run"]["path"] = ".github/workflows/ci.yml"
        github.jobs.pop((repo, 300 + n))
        result = await intake.receive(f"s{n}", "workflow_run", json.dumps(body).encode())
        assert result.status == "accepted", result.reason
    assert [a.labels["category"] for a in starter.alerts] == ["workflow_config"] * 3
    assert [a.labels["heal"] for a in starter.alerts] == ["triage"] * 3
    assert len({a.labels["fingerprint"] for a in starter.alerts}) == 3, "one issue per repository"
    assert ".github/workflows/ci.yml" in str(starter.alerts[0].attributes["headline"])


async def test_store_work_does_not_queue_behind_a_busy_default_pool(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """Log downloads take the loop's default threads; a storm of them must not hold up a
    claim, its renewal or its settle (a renewal late past the stale limit means a delivery
    handled twice)."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    release = threading.Event()
    busy = loop.run_in_executor(None, release.wait, 30)
    try:
        intake = _intake(store, github, starter)
        body = (FIXTURES / "payloads" / "workflow_job.in_progress.json").read_bytes()
        result = await asyncio.wait_for(intake.receive("d-busy", "workflow_job", body), 10)
        assert result.status == "ignored", result.reason
    finally:
        release.set()
        await busy
        loop.set_default_executor(ThreadPoolExecutor())


def _second_failed_job(github: MemoryGitHub, repo: str, run_id: int, log: str) -> None:
    """Add a second failed job, ``run_id * 10 + 1``, with the fixture log ``log``."""
    job = WorkflowJob(
        id=run_id * 10 + 1, run_id=run_id, name="lint", status="completed", conclusion="failure"
    )
    github.jobs[(repo, run_id)].append(job)
    github.logs[(repo, job.id)] = (FIXTURES / "logs" / f"{log}.log").read_bytes()


async def test_a_run_with_a_compile_error_and_a_network_error_is_triaged_not_re_run(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """A re-run repeats every failed job, the compile job too: the run goes to its issue."""
    intake = _intake(store, github, starter)
    body = _failed_run_body(github, "o/r", 31, "compile_rust")
    _second_failed_job(github, "o/r", 31, "network_econnreset")
    result = await intake.receive("d-mixed", "workflow_run", body)
    assert result.status == "accepted", result.reason
    (alert,) = starter.alerts
    assert (alert.labels["heal"], alert.labels["category"]) == ("triage", "compile")
    assert alert.labels["job_id"] == "310"
    with store.session() as session:
        (attempt,) = CiRepo(session).attempts(repository="o/r")
    assert attempt.retryable is False


class GoneLogs(MemoryGitHub):
    """GitHub answers every log download with ``error``."""

    def __init__(self, error: AdapterError) -> None:
        super().__init__()
        self.error = error

    def stream_job_log(self, repository: str, job_id: int) -> Iterator[bytes]:
        raise self.error


async def test_a_failed_run_whose_log_is_gone_is_recorded_triaged_and_handled(
    store: Store, starter: Starter
) -> None:
    github = GoneLogs(ActionFailed("GitHub GET .../actions/jobs/70/logs: HTTP 410: Gone"))
    intake = _intake(store, github, starter)
    result = await intake.receive(
        "d-gone", "workflow_run", _failed_run_body(github, "o/r", 7, "network_econnreset")
    )
    assert result.status == "accepted", result.reason
    (alert,) = starter.alerts
    assert (alert.labels["heal"], alert.labels["category"]) == ("triage", "unknown")
    assert "HTTP 410: Gone" in str(alert.attributes["headline"])
    with store.session() as session:
        (attempt,) = CiRepo(session).attempts(repository="o/r")
        assert attempt.conclusion == "failure"
        assert CiRepo(session).attempt_handled("o/r", 7, 1)


async def test_a_log_that_cannot_be_read_for_now_leaves_the_delivery_failed_but_recorded(
    store: Store, starter: Starter
) -> None:
    """GitHub is down: the delivery is tried again, and the health figures see the failure."""
    github = GoneLogs(AdapterError("GitHub GET .../actions/jobs/70/logs: HTTP 502"))
    intake = _intake(store, github, starter)
    result = await intake.receive(
        "d-502", "workflow_run", _failed_run_body(github, "o/r", 7, "network_econnreset")
    )
    assert result.status == "failed"
    assert starter.alerts == []
    with store.session() as session:
        (attempt,) = CiRepo(session).attempts(repository="o/r")
        assert attempt.conclusion == "failure"
        assert not CiRepo(session).attempt_handled("o/r", 7, 1)


async def test_empty_logs_in_many_repositories_are_not_an_outage(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """Three unrelated failures with nothing to read look alike; each is its repository's."""
    intake = _intake(store, github, starter)
    for n, repo in enumerate(["a/one", "b/two", "c/three"]):
        body = _failed_run_body(github, repo, 200 + n, "network_econnreset")
        github.logs[(repo, (200 + n) * 10)] = b""
        result = await intake.receive(f"e{n}", "workflow_run", body)
        assert result.status == "accepted", result.reason
    assert [a.labels["heal"] for a in starter.alerts] == ["triage"] * 3
    assert len({a.labels["fingerprint"] for a in starter.alerts}) == 3


async def test_the_same_unrecognised_text_in_many_repositories_is_not_an_outage(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """Text no class recognises is no sign of a shared cause: a generic exit line in three
    repositories is three issues, and re-runs elsewhere go on."""
    intake = _intake(store, github, starter)
    odd = b"Run ./deploy.sh\nsomething odd happened in stage three\n"
    for n, repo in enumerate(["a/one", "b/two", "c/three"]):
        body = _failed_run_body(github, repo, 210 + n, "network_econnreset")
        github.logs[(repo, (210 + n) * 10)] = odd
        result = await intake.receive(f"u{n}", "workflow_run", body)
        assert result.status == "accepted", result.reason
    assert {a.labels["category"] for a in starter.alerts} == {"unknown"}
    assert len({a.labels["fingerprint"] for a in starter.alerts}) == 1
    assert [a.labels["heal"] for a in starter.alerts] == ["triage"] * 3


async def test_a_webhook_and_a_poll_spelling_the_repository_differently_make_one_incident(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """GitHub sends ``Acme/Web``, the configuration lists ``acme/web``: one repository."""
    config = GitHubConfig(repositories=("acme/web",))
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)
    body = _failed_run_body(github, "Acme/Web", 7, "network_econnreset")
    result = await intake.receive("d-web", "workflow_run", body)
    assert result.status == "accepted", result.reason
    report = await poll_once(github, intake, config)
    assert report.outcomes["acme/web"] == "1 run(s) listed, 0 new"
    assert [a.alert_id for a in starter.alerts] == ["github:acme/web:7:1"]
    assert starter.alerts[0].service_name == "acme/web"
    with store.session() as session:
        assert [a.repository for a in CiRepo(session).attempts()] == ["acme/web"]


async def test_commands_on_an_issue_of_a_differently_spelled_repository_are_obeyed(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """The failure came by poll as ``acme/web``; the comment comes from GitHub as ``Acme/Web``."""
    config = GitHubConfig(
        repositories=("acme/web",), triage=TriageConfig(authorised_users=("lead",))
    )
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)
    _failed_run_body(github, "acme/web", 7, "compile_rust")
    await poll_once(github, intake, config)
    _triage_issue(store, "acme/web", starter.alerts[0].labels["fingerprint"], 5)
    retry = await intake.receive(
        "c-retry", "issue_comment", _comment("Acme/Web", 5, "lead", "/vanguard retry")
    )
    assert retry.status == "accepted", retry.reason
    assert starter.alerts[-1].labels["requested_by"] == "lead"


async def test_rows_recorded_under_an_earlier_spelling_are_still_honoured(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """A deployment recorded ``Acme/Web`` as written before names had one spelling: its
    handled attempts are not handled again, and commands on its issues still work."""
    config = GitHubConfig(
        repositories=("Acme/Web",), triage=TriageConfig(authorised_users=("lead",))
    )
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)
    _failed_run_body(github, "Acme/Web", 7, "compile_rust")
    run = github.runs[("Acme/Web", 7)]
    with store.session() as session:
        CiRepo(session).record_attempt(
            AttemptRecord(
                repository="Acme/Web",
                workflow=run.workflow,
                run_id=7,
                run_attempt=1,
                head_sha=run.head_sha,
                conclusion="failure",
                at=NOW,
            ),
            category="compile",
            fingerprint="fp-old",
            handled=True,
        )
        CiRepo(session).save_triage("Acme/Web", "fp-old", at=NOW, issue_number=5)
    report = await poll_once(github, intake, config)
    assert report.outcomes["Acme/Web"] == "1 run(s) listed, 0 new"
    assert starter.alerts == []
    retry = await intake.receive(
        "c-retry", "issue_comment", _comment("Acme/Web", 5, "lead", "/vanguard retry")
    )
    assert retry.status == "accepted", retry.reason
    assert starter.alerts[0].labels["run_id"] == "7"


async def test_a_retry_a_person_asked_for_keeps_the_attempts_class(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """Re-running a compile error on request is a person's decision, not a retryable class:
    the attempt stays deterministic, so it never counts as healable (or healed)."""
    intake = _intake(store, github, starter, authorised_users=("lead",))
    await _compile_failure_with_issue(intake, store, github, starter)
    result = await intake.receive(
        "c1", "issue_comment", _comment("o/r", 5, "lead", "/vanguard retry")
    )
    assert result.status == "accepted", result.reason
    assert starter.alerts[-1].labels["retryable"] == "true", "the re-run pattern still matches"
    with store.session() as session:
        (attempt,) = CiRepo(session).attempts(repository="o/r")
    assert attempt.retryable is False


async def test_the_outage_repository_s_issues_are_heard_though_it_is_not_watched(
    store: Store, github: MemoryGitHub, starter: Starter
) -> None:
    """Closing the outage issue must be noted, so the next window's incident reopens it."""
    config = GitHubConfig(
        repositories=("a/one", "b/two"),
        healing=HealingConfig(outage_repository="Acme/CI-Status"),
    )
    intake = CiIntake(store, github, config, starter, clock=lambda: NOW)
    _triage_issue(store, "acme/ci-status", "fp-outage", 9)
    closed = await intake.receive("i-out", "issues", _issue_event("acme/ci-status", 9, "closed"))
    assert closed.status == "accepted", closed.reason
    with store.session() as session:
        row = CiRepo(session).triage("acme/ci-status", "fp-outage")
        assert row is not None
        assert row.body["state"] == "closed"
    run = await intake.receive(
        "d-out", "workflow_run", _failed_run_body(github, "acme/ci-status", 7, "compile_rust")
    )
    assert run.status == "ignored", "its runs are still not watched"
