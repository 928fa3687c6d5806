"""The GitHub adapters over an in-memory GitHub, ledger and SQLite store."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from vanguard.act.base import Adapter, MemoryLedger
from vanguard.act.github import (
    GitHubContext,
    GitHubRerunAdapter,
    GitHubTriageAdapter,
    IssueKeeper,
    IssueUpdate,
    close_github,
)
from vanguard.act.registry import build_adapters
from vanguard.ci.client import MemoryGitHub
from vanguard.ci.config import GitHubConfig, HealingConfig
from vanguard.ci.events import IssueRef, WorkflowRun
from vanguard.ci.health import AttemptRecord
from vanguard.ci.records import CiRepo
from vanguard.ci.triage import IssueDraft
from vanguard.config import Settings
from vanguard.errors import ActionFailed, AdapterError, StoreError
from vanguard.model import ActionRequest, ActionResult, Alert, RollbackRequest
from vanguard.store import SqlLedger, Store, default_store_url, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REPO = "o/r"


def _alert(heal: str, *, run_id: int = 11, track: bool = False, backoff: float = 0) -> Alert:
    return Alert(
        alert_id=f"github:{REPO}:{run_id}:1",
        fingerprint=f"{REPO}:fp",
        source="github.actions",
        service_name=REPO,
        metric_type="ci_run_failure",
        labels={
            "heal": heal,
            "category": "flaky_test" if track else "compile",
            "retryable": "true" if heal == "rerun" else "false",
            "fingerprint": "3604de18fb486626",
            "run_id": str(run_id),
            "run_attempt": "1",
            "workflow": "CI",
            "head_sha": "abc1234",
            "track": "true" if track else "false",
            "backoff_s": str(backoff),
        },
        detected_at=NOW,
        summary="CI failed",
        anomaly_score=1.0,
        confidence=1.0,
        attributes={"lines": ["error: boom"], "run_url": None, "heal_reason": "because"},
    )


class Harness:
    def __init__(self, store: Store) -> None:
        self.github = MemoryGitHub()
        self.github.runs[(REPO, 11)] = WorkflowRun(
            id=11, head_sha="abc1234", status="completed", conclusion="failure", run_attempt=1
        )
        self.github.files[(REPO, ".github/CODEOWNERS")] = ".github/ @octocat\n"
        self.ledger = MemoryLedger()
        self.store = store
        self.alerts: dict[str, Alert] = {}
        self.healing = HealingConfig(max_wait_s=60.0, storm_repositories=3, storm_window_s=900)
        self.now = NOW
        self.keeper = keeper = IssueKeeper(
            lambda: self.github, lambda: self.store, lambda: GitHubConfig(), lambda: self.now
        )
        self.rerun = GitHubRerunAdapter(
            self.ledger,
            api=lambda: self.github,
            alerts=self.alerts.get,
            keeper=keeper,
            store=lambda: self.store,
            healing=lambda: self.healing,
            clock=lambda: self.now,
        )
        self.triage = GitHubTriageAdapter(
            self.ledger,
            api=lambda: self.github,
            alerts=self.alerts.get,
            keeper=keeper,
            clock=lambda: self.now,
        )

    def request(self, incident: str, alert: Alert, action: str) -> ActionRequest:
        self.alerts[incident] = alert
        return ActionRequest(
            idempotency_key=f"{incident}:apply",
            incident_id=incident,
            action=action,
            target=REPO,
        )


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    store = open_store(default_store_url(tmp_path))
    yield Harness(store)
    store.close()


def test_both_are_adapters(h: Harness) -> None:
    adapters: list[Adapter] = [h.rerun, h.triage]
    assert [a.kind for a in adapters] == ["github.rerun", "github.triage"]


def test_rerun_happens_once_per_key(h: Harness) -> None:
    request = h.request("inc-1", _alert("rerun"), "github.rerun")
    first = h.rerun.apply(request)
    second = h.rerun.apply(request)
    assert h.github.reruns == [(REPO, 11)]
    assert first == second
    assert first.before == {"repository": REPO, "run_id": 11, "run_attempt": 1}
    assert not first.undo.possible
    assert "cancel" in first.undo.instructions


def test_interrupted_rerun_is_not_repeated_when_github_shows_a_new_attempt(h: Harness) -> None:
    request = h.request("inc-1", _alert("rerun"), "github.rerun")
    h.ledger.begin(request.idempotency_key, {"repository": REPO, "run_id": 11, "run_attempt": 1})
    h.github.runs[(REPO, 11)] = h.github.runs[(REPO, 11)].model_copy(
        update={"run_attempt": 2, "status": "queued"}
    )
    result = h.rerun.apply(request)
    assert h.github.reruns == []
    assert "not repeated" in result.message


def test_the_rerun_is_due_after_its_backoff_capped_from_the_failures_time(h: Harness) -> None:
    """The engine waits until ``due``; derived from the failure, not from when it is
    asked, so an activity retried during the wait waits only what is left."""
    h.now = NOW + timedelta(seconds=10)
    assert h.rerun.due(h.request("inc-1", _alert("rerun", backoff=30), "github.rerun")) == (
        NOW + timedelta(seconds=30)
    )
    capped = h.rerun.due(h.request("inc-2", _alert("rerun", backoff=3600), "github.rerun"))
    assert capped == NOW + timedelta(seconds=60)
    assert h.rerun.due(h.request("inc-3", _alert("rerun"), "github.rerun")) is None
    own = h.request("inc-4", _alert("rerun", backoff=30), "github.rerun")
    own = own.model_copy(update={"params": {"max_wait_s": 5}})
    assert h.rerun.due(own) == NOW + timedelta(seconds=5)


def test_the_rerun_is_not_wanted_once_ignored_or_an_outage(h: Harness) -> None:
    """Asked by the engine after the backoff: an ignore, or the fingerprint failing in
    ``storm_repositories`` repositories by then, means no re-run; a person's retry
    overrides the storm as it did when asked for."""
    request = h.request("inc-1", _alert("rerun", backoff=30), "github.rerun")
    h.now = NOW + timedelta(seconds=30)
    assert h.rerun.unwanted(request) is None
    with h.store.session() as session:
        ci = CiRepo(session)
        for n, repo in enumerate([REPO, "a/x", "b/x"]):
            ci.record_attempt(
                AttemptRecord(
                    repository=repo,
                    workflow="CI",
                    run_id=11 + n,
                    run_attempt=1,
                    head_sha="abc1234",
                    conclusion="failure",
                    at=NOW + timedelta(seconds=n),
                ),
                category="network_transient",
                fingerprint="3604de18fb486626",
            )
    said = h.rerun.unwanted(request)
    assert said is not None
    assert "failed in 3 repositories" in said
    asked = _alert("rerun").model_copy(
        update={"labels": {**_alert("rerun").labels, "requested_by": "octocat"}}
    )
    retry = h.request("inc-2", asked, "github.rerun")
    assert h.rerun.unwanted(retry) is None
    with h.store.session() as session:
        CiRepo(session).save_triage(REPO, "3604de18fb486626", at=NOW, ignored=True)
    for ignored in (request, retry):
        said = h.rerun.unwanted(ignored)
        assert said is not None
        assert "is ignored in o/r" in said
    assert h.github.reruns == []


def test_flaky_rerun_is_also_tracked_in_its_issue(h: Harness) -> None:
    result = h.rerun.apply(h.request("inc-1", _alert("rerun", track=True), "github.rerun"))
    assert h.github.reruns == [(REPO, 11)]
    ((repo, number),) = h.github.issues
    assert "tracked in issue" in result.message
    draft, _ = h.github.issues[(repo, number)]
    assert "ci:flaky" in draft.labels


def test_verify_sees_the_new_attempt(h: Harness) -> None:
    result = h.rerun.apply(h.request("inc-1", _alert("rerun"), "github.rerun"))
    assert not h.rerun.verify(result).ok
    h.github.runs[(REPO, 11)] = h.github.runs[(REPO, 11)].model_copy(
        update={"run_attempt": 2, "status": "in_progress", "conclusion": None}
    )
    assert h.rerun.verify(result).ok
    h.github.runs[(REPO, 11)] = h.github.runs[(REPO, 11)].model_copy(
        update={"status": "completed", "conclusion": "failure"}
    )
    check = h.rerun.verify(result)
    assert not check.ok
    assert "failed again" in check.reason


def test_rerun_rollback_touches_nothing(h: Harness) -> None:
    result = h.rerun.apply(h.request("inc-1", _alert("rerun"), "github.rerun"))
    undone = h.rerun.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    assert not undone.applied
    assert h.github.reruns == [(REPO, 11)]


def test_one_issue_per_fingerprint_created_then_updated(h: Harness) -> None:
    first = h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    second = h.triage.apply(h.request("inc-2", _alert("triage", run_id=12), "github.triage"))
    assert len(h.github.issues) == 1
    assert first.after["created"] is True
    assert second.after["created"] is False
    assert first.after["issue_number"] == second.after["issue_number"]
    assert first.after["owners"] == ["@octocat"]
    (comment,) = h.github.comments
    assert "#12" in comment[2]
    assert h.github.reruns == []
    assert h.triage.verify(first).ok


def test_a_later_outage_window_names_the_repositories_failing_then(h: Harness) -> None:
    """The outage issue's body keeps the first window's list; a later window's incident
    comments with the repositories failing by then."""

    def outage(run_id: int, repos: list[str]) -> Alert:
        alert = _alert("outage", run_id=run_id)
        return alert.model_copy(
            update={"attributes": {**alert.attributes, "outage_repositories": list(repos)}}
        )

    h.triage.apply(h.request("inc-1", outage(11, ["a/one", "b/two", "o/r"]), "github.triage"))
    h.triage.apply(
        h.request("inc-2", outage(12, ["a/one", "b/two", "d/four", "o/r"]), "github.triage")
    )
    ((draft, _),) = h.github.issues.values()
    assert "a/one, b/two, o/r" in draft.body
    (comment,) = h.github.comments
    assert "**Failing in 4 repositories now:** a/one, b/two, d/four, o/r" in comment[2]


def test_issue_found_by_label_when_the_store_forgot_it(h: Harness, tmp_path: Path) -> None:
    h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    other = open_store(default_store_url(tmp_path / "fresh"))
    try:
        h.store = other
        result = h.triage.apply(h.request("inc-2", _alert("triage", run_id=12), "github.triage"))
    finally:
        other.close()
    assert result.after["created"] is False
    assert len(h.github.issues) == 1


def test_rollback_closes_an_issue_vanguard_opened(h: Harness) -> None:
    result = h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    undone = h.triage.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    assert undone.applied
    ((_, state),) = h.github.issues.values()
    assert state == "closed"


def test_plan_touches_nothing(h: Harness) -> None:
    plan = h.rerun.plan(h.request("inc-1", _alert("rerun", track=True), "github.rerun"))
    assert any("rerun-failed-jobs" in step for step in plan.steps)
    assert any("issue" in step for step in plan.steps)
    assert h.github.reruns == []
    assert h.triage.plan(h.request("inc-2", _alert("triage"), "github.triage")).undoable


def test_non_ci_alert_and_bad_params_are_clear_errors(h: Harness) -> None:
    alert = _alert("rerun").model_copy(update={"labels": {}})
    with pytest.raises(ActionFailed, match="run_id"):
        h.rerun.apply(h.request("inc-1", alert, "github.rerun"))
    bad = h.request("inc-2", _alert("rerun"), "github.rerun").model_copy(
        update={"params": {"max_wait_s": 10_000}}
    )
    with pytest.raises(AdapterError, match="max_wait_s"):
        h.rerun.apply(bad)
    with pytest.raises(ActionFailed, match="not in the store"):
        h.triage.apply(
            ActionRequest(
                idempotency_key="k", incident_id="nope", action="github.triage", target=REPO
            )
        )


def test_a_closed_issue_is_reopened_when_its_failure_returns(h: Harness) -> None:
    first = h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    with h.store.session() as session:
        row = CiRepo(session).triage(REPO, "3604de18fb486626")
        assert row is not None
        row.body = {**row.body, "state": "closed"}
    h.github.set_issue_state(REPO, int(str(first.after["issue_number"])), "closed")
    h.triage.apply(h.request("inc-2", _alert("triage", run_id=12), "github.triage"))
    ((_, state),) = h.github.issues.values()
    assert state == "open"


class WorkerDied(BaseException):
    """Stands for the worker process dying mid-call (nothing after it runs)."""


class DiesAfterCreating(MemoryGitHub):
    def __init__(self) -> None:
        super().__init__()
        self.dying = True

    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef:
        issue = super().create_issue(repository, draft)
        if self.dying:
            self.dying = False
            raise WorkerDied
        return issue


class DiesBeforeFinishing(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.dying = True

    def finish(self, key: str, result: ActionResult) -> None:
        if self.dying:
            self.dying = False
            raise WorkerDied
        super().finish(key, result)


def _retry_after_death(h: Harness) -> ActionResult:
    request = h.request("inc-1", _alert("triage"), "github.triage")
    with pytest.raises(WorkerDied):
        h.triage.apply(request)
    return h.triage.apply(request)


def test_issue_created_just_before_the_worker_died_is_still_undoable(h: Harness) -> None:
    dying = DiesAfterCreating()
    dying.runs, dying.files = h.github.runs, h.github.files
    h.github = dying
    result = _retry_after_death(h)
    assert len(h.github.issues) == 1
    assert h.github.comments == []
    assert result.after["created"] is True
    assert result.undo.possible
    h.triage.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    ((_, state),) = h.github.issues.values()
    assert state == "closed"


def test_issue_recorded_before_the_worker_died_is_found_again_not_commented(
    h: Harness,
) -> None:
    h.ledger = DiesBeforeFinishing()
    h.triage.ledger = h.ledger
    result = _retry_after_death(h)
    assert len(h.github.issues) == 1
    assert h.github.comments == []
    assert result.after["created"] is True
    assert result.undo.possible


def test_a_retried_update_comments_once(h: Harness) -> None:
    h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    h.ledger = DiesBeforeFinishing()
    h.triage.ledger = h.ledger
    request = h.request("inc-2", _alert("triage", run_id=12), "github.triage")
    with pytest.raises(WorkerDied):
        h.triage.apply(request)
    result = h.triage.apply(request)
    assert result.after["created"] is False
    assert len(h.github.comments) == 1


def test_upsert_returns_a_frozen_value(h: Harness) -> None:
    update = h.keeper.upsert(_alert("triage"), key="k")
    assert isinstance(update, IssueUpdate)
    assert (update.issue_number, update.created, update.owners) == (1, True, ("@octocat",))
    with pytest.raises(ValidationError):
        update.created = False  # type: ignore[misc]


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, github=GitHubConfig(token_env="VANGUARD_TEST_GH_TOKEN"))


def test_registry_builds_both_adapters_on_one_context_over_the_runtime_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_unit_test_token")
    settings = _settings(tmp_path)
    store = open_store(settings.resolved_store_url())
    try:
        adapters = build_adapters(SqlLedger(store), settings)
        rerun, triage = adapters["github.rerun"], adapters["github.triage"]
        assert isinstance(rerun, GitHubRerunAdapter)
        assert isinstance(triage, GitHubTriageAdapter)
        assert rerun.context is not None
        assert rerun.context is triage.context
        assert rerun.context.store() is store
        assert rerun.context.api() is triage.context.api()
        close_github(adapters)
        assert rerun.context.closed
        with pytest.raises(StoreError, match="closed"):
            triage.context.api()
        with store.session() as session:
            assert CiRepo(session).delivery("none") is None
    finally:
        store.close()


def test_a_context_closes_the_store_it_opened(tmp_path: Path) -> None:
    context = GitHubContext(_settings(tmp_path))
    store = context.store()
    context.close()
    context.close()
    with pytest.raises(StoreError, match="closed"), store.session():
        pass


def test_the_issue_shows_the_report_and_other_candidates_apart(h: Harness) -> None:
    alert = _alert("issue")
    alert = alert.model_copy(
        update={
            "attributes": {
                **alert.attributes,
                "headline": "error: boom",
                "lines": ["in build step", "error: boom"],
                "candidates": ["warning: far away"],
            }
        }
    )
    h.triage.apply(h.request("inc-1", alert, "github.triage"))
    ((draft, _),) = h.github.issues.values()
    assert draft.title.endswith("compile: error: boom")
    report, others = draft.body.split("### Other candidate lines")
    assert "in build step\nerror: boom" in report
    assert "warning: far away" in others


def test_the_issue_links_the_passing_run_the_log_was_compared_with(h: Harness) -> None:
    url = "https://github.com/o/r/actions/runs/400/job/4000"
    alert = _alert("issue")
    alert = alert.model_copy(update={"attributes": {**alert.attributes, "baseline_url": url}})
    h.triage.apply(h.request("inc-1", alert, "github.triage"))
    ((draft, _),) = h.github.issues.values()
    assert f"**Compared with a passing run:** {url}" in draft.body


class SlowToCreate(MemoryGitHub):
    """GitHub taking its time to create an issue, while a second failure arrives."""

    def __init__(self, started: threading.Event) -> None:
        super().__init__()
        self.started = started

    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef:
        self.started.set()
        time.sleep(0.5)
        return super().create_issue(repository, draft)


def test_two_failures_of_one_fingerprint_at_once_open_one_issue(h: Harness) -> None:
    """Both found no issue and both created one; the second now waits and comments."""
    started = threading.Event()
    slow = SlowToCreate(started)
    slow.runs, slow.files = h.github.runs, h.github.files
    h.github = slow
    first_request = h.request("inc-1", _alert("triage"), "github.triage")
    second_request = h.request("inc-2", _alert("triage", run_id=12), "github.triage")
    results: list[ActionResult] = []
    opener = threading.Thread(target=lambda: results.append(h.triage.apply(first_request)))
    opener.start()
    assert started.wait(5)
    with pytest.raises(AdapterError, match="being opened by another incident"):
        h.triage.apply(second_request)
    opener.join(10)
    second = h.triage.apply(second_request)
    assert len(slow.issues) == 1
    assert results[0].after["created"] is True
    assert second.after["created"] is False
    assert second.after["issue_number"] == results[0].after["issue_number"]
    assert len(slow.comments) == 1


class RefusesIssues(MemoryGitHub):
    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef:
        raise ActionFailed("HTTP 422: Validation Failed")


def test_a_failed_opening_gives_its_claim_back(h: Harness) -> None:
    """Held until it went stale, the claim made the next incident wait for nothing."""
    refusing = RefusesIssues()
    refusing.runs, refusing.files = h.github.runs, h.github.files
    h.github = refusing
    with pytest.raises(ActionFailed, match="422"):
        h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    with h.store.session() as session:
        assert CiRepo(session).claim_triage(
            REPO, "3604de18fb486626", key="inc-2", at=h.now, stale_after=timedelta(seconds=75)
        )


def _use(h: Harness, github: MemoryGitHub) -> None:
    """Serve the harness's runs, files and issues from ``github`` from now on."""
    github.runs, github.files, github.issues = h.github.runs, h.github.files, h.github.issues
    h.github = github


