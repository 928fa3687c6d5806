"""Reading and writing the CI agent's tables inside the caller's unit of work (never commits)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vanguard.ci.budget import ApiBudget
from vanguard.ci.config import HealingConfig, canonical_repository
from vanguard.ci.healing import FailureSighting, StormVerdict, detect_storm
from vanguard.ci.health import AttemptRecord
from vanguard.ci.tables import (
    CiAttemptRow,
    CiPollEtagRow,
    CiTriageRow,
    GitHubBudgetRow,
    GitHubDeliveryRow,
)

__all__ = ["STALE_RECEIVED", "CiRepo", "DeliveryStatus", "budget_key", "stale_opening"]

DeliveryStatus = str
"""``received`` (in flight), ``accepted``, ``ignored``, ``rejected`` or ``failed``."""

MAX_REASON = 2000
STALE_RECEIVED = timedelta(minutes=15)
"""A delivery ``received`` this long ago is taken as abandoned: its process died mid-way."""
MAX_COMMENTERS = 50
"""Keys remembered as having commented on a fingerprint's issue (the newest ones)."""
_CLAIM = ("opening", "opening_at")
MAX_ETAG = 200
MAX_API_URL = 300
MAX_BLOCKED_REASON = 300
LIMITS_KEPT = timedelta(days=1)
"""How long the strictest budget settings a process used hold every process of the store."""
_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/?#]*@", re.IGNORECASE)


_Row = TypeVar("_Row", CiPollEtagRow, GitHubBudgetRow)
"""A row kept one per key and changed under its lock."""


def stale_opening(call_timeout_s: float) -> timedelta:
    """The age at which a claim to open a fingerprint's issue is taken for a dead worker's.

    Its holder claims it right before looking the issue up and renews it right before
    creating it, so a live holder's claim is never older than one call: a connection and an
    answer, each up to ``call_timeout_s``. Another 15 s cover the store and the difference
    between workers' clocks. Taken over any sooner, a slow GitHub gave one fingerprint two
    issues.
    """
    return timedelta(seconds=2 * call_timeout_s + 15)


