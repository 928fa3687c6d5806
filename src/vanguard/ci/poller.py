"""The poller fallback: find completed runs a webhook never brought, cheaply.

Each repository is listed with ``If-None-Match`` (a 304 costs no rate limit on GitHub), under
the client's API budget. Runs already recorded and handled (from a webhook or an earlier
poll) are skipped; the rest go through the same intake as deliveries, including a failed
run whose incident never started (the engine was down, the process died), tried again
every ``POLL_RETRY_AFTER`` at most (each try reads its logs again). Only the listed page
(``poll.per_page`` most recent runs) is looked at.

The ETags are kept in the store (``CiRepo.poll_etag``), so a restarted poller or a
``vanguard ci poll --once`` from cron lists conditionally too. A listing's ETag is kept only
once every run of its page is handled; while one is not (it failed, or another poller holds
it), the ETag is forgotten and the next poll lists the page again. A poller that dies
between listing and handling kept nothing new, so the runs are listed again. A store that
cannot be read skips the repository; one that cannot keep the ETag costs the next poll a
listing, never a run.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, ConfigDict

from vanguard.ci.client import GitHubApi
from vanguard.ci.config import GitHubConfig
from vanguard.ci.intake import CiIntake, IntakeResult
from vanguard.ci.records import CiRepo
from vanguard.errors import AdapterError, StoreError
from vanguard.store import Store

__all__ = ["PollReport", "poll_once"]


class PollReport(BaseModel):
    """What one poll did per repository: ``not modified``, a count, or why it could not."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcomes: dict[str, str]
    results: tuple[IntakeResult, ...] = ()
    skipped: tuple[str, ...] = ()
    """Repositories that could not be polled (their outcome says why)."""


def _etag(store: Store, repository: str) -> str | None:
    with store.read_session() as session:
        return CiRepo(session).poll_etag(repository)


def _keep_etag(store: Store, intake: CiIntake, repository: str, etag: str | None) -> None:
    with store.session() as session:
        CiRepo(session).save_poll_etag(repository, etag, at=intake.clock())


async def poll_once(api: GitHubApi, intake: CiIntake, config: GitHubConfig) -> PollReport:
    """Poll every configured repository once; a failing one never stops the others.

    Nothing is logged here: the report says per repository what happened, and its caller
    tells it once (a log line and the command's own line said the same twice).
    """
    store = intake.store
    outcomes: dict[str, str] = {}
    results: list[IntakeResult] = []
    skipped: list[str] = []
    for repository in config.repositories:
        try:
            etag = await asyncio.to_thread(_etag, store, repository)
            page = await asyncio.to_thread(
                api.list_runs, repository, etag=etag, per_page=config.poll.per_page
            )
        except StoreError as exc:
            outcomes[repository] = f"skipped: store: {exc}"
            skipped.append(repository)
            continue
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
        kept = page.etag if not failed and not waiting else None
        try:
            await asyncio.to_thread(_keep_etag, store, intake, repository, kept)
        except StoreError as exc:
            unkept = f"; its ETag could not be kept (store: {exc}): listed again next time"
        else:
            unkept = ""
        outcomes[repository] = (
            f"{len(page.runs)} run(s) listed, {handled} new"
            + (f", {failed} failed" if failed else "")
            + (f", {waiting} not handled yet" if waiting else "")
            + (" (listed again next time)" if failed or waiting else "")
            + unkept
        )
    return PollReport(outcomes=outcomes, results=tuple(results), skipped=tuple(skipped))