def _run_moves_to(h: Harness, **fields: object) -> None:
    h.github.runs[(REPO, 11)] = h.github.runs[(REPO, 11)].model_copy(update=fields)


@pytest.mark.parametrize(
    "run",
    [{"run_attempt": 2, "status": "in_progress", "conclusion": None}, {"status": "queued"}],
    ids=["newer attempt", "not completed"],
)
def test_a_run_re_run_during_the_backoff_is_not_re_run_again(
    h: Harness, run: dict[str, object]
) -> None:
    """A person's "Re-run failed jobs" during the backoff (the engine waited it): another
    POST would start an attempt too many, or be refused with 403 and fail the incident."""
    _run_moves_to(h, **run)
    result = h.rerun.apply(h.request("inc-1", _alert("rerun", backoff=30), "github.rerun"))
    assert h.github.reruns == []
    assert "was already re-run" in result.message
    assert result.message.endswith("not repeated")
    assert result.after["expected_attempt"] == 2


def test_two_incidents_of_one_attempt_re_run_it_once(h: Harness) -> None:
    """Two people comment `/vanguard retry`, and the same attempt is also known under its
    repository's name in other case: three incidents, one re-run."""
    h.github.runs[("O/R", 11)] = h.github.runs[(REPO, 11)]
    h.rerun.apply(h.request("inc-1", _alert("rerun"), "github.rerun"))
    second = h.rerun.apply(h.request("inc-2", _alert("rerun"), "github.rerun"))
    other_case = _alert("rerun").model_copy(update={"service_name": "O/R"})
    third = h.rerun.apply(h.request("inc-3", other_case, "github.rerun"))
    assert h.github.reruns == [(REPO, 11)]
    assert "is re-run by incident inc-1; not repeated" in second.message
    assert "is re-run by incident inc-1; not repeated" in third.message