class CiRepo:
    """Deliveries (dedupe), attempts (health, storms), triage issues, the poller's ETags and
    the GitHub API budget."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- deliveries ----------------------------------------------------------------------

    def claim_delivery(
        self,
        delivery_id: str,
        *,
        event: str,
        action: str | None,
        repository: str | None,
        at: datetime,
        status: DeliveryStatus,
        reason: str,
    ) -> bool:
        """Record a delivery once; ``False`` when this id was seen before (a duplicate).

        A delivery whose handling failed may be claimed again (GitHub's redelivery retries
        it), and so may one still ``received`` after ``STALE_RECEIVED`` (its process died
        while handling it): its status is reset by one conditional ``UPDATE``, so of two
        concurrent redeliveries exactly one wins. A concurrent first insert loses on the
        primary key.
        """
        reclaimed = self.session.execute(
            update(GitHubDeliveryRow)
            .where(
                GitHubDeliveryRow.delivery_id == delivery_id,
                or_(
                    GitHubDeliveryRow.status == "failed",
                    and_(
                        GitHubDeliveryRow.status == "received",
                        GitHubDeliveryRow.received_at < at - STALE_RECEIVED,
                    ),
                ),
            )
            .values(status=status, received_at=at, reason=reason[:MAX_REASON], incident_id=None)
            .execution_options(synchronize_session=False)
        )
        if cast("CursorResult[Any]", reclaimed).rowcount == 1:
            self.session.expire_all()
            return True
        if self.session.get(GitHubDeliveryRow, delivery_id) is not None:
            return False
        try:
            with self.session.begin_nested():
                self.session.add(
                    GitHubDeliveryRow(
                        delivery_id=delivery_id,
                        event=event[:60],
                        action=action[:60] if action else None,
                        repository=repository[:200] if repository else None,
                        received_at=at,
                        status=status,
                        reason=reason[:MAX_REASON],
                        incident_id=None,
                    )
                )
        except IntegrityError:
            return False
        return True

    def renew_delivery(self, delivery_id: str, at: datetime) -> bool:
        """Move a delivery still being handled to ``at``, so it never looks ``STALE_RECEIVED``.

        The handler calls it while it works: a handling that runs past the stale age (a slow
        log download, a busy engine) is not taken for a dead one and handled again.
        """
        renewed = self.session.execute(
            update(GitHubDeliveryRow)
            .where(
                GitHubDeliveryRow.delivery_id == delivery_id,
                GitHubDeliveryRow.status == "received",
            )
            .values(received_at=at)
            .execution_options(synchronize_session=False)
        )
        return cast("CursorResult[Any]", renewed).rowcount == 1

    def settle_delivery(
        self, delivery_id: str, status: DeliveryStatus, reason: str, incident_id: str | None
    ) -> None:
        row = self.session.get(GitHubDeliveryRow, delivery_id)
        if row is not None:
            row.status = status
            row.reason = reason[:MAX_REASON]
            row.incident_id = incident_id

    def delivery(self, delivery_id: str) -> GitHubDeliveryRow | None:
        return self.session.get(GitHubDeliveryRow, delivery_id)

    # -- attempts ------------------------------------------------------------------------

    def record_attempt(
        self,
        record: AttemptRecord,
        *,
        category: str | None = None,
        fingerprint: str | None = None,
        incident_id: str | None = None,
        handled: bool | None = None,
    ) -> None:
        """Insert or update one finished attempt (a re-delivered event only refines it).

        ``from_fork``, like ``rerun_by_vanguard``, is never cleared: a later record that
        lacks the run's head repository (a ``/vanguard retry``) must not forget it.

        ``handled=False`` marks a failed attempt whose incident is not started yet; the
        poller takes such an attempt up again (``attempt_handled``).
        """
        key = (record.repository, record.run_id, record.run_attempt)
        row = self.session.get(CiAttemptRow, key)
        if row is None:
            row = CiAttemptRow(
                repository=record.repository,
                run_id=record.run_id,
                run_attempt=record.run_attempt,
                rerun_by_vanguard=False,
                from_fork=False,
            )
            self.session.add(row)
        row.workflow = record.workflow[:200]
        row.head_sha = record.head_sha[:64]
        row.head_branch = record.head_branch
        row.default_branch = record.default_branch
        row.conclusion = record.conclusion
        row.finished_at = record.at
        row.retryable = record.retryable if record.retryable is not None else row.retryable
        row.category = category or row.category
        row.fingerprint = fingerprint or row.fingerprint
        row.incident_id = incident_id or row.incident_id
        row.rerun_by_vanguard = row.rerun_by_vanguard or record.rerun_by_vanguard
        row.from_fork = row.from_fork or record.from_fork
        if handled is not None:
            row.handled = handled
        self.session.flush()

    def attempt_handled(self, repository: str, run_id: int, run_attempt: int) -> bool:
        """Whether this attempt was recorded and handled to the end (not left mid-way)."""
        row = self.session.get(CiAttemptRow, (repository, run_id, run_attempt))
        return row is not None and bool(row.handled)

    def mark_rerun(self, repository: str, run_id: int, run_attempt: int) -> bool:
        row = self.session.get(CiAttemptRow, (repository, run_id, run_attempt))
        if row is None:
            return False
        row.rerun_by_vanguard = True
        return True

    def sightings(self, fingerprint: str, since: datetime) -> list[FailureSighting]:
        rows = self.session.scalars(
            select(CiAttemptRow).where(
                CiAttemptRow.fingerprint == fingerprint, CiAttemptRow.finished_at >= since
            )
        )
        return [
            FailureSighting(repository=r.repository, fingerprint=fingerprint, at=r.finished_at)
            for r in rows
        ]

    def storm(self, fingerprint: str, now: datetime, healing: HealingConfig) -> StormVerdict:
        """Whether ``fingerprint`` is an outage in the window ending ``now``: the intake's
        verdict on a failure, and the re-run's once its backoff is over."""
        since = now - timedelta(seconds=healing.storm_window_s)
        return detect_storm(
            self.sightings(fingerprint, since),
            fingerprint,
            now,
            min_repositories=healing.storm_repositories,
            window_s=healing.storm_window_s,
        )

    def attempts(
        self, *, repository: str | None = None, since: datetime | None = None
    ) -> list[AttemptRecord]:
        """Finished attempts, oldest first; ``repository`` in any case, as GitHub reads it
        (rows recorded before names were folded to lower case are found too)."""
        query = select(CiAttemptRow)
        if repository is not None:
            wanted = canonical_repository(repository)
            query = query.where(func.lower(CiAttemptRow.repository) == wanted)
        if since is not None:
            query = query.where(CiAttemptRow.finished_at >= since)
        query = query.order_by(CiAttemptRow.finished_at)
        return [
            AttemptRecord(
                repository=r.repository,
                workflow=r.workflow,
                run_id=r.run_id,
                run_attempt=r.run_attempt,
                head_sha=r.head_sha,
                head_branch=r.head_branch,
                conclusion=r.conclusion,
                at=r.finished_at,
                default_branch=r.default_branch,
                retryable=r.retryable,
                rerun_by_vanguard=r.rerun_by_vanguard,
                from_fork=r.from_fork,
            )
            for r in self.session.scalars(query)
        ]

    def latest_failure(self, repository: str, fingerprint: str) -> CiAttemptRow | None:
        return self.session.scalars(
            select(CiAttemptRow)
            .where(
                CiAttemptRow.repository == repository,
                CiAttemptRow.fingerprint == fingerprint,
                CiAttemptRow.conclusion.in_(("failure", "timed_out")),
            )
            .order_by(CiAttemptRow.finished_at.desc())
            .limit(1)
        ).first()

    # -- triage --------------------------------------------------------------------------

    def triage(self, repository: str, fingerprint: str) -> CiTriageRow | None:
        return self.session.get(CiTriageRow, (repository, fingerprint))

    def ignored(self, repositories: Iterable[str], fingerprint: str) -> bool:
        """Whether a ``/vanguard ignore`` holds for ``fingerprint`` under any of these names."""
        return any(
            row is not None and row.ignored
            for row in (self.triage(name, fingerprint) for name in repositories)
        )

    def claim_triage(
        self,
        repository: str,
        fingerprint: str,
        *,
        key: str,
        at: datetime,
        stale_after: timedelta,
    ) -> bool:
        """Claim the opening of the fingerprint's issue for ``key``; ``False`` while another
        key holds a claim younger than ``stale_after`` (see ``stale_opening``).

        Two incidents of one fingerprint triaged at once both found no issue and both
        created one. The claim is a field of the ``ci_triage`` row, written under the row's
        lock (the primary key for a new row); an issue already known needs no claim.
        """
        row = self.session.get(
            CiTriageRow, (repository, fingerprint), with_for_update=True, populate_existing=True
        )
        claim = {"opening": key, "opening_at": at.isoformat()}
        if row is None:
            try:
                with self.session.begin_nested():
                    self.session.add(_triage_row(repository, fingerprint, at, claim))
            except IntegrityError:
                return False
            return True
        if row.issue_number is not None:
            return True
        holder, since = row.body.get("opening"), row.body.get("opening_at")
        fresh = isinstance(since, str) and at - datetime.fromisoformat(since) < stale_after
        if holder not in (None, key) and fresh:
            return False
        row.body = {**row.body, **claim}
        self.session.flush()
        return True

    def renew_triage_claim(
        self, repository: str, fingerprint: str, *, key: str, at: datetime
    ) -> bool:
        """Renew ``key``'s claim to open the issue as of ``at``; ``False`` when it holds none
        any more: an issue was recorded meanwhile, or another key took the claim over.

        The holder calls it right before creating the issue, so a slow look-up does not make
        a live claim look stale, and it learns whether it still may create one.
        """
        row = self.session.get(
            CiTriageRow, (repository, fingerprint), with_for_update=True, populate_existing=True
        )
        if row is None or row.issue_number is not None or row.body.get("opening") != key:
            return False
        row.body = {**row.body, "opening_at": at.isoformat()}
        self.session.flush()
        return True

    def release_triage(self, repository: str, fingerprint: str, *, key: str) -> None:
        """Give back ``key``'s claim to open the issue, when no issue was recorded."""
        row = self.session.get(CiTriageRow, (repository, fingerprint), with_for_update=True)
        if row is None or row.issue_number is not None or row.body.get("opening") != key:
            return
        row.body = {k: v for k, v in row.body.items() if k not in _CLAIM}
        self.session.flush()

    def update_triage(
        self,
        repository: str,
        fingerprint: str,
        *,
        at: datetime,
        issue_number: int,
        changes: Mapping[str, Any],
        commenter: str | None = None,
    ) -> int:
        """Write what the issue keeper changed into the fingerprint's row, under its lock;
        the issue the row holds afterwards.

        Only the keys in ``changes`` are written (and ``commenter`` added to
        ``commented_by``): the keeper works on GitHub for seconds, and a person closing the
        issue meanwhile (``state``, noted from the ``issues`` delivery) or another incident
        commenting must not be overwritten by what it read before. A row that already holds
        another issue keeps it and that number is returned: it was opened first, by an
        incident that took over a stale claim, so the caller's issue is the duplicate.
        """
        row = self.session.get(
            CiTriageRow, (repository, fingerprint), with_for_update=True, populate_existing=True
        )
        if row is None:
            row = _triage_row(repository, fingerprint, at, {})
            self.session.add(row)
        elif row.issue_number is not None and row.issue_number != issue_number:
            return row.issue_number
        body = {k: v for k, v in row.body.items() if k not in _CLAIM}
        body.update(changes)
        if commenter is not None:
            earlier = [str(k) for k in body.get("commented_by", []) if k != commenter]
            body["commented_by"] = [*earlier, commenter][-MAX_COMMENTERS:]
        row.issue_number = issue_number
        row.body = body
        row.updated_at = at
        self.session.flush()
        return issue_number

    def triage_by_issue(self, repository: str, issue_number: int) -> CiTriageRow | None:
        return self.session.scalars(
            select(CiTriageRow).where(
                CiTriageRow.repository == repository, CiTriageRow.issue_number == issue_number
            )
        ).first()

    def note_issue(
        self,
        repository: str,
        fingerprint: str,
        *,
        at: datetime,
        issue_number: int,
        state: str | None = None,
        forget: bool = False,
    ) -> bool:
        """Note what a person did to the row's issue (closed, reopened, deleted), under the
        row's lock, touching nothing else: the issue keeper may be writing its own keys
        (``commented_by``, ``opened_by``) at the same moment. False when the row no longer
        holds that issue."""
        row = self.session.get(
            CiTriageRow, (repository, fingerprint), with_for_update=True, populate_existing=True
        )
        if row is None or row.issue_number != issue_number:
            return False
        if state is not None:
            row.body = {**row.body, "state": state}
        if forget:
            row.issue_number = None
        row.updated_at = at
        self.session.flush()
        return True

    def save_triage(
        self,
        repository: str,
        fingerprint: str,
        *,
        at: datetime,
        issue_number: int | None = None,
        ignored: bool | None = None,
        body: dict[str, Any] | None = None,
    ) -> CiTriageRow:
        row = self.triage(repository, fingerprint)
        if row is None:
            row = _triage_row(repository, fingerprint, at, {})
            self.session.add(row)
        if issue_number is not None:
            row.issue_number = issue_number
        if ignored is not None:
            row.ignored = ignored
        if body is not None:
            row.body = body
        row.updated_at = at
        self.session.flush()
        return row

    # -- poller ETags --------------------------------------------------------------------

    def poll_etag(self, repository: str) -> str | None:
        """The ETag of ``repository``'s last listing handled to the end, if any."""
        row = self.session.get(CiPollEtagRow, canonical_repository(repository))
        return row.etag if row is not None else None

    def save_poll_etag(self, repository: str, etag: str | None, *, at: datetime) -> None:
        """Keep ``etag`` for ``repository``'s next listing, or forget it (``None``).

        The poller saves it only once every run of the page is handled, and forgets it
        otherwise, so the next listing is paid for and shows those runs again. An ETag too
        long for its column is forgotten too: it costs a listing, never a run.
        """
        name = canonical_repository(repository)
        if etag is None or len(etag) > MAX_ETAG:
            self.session.execute(delete(CiPollEtagRow).where(CiPollEtagRow.repository == name))
            return
        row = self._locked(
            CiPollEtagRow, name, lambda: CiPollEtagRow(repository=name, etag=etag, saved_at=at)
        )
        row.etag, row.saved_at = etag, at
        self.session.flush()

    # -- GitHub API budget ---------------------------------------------------------------

    def budget(self, api_url: str, limits: ApiBudget, *, at: datetime) -> ApiBudget:
        """The budget kept for ``api_url``, under the strictest of the caller's ``limits``
        (cap and reserve) and those other processes used in the last ``LIMITS_KEPT``."""
        row = self.session.get(GitHubBudgetRow, budget_key(api_url))
        if row is None:
            return limits
        cap, _, reserve, _ = _limits(row, limits, at)
        return _budget(row, cap, reserve)

    def change_budget(
        self,
        api_url: str,
        limits: ApiBudget,
        change: Callable[[ApiBudget], ApiBudget],
        *,
        at: datetime,
    ) -> ApiBudget:
        """Apply ``change`` to the budget kept for ``api_url`` under its row's lock, and keep
        the result; what ``change`` raises leaves it as it was.

        Every process of the store spends this one budget: the read, the change and the
        write are one unit of work, so two processes never both spend the last call. The
        caller keeps the unit short, and never makes a call to GitHub inside it. The cap
        and reserve in force are the strictest of ``limits`` and those kept (see ``budget``);
        a change keeps them too.
        """
        key = budget_key(api_url)
        row = self._locked(GitHubBudgetRow, key, lambda: _budget_row(key, limits, at))
        kept = _limits(row, limits, at)
        budget = _budget(row, kept[0], kept[2])
        changed = change(budget)
        row.calls_per_hour, row.calls_per_hour_seen_at, row.reserve, row.reserve_seen_at = kept
        for name, value in _spent(changed).items():
            setattr(row, name, value)
        row.updated_at = at
        self.session.flush()
        return changed

    def _locked(self, table: type[_Row], key: str, new: Callable[[], _Row]) -> _Row:
        """The row of ``table`` keyed ``key`` under its lock, inserted from ``new()`` when
        there is none; a process that inserts it first wins, and this one locks theirs."""
        row = self.session.get(table, key, with_for_update=True, populate_existing=True)
        if row is not None:
            return row
        row = new()
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            row = self.session.get(table, key, with_for_update=True, populate_existing=True)
            if row is None:
                raise
        return row

    def kept_budgets(self) -> list[tuple[str, ApiBudget]]:
        """Every budget kept, by ``api_url``, with the strictest cap and reserve kept."""
        rows = self.session.scalars(select(GitHubBudgetRow).order_by(GitHubBudgetRow.api_url))
        return [(row.api_url, _budget(row, row.calls_per_hour, row.reserve)) for row in rows]

    def clear_budget_blocks(self, *, at: datetime) -> list[str]:
        """End every wait kept in a budget that lasts past ``at`` (a person decided it was
        wrong): the ``api_url`` of each budget that had one."""
        rows = self.session.scalars(
            select(GitHubBudgetRow).where(GitHubBudgetRow.blocked_until > at).with_for_update()
        ).all()
        for row in rows:
            row.blocked_until, row.blocked_reason, row.updated_at = None, "", at
        self.session.flush()
        return [row.api_url for row in rows]


