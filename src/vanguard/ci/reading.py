"""Read a finished run's failed jobs from GitHub and explain them, each against its baseline.

Shared by the intake (webhooks and polling) and ``vanguard ci explain-run``. Logs are
streamed and only their tails kept, so memory stays bounded whatever GitHub sends. Each
failed job is explained against the log of the job of the same name in the workflow's last
successful run on the run's branch, else on the default branch (``GitHubConfig.baseline``);
a baseline that cannot be had (none passed, GitHub or the budget says no) is skipped, never
fatal. GitHub re-runs all failed jobs of a run at once, so a job that must not be re-run
decides for the run; among equals the best-explained job wins: a known class first, then the
higher confidence.
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
from vanguard.errors import ActionFailed, VanguardError

__all__ = ["MAX_JOBS", "Baseline", "RunReading", "log_tail", "read_run", "unavailable"]

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
    """The explanation of a run: the job that decides its heal, and what it was compared
    with; ``jobs_read`` of ``jobs_failed`` failed jobs' logs were read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    explanation: Explanation
    job: WorkflowJob | None = None
    baseline: Baseline | None = None
    jobs_read: int = 0
    jobs_failed: int = 0


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
    """Explain the failed jobs of the run's own attempt; the reading that decides the heal.

    Only jobs of ``run.run_attempt`` that have completed are read (a newer attempt's jobs
    explain nothing of this one), the failed ones, else those that did not pass; a job
    that passed is never explained. GitHub re-runs every failed job of a run at once, so
    one failed job that must not be re-run decides for the run: when any job read is of a
    class that is not retryable, or its log cannot be had, the best-explained such job is
    the run's explanation (and the run is triaged for it); failed jobs past ``MAX_JOBS``
    are not read, so they block a re-run too. Otherwise the best-explained job wins.

    Each failed job's own log is read before anything is spent on its baseline, so a
    budget running low costs the comparison, not the explanation. A log GitHub refuses
    for good (``ActionFailed``: gone, absent, not permitted) is explained as unavailable;
    any other error is raised, so the delivery fails and is tried again.
    """
    if run.never_started:
        return RunReading(explanation=never_started(taxonomy, repository, run))
    try:
        jobs = api.run_jobs(repository, run.id, attempt=run.run_attempt)
    except ActionFailed as exc:
        why = f"GitHub refused the list of its jobs: {exc}"
        return RunReading(explanation=unavailable(taxonomy, repository, run, why))
    done = [j for j in jobs if j.status == "completed"]
    failed = [j for j in done if j.failed] or [j for j in done if j.conclusion not in NOT_FAILED]
    if not failed:
        why = f"attempt {run.run_attempt} has no completed job that failed"
        return RunReading(explanation=unavailable(taxonomy, repository, run, why))
    model: ModelChoice = None if config.line_model == "none" else "builtin"
    passing: tuple[WorkflowRun, list[WorkflowJob]] | None = None
    looked = False
    readings: list[RunReading] = []
    for job in failed[:MAX_JOBS]:
        try:
            lines = _tail_lines(api, config, repository, job.id)
        except ActionFailed as exc:
            why = f"GitHub refused the log of job {_job_name(job)}: {exc}"
            readings.append(
                RunReading(explanation=unavailable(taxonomy, repository, run, why), job=job)
            )
            continue
        if not looked:
            passing, looked = _passing_jobs(api, config, repository, default_branch, run), True
        baseline, baseline_lines = _baseline_log(api, config, repository, job, passing)
        explanation = explain(lines, baseline_lines, taxonomy=taxonomy, model=model)
        if not explanation.lines:
            why = f"the log of job {_job_name(job)} has no line to explain the failure"
            explanation = unavailable(taxonomy, repository, run, why)
        elif baseline is not None:
            explanation = explanation.model_copy(
                update={"reasons": (*explanation.reasons, baseline.reason)}
            )
        readings.append(RunReading(explanation=explanation, job=job, baseline=baseline))
    chosen = _deciding(readings, taxonomy)
    unread = len(failed) - len(readings)
    if unread > 0 and chosen.explanation.retryable:
        why = (
            f"{len(failed)} jobs failed and only the first {len(readings)} logs were read "
            f"({chosen.explanation.category}): the other {unread} may fail for a reason a "
            "re-run cannot fix, and a re-run repeats every failed job"
        )
        chosen = RunReading(explanation=unavailable(taxonomy, repository, run, why))
    return chosen.model_copy(update={"jobs_read": len(readings), "jobs_failed": len(failed)})


NOT_FAILED = frozenset({"success", "skipped", "neutral"})
"""Conclusions of a job that did not fail: its log explains no failure."""


def _deciding(readings: list[RunReading], taxonomy: Taxonomy) -> RunReading:
    """The reading that decides the run's heal: the best-explained job that must not be
    re-run when there is one (a cancelled job last: it hides no failure), else the
    best-explained job; a known class first, then the higher confidence."""
    blocking = [r for r in readings if not r.explanation.retryable]

    def rank(reading: RunReading) -> tuple[bool, bool, float]:
        e = reading.explanation
        return e.category != CANCELLED, e.category != taxonomy.fallback, e.confidence

    chosen = max(blocking or readings, key=rank)
    others = [r for r in readings if r is not chosen]
    if not others:
        return chosen
    seen = ", ".join(f"{_job_name(r.job)}: {r.explanation.category}" for r in others)
    why = f"{len(others)} other failed job(s) read ({seen})"
    if blocking and len(blocking) < len(readings):
        why += "; none is re-run, since GitHub re-runs every failed job of a run at once"
    explanation = chosen.explanation.model_copy(
        update={"reasons": (*chosen.explanation.reasons, why)}
    )
    return chosen.model_copy(update={"explanation": explanation})


def _job_name(job: WorkflowJob | None) -> str:
    return "?" if job is None else job.name or str(job.id)


WORKFLOW_CONFIG = "workflow_config"
CANCELLED = "cancelled"
UNAVAILABLE = "log_unavailable"


def unavailable(taxonomy: Taxonomy, repository: str, run: WorkflowRun, why: str) -> Explanation:
    """A failed run (or job) with nothing to explain it: its log is gone, refused, empty, or
    not read.

    The class is the taxonomy's fallback (never re-run: nobody knows a re-run would help),
    and the fingerprint is the repository's and the workflow's own: "nothing to read" in
    three repositories is three issues, not an outage, and is never storm evidence.
    """
    where = run.path or run.workflow
    category = taxonomy.get(taxonomy.fallback)
    return Explanation(
        lines=(ExplainedLine(number=1, text=why[:500], score=1.0),),
        category=category.id,
        fingerprint=fingerprint_of(category.id, [repository, where, UNAVAILABLE]),
        retryable=False,
        heal=category.heal if not category.retryable else Heal.open_issue,
        confidence=0.0,
        line_count=0,
        reasons=(f"nothing to explain the failure with: {why}",),
    )


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
