"""Read a finished run's failed jobs from GitHub and explain them, each against its baseline.

Shared by the intake (webhooks and polling) and ``vanguard ci explain-run``. Logs are
streamed and only their tails kept, so memory stays bounded whatever GitHub sends. Each
failed job is explained against the log of the job of the same name in the workflow's last
successful run on the run's branch, else on the default branch (``GitHubConfig.baseline``);
a baseline that cannot be had (none passed, GitHub or the budget says no) is skipped, never
fatal. The best-explained job wins: a known class first, then the higher confidence.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator

from pydantic import BaseModel, ConfigDict

from vanguard.ci.client import GitHubApi
from vanguard.ci.config import GitHubConfig
from vanguard.ci.events import WorkflowJob, WorkflowRun
from vanguard.diagnose.cilog import (
    ExplainedLine,
    Explanation,
    ModelChoice,
    explain,
    fingerprint_of,
    iter_log_lines,
)
from vanguard.diagnose.taxonomy import Heal, Taxonomy
from vanguard.errors import VanguardError

__all__ = ["MAX_JOBS", "Baseline", "RunReading", "log_tail", "read_run"]

log = logging.getLogger(__name__)

MAX_JOBS = 5
"""Logs of at most this many jobs are read per failed run (the API budget is shared)."""


class Baseline(BaseModel):
    """The passing job a failed job's log was compared with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: int
    job_id: int
    url: str | None = None

    @property
    def link(self) -> str:
        """Where a person can read the passing job: its page, else its run's number."""
        return self.url or f"run {self.run_id}, job {self.job_id}"

    @property
    def reason(self) -> str:
        return (
            f"compared with job {self.job_id} of passing run {self.run_id}: "
            "lines it also printed sink"
        )


