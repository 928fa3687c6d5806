"""The GitHub REST calls the CI agent makes, behind a small protocol, over githubkit.

``GitHubApi`` lists the calls; ``GithubkitApi`` makes them with githubkit (token or GitHub
App installation auth, secrets read through ``resolve_secret``), spending an ``ApiBudget``
that honours GitHub's rate-limit headers and ``Retry-After`` (a 304 is given back: GitHub
does not charge it). Given a store, ``build_github_api`` makes clients that spend the
budget kept there (``StoredBudget``): every process of one Vanguard spends one hourly cap
and honours what GitHub told any of them; without one, the clients built from the same
settings share one budget in the process (``process_budget``). ``MemoryGitHub`` is the
in-memory stand-in for tests of the pure core.
githubkit's own retries and HTTP cache are off: the budget decides when to wait, and ETags
are sent explicitly by the poller.

Errors are translated here: a request GitHub refuses (4xx: malformed, forbidden, not found)
is ``ActionFailed`` — retrying it cannot help; a network failure, a 5xx, a rate limit (429,
or a 403 that ``rate_limited`` recognises, secondary limit included) or a spent budget is
``AdapterError``, which the engine retries with backoff.
"""

from __future__ import annotations

import base64
import logging
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from githubkit import AppInstallationAuthStrategy, GitHub, TokenAuthStrategy
from githubkit.exception import GitHubException, RequestFailed, RequestTimeout
from pydantic import BaseModel, ConfigDict, ValidationError

from vanguard.ci.budget import ApiBudget, rate_limited
from vanguard.ci.config import GitHubConfig, split_repository
from vanguard.ci.events import IssueRef, WorkflowJob, WorkflowRun
from vanguard.ci.triage import IssueDraft
from vanguard.clock import utcnow
from vanguard.config import resolve_secret
from vanguard.errors import ActionFailed, AdapterError, ConfigError, StoreError

if TYPE_CHECKING:
    from vanguard.store import Store

__all__ = [
    "BudgetKeeper",
    "GitHubApi",
    "GithubkitApi",
    "MemoryGitHub",
    "RunsPage",
    "SharedBudget",
    "StoredBudget",
    "build_github_api",
    "process_budget",
]

log = logging.getLogger(__name__)

USER_AGENT = "vanguard-ci-agent"
SUCCESS_PAGE = 5
"""Runs asked for when looking for the last success (GitHub's newest first)."""
ROLES = frozenset({"admin", "maintain", "write", "triage", "read"})
"""GitHub's built-in repository roles, as ``role_name`` spells them."""


