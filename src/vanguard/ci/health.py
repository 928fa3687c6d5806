"""CI health figures per repository and workflow, computed from recorded run attempts.

Definitions (also in docs/ci-agent.md):

- **success rate**: runs whose latest attempt succeeded ÷ runs whose latest attempt finished
  as success or failure; ``FAILED`` includes ``startup_failure``, a workflow file GitHub could
  not start (cancelled and skipped runs are not counted either way);
- **flaky rate**: commits on which the workflow both passed and failed (any run, any attempt)
  ÷ commits on which it finished at all;
- **auto-heal coverage**: failed attempts of a retryable class that Vanguard re-ran and whose
  next attempt passed ÷ failed attempts of a retryable class;
- **time to recovery**: on the default branch (a fork's pull request from a branch of the
  same name is not on it), from when its newest run (the highest run
  id finished so far: GitHub numbers runs as they are created, so the newest commit's run)
  failed after a success (or failed at all) to when the newest run passed, in seconds; mean
  and median over recoveries. A re-run of an older commit that passes recovers nothing.

A repository is one repository however its name is spelt (``one_spelling``). Pure: the
attempts come in, figures (or an SVG of them) go out; no clock (a still-red workflow
reports since when).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vanguard.ci.config import canonical_repository
from vanguard.plot import Panel, series_svg

__all__ = [
    "REPORT_COLUMNS",
    "SUCCESS_TARGET",
    "AttemptRecord",
    "DailySuccess",
    "HealthFigures",
    "daily_success",
    "health_figures",
    "one_spelling",
    "report_row",
    "success_svg",
]

FAILED = {"failure", "timed_out", "startup_failure"}
FINISHED = {"success", *FAILED}


class AttemptRecord(BaseModel):
    """One finished attempt of a workflow run, and what Vanguard knew and did about it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str
    workflow: str
    run_id: int
    run_attempt: int = Field(ge=1)
    head_sha: str
    head_branch: str | None = None
    conclusion: str
    at: AwareDatetime
    default_branch: str = "main"
    retryable: bool | None = None
    rerun_by_vanguard: bool = False
    from_fork: bool = False
    """The run built a fork's pull request: its branch is the fork's, whatever its name."""

    @property
    def on_default_branch(self) -> bool:
        """Whether the attempt built this repository's own default branch."""
        return self.head_branch == self.default_branch and not self.from_fork


