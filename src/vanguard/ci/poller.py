"""The poller fallback: find completed runs a webhook never brought, cheaply.

Each repository is listed with ``If-None-Match`` (a 304 costs no rate limit on GitHub), under
the client's API budget. Runs already recorded and handled (from a webhook or an earlier
poll) are skipped; the rest go through the same intake as deliveries, including a failed
run whose incident never started (the engine was down, the process died), tried again
every ``POLL_RETRY_AFTER`` at most (each try reads its logs again). While one of a
repository's listed runs is not handled, its listing is not cached, so the next poll
sees it again. Only the listed page (``poll.per_page`` most recent runs) is looked at. The
ETags travel in a small frozen state the caller keeps, so a restarted poller starts over
with one full listing.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict, Field

from vanguard.ci.client import GitHubApi
from vanguard.ci.config import GitHubConfig
from vanguard.ci.intake import CiIntake, IntakeResult
from vanguard.errors import AdapterError

__all__ = ["PollReport", "PollState", "poll_once"]


class PollState(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    etags: dict[str, str] = Field(default_factory=dict)


class PollReport(BaseModel):
    """What one poll did per repository: ``not modified``, a count, or why it could not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: PollState
    outcomes: dict[str, str]
    results: tuple[IntakeResult, ...] = ()
    skipped: tuple[str, ...] = ()
    """Repositories that could not be polled (their outcome says why)."""


async def poll_once(
    api: GitHubApi, intake: CiIntake, config: GitHubConfig, state: PollState
) -> PollReport:
    """Poll every configured repository once; a failing one never stops the others.

    Nothing is logged here: the report says per repository what happened, and its caller
    tells it once (a log line and the command's own line said the same twice).
    """
    etags = dict(state.etags)
    outcomes: dict[str, str] = {}
    results: list[IntakeResult] = []
    skipped: list[str] = []
    for repository in config.repositories:
        try:
            page = await asyncio.to_thread(
                api.list_runs,
                repository,
                etag=etags.get(repository),
                per_page=config.poll.per_page,
            )
        except AdapterError as exc:
            outcomes[repository] = f"skipped: {exc}"
            skipped.append(repository)
            continue
        if page.runs is None:
            outcomes[repository] = "not modified"
            continue
        handled = failed = waiting = 0
        for run in sorted(page.runs, key=lambda r: (r.updated_at is None, r.updated_at, r.id)):
            if run.status != "completed":
                continue
            result = await intake.receive_polled_run(repository, config.default_branch, run)
            if result is None:
                continue
            if result.status == "duplicate":
                waiting += 1
                continue
            handled += 1
            failed += result.status == "failed"
            results.append(result)
        if page.etag and not failed and not waiting:
            etags[repository] = page.etag
        else:
            etags.pop(repository, None)
        outcomes[repository] = (
            f"{len(page.runs)} run(s) listed, {handled} new"
            + (f", {failed} failed" if failed else "")
            + (f", {waiting} not handled yet" if waiting else "")
            + (" (listed again next time)" if failed or waiting else "")
        )
    return PollReport(
        state=PollState(etags=etags),
        outcomes=outcomes,
        results=tuple(results),
        skipped=tuple(skipped),
    )