class RunsPage(BaseModel):
    """One poll of a repository's runs: ``None`` runs means 304 Not Modified."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    runs: tuple[WorkflowRun, ...] | None
    etag: str | None


class GitHubApi(Protocol):
    """What the CI agent asks of GitHub; every method raises only ``AdapterError``s."""

    def get_run(self, repository: str, run_id: int) -> WorkflowRun: ...

    def list_runs(self, repository: str, *, etag: str | None, per_page: int) -> RunsPage: ...

    def run_jobs(
        self, repository: str, run_id: int, *, attempt: int | None = None
    ) -> list[WorkflowJob]: ...

    def last_success(
        self, repository: str, workflow_id: int, branch: str
    ) -> WorkflowRun | None: ...

    def stream_job_log(self, repository: str, job_id: int) -> Iterator[bytes]: ...

    def rerun_failed_jobs(self, repository: str, run_id: int) -> None: ...

    def find_issue(self, repository: str, label: str) -> IssueRef | None: ...

    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef: ...

    def comment_issue(self, repository: str, number: int, body: str) -> int: ...

    def add_labels(self, repository: str, number: int, labels: tuple[str, ...]) -> None: ...

    def set_issue_state(self, repository: str, number: int, state: str) -> None: ...

    def file_text(self, repository: str, path: str) -> str | None: ...

    def permission(self, repository: str, login: str) -> str | None: ...


def _message(exc: RequestFailed) -> str:
    try:
        data = exc.response.raw_response.json()
    except ValueError:
        return exc.response.raw_response.text[:200]
    if isinstance(data, dict):
        detail = data.get("message") or data.get("detail") or data.get("title") or ""
        return str(detail)[:300]
    return str(data)[:200]


def _refusal(what: str, exc: RequestFailed, message: str) -> AdapterError:
    """The error for a request GitHub answered with an error status: retryable or not."""
    status = exc.response.status_code
    text = f"{what}: HTTP {status}: {message}"
    if rate_limited(status, exc.response.headers, message):
        return AdapterError(f"{text} (rate limited; the budget waits)")
    if status >= 500:
        return AdapterError(text)
    return ActionFailed(text)


class BudgetKeeper(Protocol):
    """Where the ``ApiBudget`` of one or more clients is kept, changed one change at a time."""

    def read(self) -> ApiBudget: ...

    def change(self, step: Callable[[ApiBudget], ApiBudget]) -> ApiBudget:
        """Apply ``step`` to the budget as it is now and keep its result; what ``step``
        raises leaves the budget unchanged. A keeper that cannot keep it raises
        ``AdapterError``."""
        ...


class SharedBudget:
    """One ``ApiBudget`` in this process that every client holding it spends from, under
    one lock."""

    def __init__(self, budget: ApiBudget) -> None:
        self.value = budget
        self.lock = threading.Lock()

    def read(self) -> ApiBudget:
        return self.value

    def change(self, step: Callable[[ApiBudget], ApiBudget]) -> ApiBudget:
        with self.lock:
            self.value = step(self.value)
            return self.value


class StoredBudget:
    """The ``ApiBudget`` of ``config.api_url`` kept in the store, spent by every process of
    one Vanguard: ``vanguard up``, its workers and a ``vanguard ci poll --once`` from cron
    share one hourly cap, and a ``Retry-After`` one of them was told holds for all.

    Each change is one short unit of work (the row read under its lock, changed, written),
    before or after a call to GitHub, never across one. The cap and reserve in force are
    the strictest of this process's settings and those other processes used lately
    (``CiRepo.budget``); a process held to stricter ones than its own warns once. Only
    counts, times and settings are kept, never a credential.
    """

    def __init__(
        self, store: Store, config: GitHubConfig, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.store = store
        self.api_url = config.api_url
        self.limits = ApiBudget(
            calls_per_hour=config.poll.calls_per_hour, reserve=config.poll.reserve
        )
        self.clock = clock
        self._warned = False

    def read(self) -> ApiBudget:
        from vanguard.ci.records import CiRepo

        try:
            with self.store.read_session() as session:
                budget = CiRepo(session).budget(self.api_url, self.limits, at=self.clock())
        except StoreError as exc:
            raise AdapterError(f"GitHub API budget: cannot read it from the store: {exc}") from exc
        return self._held(budget)

    def change(self, step: Callable[[ApiBudget], ApiBudget]) -> ApiBudget:
        from vanguard.ci.records import CiRepo

        try:
            with self.store.session() as session:
                budget = CiRepo(session).change_budget(
                    self.api_url, self.limits, step, at=self.clock()
                )
        except StoreError as exc:
            raise AdapterError(
                f"GitHub API budget: cannot keep it in the store: {exc}; no call is made "
                "until the store answers"
            ) from exc
        return self._held(budget)

    def _held(self, budget: ApiBudget) -> ApiBudget:
        """``budget``, after warning once if it holds this process to another's settings."""
        own, held = self.limits, (budget.calls_per_hour, budget.reserve)
        if not self._warned and held != (own.calls_per_hour, own.reserve):
            self._warned = True
            log.warning(
                "github.poll: this process has calls_per_hour %d and reserve %d, but another "
                "process of this store used stricter ones within a day: calls_per_hour %d and "
                "reserve %d hold (the smallest cap and the largest reserve); give every "
                "process of the store the same github.poll settings",
                own.calls_per_hour,
                own.reserve,
                *held,
            )
        return budget


