"""``GithubkitApi`` over an httpx ``MockTransport`` answering as GitHub does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from githubkit import GitHub, TokenAuthStrategy
from sqlalchemy import select

from vanguard.ci.budget import ApiBudget
from vanguard.ci.client import (
    BudgetKeeper,
    GithubkitApi,
    SharedBudget,
    StoredBudget,
    build_github_api,
    process_budget,
)
from vanguard.ci.config import GitHubConfig, PollConfig
from vanguard.ci.tables import GitHubBudgetRow
from vanguard.errors import ActionFailed, AdapterError
from vanguard.store import Store

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REPO = "octo-org/octo-repo"


def _api(
    handler: Callable[[httpx.Request], httpx.Response],
    budget: ApiBudget | BudgetKeeper | None = None,
    clock: Callable[[], datetime] = lambda: T0,
) -> GithubkitApi:
    github: GitHub[Any] = GitHub(
        TokenAuthStrategy("ghs_test_token_value"),
        base_url="https://api.github.test",
        http_cache=False,
        auto_retry=False,
        transport=httpx.MockTransport(handler),
    )
    return GithubkitApi(
        github,
        budget=budget or ApiBudget(calls_per_hour=100),
        log_max_bytes=4096,
        clock=clock,
    )


def _collaborator(permission: str, role_name: str) -> Callable[[httpx.Request], httpx.Response]:
    """GitHub's answer to ``GET /repos/{owner}/{repo}/collaborators/{user}/permission``."""

    def handler(request: httpx.Request) -> httpx.Response:
        login = request.url.path.rsplit("/", 2)[-2]
        return httpx.Response(
            200,
            json={
                "permission": permission,
                "role_name": role_name,
                "user": {"login": login, "id": 1, "type": "User"},
            },
        )

    return handler


@pytest.mark.parametrize(
    ("permission", "role_name", "expected"),
    [
        ("read", "triage", "triage"),
        ("write", "maintain", "maintain"),
        ("admin", "admin", "admin"),
        ("write", "write", "write"),
        ("read", "read", "read"),
        ("write", "security-reviewer", "write"),
    ],
)
def test_permission_is_the_role_github_names_not_its_legacy_level(
    permission: str, role_name: str, expected: str
) -> None:
    """Built-in roles come from ``role_name``; a custom role falls back to ``permission``."""
    api = _api(_collaborator(permission, role_name))
    assert api.permission(REPO, "tina") == expected


def test_permission_of_an_outsider_is_unknown() -> None:
    api = _api(lambda request: httpx.Response(404, json={"message": "Not Found"}))
    assert api.permission(REPO, "nobody") is None