class RunReading(BaseModel):
    """The explanation of a run: its best-explained job's, and what it was compared with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    explanation: Explanation
    job: WorkflowJob | None = None
    baseline: Baseline | None = None
    jobs_read: int = 0


def log_tail(chunks: Iterable[bytes], keep_bytes: int) -> Iterator[bytes]:
    """The last ``keep_bytes`` of a byte stream, from a line start; memory stays bounded.

    Failures are explained at the end of a log, so a huge log is read through and only its
    tail is explained; when bytes were dropped, the partial first line is dropped too.
    """
    kept: deque[bytes] = deque()
    size = 0
    dropped = False
    for chunk in chunks:
        kept.append(chunk)
        size += len(chunk)
        while kept and size - len(kept[0]) >= keep_bytes:
            size -= len(kept.popleft())
            dropped = True
    tail = b"".join(kept)
    if len(tail) > keep_bytes:
        tail = tail[-keep_bytes:]
        dropped = True
    if dropped:
        cut = tail.find(b"\n")
        tail = tail[cut + 1 :] if cut >= 0 else b""
    if tail:
        yield tail


def read_run(
    api: GitHubApi,
    config: GitHubConfig,
    taxonomy: Taxonomy,
    repository: str,
    default_branch: str,
    run: WorkflowRun,
) -> RunReading:
    """Explain the run's failed jobs (all its jobs when none is marked failed).

    Each failed job's own log is read before anything is spent on its baseline, so a
    budget running low costs the comparison, not the explanation.
    """
    if run.never_started:
        return RunReading(explanation=never_started(taxonomy, repository, run))
    jobs = api.run_jobs(repository, run.id)
    failed = [j for j in jobs if j.failed] or [j for j in jobs if j.conclusion != "success"]
    candidates = failed or jobs
    model: ModelChoice = None if config.line_model == "none" else "builtin"
    passing: tuple[WorkflowRun, list[WorkflowJob]] | None = None
    looked = not failed
    best: tuple[tuple[bool, float], RunReading] | None = None
    for job in candidates[:MAX_JOBS]:
        lines = _tail_lines(api, config, repository, job.id)
        if not looked:
            passing, looked = _passing_jobs(api, config, repository, default_branch, run), True
        baseline, baseline_lines = _baseline_log(api, config, repository, job, passing)
        explanation = explain(lines, baseline_lines, taxonomy=taxonomy, model=model)
        if baseline is not None:
            explanation = explanation.model_copy(
                update={"reasons": (*explanation.reasons, baseline.reason)}
            )
        rank = (explanation.category != taxonomy.fallback, explanation.confidence)
        if best is None or rank > best[0]:
            best = (rank, RunReading(explanation=explanation, job=job, baseline=baseline))
    if best is None:
        return RunReading(explanation=explain([], taxonomy=taxonomy))
    return best[1].model_copy(update={"jobs_read": min(len(candidates), MAX_JOBS)})


WORKFLOW_CONFIG = "workflow_config"


def never_started(taxonomy: Taxonomy, repository: str, run: WorkflowRun) -> Explanation:
    """A run GitHub could not start: its workflow file is invalid, so there is no log.

    The class is the workflow file's (never re-run: the same file fails the same way) and
    the fingerprint is the repository's and the workflow's own, so broken files in two
    repositories are two issues, not an outage, and one ``/vanguard ignore`` silences
    only that file.
    """
    where = run.path or run.workflow
    text = (
        f"GitHub could not start the workflow {run.workflow!r} ({where}): the workflow file "
        "is invalid; the run's page on GitHub names the line"
    )
    category = taxonomy.get(WORKFLOW_CONFIG)
    return Explanation(
        lines=(ExplainedLine(number=1, text=text, score=1.0),),
        category=category.id,
        fingerprint=fingerprint_of(category.id, [repository, where, "startup_failure"]),
        retryable=False,
        heal=category.heal if category.id == WORKFLOW_CONFIG else Heal.open_issue,
        confidence=1.0,
        line_count=0,
        reasons=("the run ended startup_failure: GitHub never started a job",),
    )


def _tail_lines(api: GitHubApi, config: GitHubConfig, repository: str, job_id: int) -> list[str]:
    """The lines of the last ``log_tail_bytes`` of a job's log (streamed, bounded)."""
    chunks = api.stream_job_log(repository, job_id)
    return list(iter_log_lines(log_tail(chunks, config.log_tail_bytes)))


def _passing_jobs(
    api: GitHubApi,
    config: GitHubConfig,
    repository: str,
    default_branch: str,
    run: WorkflowRun,
) -> tuple[WorkflowRun, list[WorkflowJob]] | None:
    """The workflow's last successful run (same branch, else the default) and its jobs.

    ``None`` when there is none, when the baseline is off, or when GitHub or the budget
    says no: a baseline only sharpens the ranking, so its absence never fails a delivery.
    """
    if config.baseline == "none" or run.workflow_id is None:
        return None
    branches = [b for b in dict.fromkeys([run.head_branch, default_branch]) if b]
    try:
        for branch in branches:
            found = api.last_success(repository, run.workflow_id, branch)
            if found is not None:
                return found, api.run_jobs(repository, found.id)
    except VanguardError as exc:
        log.info("no baseline for %s run %s: %s", repository, run.id, exc)
    return None


def _baseline_log(
    api: GitHubApi,
    config: GitHubConfig,
    repository: str,
    job: WorkflowJob,
    passing: tuple[WorkflowRun, list[WorkflowJob]] | None,
) -> tuple[Baseline | None, list[str] | None]:
    """The lines of the passing run's job of the same name, read before explaining."""
    if passing is None or not job.name:
        return None, None
    run, jobs = passing
    same = next((j for j in jobs if j.name == job.name and j.conclusion == "success"), None)
    if same is None:
        return None, None
    try:
        lines = _tail_lines(api, config, repository, same.id)
    except VanguardError as exc:
        log.info("no baseline log for %s job %s: %s", repository, same.id, exc)
        return None, None
    return Baseline(run_id=run.id, job_id=same.id, url=same.html_url or run.html_url), lines
