"""Reading a failed run: the tail of a huge log in bounded memory, and which failed job of
the delivered attempt decides the run's heal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vanguard.ci.client import MemoryGitHub
from vanguard.ci.config import GitHubConfig
from vanguard.ci.events import WorkflowJob, WorkflowRun
from vanguard.ci.reading import MAX_JOBS, RunReading, log_tail, read_run
from vanguard.diagnose.taxonomy import builtin_taxonomy
from vanguard.errors import ActionFailed, AdapterError


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_short_logs_pass_through_whole() -> None:
    data = b"a\nb\nc\n"
    assert b"".join(log_tail(_chunks(data, 2), 100)) == data


def test_tail_starts_at_a_line_and_fits_the_budget() -> None:
    data = b"".join(f"line {n}\n".encode() for n in range(10_000))
    for size in (1, 7, 4096):
        tail = b"".join(log_tail(_chunks(data, size), 1000))
        assert len(tail) <= 1000
        assert data.endswith(tail)
        assert tail.startswith(b"line ")
        assert tail.endswith(b"line 9999\n")


def test_one_endless_line_keeps_nothing_partial() -> None:
    assert b"".join(log_tail(_chunks(b"x" * 10_000, 64), 100)) == b""


def test_empty_stream() -> None:
    assert list(log_tail(iter(()), 100)) == []


LOGS = Path(__file__).parents[2] / "fixtures" / "github" / "logs"
COMPILE = (LOGS / "compile_rust.log").read_bytes()
NETWORK = (LOGS / "network_econnreset.log").read_bytes()
RUN = WorkflowRun(
    id=7,
    name="CI",
    workflow_id=3,
    head_sha="abc",
    head_branch="main",
    status="completed",
    conclusion="failure",
    run_attempt=1,
    path=".github/workflows/ci.yml",
)


def _read(github: MemoryGitHub, run: WorkflowRun = RUN, repository: str = "o/r") -> RunReading:
    return read_run(github, GitHubConfig(), builtin_taxonomy(), repository, "main", run)


def _failed_jobs(github: MemoryGitHub, *logs: bytes, attempt: int | None = None) -> None:
    """Run 7 of ``o/r`` with one failed job per log, jobs 70, 71, ... named job0, job1, ..."""
    github.jobs[("o/r", 7)] = [
        WorkflowJob(
            id=70 + n,
            run_id=7,
            name=f"job{n}",
            status="completed",
            conclusion="failure",
            run_attempt=attempt,
        )
        for n in range(len(logs))
    ]
    for n, log in enumerate(logs):
        github.logs[("o/r", 70 + n)] = log


@pytest.mark.parametrize("logs", [(COMPILE, NETWORK), (NETWORK, COMPILE)])
def test_a_deterministic_failed_job_decides_for_the_whole_run(logs: tuple[bytes, bytes]) -> None:
    """GitHub re-runs every failed job at once: the network job must not get the compile
    job re-run, though its explanation scores higher."""
    github = MemoryGitHub()
    _failed_jobs(github, *logs)
    reading = _read(github)
    assert (reading.explanation.category, reading.explanation.retryable) == ("compile", False)
    assert reading.job is not None
    assert github.logs[("o/r", reading.job.id)] == COMPILE
    assert (reading.jobs_read, reading.jobs_failed) == (2, 2)
    assert any("network_transient" in reason for reason in reading.explanation.reasons)


def test_retryable_jobs_alone_keep_the_best_explained_one() -> None:
    github = MemoryGitHub()
    _failed_jobs(github, NETWORK, NETWORK)
    reading = _read(github)
    assert (reading.explanation.category, reading.explanation.retryable) == (
        "network_transient",
        True,
    )


class RefusingLogs(MemoryGitHub):
    """GitHub refuses some jobs' logs with ``error``."""

    def __init__(self, error: AdapterError, refused: set[int]) -> None:
        super().__init__()
        self.error = error
        self.refused = refused

    def stream_job_log(self, repository: str, job_id: int) -> Iterator[bytes]:
        if job_id in self.refused:
            raise self.error
        return super().stream_job_log(repository, job_id)