def budget_key(api_url: str) -> str:
    """``api_url`` as the budget's key: without any ``user:password@``, which must never
    reach the store."""
    return _USERINFO.sub(r"\1", api_url)[:MAX_API_URL]


Limits = tuple[int, datetime, int, datetime]
"""The cap and reserve in force, each with when a process last used it."""


def _limits(row: GitHubBudgetRow, own: ApiBudget, at: datetime) -> Limits:
    """The smallest cap and the largest reserve of ``own`` and those kept in ``row``, a
    kept one only while a process used it within ``LIMITS_KEPT`` (a kept time ahead of
    ``at`` counts as ``at``: a clock running ahead must not keep it longer)."""
    fresh = at - LIMITS_KEPT
    cap: tuple[int, datetime] = (own.calls_per_hour, at)
    if row.calls_per_hour < own.calls_per_hour and row.calls_per_hour_seen_at > fresh:
        cap = (row.calls_per_hour, min(row.calls_per_hour_seen_at, at))
    reserve: tuple[int, datetime] = (own.reserve, at)
    if row.reserve > own.reserve and row.reserve_seen_at > fresh:
        reserve = (row.reserve, min(row.reserve_seen_at, at))
    return (*cap, *reserve)


_SPENT = ("window_start", "used", "remaining", "reset_at", "blocked_until", "blocked_reason")
"""What calls and answers change in a budget: the fields its row keeps of it."""