def test_a_retry_during_an_automatic_re_runs_backoff_re_runs_once(h: Harness) -> None:
    """The retry was applied while the automatic one's backoff was waited."""
    h.rerun.apply(h.request("inc-retry", _alert("rerun"), "github.rerun"))
    automatic = h.rerun.apply(h.request("inc-auto", _alert("rerun", backoff=30), "github.rerun"))
    assert h.github.reruns == [(REPO, 11)]
    assert "is re-run by incident inc-retry" in automatic.message


@pytest.mark.parametrize(("requested_by", "healed"), [(None, True), ("octocat", False)])
def test_only_vanguard_s_own_re_run_counts_as_auto_healed(
    h: Harness, requested_by: str | None, healed: bool
) -> None:
    """A person's `/vanguard retry` is their decision, not auto-heal coverage."""
    with h.store.session() as session:
        CiRepo(session).record_attempt(
            AttemptRecord(
                repository=REPO,
                workflow="CI",
                run_id=11,
                run_attempt=1,
                head_sha="abc1234",
                conclusion="failure",
                at=NOW,
            )
        )
    alert = _alert("rerun")
    if requested_by is not None:
        alert = alert.model_copy(update={"labels": {**alert.labels, "requested_by": requested_by}})
    h.rerun.apply(h.request("inc-1", alert, "github.rerun"))
    assert h.github.reruns == [(REPO, 11)]
    with h.store.session() as session:
        (attempt,) = CiRepo(session).attempts(repository=REPO)
    assert attempt.rerun_by_vanguard is healed