_PROCESS_BUDGETS: dict[int, SharedBudget] = {}
_PROCESS_BUDGETS_LOCK = threading.Lock()


def process_budget(config: GitHubConfig) -> SharedBudget:
    """The budget of this process's GitHub clients built from ``config`` without a store
    (``vanguard ci explain-run``); those built with one spend the ``StoredBudget``.

    The entry lives as long as ``config`` (keyed by identity: a test's own settings never
    share a budget with another test's that happen to be equal).
    """
    key = id(config)
    with _PROCESS_BUDGETS_LOCK:
        shared = _PROCESS_BUDGETS.get(key)
        if shared is None:
            budget = ApiBudget(
                calls_per_hour=config.poll.calls_per_hour, reserve=config.poll.reserve
            )
            shared = _PROCESS_BUDGETS[key] = SharedBudget(budget)
            weakref.finalize(config, _PROCESS_BUDGETS.pop, key, None)
        return shared


class GithubkitApi:
    """``GitHubApi`` over githubkit; thread-safe budget, one httpx client per call.

    Given a ``BudgetKeeper`` (``SharedBudget``, ``StoredBudget``), the client spends it
    with the other clients holding it; given an ``ApiBudget``, it has a budget of its own.
    An ``essential`` client (the re-run and triage actions') may spend the reserve on every
    call: the read of a run right before re-running it is as much the re-run as its POST.
    """

    def __init__(
        self,
        github: GitHub[Any],
        *,
        budget: ApiBudget | BudgetKeeper,
        log_max_bytes: int,
        clock: Callable[[], datetime] = utcnow,
        essential: bool = False,
    ) -> None:
        self.github = github
        self.shared_budget: BudgetKeeper = (
            SharedBudget(budget) if isinstance(budget, ApiBudget) else budget
        )
        self.log_max_bytes = log_max_bytes
        self.clock = clock
        self.essential = essential
        self.calls: list[tuple[str, str, int]] = []
        self._workflow_names: dict[tuple[str, int], str] = {}

    @property
    def budget(self) -> ApiBudget:
        return self.shared_budget.read()

    @budget.setter
    def budget(self, value: ApiBudget) -> None:
        self.shared_budget.change(lambda _: value)

    # -- plumbing ------------------------------------------------------------------------

    def _spend(self, essential: bool = False) -> None:
        """Spend one call, or raise why not. A refusal still keeps the budget as this host
        settled it: a wait written by a host whose clock runs ahead is bounded for all."""
        essential = essential or self.essential
        refused: list[str] = []

        def spend(budget: ApiBudget) -> ApiBudget:
            now = self.clock()
            verdict = budget.check(now, essential=essential)
            if not verdict.allowed:
                when = verdict.retry_at.isoformat() if verdict.retry_at else "later"
                refused.append(f"GitHub API budget: {verdict.reason}; retry at {when}")
                return budget.settled(now)
            return budget.spend(now)

        self.shared_budget.change(spend)
        if refused:
            raise AdapterError(refused[0])

    def _observe(self, method: str, url: str, status: int, headers: Any, message: str = "") -> None:
        """Learn from an answer: its rate-limit headers, and a 304 given back (GitHub does
        not charge it). An answer that could not be kept is logged, not raised: the call
        was made, and what it did must not be taken for a failure."""
        seen = dict(headers)

        def observe(budget: ApiBudget) -> ApiBudget:
            now = self.clock()
            budget = budget.observe(now, status, seen, message)
            return budget.refund(now) if status == 304 else budget

        self.calls.append((method, url, status))
        try:
            self.shared_budget.change(observe)
        except AdapterError as exc:
            log.warning(
                "GitHub %s %s answered %d; the answer is not kept in the budget: %s",
                method,
                url,
                status,
                exc,
            )

    def _call(
        self,
        method: str,
        url: str,
        *,
        essential: bool = False,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        allow: tuple[int, ...] = (),
    ) -> tuple[int, Any, dict[str, str]]:
        self._spend(essential)
        try:
            response = self.github.request(method, url, json=json, params=params, headers=headers)
        except RequestFailed as exc:
            status = exc.response.status_code
            message = _message(exc)
            self._observe(method, url, status, exc.response.headers, message)
            if status in allow and not rate_limited(status, exc.response.headers, message):
                return status, None, dict(exc.response.headers)
            raise _refusal(f"GitHub {method} {url}", exc, message) from exc
        except RequestTimeout as exc:
            raise AdapterError(f"GitHub {method} {url}: timed out") from exc
        except GitHubException as exc:
            raise AdapterError(f"GitHub {method} {url}: {exc!r}") from exc
        raw = response.raw_response
        self._observe(method, url, raw.status_code, raw.headers)
        body: Any = None
        if raw.content and raw.status_code != 304:
            try:
                body = raw.json()
            except ValueError as exc:
                raise AdapterError(f"GitHub {method} {url}: answer is not JSON") from exc
        return raw.status_code, body, dict(raw.headers)

    @staticmethod
    def _repo(repository: str) -> str:
        try:
            owner, repo = split_repository(repository)
        except ValueError as exc:
            raise ActionFailed(str(exc)) from exc
        return f"/repos/{owner}/{repo}"

    # -- calls ---------------------------------------------------------------------------

    def get_run(self, repository: str, run_id: int) -> WorkflowRun:
        _, body, _ = self._call("GET", f"{self._repo(repository)}/actions/runs/{run_id}")
        try:
            return WorkflowRun.model_validate(body)
        except ValidationError as exc:
            raise AdapterError(f"GitHub returned a run that does not parse: {exc}") from exc

    def list_runs(self, repository: str, *, etag: str | None, per_page: int) -> RunsPage:
        status, body, headers = self._call(
            "GET",
            f"{self._repo(repository)}/actions/runs",
            params={"status": "completed", "per_page": per_page},
            headers={"If-None-Match": etag} if etag else None,
        )
        new_etag = {k.lower(): v for k, v in headers.items()}.get("etag") or etag
        if status == 304:
            return RunsPage(runs=None, etag=new_etag)
        items = body.get("workflow_runs", []) if isinstance(body, dict) else []
        runs: list[WorkflowRun] = []
        for item in items:
            try:
                runs.append(WorkflowRun.model_validate(item))
            except ValidationError:
                continue
        return RunsPage(runs=tuple(self._named(repository, run) for run in runs), etag=new_etag)

    def _named(self, repository: str, run: WorkflowRun) -> WorkflowRun:
        """The run, named after its workflow when GitHub listed it without a name.

        A delivery names such a run from its ``workflow`` object; a listing has none, so the
        workflow is asked for once per client. Without it, the poller would record the run
        under its file's name and ``ci report`` would show one workflow as two.
        """
        if (run.name or "").strip() or run.workflow_id is None:
            return run
        key = (repository.lower(), run.workflow_id)
        if key not in self._workflow_names:
            url = f"{self._repo(repository)}/actions/workflows/{run.workflow_id}"
            try:
                _, body, _ = self._call("GET", url)
            except ActionFailed:
                body = None
            name = body.get("name") if isinstance(body, dict) else None
            self._workflow_names[key] = name if isinstance(name, str) else ""
        return run.model_copy(update={"name": self._workflow_names[key] or None})

    def run_jobs(
        self, repository: str, run_id: int, *, attempt: int | None = None
    ) -> list[WorkflowJob]:
        """The jobs of attempt ``attempt`` of the run, else of its latest attempt.

        A failure is explained from its own attempt's jobs: by the time it is handled, a
        newer attempt may be queued, running or passed, and its logs explain nothing of
        this one. Jobs that do not parse are skipped.
        """
        runs = f"{self._repo(repository)}/actions/runs/{run_id}"
        url, params = f"{runs}/jobs", {"filter": "latest", "per_page": 100}
        if attempt is not None:
            url, params = f"{runs}/attempts/{attempt}/jobs", {"per_page": 100}
        _, body, _ = self._call("GET", url, params=params)
        jobs = body.get("jobs", []) if isinstance(body, dict) else []
        found: list[WorkflowJob] = []
        for item in jobs:
            try:
                found.append(WorkflowJob.model_validate(item))
            except ValidationError:
                continue
        return found

    def last_success(self, repository: str, workflow_id: int, branch: str) -> WorkflowRun | None:
        """The newest successful run of a workflow on ``branch`` that built this repository.

        GitHub filters by ``status=success`` and ``branch``; a run in the answer that is not
        a completed success anyway is skipped (a baseline that failed would hide the
        failure), and so is a fork's pull request whose branch has the same name (its code
        is not this repository's).
        """
        _, body, _ = self._call(
            "GET",
            f"{self._repo(repository)}/actions/workflows/{workflow_id}/runs",
            params={
                "status": "success",
                "branch": branch,
                "per_page": SUCCESS_PAGE,
                "exclude_pull_requests": "true",
            },
        )
        items = body.get("workflow_runs", []) if isinstance(body, dict) else []
        for item in items:
            try:
                run = WorkflowRun.model_validate(item)
            except ValidationError:
                continue
            if run.succeeded and run.built_from(repository):
                return run
        return None

    def stream_job_log(self, repository: str, job_id: int) -> Iterator[bytes]:
        """The job's plain-text log in chunks, cut at ``log_max_bytes`` (the tail is lost)."""
        url = f"{self._repo(repository)}/actions/jobs/{job_id}/logs"
        self._spend()
        with self._streaming(url) as chunks:
            sent = 0
            for chunk in chunks:
                room = self.log_max_bytes - sent
                if room <= 0:
                    return
                yield chunk[:room]
                sent += min(len(chunk), room)

    @contextmanager
    def _streaming(self, url: str) -> Iterator[Iterator[bytes]]:
        with self.github:
            try:
                response = self.github.request("GET", url, stream=True)
            except RequestFailed as exc:
                message = _message(exc)
                self._observe("GET", url, exc.response.status_code, exc.response.headers, message)
                raise _refusal(f"GitHub GET {url}", exc, message) from exc
            except GitHubException as exc:
                raise AdapterError(f"GitHub GET {url}: {exc!r}") from exc
            raw = response.raw_response
            self._observe("GET", url, raw.status_code, raw.headers)
            try:
                yield raw.iter_bytes(64 * 1024)
            except Exception as exc:
                raise AdapterError(f"GitHub GET {url}: log download broke off: {exc}") from exc
            finally:
                raw.close()

    def rerun_failed_jobs(self, repository: str, run_id: int) -> None:
        self._call(
            "POST",
            f"{self._repo(repository)}/actions/runs/{run_id}/rerun-failed-jobs",
            essential=True,
        )

    def find_issue(self, repository: str, label: str) -> IssueRef | None:
        _, body, _ = self._call(
            "GET",
            f"{self._repo(repository)}/issues",
            params={"labels": label, "state": "all", "per_page": 10},
            essential=True,
        )
        for item in body if isinstance(body, list) else []:
            try:
                issue = IssueRef.model_validate(item)
            except ValidationError:
                continue
            if label in issue.label_names and issue.pull_request is None:
                return issue
        return None

    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef:
        payload: dict[str, Any] = {"title": draft.title, "body": draft.body}
        payload["labels"] = list(draft.labels)
        if draft.assignees:
            payload["assignees"] = list(draft.assignees)
        _, body, _ = self._call(
            "POST", f"{self._repo(repository)}/issues", json=payload, essential=True
        )
        try:
            return IssueRef.model_validate(body)
        except ValidationError as exc:
            raise AdapterError(f"GitHub returned an issue that does not parse: {exc}") from exc

    def comment_issue(self, repository: str, number: int, body: str) -> int:
        _, reply, _ = self._call(
            "POST",
            f"{self._repo(repository)}/issues/{number}/comments",
            json={"body": body},
            essential=True,
        )
        return int(reply["id"]) if isinstance(reply, dict) and "id" in reply else 0

    def add_labels(self, repository: str, number: int, labels: tuple[str, ...]) -> None:
        self._call(
            "POST",
            f"{self._repo(repository)}/issues/{number}/labels",
            json={"labels": list(labels)},
            essential=True,
        )

    def set_issue_state(self, repository: str, number: int, state: str) -> None:
        self._call(
            "PATCH",
            f"{self._repo(repository)}/issues/{number}",
            json={"state": state},
            essential=True,
        )

    def file_text(self, repository: str, path: str) -> str | None:
        status, body, _ = self._call(
            "GET", f"{self._repo(repository)}/contents/{path}", allow=(404,)
        )
        if status == 404 or not isinstance(body, dict) or body.get("type") != "file":
            return None
        if body.get("encoding") != "base64" or not isinstance(body.get("content"), str):
            return None
        try:
            return base64.b64decode(body["content"]).decode("utf-8", errors="replace")
        except ValueError:
            return None

    def permission(self, repository: str, login: str) -> str | None:
        """``login``'s role on ``repository``: one of ``ROLES``, else GitHub's legacy level.

        The legacy ``permission`` field only says admin, write, read or none (maintain is
        reported as write, triage as read), so ``role_name`` is trusted when it names a
        built-in role; a custom role falls back to the level it is based on.
        """
        status, body, _ = self._call(
            "GET",
            f"{self._repo(repository)}/collaborators/{login}/permission",
            allow=(403, 404),
        )
        if status != 200 or not isinstance(body, dict):
            return None
        role = body.get("role_name")
        if role in ROLES:
            return str(role)
        value = body.get("permission")
        return value if isinstance(value, str) else None