class HealthFigures(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str
    workflow: str
    runs: int
    attempts: int
    success_rate: float | None
    flaky_rate: float | None
    flaky_commits: int
    healable: int
    healed: int
    auto_heal_coverage: float | None
    recoveries: int
    mean_recovery_s: float | None
    median_recovery_s: float | None
    red_since: AwareDatetime | None


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _figures(repository: str, workflow: str, attempts: Sequence[AttemptRecord]) -> HealthFigures:
    by_run: dict[int, list[AttemptRecord]] = defaultdict(list)
    for a in attempts:
        by_run[a.run_id].append(a)
    latest = [max(runs, key=lambda a: a.run_attempt) for runs in by_run.values()]
    finished = [a for a in latest if a.conclusion in FINISHED]
    passed = sum(1 for a in finished if a.conclusion == "success")

    outcomes: dict[str, set[bool]] = defaultdict(set)
    for a in attempts:
        if a.conclusion in FINISHED:
            outcomes[a.head_sha].add(a.conclusion == "success")
    flaky = sum(1 for seen in outcomes.values() if seen == {True, False})

    healable = healed = 0
    for runs in by_run.values():
        ordered = {a.run_attempt: a for a in runs}
        for a in runs:
            if a.conclusion in FAILED and a.retryable:
                healable += 1
                nxt = ordered.get(a.run_attempt + 1)
                if a.rerun_by_vanguard and nxt is not None and nxt.conclusion == "success":
                    healed += 1

    recoveries, red_since = _recoveries(attempts)
    return HealthFigures(
        repository=repository,
        workflow=workflow,
        runs=len(by_run),
        attempts=len(attempts),
        success_rate=_ratio(passed, len(finished)),
        flaky_rate=_ratio(flaky, len(outcomes)),
        flaky_commits=flaky,
        healable=healable,
        healed=healed,
        auto_heal_coverage=_ratio(healed, healable),
        recoveries=len(recoveries),
        mean_recovery_s=round(statistics.fmean(recoveries), 3) if recoveries else None,
        median_recovery_s=round(statistics.median(recoveries), 3) if recoveries else None,
        red_since=red_since,
    )


def _recoveries(attempts: Sequence[AttemptRecord]) -> tuple[list[float], datetime | None]:
    """Red-to-green spells of the default branch, and since when it is still red.

    The branch is as red or green as its newest run's latest finished attempt: an attempt
    of an older run (a slow run, a re-run of an older commit) finishing later changes
    nothing, since the branch has moved past that commit.
    """
    recoveries: list[float] = []
    red_since: datetime | None = None
    newest = -1
    default = sorted(
        (a for a in attempts if a.on_default_branch and a.conclusion in FINISHED),
        key=lambda a: (a.at, a.run_id, a.run_attempt),
    )
    for a in default:
        if a.run_id < newest:
            continue
        newest = a.run_id
        if a.conclusion in FAILED:
            red_since = red_since or a.at
        elif red_since is not None:
            recoveries.append((a.at - red_since).total_seconds())
            red_since = None
    return recoveries, red_since


def one_spelling(attempts: Iterable[AttemptRecord]) -> list[AttemptRecord]:
    """The attempts under one spelling of each repository's name, each attempt once.

    Rows recorded before names were folded to lower case may name one repository two
    ways (a webhook's ``Acme/Web``, the poller's ``acme/web``), one attempt under each:
    they are one repository, and such an attempt counts once, with what either row knew.
    """
    merged: dict[tuple[str, int, int], AttemptRecord] = {}
    for given in attempts:
        one = given.model_copy(update={"repository": canonical_repository(given.repository)})
        key = (one.repository, one.run_id, one.run_attempt)
        seen = merged.get(key)
        if seen is not None:
            one = seen.model_copy(
                update={
                    "retryable": seen.retryable if seen.retryable is not None else one.retryable,
                    "rerun_by_vanguard": seen.rerun_by_vanguard or one.rerun_by_vanguard,
                    "from_fork": seen.from_fork or one.from_fork,
                }
            )
        merged[key] = one
    return list(merged.values())


def health_figures(attempts: Iterable[AttemptRecord]) -> list[HealthFigures]:
    """Figures for every (repository, workflow) seen, sorted by name."""
    groups: dict[tuple[str, str], list[AttemptRecord]] = defaultdict(list)
    for a in one_spelling(attempts):
        groups[(a.repository, a.workflow)].append(a)
    return [_figures(repo, wf, groups[(repo, wf)]) for repo, wf in sorted(groups)]


REPORT_COLUMNS = (
    "repository",
    "workflow",
    "runs",
    "success",
    "flaky",
    "auto-heal",
    "recoveries",
    "median TTR",
    "red since",
)
"""The columns of ``report_row``: what ``vanguard ci report`` and the dashboard show."""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def report_row(f: HealthFigures) -> tuple[str, ...]:
    """One repository and workflow's figures as plain text, in ``REPORT_COLUMNS`` order."""
    return (
        f.repository,
        f.workflow,
        str(f.runs),
        _pct(f.success_rate),
        f"{_pct(f.flaky_rate)} ({f.flaky_commits})",
        f"{_pct(f.auto_heal_coverage)} ({f.healed}/{f.healable})",
        str(f.recoveries),
        _duration(f.median_recovery_s),
        f.red_since.isoformat(timespec="minutes") if f.red_since else "-",
    )


class DailySuccess(BaseModel):
    """One repository's runs that finished on one UTC day, and how many of them succeeded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str
    day: date
    finished: int
    passed: int


def daily_success(attempts: Iterable[AttemptRecord]) -> list[DailySuccess]:
    """Per repository and UTC day, the runs whose latest attempt finished that day.

    The same rule as the success rate (each run's latest attempt, success or failure),
    counted on the day that attempt finished; sorted by repository, then day.
    """
    latest: dict[tuple[str, str, int], AttemptRecord] = {}
    for a in one_spelling(attempts):
        key = (a.repository, a.workflow, a.run_id)
        if key not in latest or a.run_attempt > latest[key].run_attempt:
            latest[key] = a
    counts: dict[tuple[str, date], list[int]] = defaultdict(lambda: [0, 0])
    for a in latest.values():
        if a.conclusion in FINISHED:
            tally = counts[(a.repository, a.at.astimezone(UTC).date())]
            tally[0] += 1
            tally[1] += a.conclusion == "success"
    return [
        DailySuccess(repository=repo, day=day, finished=finished, passed=passed)
        for (repo, day), (finished, passed) in sorted(counts.items())
    ]


SUCCESS_TARGET = 0.95
"""The workflow success rate the CI agent aims to keep, drawn as the plot's reference line."""


def success_svg(days: list[DailySuccess], start: datetime, end: datetime) -> str:
    """One panel per repository: the share of its runs that succeeded, day by day.

    A dot marks a day under the target; a day without finished runs draws no point.
    """
    first = start.astimezone(UTC).date()
    count = (end.astimezone(UTC).date() - first).days + 1
    stamps = np.array(
        [
            datetime.combine(first + timedelta(days=i), time(12), UTC).timestamp()
            for i in range(count)
        ]
    )
    by_repo: dict[str, npt.NDArray[np.float64]] = {}
    runs: dict[str, int] = {}
    for entry in days:
        index = (entry.day - first).days
        if not 0 <= index < count:
            continue
        rates = by_repo.setdefault(entry.repository, np.full(count, np.nan))
        rates[index] = entry.passed / entry.finished
        runs[entry.repository] = runs.get(entry.repository, 0) + entry.finished
    panels = [
        Panel(
            f"{repo}: runs that succeeded, per day ({runs[repo]:,} runs)",
            rates,
            marks=tuple(np.flatnonzero(rates < SUCCESS_TARGET).tolist()),
            level=SUCCESS_TARGET,
            low=0.0,
            high=1.0,
        )
        for repo, rates in sorted(by_repo.items())
    ]
    title = f"CI success per day, {first} to {first + timedelta(days=count - 1)} (UTC)"
    if not panels:
        title += ": no finished runs"
    return series_svg(stamps, panels, title=title)
