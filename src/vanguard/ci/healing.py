"""Healing by class: what to do about one failed run, decided from data alone.

Pure functions, time passed in. ``detect_storm`` sees the same failure fingerprint in many
repositories within a window and calls it an outage: re-running N repositories into a broken
registry only burns budgets and hides the one thing worth saying. ``plan_heal`` turns a
failure class into one of four answers: re-run (retryable classes, bounded attempts with
exponential backoff), triage (deterministic failures are never re-run), outage, or nothing.
A class that must not be hidden (``report``, e.g. flaky tests) is re-run *and* tracked. A
``/vanguard ignore`` wins over everything, an outage included: nothing is re-run, commented
or reopened for an ignored fingerprint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vanguard.ci.config import HealingConfig

__all__ = [
    "FailureClass",
    "FailureSighting",
    "HealKind",
    "HealPlan",
    "StormVerdict",
    "backoff_s",
    "detect_storm",
    "outage_home",
    "plan_heal",
    "rerun_withdrawn",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FailureSighting(_Frozen):
    """A failure fingerprint seen in a repository at a time."""

    repository: str
    fingerprint: str
    at: AwareDatetime


class StormVerdict(_Frozen):
    """Whether one fingerprint is failing in many repositories at once."""

    storm: bool
    fingerprint: str
    repositories: tuple[str, ...]
    window_start: AwareDatetime
    reason: str


def detect_storm(
    sightings: Iterable[FailureSighting],
    fingerprint: str,
    now: AwareDatetime,
    *,
    min_repositories: int,
    window_s: float,
) -> StormVerdict:
    """A storm: ``fingerprint`` seen in at least ``min_repositories`` repos within the window.

    Repositories are told apart as GitHub does, without regard to case: ``Acme/Web`` and
    ``acme/web`` are one repository, never two sightings.

    The window ends at ``now`` and is anchored to a multiple of ``window_s`` no later than the
    first sighting, so every repository in one storm names the same window (and incident).
    """
    start = now - timedelta(seconds=window_s)
    inside = sorted(
        (s for s in sightings if s.fingerprint == fingerprint and start <= s.at <= now),
        key=lambda s: s.at,
    )
    repos = tuple(sorted({s.repository.lower() for s in inside}))
    first = inside[0].at if inside else now
    epoch = first.timestamp() - first.timestamp() % window_s
    anchored = first - timedelta(seconds=first.timestamp() - epoch)
    if len(repos) >= min_repositories:
        return StormVerdict(
            storm=True,
            fingerprint=fingerprint,
            repositories=repos,
            window_start=anchored,
            reason=(
                f"fingerprint {fingerprint} failed in {len(repos)} repositories within "
                f"{window_s:g} s (threshold {min_repositories}): an outage, not flakes"
            ),
        )
    return StormVerdict(
        storm=False,
        fingerprint=fingerprint,
        repositories=repos,
        window_start=anchored,
        reason=f"fingerprint {fingerprint} seen in {len(repos)} repositories within {window_s:g} s",
    )


def outage_home(storm: StormVerdict, outage_repository: str | None) -> str:
    """Where an outage's issue is filed: ``outage_repository`` when set, else the first
    failing repository by name."""
    return outage_repository or storm.repositories[0]


class FailureClass(_Frozen):
    """What the taxonomy says about a failure category (see ``vanguard.diagnose.taxonomy``)."""

    category: str
    retryable: bool
    heal: str
    max_attempts: int = Field(default=0, ge=0, le=5)
    backoff_seconds: float = Field(default=0.0, ge=0.0)
    report: bool = False


class HealKind(StrEnum):
    rerun = "rerun"
    triage = "triage"
    outage = "outage"
    none = "none"


class HealPlan(_Frozen):
    """The answer for one failed run, with the reason and the bounds that applied."""

    kind: HealKind
    reason: str
    reruns_done: int = Field(ge=0)
    max_reruns: int = Field(ge=0)
    backoff_s: float = Field(default=0.0, ge=0.0)
    track: bool = False


def backoff_s(reruns_done: int, base_s: float, factor: float, cap_s: float) -> float:
    """Exponential backoff before re-run number ``reruns_done + 1``, capped."""
    return min(cap_s, base_s * factor**reruns_done)


def plan_heal(
    failure: FailureClass,
    *,
    run_attempt: int,
    storm: StormVerdict | None,
    ignored: bool,
    config: HealingConfig,
) -> HealPlan:
    """Decide re-run / triage / outage / nothing for one failed run (attempt ``run_attempt``).

    ``ignored`` comes first: an ignored fingerprint in a storm is neither re-run nor
    reported again (no comment on the outage issue, no reopening it).
    """
    done = max(0, run_attempt - 1)
    limit = min(failure.max_attempts, config.max_attempts) if failure.retryable else 0
    if ignored:
        reason = f"fingerprint ignored by a /vanguard ignore command ({failure.category})"
        if storm is not None and storm.storm:
            reason += f"; {storm.reason}"
        return HealPlan(
            kind=HealKind.none,
            reason=reason,
            reruns_done=done,
            max_reruns=limit,
        )
    if storm is not None and storm.storm:
        return HealPlan(kind=HealKind.outage, reason=storm.reason, reruns_done=done, max_reruns=0)
    if failure.category == "cancelled":
        return HealPlan(
            kind=HealKind.none, reason="the run was cancelled", reruns_done=done, max_reruns=0
        )
    if not failure.retryable:
        return HealPlan(
            kind=HealKind.triage,
            reason=f"{failure.category} is deterministic: never re-run, open or update its issue",
            reruns_done=done,
            max_reruns=0,
            track=True,
        )
    if done >= limit:
        return HealPlan(
            kind=HealKind.triage,
            reason=f"{failure.category}: {done} re-run(s) done, limit {limit}: stop and report",
            reruns_done=done,
            max_reruns=limit,
            track=True,
        )
    base = failure.backoff_seconds or config.backoff_s
    wait = backoff_s(done, base, config.backoff_factor, config.max_wait_s)
    wanted = backoff_s(done, base, config.backoff_factor, math.inf)
    cut = f" (the class asks for {wanted:g} s; healing.max_wait_s caps it)" if wanted > wait else ""
    tracked = " and track it in its issue" if failure.report else ""
    return HealPlan(
        kind=HealKind.rerun,
        reason=(
            f"{failure.category} is retryable: re-run {done + 1} of {limit} "
            f"after {wait:g} s{cut}{tracked}"
        ),
        reruns_done=done,
        max_reruns=limit,
        backoff_s=wait,
        track=failure.report,
    )


def rerun_withdrawn(
    *,
    fingerprint: str,
    repository: str,
    ignored: bool,
    requested: bool,
    storm: StormVerdict | None,
) -> str | None:
    """Why a re-run planned earlier is no longer wanted once its backoff is over, or ``None``.

    The same order as ``plan_heal``: a ``/vanguard ignore`` of the fingerprint in the
    repository first; then an outage (``storm``, judged now), unless a person asked for the
    re-run with ``/vanguard retry`` (``requested``), which an outage does not hold back.
    """
    if ignored:
        return (
            f"fingerprint {fingerprint} is ignored in {repository} (a /vanguard ignore "
            "command); the run is not re-run"
        )
    if requested or storm is None or not storm.storm:
        return None
    return f"{storm.reason}; the run is not re-run, the outage has its own incident"