def build_github_api(
    config: GitHubConfig,
    *,
    store: Store | None = None,
    essential: bool = False,
    clock: Callable[[], datetime] = utcnow,
) -> GithubkitApi:
    """A githubkit client from the ``github:`` settings; secrets resolved now, never logged.

    With ``store`` it spends the budget kept there (``StoredBudget``) with every process of
    that store; without, the process's budget for these settings (``process_budget``).
    ``essential``: the client of the re-run and triage actions, whose every call may spend
    the reserve.
    """
    auth: Any
    if config.app is not None:
        key = resolve_secret(
            env=config.app.private_key_env,
            file=config.app.private_key_file,
            what="github.app.private_key",
        )
        auth = AppInstallationAuthStrategy(
            app_id=config.app.app_id,
            private_key=key,
            installation_id=config.app.installation_id,
        )
    elif config.token_env is not None or config.token_file is not None:
        auth = TokenAuthStrategy(
            resolve_secret(env=config.token_env, file=config.token_file, what="github.token")
        )
    else:
        raise ConfigError("no GitHub credentials: set token_env, token_file or app", key="github")
    github: GitHub[Any] = GitHub(
        auth,
        base_url=config.api_url,
        user_agent=USER_AGENT,
        timeout=config.timeout_s,
        http_cache=False,
        auto_retry=False,
        trust_env=False,
    )
    budget: BudgetKeeper = (
        process_budget(config) if store is None else StoredBudget(store, config, clock=clock)
    )
    return GithubkitApi(
        github,
        budget=budget,
        log_max_bytes=config.log_max_bytes,
        clock=clock,
        essential=essential,
    )