class Unreliable(MemoryGitHub):
    """The in-memory GitHub where each named call fails once, as with a 502 or 503."""

    def __init__(self, *failing: str) -> None:
        super().__init__()
        self.failing = set(failing)

    def _call(self, name: str) -> None:
        if name in self.failing:
            self.failing.discard(name)
            raise AdapterError(f"GitHub {name}: HTTP 502 (retried)")

    def find_issue(self, repository: str, label: str) -> IssueRef | None:
        self._call("find_issue")
        return super().find_issue(repository, label)

    def add_labels(self, repository: str, number: int, labels: tuple[str, ...]) -> None:
        self._call("add_labels")
        super().add_labels(repository, number, labels)

    def set_issue_state(self, repository: str, number: int, state: str) -> None:
        self._call("set_issue_state")
        super().set_issue_state(repository, number, state)


def test_a_tracked_re_run_interrupted_before_its_issue_still_records_it(h: Harness) -> None:
    """The re-run was requested, then GitHub failed the issue look-up: the retry sees the
    new attempt and does not re-run, but the flake still goes into its issue."""
    _use(h, Unreliable("find_issue"))
    request = h.request("inc-1", _alert("rerun", track=True), "github.rerun")

    def rerun_then_new_attempt(repository: str, run_id: int) -> None:
        MemoryGitHub.rerun_failed_jobs(h.github, repository, run_id)
        _run_moves_to(h, run_attempt=2, status="queued", conclusion=None)

    h.github.rerun_failed_jobs = rerun_then_new_attempt  # type: ignore[method-assign]
    with pytest.raises(AdapterError, match="502"):
        h.rerun.apply(request)
    result = h.rerun.apply(request)
    assert h.github.reruns == [(REPO, 11)]
    assert len(h.github.issues) == 1
    assert "not repeated; tracked in issue #1" in result.message
    assert isinstance(result.after["issue"], dict)


