"""From a GitHub delivery (webhook or poll) to an incident: record, explain, plan, start.

Every delivery is recorded by its ``X-GitHub-Delivery`` id before anything else, so a
duplicate does nothing and nothing is lost: a body that cannot be used is kept as
``rejected`` with the reason, an event we do not act on as ``ignored``, and a delivery whose
handling failed as ``failed`` (a redelivery of a failed one is processed again).

A completed failed ``workflow_run`` is explained from the tail of its failed jobs' logs,
each against the last passing run's (``vanguard.ci.reading``: streamed with bounded memory,
fetched only once the run has completed), checked for a
storm across repositories, planned by class (``plan_heal``) and handed to the engine as an
``Alert``; the engine's gates and the GitHub adapters do the rest. ``/vanguard retry|ignore``
comments on a triage issue are obeyed only from authorised users. On an outage's issue an
ignore holds for the outage (every repository failing with its fingerprint while it lasts),
and a retry re-runs nothing: one comment must not re-run every repository of an outage.

Store work runs in worker threads (``_in_thread``): the event loop is shared with the API's
other requests and with each delivery's claim renewal, and a slow store (PostgreSQL under
load, a SQLite write lock held for seconds) must delay only the delivery that waits on it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from vanguard.ci.alerts import failure_alert, retry_evidence
from vanguard.ci.client import GitHubApi
from vanguard.ci.config import GitHubConfig, canonical_repository
from vanguard.ci.events import Delivery, Rejected, WorkflowJob, WorkflowRun, parse_delivery
from vanguard.ci.healing import (
    FailureClass,
    HealKind,
    HealPlan,
    StormVerdict,
    outage_home,
    plan_heal,
)
from vanguard.ci.health import AttemptRecord
from vanguard.ci.reading import Baseline, read_run
from vanguard.ci.records import STALE_RECEIVED, CiRepo
from vanguard.ci.tables import CiTriageRow
from vanguard.ci.triage import Command, is_authorised, is_outage_issue, parse_command
from vanguard.clock import utcnow
from vanguard.diagnose.cilog import Explanation
from vanguard.diagnose.taxonomy import Heal, Taxonomy, builtin_taxonomy
from vanguard.errors import VanguardError
from vanguard.store import Store

if TYPE_CHECKING:
    from vanguard.api.starter import IncidentStarter

__all__ = ["CiIntake", "IntakeResult", "IntakeStatus"]

log = logging.getLogger(__name__)

IntakeStatus = Literal["accepted", "ignored", "rejected", "failed", "duplicate"]

POLL_RETRY_AFTER = timedelta(minutes=5)
"""A polled run whose handling failed is tried again after this, not on every poll: each
try reads its logs again."""
INTERRUPTED = "interrupted before handling ended"

T = TypeVar("T")


STORE_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="vanguard-ci-store")
"""Threads for the intake's store work alone: log downloads and permission checks take the
loop's default pool, and a storm of them must not queue a claim's renewal past the point
where its delivery looks stale and is handled twice."""


async def _in_thread(work: Callable[[], T]) -> T:
    """Run blocking store ``work`` in ``STORE_THREADS``, so the event loop goes on serving
    others.

    A cancellation is raised only once ``work`` has ended: a write never runs on behind the
    caller's back (a renewal after the settle, a claim nobody settles). Only a second
    cancellation (the loop shutting down) stops the wait; ``STALE_RECEIVED`` covers that.
    """
    call = functools.partial(contextvars.copy_context().run, work)
    running = asyncio.get_running_loop().run_in_executor(STORE_THREADS, call)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        raise


class IntakeResult(BaseModel):
    """What became of one delivery; ``reason`` is what the deliveries table records."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    status: IntakeStatus
    reason: str
    incident_id: str | None = None
    new_incident: bool = False