K = TypeVar("K")
V = TypeVar("V")


def _lookup(table: Mapping[tuple[str, K], V], repository: str, key: K) -> V | None:
    """``table[(repository, key)]`` with the repository's name read as GitHub reads it:
    without regard to case."""
    for (repo, k), value in table.items():
        if k == key and repo.lower() == repository.lower():
            return value
    return None


class MemoryGitHub:
    """In-memory ``GitHubApi``: runs, jobs, logs and issues in dicts; records every call.

    Reading runs, jobs and logs ignores the case of the repository's name, as GitHub does.
    """

    def __init__(self) -> None:
        self.runs: dict[tuple[str, int], WorkflowRun] = {}
        self.jobs: dict[tuple[str, int], list[WorkflowJob]] = {}
        self.logs: dict[tuple[str, int], bytes] = {}
        self.issues: dict[tuple[str, int], tuple[IssueDraft, str]] = {}
        self.comments: list[tuple[str, int, str]] = []
        self.files: dict[tuple[str, str], str] = {}
        self.permissions: dict[tuple[str, str], str] = {}
        self.reruns: list[tuple[str, int]] = []
        self.etags: dict[str, str] = {}

    def get_run(self, repository: str, run_id: int) -> WorkflowRun:
        run = _lookup(self.runs, repository, run_id)
        if run is None:
            raise ActionFailed(f"no run {run_id} in {repository}")
        return run

    def list_runs(self, repository: str, *, etag: str | None, per_page: int) -> RunsPage:
        current = next((v for k, v in self.etags.items() if k.lower() == repository.lower()), "v0")
        if etag == current:
            return RunsPage(runs=None, etag=current)
        runs = [r for (repo, _), r in self.runs.items() if repo.lower() == repository.lower()]
        return RunsPage(runs=tuple(runs[:per_page]), etag=current)

    def run_jobs(
        self, repository: str, run_id: int, *, attempt: int | None = None
    ) -> list[WorkflowJob]:
        """The jobs of attempt ``attempt``, else of the latest attempt, as GitHub's
        ``filter=latest`` answers (a job that names no attempt belongs to every one)."""
        jobs = _lookup(self.jobs, repository, run_id) or []
        if attempt is None:
            attempt = max((j.run_attempt or 1 for j in jobs), default=1)
        return [j for j in jobs if j.run_attempt in (None, attempt)]

    def last_success(self, repository: str, workflow_id: int, branch: str) -> WorkflowRun | None:
        runs = [
            run
            for (repo, _), run in self.runs.items()
            if repo.lower() == repository.lower()
            and run.workflow_id == workflow_id
            and run.head_branch == branch
            and run.succeeded
            and run.built_from(repository)
        ]
        return max(runs, key=lambda run: run.id, default=None)

    def stream_job_log(self, repository: str, job_id: int) -> Iterator[bytes]:
        data = _lookup(self.logs, repository, job_id) or b""
        for start in range(0, len(data), 4096):
            yield data[start : start + 4096]

    def rerun_failed_jobs(self, repository: str, run_id: int) -> None:
        self.get_run(repository, run_id)
        self.reruns.append((repository, run_id))

    def find_issue(self, repository: str, label: str) -> IssueRef | None:
        for (repo, number), (draft, state) in self.issues.items():
            if repo == repository and label in draft.labels:
                labels = [{"name": name} for name in draft.labels]
                return IssueRef.model_validate(
                    {"number": number, "title": draft.title, "state": state, "labels": labels}
                )
        return None

    def create_issue(self, repository: str, draft: IssueDraft) -> IssueRef:
        number = len(self.issues) + 1
        self.issues[(repository, number)] = (draft, "open")
        return IssueRef(number=number, title=draft.title, state="open")

    def comment_issue(self, repository: str, number: int, body: str) -> int:
        self.comments.append((repository, number, body))
        return len(self.comments)

    def add_labels(self, repository: str, number: int, labels: tuple[str, ...]) -> None:
        draft, state = self.issues[(repository, number)]
        merged = tuple(dict.fromkeys([*draft.labels, *labels]))
        self.issues[(repository, number)] = (draft.model_copy(update={"labels": merged}), state)

    def set_issue_state(self, repository: str, number: int, state: str) -> None:
        draft, _ = self.issues[(repository, number)]
        self.issues[(repository, number)] = (draft, state)

    def file_text(self, repository: str, path: str) -> str | None:
        return self.files.get((repository, path))

    def permission(self, repository: str, login: str) -> str | None:
        return self.permissions.get((repository, login))