@pytest.mark.parametrize("failing", ["add_labels", "set_issue_state"])
def test_an_update_retried_after_a_transient_failure_comments_once(
    h: Harness, failing: str
) -> None:
    """The comment came first: a labels or reopen call failing after it made the retry post
    it again."""
    first = h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    number = int(str(first.after["issue_number"]))
    h.github.set_issue_state(REPO, number, "closed")
    with h.store.session() as session:
        row = CiRepo(session).triage(REPO, "3604de18fb486626")
        assert row is not None
        row.body = {**row.body, "state": "closed"}
    _use(h, Unreliable(failing))
    request = h.request("inc-2", _alert("triage", run_id=12), "github.triage")
    with pytest.raises(AdapterError, match="502"):
        h.triage.apply(request)
    h.triage.apply(request)
    assert len(h.github.comments) == 1
    ((_, state),) = h.github.issues.values()
    assert state == "open"


class ClosedMeanwhile(MemoryGitHub):
    """A person closes the issue while Vanguard comments on it, and the intake notes it in
    the store (as it does for an ``issues`` delivery)."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.closing = True

    def comment_issue(self, repository: str, number: int, body: str) -> int:
        made = super().comment_issue(repository, number, body)
        if self.closing:
            self.closing = False
            self.set_issue_state(repository, number, "closed")
            with self.store.session() as session:
                repo = CiRepo(session)
                row = repo.triage_by_issue(repository, number)
                assert row is not None
                closed = {**row.body, "state": "closed"}
                repo.save_triage(repository, row.fingerprint, at=NOW, body=closed)
        return made


def test_a_person_closing_the_issue_during_an_update_is_not_overwritten(h: Harness) -> None:
    """Overwritten with "open", the close was forgotten and the next failure did not
    reopen the issue."""
    h.triage.apply(h.request("inc-1", _alert("triage"), "github.triage"))
    _use(h, ClosedMeanwhile(h.store))
    h.triage.apply(h.request("inc-2", _alert("triage", run_id=12), "github.triage"))
    with h.store.session() as session:
        row = CiRepo(session).triage(REPO, "3604de18fb486626")
        assert row is not None
        assert row.body["state"] == "closed"
        assert row.body["commented_by"] == ["inc-2:apply"]
    h.triage.apply(h.request("inc-3", _alert("triage", run_id=13), "github.triage"))
    ((_, state),) = h.github.issues.values()
    assert state == "open"


class SlowGitHub(MemoryGitHub):
    """GitHub answering each call ``took_s`` later on the harness's clock; the first
    ``create_issue`` also waits until the test lets it go."""

    def __init__(self, h: Harness, took_s: float) -> None:
        super().__init__()
        self.h, self.took_s = h, took_s
        self.creating, self.go = threading.Event(), threading.Event()
        self.claimed_while_reading_owners: list[bool] = []

    def file_text(self, repository: str, path: str) -> str | None:
        with self.h.store.session() as session:
            row = CiRepo(session).triage(repository, "3604de18fb486626")
            self.claimed_while_reading_owners.append(row is not None and "opening" in row.body)
        self.h.now += timedelta(seconds=self.took_s)
        return super().file_text(repository, path)

    def find_issue(self, repository: str, label: str) -> IssueRef | None:
        self.h.now += timedelta(seconds=self.took_s)
        return super().find_issue(repository, label)

    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef:
        if not self.creating.is_set():
            self.creating.set()
            assert self.go.wait(10)
        return super().create_issue(repository, draft)


def _open_while_slow(
    h: Harness, took_s: float, waited_s: float, *, refused: bool
) -> tuple[ActionResult, ActionResult]:
    """Incident 1 opens the issue on a slow GitHub; incident 2 arrives ``waited_s`` into
    its create call and, when ``refused`` then, is retried once incident 1 is done."""
    slow = SlowGitHub(h, took_s)
    _use(h, slow)
    first_request = h.request("inc-1", _alert("triage"), "github.triage")
    second_request = h.request("inc-2", _alert("triage", run_id=12), "github.triage")
    firsts: list[ActionResult] = []
    opener = threading.Thread(target=lambda: firsts.append(h.triage.apply(first_request)))
    opener.start()
    try:
        assert slow.creating.wait(5)
        slow.took_s = 0
        h.now += timedelta(seconds=waited_s)
        if refused:
            with pytest.raises(AdapterError, match="being opened by another incident"):
                h.triage.apply(second_request)
        else:
            second = h.triage.apply(second_request)
    finally:
        slow.go.set()
        opener.join(10)
    if refused:
        second = h.triage.apply(second_request)
    (first,) = firsts
    return first, second


def test_a_create_slower_than_the_old_stale_age_opens_one_issue(h: Harness) -> None:
    """With a 20 s stale age, a create taking 40 s let the second incident take over the
    claim and open a second issue."""
    first, second = _open_while_slow(h, took_s=0, waited_s=40, refused=True)
    assert len(h.github.issues) == 1
    assert (first.after["created"], second.after["created"]) == (True, False)
    assert second.after["issue_number"] == first.after["issue_number"]
    assert len(h.github.comments) == 1


def test_the_claim_is_renewed_between_slow_calls(h: Harness) -> None:
    """Owners, look-up and create take 40 s each: the claim is 80 s old but was renewed
    before the create, and the owners were read before claiming."""
    first, second = _open_while_slow(h, took_s=40, waited_s=40, refused=True)
    assert len(h.github.issues) == 1
    assert (first.after["created"], second.after["created"]) == (True, False)
    assert isinstance(h.github, SlowGitHub)
    assert h.github.claimed_while_reading_owners[0] is False


def test_an_issue_opened_twice_after_a_claim_went_stale_is_closed(h: Harness) -> None:
    """A create stuck past the stale age: the second incident takes over and opens the
    issue; the first closes its own when it finally comes back and comments on the other."""
    stuck, other = _open_while_slow(h, took_s=0, waited_s=600, refused=False)
    assert (other.after["issue_number"], other.after["created"]) == (1, True)
    assert (stuck.after["issue_number"], stuck.after["created"]) == (1, False)
    assert {n: state for (_, n), (_, state) in h.github.issues.items()} == {
        1: "open",
        2: "closed",
    }
    (note, failure) = h.github.comments
    assert note[1] == 2
    assert "tracked in #1" in note[2]
    assert failure[1] == 1
    assert "Failed again" in failure[2]