class CiIntake:
    """Turns deliveries into incidents; holds the store, the GitHub client and the starter."""

    def __init__(
        self,
        store: Store,
        api: GitHubApi,
        config: GitHubConfig,
        starter: IncidentStarter | None,
        *,
        clock: Callable[[], datetime] = utcnow,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.store = store
        self.api = api
        self.config = config
        self.starter = starter
        self.clock = clock
        self.taxonomy = taxonomy or builtin_taxonomy()
        self.renew_every_s = STALE_RECEIVED.total_seconds() / 3
        """How often a delivery being handled renews its claim (tests shorten it)."""
        self._pending: set[asyncio.Task[IntakeResult]] = set()

    # -- deliveries ----------------------------------------------------------------------

    async def receive(self, delivery_id: str, event: str, body: bytes) -> IntakeResult:
        """Record, dedupe and handle one delivery; never raises for bad input."""
        parsed = parse_delivery(delivery_id, event, body)
        if isinstance(parsed, Rejected):
            status, reason, action, repo = "rejected", parsed.reason, None, None
        else:
            status = "received" if parsed.handled else "ignored"
            reason = "being handled" if parsed.handled else parsed.reason
            action = parsed.action
            repo = canonical_repository(parsed.repository.full_name) if parsed.repository else None
        fresh = await self._claim(
            delivery_id,
            lambda ci: ci.claim_delivery(
                delivery_id,
                event=event,
                action=action,
                repository=repo,
                at=self.clock(),
                status=status,
                reason=reason,
            ),
        )
        if not fresh:
            return IntakeResult(
                delivery_id=delivery_id, status="duplicate", reason="delivery already received"
            )
        if isinstance(parsed, Rejected) or not parsed.handled:
            return IntakeResult(
                delivery_id=delivery_id,
                status="rejected" if isinstance(parsed, Rejected) else "ignored",
                reason=reason,
            )
        if repo is not None and not self._watches(event, repo):
            result = IntakeResult(
                delivery_id=delivery_id,
                status="ignored",
                reason=f"repository {repo} is not watched",
            )
            await self._settle(result)
            return result
        return await self._settled(delivery_id, event, self.handle(parsed))

    def _watches(self, event: str, repository: str) -> bool:
        """Whether ``event`` from ``repository`` is acted on: a watched repository's, and
        the outage repository's issues and comments (its outage issues live there)."""
        outage = _canonical(self.config.healing.outage_repository)
        commands = event in {"issues", "issue_comment"}
        if commands and outage == canonical_repository(repository):
            return True
        return self.config.watches(repository)

    async def receive_polled_run(
        self, repository: str, default_branch: str, run: WorkflowRun
    ) -> IntakeResult | None:
        """Handle a completed run found by polling, unless a webhook already brought it."""
        names = _spellings(repository)
        delivery_id = f"poll:{names[0]}:{run.id}:{run.run_attempt}"

        def claim(repo: CiRepo) -> bool | IntakeResult | None:
            if any(repo.attempt_handled(name, run.id, run.run_attempt) for name in names):
                return None
            earlier = repo.delivery(delivery_id)
            if earlier is not None and earlier.status == "failed":
                waited = self.clock() - earlier.received_at
                if waited < POLL_RETRY_AFTER:
                    return self._not_yet(delivery_id, f"failed {waited} ago")
            return repo.claim_delivery(
                delivery_id,
                event="workflow_run",
                action="completed",
                repository=names[0],
                at=self.clock(),
                status="received",
                reason="found by polling",
            )

        claimed = await self._claim(delivery_id, claim)
        if claimed is None or isinstance(claimed, IntakeResult):
            return claimed
        if not claimed:
            return self._not_yet(delivery_id, "being handled elsewhere")
        return await self._settled(
            delivery_id,
            "workflow_run",
            self.on_completed_run(delivery_id, repository, default_branch, run),
        )

    @staticmethod
    def _not_yet(delivery_id: str, why: str) -> IntakeResult:
        """A polled run not handled yet that this poll leaves alone: a later one tries again."""
        return IntakeResult(
            delivery_id=delivery_id,
            status="duplicate",
            reason=f"not handled yet ({why}): a later poll tries again",
        )

    def start_receiving(
        self, delivery_id: str, event: str, body: bytes
    ) -> asyncio.Task[IntakeResult]:
        """``receive`` as a task the intake keeps until it ends, so ``close`` can wait for it."""
        task = asyncio.ensure_future(self.receive(delivery_id, event, body))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    @property
    def pending(self) -> int:
        """Deliveries still being handled in the background."""
        return len(self._pending)

    async def close(self) -> None:
        """Wait for every delivery still being handled, so none is left ``received``.

        Call it at shutdown after the API stopped accepting requests; handling that fails
        is recorded as ``failed`` by the task itself, never raised here.
        """
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _with_ci(self, work: Callable[[CiRepo], T]) -> T:
        """``work`` in one unit of work of the store, off the event loop."""

        def unit() -> T:
            with self.store.session() as session:
                return work(CiRepo(session))

        return await _in_thread(unit)

    async def _claim(self, delivery_id: str, claim: Callable[[CiRepo], T]) -> T:
        """Run ``claim`` off the loop; its ``True`` means this process claimed ``delivery_id``.

        A claim made while the caller was cancelled is settled ``failed`` at once: left
        ``received``, every redelivery would be answered "duplicate" until it looked stale.
        """
        made: list[bool] = []

        def unit() -> T:
            with self.store.session() as session:
                claimed = claim(CiRepo(session))
            made.append(claimed is True)
            return claimed

        try:
            return await _in_thread(unit)
        except asyncio.CancelledError:
            if any(made):
                await self._settle(self._failed(delivery_id, INTERRUPTED))
            raise

    async def _settled(
        self, delivery_id: str, event: str, handling: Awaitable[IntakeResult]
    ) -> IntakeResult:
        """Await the handling and record its end; any failure is recorded as ``failed``.

        An error of any kind (the engine's client, the database, a bug) must not leave the
        delivery ``received``: a redelivery of it would be answered "duplicate" forever.
        """
        result: IntakeResult | None = None
        renewing = asyncio.ensure_future(self._keep_claim(delivery_id))
        try:
            result = await handling
        except (VanguardError, ValidationError) as exc:
            result = self._failed(delivery_id, f"{getattr(exc, 'code', 'invalid')}: {exc}")
            log.warning("delivery %s (%s) failed: %s", delivery_id, event, exc)
        except Exception as exc:
            result = self._failed(delivery_id, f"{type(exc).__name__}: {exc}")
            log.exception("delivery %s (%s) failed unexpectedly", delivery_id, event)
        finally:
            renewing.cancel()
            await asyncio.wait([renewing])
            if result is None:
                await self._settle(self._failed(delivery_id, INTERRUPTED))
        await self._settle(result)
        return result

    async def _keep_claim(self, delivery_id: str) -> None:
        """Renew the delivery's claim while it is handled, however long that takes.

        Cancelled, it ends only after a renewal under way has, so none lands after the settle.
        """
        while True:
            await asyncio.sleep(self.renew_every_s)
            try:
                await self._with_ci(lambda ci: ci.renew_delivery(delivery_id, self.clock()))
            except Exception:
                log.exception("delivery %s: renewing its claim failed", delivery_id)

    @staticmethod
    def _failed(delivery_id: str, reason: str) -> IntakeResult:
        return IntakeResult(delivery_id=delivery_id, status="failed", reason=reason[:2000])

    async def _settle(self, result: IntakeResult) -> None:
        await self._with_ci(
            lambda ci: ci.settle_delivery(
                result.delivery_id, result.status, result.reason, result.incident_id
            )
        )

    async def handle(self, delivery: Delivery) -> IntakeResult:
        """Act on one parsed delivery of a handled event."""
        did = delivery.delivery_id
        repository = delivery.repository
        if repository is None:
            return IntakeResult(delivery_id=did, status="rejected", reason="no repository")
        if delivery.event == "workflow_run" and delivery.workflow_run is not None:
            if delivery.action != "completed":
                return IntakeResult(
                    delivery_id=did, status="ignored", reason=f"run {delivery.action}"
                )
            return await self.on_completed_run(
                did, repository.full_name, repository.default_branch, delivery.workflow_run
            )
        if delivery.event == "issue_comment" and delivery.comment is not None:
            return await self._on_comment(delivery)
        if delivery.event == "workflow_job" and delivery.workflow_job is not None:
            job = delivery.workflow_job
            return IntakeResult(
                delivery_id=did,
                status="accepted" if job.status == "completed" else "ignored",
                reason=f"job {job.id} {job.status}/{job.conclusion}: "
                "healing is decided once its run has completed (workflow_run)",
            )
        if delivery.event == "check_run" and delivery.check_run is not None:
            check = delivery.check_run
            return IntakeResult(
                delivery_id=did,
                status="accepted",
                reason=f"check run {check.id} {check.status}/{check.conclusion} recorded; "
                "Actions checks are healed through their workflow_run",
            )
        if delivery.event == "issues" and delivery.issue is not None:
            return await self._with_ci(lambda ci: self._on_issue(ci, delivery))
        return IntakeResult(delivery_id=did, status="ignored", reason="nothing to do")

    # -- runs ----------------------------------------------------------------------------

    def _attempt(
        self,
        repository: str,
        default_branch: str,
        run: WorkflowRun,
        retryable: bool | None = None,
    ) -> AttemptRecord:
        return AttemptRecord(
            repository=repository,
            workflow=run.workflow,
            run_id=run.id,
            run_attempt=run.run_attempt,
            head_sha=run.head_sha,
            head_branch=run.head_branch,
            conclusion=run.conclusion or "unknown",
            at=run.updated_at or self.clock(),
            default_branch=default_branch,
            retryable=retryable,
            from_fork=not run.built_from(repository),
        )

    async def on_completed_run(
        self, delivery_id: str, repository: str, default_branch: str, run: WorkflowRun
    ) -> IntakeResult:
        """Record a finished attempt; for a failure, explain, plan and start the incident.

        A failure is recorded (not handled yet) before its logs are read, so the health
        figures and the poller see it whatever the reading does.
        """
        names = _spellings(repository)
        repository = names[0]
        if not run.failed:
            await self._with_ci(
                lambda ci: ci.record_attempt(self._attempt(repository, default_branch, run))
            )
            return IntakeResult(
                delivery_id=delivery_id,
                status="accepted",
                reason=f"run {run.id} attempt {run.run_attempt} {run.conclusion}: recorded",
            )
        await self._with_ci(
            lambda ci: ci.record_attempt(
                self._attempt(repository, default_branch, run), handled=False
            )
        )
        reading = await asyncio.to_thread(
            read_run, self.api, self.config, self.taxonomy, repository, default_branch, run
        )
        explanation, job, baseline = reading.explanation, reading.job, reading.baseline
        finished = run.updated_at or self.clock()
        evidence = self._storm_evidence(explanation)

        def record(repo: CiRepo) -> tuple[bool, StormVerdict | None]:
            repo.record_attempt(
                self._attempt(repository, default_branch, run, explanation.retryable),
                category=explanation.category,
                fingerprint=explanation.fingerprint,
                handled=False,
            )
            fingerprint = explanation.fingerprint
            healing = self.config.healing
            storm = repo.storm(fingerprint, finished, healing) if evidence else None
            ignored = repo.ignored(names, fingerprint)
            if storm is not None and storm.storm and not ignored:
                home = outage_home(storm, _canonical(healing.outage_repository))
                ignored = repo.ignored([home], fingerprint)
            return ignored, storm

        ignored, storm = await self._with_ci(record)
        category = self.taxonomy.get(explanation.category)
        plan = plan_heal(
            FailureClass(
                category=explanation.category,
                retryable=explanation.retryable,
                heal=str(category.heal),
                max_attempts=category.max_attempts,
                backoff_seconds=category.backoff_seconds,
                report=category.report,
            ),
            run_attempt=run.run_attempt,
            storm=storm,
            ignored=ignored,
            config=self.config.healing,
        )
        return await self._start(
            delivery_id,
            repository,
            default_branch,
            run,
            job,
            explanation,
            plan,
            storm,
            baseline=baseline,
        )

    def _storm_evidence(self, explanation: Explanation) -> bool:
        """Whether a failure may count towards an outage across repositories.

        Not when it names no known class and matched nothing of one (an empty, refused or
        unread log, or text nothing recognises): unrelated failures look alike that way.
        """
        return explanation.category != self.taxonomy.fallback or bool(explanation.indications)

    async def _start(
        self,
        delivery_id: str,
        repository: str,
        default_branch: str,
        run: WorkflowRun,
        job: WorkflowJob | None,
        explanation: Explanation,
        plan: HealPlan,
        storm: StormVerdict | None,
        requested_by: str | None = None,
        baseline: Baseline | None = None,
    ) -> IntakeResult:
        """Start the plan's incident and mark the attempt handled.

        A re-run a person asked for leaves the attempt's class as it was recorded: their
        decision says nothing of whether the failure is retryable.
        """
        retryable = None if requested_by else explanation.retryable
        if plan.kind is HealKind.none:
            await self._with_ci(
                lambda ci: ci.record_attempt(
                    self._attempt(repository, default_branch, run, retryable),
                    handled=True,
                )
            )
            return IntakeResult(delivery_id=delivery_id, status="accepted", reason=plan.reason)
        if self.starter is None:
            return IntakeResult(
                delivery_id=delivery_id,
                status="failed",
                reason=f"{plan.reason}; but no engine is attached to start the incident",
            )
        alert = failure_alert(
            repository=repository,
            workflow=run.workflow,
            run_id=run.id,
            run_attempt=run.run_attempt,
            head_sha=run.head_sha,
            head_branch=run.head_branch,
            run_url=run.html_url,
            job_id=job.id if job else None,
            explanation=explanation,
            plan=plan,
            storm=storm,
            finished_at=run.updated_at or self.clock(),
            requested_by=requested_by,
            evidence=None if requested_by else retry_evidence(explanation, self.taxonomy),
            baseline_url=baseline.link if baseline else None,
            outage_repository=_canonical(self.config.healing.outage_repository),
        )
        incident_id, new = await self.starter(alert)
        await self._with_ci(
            lambda ci: ci.record_attempt(
                self._attempt(repository, default_branch, run, retryable),
                incident_id=incident_id,
                handled=True,
            )
        )
        what = "started" if new else "already open"
        return IntakeResult(
            delivery_id=delivery_id,
            status="accepted",
            reason=f"{plan.kind}: {plan.reason}; incident {incident_id} {what}",
            incident_id=incident_id,
            new_incident=new,
        )

    # -- people --------------------------------------------------------------------------

    def _on_issue(self, repo: CiRepo, delivery: Delivery) -> IntakeResult:
        """Note a triage issue closed, reopened or gone (runs in the store's thread)."""
        issue = delivery.issue
        repository = delivery.repository
        if issue is None or repository is None:
            return IntakeResult(delivery_id=delivery.delivery_id, status="ignored", reason="-")
        found = _issue_triage(repo, repository.full_name, issue.number)
        if found is None:
            return IntakeResult(
                delivery_id=delivery.delivery_id,
                status="ignored",
                reason=f"issue #{issue.number} is not a Vanguard triage issue",
            )
        name, triage = found
        state = {"closed": "closed", "reopened": "open"}.get(delivery.action or "")
        forget = delivery.action in {"deleted", "transferred"}
        repo.note_issue(
            name,
            triage.fingerprint,
            at=self.clock(),
            issue_number=issue.number,
            state=state,
            forget=forget,
        )
        what = "forgotten; the next failure opens a new one" if forget else "noted"
        return IntakeResult(
            delivery_id=delivery.delivery_id,
            status="accepted",
            reason=f"triage issue #{issue.number} {delivery.action}: {what}",
        )

    async def _on_comment(self, delivery: Delivery) -> IntakeResult:
        did = delivery.delivery_id
        comment, issue, repository = delivery.comment, delivery.issue, delivery.repository
        if comment is None or issue is None or repository is None:
            return IntakeResult(delivery_id=did, status="ignored", reason="incomplete comment")
        if delivery.action != "created":
            return IntakeResult(
                delivery_id=did, status="ignored", reason=f"comment {delivery.action}"
            )
        command = parse_command(comment.body)
        if command is None:
            return IntakeResult(delivery_id=did, status="ignored", reason="no /vanguard command")
        repo_name = canonical_repository(repository.full_name)

        def fingerprint_of(repo: CiRepo) -> tuple[str, str] | None:
            found = _issue_triage(repo, repository.full_name, issue.number)
            return (found[1].fingerprint, str(found[1].body.get("title", ""))) if found else None

        known = await self._with_ci(fingerprint_of)
        if known is None:
            return IntakeResult(
                delivery_id=did,
                status="ignored",
                reason=f"#{issue.number} is not a Vanguard triage issue: {command} ignored",
            )
        fingerprint, title = known
        login = comment.user.login
        listed = login.lower() in {u.lower() for u in self.config.triage.authorised_users}
        if comment.user.type == "Bot" and not listed:
            return IntakeResult(
                delivery_id=did,
                status="ignored",
                reason=f"/vanguard {command} refused: {login} is a bot, and bots are obeyed "
                "only when listed in triage.authorised_users",
            )
        permission = None
        if not listed:
            permission = await asyncio.to_thread(self.api.permission, repo_name, login)
        allowed, why = is_authorised(
            login,
            allowed=self.config.triage.authorised_users,
            permission=permission,
            min_permission=self.config.triage.min_permission,
        )
        if not allowed:
            return IntakeResult(
                delivery_id=did, status="ignored", reason=f"/vanguard {command} refused: {why}"
            )
        outage = is_outage_issue(issue.label_names, title)
        if command is Command.ignore:
            await self._with_ci(
                lambda ci: ci.save_triage(repo_name, fingerprint, at=self.clock(), ignored=True)
            )
            what = (
                f"the outage of {fingerprint} is ignored: while it fails in "
                f"{self.config.healing.storm_repositories} or more repositories, none of them "
                f"is re-run for it and issue #{issue.number} is neither commented on nor reopened"
                if outage
                else f"{fingerprint} is no longer re-run, commented on or reopened"
            )
            return IntakeResult(
                delivery_id=did,
                status="accepted",
                reason=f"/vanguard ignore by {login} ({why}): {what}",
            )
        if outage:
            return await self._with_ci(
                lambda ci: self._retry_outage(ci, did, repo_name, fingerprint, login)
            )
        return await self._retry(did, repository.full_name, fingerprint, login, why)

    def _retry_outage(
        self, repo: CiRepo, did: str, repository: str, fingerprint: str, login: str
    ) -> IntakeResult:
        """``/vanguard retry`` on an outage's issue: lift its ignore, re-run nothing.

        One comment re-running the latest failure of every repository of an outage would
        spend each one's re-run budget against what is most likely still broken, which is
        what storm detection is there to prevent; each repository's run is re-run from
        GitHub, or from its own issue, once the outage is over.
        """
        names = _spellings(repository)
        lifted = repo.ignored(names, fingerprint)
        for name in names:
            if repo.triage(name, fingerprint) is not None:
                repo.save_triage(name, fingerprint, at=self.clock(), ignored=False)
        said = "its /vanguard ignore is lifted; " if lifted else ""
        return IntakeResult(
            delivery_id=did,
            status="accepted" if lifted else "ignored",
            reason=(
                f"/vanguard retry by {login} on the issue of an outage ({fingerprint}): "
                f"{said}nothing is re-run from an outage's issue; re-run each repository's "
                "failed run on GitHub once the outage is over"
            ),
        )

    async def _retry(
        self, did: str, full_name: str, fingerprint: str, login: str, why: str
    ) -> IntakeResult:
        names = _spellings(full_name)

        def latest(repo: CiRepo) -> tuple[str, WorkflowRun, str, str] | None:
            row = next((r for name in names if (r := repo.latest_failure(name, fingerprint))), None)
            if row is None:
                return None
            for name in names:
                if repo.triage(name, fingerprint) is not None:
                    repo.save_triage(name, fingerprint, at=self.clock(), ignored=False)
            run = WorkflowRun(
                id=row.run_id,
                name=row.workflow,
                head_sha=row.head_sha,
                head_branch=row.head_branch,
                status="completed",
                conclusion=row.conclusion,
                run_attempt=row.run_attempt,
                updated_at=row.finished_at,
            )
            return row.repository, run, row.default_branch, row.category or self.taxonomy.fallback

        found = await self._with_ci(latest)
        if found is None:
            return IntakeResult(
                delivery_id=did, status="ignored", reason=f"no failed run of {fingerprint}"
            )
        repository, run, default_branch, category = found
        explanation = Explanation(
            lines=(),
            category=category,
            fingerprint=fingerprint,
            retryable=True,
            heal=Heal.retry,
            confidence=1.0,
            line_count=0,
        )
        plan = HealPlan(
            kind=HealKind.rerun,
            reason=f"/vanguard retry by {login} ({why})",
            reruns_done=max(0, run.run_attempt - 1),
            max_reruns=run.run_attempt,
        )
        return await self._start(
            did, repository, default_branch, run, None, explanation, plan, None, requested_by=login
        )


def _spellings(full_name: str) -> tuple[str, ...]:
    """``full_name``'s one spelling, then the name as given when it differs: rows recorded
    before names were folded to one spelling are still found (handled attempts, ignored
    fingerprints, triage issues)."""
    return tuple(dict.fromkeys([canonical_repository(full_name), full_name]))


def _canonical(full_name: str | None) -> str | None:
    return canonical_repository(full_name) if full_name is not None else None


def _issue_triage(repo: CiRepo, full_name: str, number: int) -> tuple[str, CiTriageRow] | None:
    """The triage row of issue ``number`` of ``full_name``, and the spelling it is under."""
    for name in _spellings(full_name):
        row = repo.triage_by_issue(name, number)
        if row is not None:
            return name, row
    return None