def _forbidden(message: str, sent: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    """A 403 as GitHub sends it, quota left and no ``Retry-After``."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(
            403,
            headers={"x-ratelimit-remaining": "4987", "x-ratelimit-reset": "9999999999"},
            json={
                "message": message,
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            },
        )

    return handler


SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


def test_secondary_rate_limit_is_waited_out_and_retryable() -> None:
    sent: list[str] = []
    api = _api(_forbidden(SECONDARY, sent))
    with pytest.raises(AdapterError, match="rate limited") as raised:
        api.rerun_failed_jobs(REPO, 30433642)
    assert not isinstance(raised.value, ActionFailed)
    assert api.budget.blocked_until == T0 + timedelta(seconds=60)
    with pytest.raises(AdapterError, match="GitHub asked us to wait"):
        api.rerun_failed_jobs(REPO, 30433642)
    assert len(sent) == 1


def test_secondary_rate_limit_on_a_lookup_is_not_taken_for_no_permission() -> None:
    sent: list[str] = []
    api = _api(_forbidden(SECONDARY, sent))
    with pytest.raises(AdapterError, match="rate limited"):
        api.permission(REPO, "tina")


def test_secondary_rate_limit_on_a_log_download_is_retryable() -> None:
    sent: list[str] = []
    api = _api(_forbidden(SECONDARY, sent))
    with pytest.raises(AdapterError, match="rate limited") as raised:
        b"".join(api.stream_job_log(REPO, 399444496))
    assert not isinstance(raised.value, ActionFailed)
    assert api.budget.blocked_until == T0 + timedelta(seconds=60)


def test_a_plain_403_stays_a_refusal() -> None:
    sent: list[str] = []
    api = _api(_forbidden("Resource not accessible by integration", sent))
    with pytest.raises(ActionFailed, match="HTTP 403"):
        api.rerun_failed_jobs(REPO, 30433642)
    assert api.budget.blocked_until is None


def _listing(sent: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    """Runs listed once with an ETag; the same ETag again is a 304, as GitHub answers."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(200, headers={"ETag": '"v1"'}, json={"workflow_runs": []})

    return handler


def test_an_unchanged_listing_spends_nothing_of_the_own_budget() -> None:
    """GitHub does not charge a 304; the poller's cap must not either."""
    sent: list[httpx.Request] = []
    api = _api(_listing(sent))
    first = api.list_runs(REPO, etag=None, per_page=30)
    assert api.budget.used == 1
    for _ in range(5):
        assert api.list_runs(REPO, etag=first.etag, per_page=30).runs is None
    assert api.budget.used == 1
    assert len(sent) == 6


def test_jobs_are_read_from_the_attempt_asked_for() -> None:
    """``filter=latest`` would answer with a newer attempt's jobs than the one that failed."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        job = {"id": 70, "run_id": 7, "status": "completed", "conclusion": "failure"}
        return httpx.Response(200, json={"total_count": 1, "jobs": [job]})

    api = _api(handler)
    (job,) = api.run_jobs(REPO, 7, attempt=2)
    assert job.id == 70
    assert sent[0].url.path == f"/repos/{REPO}/actions/runs/7/attempts/2/jobs"
    assert "filter" not in sent[0].url.params
    api.run_jobs(REPO, 7)
    assert sent[1].url.path == f"/repos/{REPO}/actions/runs/7/jobs"
    assert sent[1].url.params["filter"] == "latest"


def test_a_listed_run_without_a_name_is_named_after_its_workflow_once() -> None:
    """A delivery names it from its ``workflow`` object; the listing must say the same."""
    sent: list[httpx.Request] = []
    unnamed = {
        "id": 7,
        "name": "",
        "workflow_id": 2823525,
        "path": ".github/workflows/test.yml",
        "head_sha": "a",
        "status": "completed",
        "conclusion": "success",
    }
    named = dict(unnamed, id=8, name="lint", workflow_id=99)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/actions/workflows/2823525"):
            return httpx.Response(200, json={"id": 2823525, "name": "test"})
        return httpx.Response(200, json={"workflow_runs": [unnamed, named, dict(unnamed, id=9)]})

    api = _api(handler)
    for _ in range(2):
        page = api.list_runs(REPO, etag=None, per_page=30)
        assert page.runs is not None
        assert [run.workflow for run in page.runs] == ["test", "lint", "test"]
    asked = [r.url.path for r in sent if "/actions/workflows/" in r.url.path]
    assert asked == [f"/repos/{REPO}/actions/workflows/2823525"]


def test_a_listed_run_whose_workflow_is_gone_is_named_after_its_file() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "/actions/workflows/" in request.url.path:
            return httpx.Response(404, json={"message": "Not Found"})
        run = {"id": 7, "name": "", "workflow_id": 5, "path": ".github/workflows/test.yml"}
        return httpx.Response(200, json={"workflow_runs": [dict(run, head_sha="a")]})

    page = _api(handler).list_runs(REPO, etag=None, per_page=30)
    assert page.runs is not None
    assert [run.workflow for run in page.runs] == ["test.yml"]


def test_clients_holding_one_budget_spend_one_hourly_cap() -> None:
    """``vanguard up`` holds two clients (webhook intake, adapters); the cap is the process's."""
    shared = SharedBudget(ApiBudget(calls_per_hour=2))
    intake, adapters = _api(_listing([]), shared), _api(_listing([]), shared)
    intake.list_runs(REPO, etag=None, per_page=30)
    adapters.list_runs(REPO, etag=None, per_page=30)
    assert intake.budget.used == adapters.budget.used == 2
    with pytest.raises(AdapterError, match="own budget of 2 calls per hour spent"):
        intake.list_runs(REPO, etag=None, per_page=30)


def test_clients_built_from_one_settings_share_the_process_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_unit_test_token")
    config = GitHubConfig(
        token_env="VANGUARD_TEST_GH_TOKEN", poll=PollConfig(calls_per_hour=50, reserve=5)
    )
    first, second = build_github_api(config), build_github_api(config)
    assert first.shared_budget is second.shared_budget is process_budget(config)
    assert (first.budget.calls_per_hour, first.budget.reserve) == (50, 5)
    equal = config.model_copy()
    assert build_github_api(equal).shared_budget is not first.shared_budget


def test_clients_of_separate_processes_spend_the_one_budget_kept_in_the_store(
    store: Store,
) -> None:
    """``vanguard up`` and a cron ``ci poll --once`` read their own settings, yet spend one
    ``poll.calls_per_hour``: the budget is the store's, not the process's."""
    config = GitHubConfig(poll=PollConfig(calls_per_hour=10, reserve=0))
    up = _api(_listing([]), StoredBudget(store, config, clock=lambda: T0))
    cron = _api(_listing([]), StoredBudget(store, config.model_copy(), clock=lambda: T0))
    for _ in range(5):
        up.list_runs(REPO, etag=None, per_page=30)
        cron.list_runs(REPO, etag=None, per_page=30)
    assert up.budget.used == cron.budget.used == 10
    with pytest.raises(AdapterError, match="own budget of 10 calls per hour spent"):
        _api(_listing([]), StoredBudget(store, config)).list_runs(REPO, etag=None, per_page=30)


def test_a_store_that_cannot_keep_the_budget_holds_every_call_back(store: Store) -> None:
    """Retried like any budget refusal: a call made without it might break GitHub's wait."""
    sent: list[httpx.Request] = []
    api = _api(_listing(sent), StoredBudget(store, GitHubConfig()))
    store.close()
    with pytest.raises(AdapterError, match="cannot keep it in the store") as raised:
        api.list_runs(REPO, etag=None, per_page=30)
    assert not isinstance(raised.value, ActionFailed)
    assert sent == []


def _answer(
    status: int, sent: list[httpx.Request], headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """GitHub answering every request with ``status`` (a listing of no runs for a 200)."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body: dict[str, object] = {"message": "slow down"}
        if status == 200:
            body = {"workflow_runs": []}
        return httpx.Response(status, headers=headers, json=body)

    return handler


def _process(
    store: Store,
    handler: Callable[[httpx.Request], httpx.Response],
    at: datetime,
    config: GitHubConfig | None = None,
) -> GithubkitApi:
    """The GitHub client of one process of ``store`` whose clock reads ``at``."""
    budget = StoredBudget(store, config or GitHubConfig(), clock=lambda: at)
    return _api(handler, budget, clock=lambda: at)


def test_a_wait_of_a_year_holds_every_process_back_for_an_hour_only(store: Store) -> None:
    """Kept in the store, one absurd Retry-After stopped every call of every process, re-runs
    included, for as long as it said; restarts did not clear it."""
    sent: list[httpx.Request] = []
    told = _process(store, _answer(429, sent, {"Retry-After": str(365 * 86400)}), T0)
    with pytest.raises(AdapterError, match="rate limited"):
        told.list_runs(REPO, etag=None, per_page=30)
    held = _process(store, _answer(201, sent), T0 + timedelta(minutes=59))
    with pytest.raises(
        AdapterError,
        match=r"capped at 3600 s by this host's clock; retry at 2026-11-25T13:00:00\+00:00",
    ):
        held.rerun_failed_jobs(REPO, 1)
    _process(store, _answer(201, sent), T0 + timedelta(hours=1)).rerun_failed_jobs(REPO, 1)
    assert [request.method for request in sent] == ["GET", "POST"]


def test_an_absurd_retry_after_fails_the_call_as_retryable(store: Store) -> None:
    """Beyond what a datetime holds it raised OverflowError, which ended the whole poll."""
    api = _process(store, _answer(429, [], {"Retry-After": str(10**12)}), T0)
    with pytest.raises(AdapterError, match="rate limited"):
        api.list_runs(REPO, etag=None, per_page=30)
    assert api.budget.blocked_until == T0 + timedelta(hours=1)


def test_a_host_whose_clock_runs_a_day_ahead_pins_no_window_for_the_others(
    store: Store,
) -> None:
    config = GitHubConfig(poll=PollConfig(calls_per_hour=10, reserve=0))
    ahead = T0 + timedelta(days=1)
    _process(store, _answer(200, []), ahead, config).list_runs(REPO, etag=None, per_page=30)
    fine = _process(store, _answer(200, []), T0, config)
    for _ in range(9):
        fine.list_runs(REPO, etag=None, per_page=30)
    assert (fine.budget.window_start, fine.budget.used) == (T0, 10)
    later = _process(store, _answer(200, []), T0 + timedelta(hours=1), config)
    later.list_runs(REPO, etag=None, per_page=30)
    assert later.budget.used == 1, "a new hour on the clock of the host that reads it"


def test_a_minute_told_to_a_host_a_day_ahead_holds_the_others_an_hour_at_most(
    store: Store,
) -> None:
    ahead = T0 + timedelta(days=1)
    with pytest.raises(AdapterError, match="rate limited"):
        _process(store, _answer(429, []), ahead).list_runs(REPO, etag=None, per_page=30)
    first = T0 + timedelta(hours=6)
    with pytest.raises(AdapterError, match=r"retry at 2026-11-25T19:00:00\+00:00"):
        _process(store, _answer(201, []), first).rerun_failed_jobs(REPO, 1)
    half_an_hour_on = first + timedelta(minutes=30)
    with pytest.raises(AdapterError, match=r"retry at 2026-11-25T19:00:00\+00:00"):
        _process(store, _answer(201, []), half_an_hour_on).rerun_failed_jobs(REPO, 1)
    sent: list[httpx.Request] = []
    _process(store, _answer(201, sent), first + timedelta(hours=1)).rerun_failed_jobs(REPO, 1)
    assert len(sent) == 1, "the hour is kept from when the first host read it"


def test_a_poller_with_a_larger_cap_leaves_the_reserve_of_vanguard_up(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A cron ``ci poll`` loading other settings (a larger cap, no reserve) polled straight
    through the calls ``vanguard up`` keeps for its re-runs."""
    up_config = GitHubConfig(poll=PollConfig(calls_per_hour=100, reserve=20))
    cron_config = GitHubConfig(poll=PollConfig(calls_per_hour=1000, reserve=0))
    up = _process(store, _answer(201, []), T0, up_config)
    up.rerun_failed_jobs(REPO, 1)
    cron = _process(store, _answer(200, []), T0, cron_config)
    with caplog.at_level("WARNING", logger="vanguard.ci.client"):
        for _ in range(79):
            cron.list_runs(REPO, etag=None, per_page=30)
        with pytest.raises(
            AdapterError,
            match=r"own budget of 100 calls per hour spent \(the last 20 are kept",
        ):
            cron.list_runs(REPO, etag=None, per_page=30)
    for _ in range(20):
        up.rerun_failed_jobs(REPO, 1)
    warned = [r.getMessage() for r in caplog.records if r.name == "vanguard.ci.client"]
    assert warned == [
        "github.poll: this process has calls_per_hour 1000 and reserve 0, but another "
        "process of this store used stricter ones within a day: calls_per_hour 100 and "
        "reserve 20 hold (the smallest cap and the largest reserve); give every process of "
        "the store the same github.poll settings"
    ], "once, however many calls"


def test_a_process_with_a_smaller_cap_holds_the_others_to_it(store: Store) -> None:
    """Each process checked the shared count against its own cap: a smaller one was refused
    by calls it never made, while the others went on."""
    up_config = GitHubConfig(poll=PollConfig(calls_per_hour=5000, reserve=0))
    cron_config = GitHubConfig(poll=PollConfig(calls_per_hour=1000, reserve=100))
    up = _process(store, _answer(200, []), T0, up_config)
    up.shared_budget.change(lambda b: b.model_copy(update={"window_start": T0, "used": 1200}))
    cron = _process(store, _answer(200, []), T0, cron_config)
    with pytest.raises(AdapterError, match="own budget of 1000 calls per hour spent"):
        cron.list_runs(REPO, etag=None, per_page=30)
    with pytest.raises(AdapterError, match="own budget of 1000 calls per hour spent"):
        up.list_runs(REPO, etag=None, per_page=30)


def test_no_credential_in_the_api_url_reaches_the_store(store: Store) -> None:
    config = GitHubConfig(api_url="https://proxyuser:s3cr3t-pass@ghe.example.com/api/v3")
    StoredBudget(store, config, clock=lambda: T0).change(lambda b: b.spend(T0))
    with store.session() as session:
        rows = session.execute(select(GitHubBudgetRow.__table__)).all()
    assert [row.api_url for row in rows] == ["https://ghe.example.com/api/v3"]
    kept = " ".join(str(value) for row in rows for value in row)
    assert "s3cr3t" not in kept
    assert "proxyuser" not in kept