def _spent(budget: ApiBudget) -> dict[str, Any]:
    """The budget's ``_SPENT`` fields as its row keeps them (the reason cut to its column)."""
    kept = {name: getattr(budget, name) for name in _SPENT}
    kept["blocked_reason"] = budget.blocked_reason[:MAX_BLOCKED_REASON]
    return kept


def _budget(row: GitHubBudgetRow, calls_per_hour: int, reserve: int) -> ApiBudget:
    """The kept budget under ``calls_per_hour`` and ``reserve``."""
    return ApiBudget(
        calls_per_hour=calls_per_hour,
        reserve=reserve,
        **{name: getattr(row, name) for name in _SPENT},
    )


def _budget_row(api_url: str, budget: ApiBudget, at: datetime) -> GitHubBudgetRow:
    return GitHubBudgetRow(
        api_url=api_url,
        calls_per_hour=budget.calls_per_hour,
        calls_per_hour_seen_at=at,
        reserve=budget.reserve,
        reserve_seen_at=at,
        updated_at=at,
        **_spent(budget),
    )


def _triage_row(
    repository: str, fingerprint: str, at: datetime, body: dict[str, Any]
) -> CiTriageRow:
    """A fingerprint's triage row before any issue exists."""
    return CiTriageRow(
        repository=repository,
        fingerprint=fingerprint,
        issue_number=None,
        ignored=False,
        updated_at=at,
        body=body,
    )