def test_a_failed_job_whose_log_is_gone_blocks_a_re_run_of_the_others() -> None:
    github = RefusingLogs(ActionFailed("GitHub GET .../logs: HTTP 410: Gone"), {71})
    _failed_jobs(github, NETWORK, NETWORK)
    reading = _read(github)
    assert (reading.explanation.category, reading.explanation.retryable) == ("unknown", False)
    assert reading.job is not None
    assert reading.job.id == 71
    assert "HTTP 410: Gone" in reading.explanation.lines[0].text


def test_failed_jobs_beyond_those_read_block_a_re_run() -> None:
    github = MemoryGitHub()
    _failed_jobs(github, *[NETWORK] * (MAX_JOBS + 1))
    reading = _read(github)
    assert (reading.explanation.category, reading.explanation.retryable) == ("unknown", False)
    assert (reading.jobs_read, reading.jobs_failed) == (MAX_JOBS, MAX_JOBS + 1)
    assert f"only the first {MAX_JOBS} logs were read" in reading.explanation.lines[0].text


@pytest.mark.parametrize(
    ("status", "conclusion"), [("in_progress", None), ("queued", None), ("completed", "success")]
)
def test_a_failed_attempt_is_read_from_its_own_jobs_not_a_newer_attempts(
    status: str, conclusion: str | None
) -> None:
    """Attempt 1 is handled after attempt 2 began (or passed): attempt 2's jobs, unfinished
    or passing, explain nothing of attempt 1."""
    github = MemoryGitHub()
    _failed_jobs(github, COMPILE, attempt=1)
    github.jobs[("o/r", 7)].append(
        WorkflowJob(
            id=80, run_id=7, name="job0", status=status, conclusion=conclusion, run_attempt=2
        )
    )
    github.logs[("o/r", 80)] = NETWORK
    reading = _read(github)
    assert reading.job is not None
    assert reading.job.id == 70
    assert reading.explanation.category == "compile"


def test_jobs_that_passed_are_never_explained() -> None:
    github = MemoryGitHub()
    github.jobs[("o/r", 7)] = [
        WorkflowJob(id=70, run_id=7, name="build", status="completed", conclusion="success")
    ]
    github.logs[("o/r", 70)] = NETWORK
    reading = _read(github)
    assert reading.job is None
    assert (reading.explanation.category, reading.explanation.retryable) == ("unknown", False)
    assert "no completed job that failed" in reading.explanation.lines[0].text


class RefusingJobs(MemoryGitHub):
    def run_jobs(
        self, repository: str, run_id: int, *, attempt: int | None = None
    ) -> list[WorkflowJob]:
        raise ActionFailed("GitHub GET .../jobs: HTTP 403: Resource not accessible")


@pytest.mark.parametrize(
    "github",
    [RefusingJobs(), RefusingLogs(ActionFailed("HTTP 404: Not Found"), {70}), MemoryGitHub()],
    ids=["jobs-refused", "log-absent", "log-empty"],
)
def test_nothing_to_read_is_keyed_by_repository_and_workflow(github: MemoryGitHub) -> None:
    """An empty or refused log says nothing about the failure: two repositories in that
    state share no fingerprint (so they are never taken for an outage)."""
    for repository in ("o/r", "p/q"):
        github.jobs[(repository, 7)] = [
            WorkflowJob(id=70, run_id=7, name="build", status="completed", conclusion="failure")
        ]
        github.logs[(repository, 70)] = b""
    one, two = _read(github), _read(github, repository="p/q")
    assert one.explanation.category == two.explanation.category == "unknown"
    assert not one.explanation.retryable
    assert one.explanation.fingerprint != two.explanation.fingerprint
    assert _read(github).explanation.fingerprint == one.explanation.fingerprint


def test_a_log_that_cannot_be_read_for_now_is_an_error_to_retry() -> None:
    github = RefusingLogs(AdapterError("GitHub GET .../logs: HTTP 502"), {70})
    _failed_jobs(github, NETWORK)
    with pytest.raises(AdapterError, match="502") as caught:
        _read(github)
    assert not isinstance(caught.value, ActionFailed)
