"""GitHub adapters: ``github.rerun`` re-runs a run's failed jobs, ``github.triage`` keeps the
one issue of a failure fingerprint up to date.

What to act on comes from the incident's alert (labels: run id, fingerprint, class; attributes:
explaining lines, links, a storm's repositories), read from the store by incident id, so a
pattern's remedy needs no per-run parameters. Both go through the ``Ledger``: a finished key
returns its recorded result; a re-run reads the run right before its POST and claims the
attempt for one key, so neither a worker killed between the POST and the record, nor a
person's re-run during the backoff, nor a second incident of the same attempt re-runs it
twice. The re-run's backoff is waited by the engine (``due``), before it runs the gates
again and asks ``unwanted`` whether the fingerprint was ignored or became an outage
meanwhile; a begun triage finds the issue its key opened (recorded before anything else) and
neither comments on it nor forgets that it can be closed. Both kinds share one
``GitHubContext``.

A re-run of a class marked ``track`` (flaky tests) also updates the fingerprint's issue:
flakes are healed and never hidden. A re-run cannot be undone (the cancel endpoint stops the
new attempt but cannot restore the old one); an issue Vanguard created is undone by closing it.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from vanguard.act.base import Adapter, Ledger, begin_once, cannot_undo, validate_params
from vanguard.ci.client import GitHubApi, build_github_api
from vanguard.ci.config import GitHubConfig, HealingConfig, canonical_repository
from vanguard.ci.healing import rerun_withdrawn
from vanguard.ci.triage import (
    MARKER,
    RunLink,
    TriageFacts,
    issue_label,
    owners_for,
    parse_codeowners,
    render_comment,
    render_issue,
)
from vanguard.clock import utcnow
from vanguard.config import Settings
from vanguard.errors import (
    ActionFailed,
    AdapterError,
    ConfigError,
    StoreError,
)
from vanguard.model import (
    ActionRequest,
    ActionResult,
    Alert,
    Check,
    Plan,
    RollbackRequest,
    UndoRecord,
)
from vanguard.store.database import Store, open_store
from vanguard.store.repo import IncidentRepo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vanguard.ci.records import CiRepo

__all__ = [
    "GITHUB_ADAPTERS",
    "GitHubContext",
    "GitHubRerunAdapter",
    "GitHubRerunParams",
    "GitHubTriageAdapter",
    "GitHubTriageParams",
    "IssueKeeper",
    "IssueUpdate",
    "close_github",
    "github_adapters",
]

log = logging.getLogger(__name__)

PENDING_STATES = frozenset({"queued", "in_progress", "requested", "waiting", "pending"})
MAX_RUNS_KEPT = 50


class GitHubRerunParams(BaseModel):
    """Optional overrides; by default the run comes from the incident's alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_wait_s: float | None = Field(default=None, ge=0.0, le=270.0)


class GitHubTriageParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    extra_labels: tuple[str, ...] = ()


AlertLookup = Callable[[str], Alert | None]
ApiFactory = Callable[[], GitHubApi]


class GitHubContext:
    """The clients both GitHub adapters share: the GitHub API and the store, built lazily.

    One per runtime: the store is the runtime's own when given (never closed here),
    otherwise opened on first use and closed by ``close``. githubkit opens one HTTP
    client per call, so the API holds no connection; ``close`` drops it all the same. The
    API spends the budget kept in the store, and every call of it may use the reserve
    kept for re-runs and issues (polling and log reading may not).
    """

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self._api: GitHubApi | None = None
        self._store = store
        self._owns_store = store is None
        self.closed = False

    def config(self) -> GitHubConfig:
        if self.settings.github is None:
            raise ConfigError(
                "no 'github' section: GitHub actions are not configured", key="github"
            )
        return self.settings.github

    def api(self) -> GitHubApi:
        self._check_open()
        if self._api is None:
            self._api = build_github_api(self.config(), store=self.store(), essential=True)
        return self._api

    def store(self) -> Store:
        self._check_open()
        if self._store is None:
            self._store = open_store(self.settings.resolved_store_url())
        return self._store

    def alert(self, incident_id: str) -> Alert | None:
        with self.store().session() as session:
            incident = IncidentRepo(session).get_incident(incident_id)
        return incident.alert if incident is not None else None

    def close(self) -> None:
        """Release what this context opened; later use raises ``StoreError``. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._api = None
        if self._owns_store and self._store is not None:
            self._store.close()
        self._store = None

    def _check_open(self) -> None:
        if self.closed:
            raise StoreError("the GitHub adapters' context is closed")


def _ci_repo(session: Session) -> CiRepo:
    """The CI tables' repository (imported late: ``vanguard.store`` loads this module)."""
    from vanguard.ci.records import CiRepo

    return CiRepo(session)


def _stale_opening(call_timeout_s: float) -> timedelta:
    from vanguard.ci.records import stale_opening

    return stale_opening(call_timeout_s)


def _label(alert: Alert, name: str) -> str:
    value = alert.labels.get(name)
    if not value:
        raise ActionFailed(f"alert {alert.alert_id} has no {name!r} label; not a CI alert")
    return value


def _int_label(alert: Alert, name: str) -> int:
    try:
        return int(_label(alert, name))
    except ValueError as exc:
        raise ActionFailed(f"alert {alert.alert_id}: label {name!r} is not a number") from exc


class IssueUpdate(BaseModel):
    """What ``IssueKeeper.upsert`` did: which issue holds the failure, and whether it is new."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str
    issue_number: int = Field(ge=1)
    created: bool
    fingerprint: str
    labels: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()


class IssueKeeper:
    """Create or update the one issue of a fingerprint (shared by both adapters).

    The issue an idempotency key opened is written to the ``ci_triage`` row (``opened_by``)
    right after GitHub created it and before anything else, and a key that commented is
    remembered too: a retried key finds its own issue again instead of commenting on it.
    """

    def __init__(
        self,
        api: Callable[[], GitHubApi],
        store: Callable[[], Store],
        config: Callable[[], GitHubConfig],
        clock: Callable[[], datetime],
    ) -> None:
        self.api = api
        self.store = store
        self.config = config
        self.clock = clock

    def owners(self, repository: str) -> tuple[str, ...]:
        for path in self.config().triage.codeowners_paths:
            text = self.api().file_text(repository, path)
            if text is not None:
                return owners_for(parse_codeowners(text), [".github/workflows/"])
        return ()

    def locate(self, alert: Alert) -> int | None:
        """The number of the fingerprint's issue, from the store or else by its label."""
        repository, fingerprint = alert.service_name, _label(alert, "fingerprint")
        known, _ = self._row(repository, fingerprint)
        if known is None:
            found = self.api().find_issue(repository, issue_label(fingerprint))
            known = found.number if found is not None else None
        return known

    def upsert(
        self,
        alert: Alert,
        extra_labels: tuple[str, ...] = (),
        *,
        key: str,
        adopt_found: bool = False,
    ) -> IssueUpdate:
        """Open or update the issue for ``key``; say which issue and whether it is new.

        ``adopt_found`` is for a retried key that began when no issue existed: an issue
        found now is the one it opened before it was interrupted, so it is not commented.
        Opening is claimed on the fingerprint's row first (the owners are read before, so
        the claim spans as few GitHub calls as possible), and the claim is given back when
        this fails before an issue exists.
        """
        repository, fingerprint = alert.service_name, _label(alert, "fingerprint")
        owners = self.owners(repository)
        stale_after = _stale_opening(self.config().timeout_s)
        with self.store().session() as session:
            if not _ci_repo(session).claim_triage(
                repository, fingerprint, key=key, at=self.clock(), stale_after=stale_after
            ):
                raise AdapterError(
                    f"the issue of {fingerprint} in {repository} is being opened by another "
                    "incident; this one comments on it once it exists (retried)"
                )
        try:
            return self._upsert(alert, extra_labels, owners, key=key, adopt_found=adopt_found)
        except BaseException:
            try:
                with self.store().session() as session:
                    _ci_repo(session).release_triage(repository, fingerprint, key=key)
            except Exception:
                log.exception("the claim on %s in %s was not given back", fingerprint, repository)
            raise

    def _upsert(
        self,
        alert: Alert,
        extra_labels: tuple[str, ...],
        owners: tuple[str, ...],
        *,
        key: str,
        adopt_found: bool,
    ) -> IssueUpdate:
        repository = alert.service_name
        fingerprint = _label(alert, "fingerprint")
        api = self.api()
        run = RunLink(
            repository=alert.labels.get("repository", repository),
            run_id=_int_label(alert, "run_id"),
            attempt=int(alert.labels.get("run_attempt", "1") or 1),
            url=_str(alert.attributes.get("run_url")),
            workflow=alert.labels.get("workflow", ""),
            head_sha=alert.labels.get("head_sha", ""),
        )
        known, body = self._row(repository, fingerprint)
        runs = [RunLink.model_validate(r) for r in body.get("runs", [])]
        if run not in runs:
            runs = [*runs, run][-MAX_RUNS_KEPT:]
        lines, candidates = _texts(alert, "lines"), _texts(alert, "candidates")
        outage = _texts(alert, "outage_repositories")
        facts = TriageFacts(
            repository=repository,
            fingerprint=fingerprint,
            category=alert.labels.get("category", "unknown"),
            retryable=alert.labels.get("retryable") == "true",
            lines=lines,
            candidates=candidates,
            headline=_str(alert.attributes.get("headline")) or "",
            runs=tuple(runs),
            owners=owners,
            outage_repositories=outage,
            heal_reason=_str(alert.attributes.get("heal_reason")) or "",
            failed_step=_str(alert.attributes.get("failed_step")),
            compared_with=_str(alert.attributes.get("baseline_url")),
        )
        draft = render_issue(facts, (*self.config().triage.labels, *extra_labels))
        changes: dict[str, Any] = {
            "runs": [r.model_dump(mode="json") for r in runs],
            "title": draft.title,
        }
        opened = {**changes, "opened_by": key, "state": "open"}
        done = IssueUpdate(
            repository=repository,
            issue_number=1,
            created=False,
            fingerprint=fingerprint,
            labels=draft.labels,
            owners=facts.owners,
        )
        if known is not None and body.get("opened_by") == key:
            return done.model_copy(update={"issue_number": known, "created": True})
        if known is None:
            found = api.find_issue(repository, issue_label(fingerprint))
            known = found.number if found is not None else None
            if known is not None and adopt_found:
                self._record(repository, fingerprint, known, opened)
                return done.model_copy(update={"issue_number": known, "created": True})
        if known is None:
            known = self._still_opening(repository, fingerprint, key)
        if known is None:
            number = api.create_issue(repository, draft).number
            kept = self._record(repository, fingerprint, number, opened)
            if kept == number:
                return done.model_copy(update={"issue_number": number, "created": True})
            self._close_duplicate(repository, number, kept)
            known = kept
        comment = render_comment(run, lines, facts.heal_reason, facts.outage_repositories)
        self._update(repository, fingerprint, known, draft.labels, comment, changes, key=key)
        return done.model_copy(update={"issue_number": known})

    def _update(
        self,
        repository: str,
        fingerprint: str,
        number: int,
        labels: tuple[str, ...],
        comment: str,
        changes: dict[str, Any],
        *,
        key: str,
    ) -> None:
        """Label, reopen and comment the issue, then record it.

        The comment is the last call: a labels or state call failing for a transient reason
        is retried before anything was posted, so the retry does not comment twice. The row is
        read again for its state and who commented, since another incident or a person may
        have changed them while this one worked.
        """
        api = self.api()
        _, body = self._row(repository, fingerprint)
        api.add_labels(repository, number, labels)
        if body.get("state") == "closed":
            api.set_issue_state(repository, number, "open")
            changes = {**changes, "state": "open"}
        commented = key in [str(k) for k in body.get("commented_by", [])]
        if not commented:
            api.comment_issue(repository, number, comment)
        self._record(repository, fingerprint, number, changes, commenter=None if commented else key)

    def _still_opening(self, repository: str, fingerprint: str, key: str) -> int | None:
        """Renew ``key``'s claim right before creating the issue; the issue recorded
        meanwhile by another incident, if any (then it is commented instead).

        Raises ``AdapterError`` (retried) when the claim was taken over and no issue is
        recorded yet: the other incident is creating it.
        """
        with self.store().session() as session:
            repo = _ci_repo(session)
            if repo.renew_triage_claim(repository, fingerprint, key=key, at=self.clock()):
                return None
            row = repo.triage(repository, fingerprint)
            if row is not None and row.issue_number is not None:
                return row.issue_number
        raise AdapterError(
            f"the issue of {fingerprint} in {repository} is being opened by another incident, "
            "which took over this one's stale claim; this one comments on it once it exists "
            "(retried)"
        )

    def _close_duplicate(self, repository: str, number: int, kept: int) -> None:
        """Close the issue just created when another incident recorded its own first."""
        log.warning(
            "issue #%d in %s duplicates #%d (opened meanwhile by another incident): closing it",
            number,
            repository,
            kept,
        )
        self.api().comment_issue(
            repository,
            number,
            f"Opened twice while GitHub was slow: this failure is tracked in #{kept}, "
            f"so this issue is closed.\n\n{MARKER}",
        )
        self.api().set_issue_state(repository, number, "closed")

    def _row(self, repository: str, fingerprint: str) -> tuple[int | None, dict[str, Any]]:
        """The fingerprint's issue number and body as the store holds them now."""
        with self.store().session() as session:
            row = _ci_repo(session).triage(repository, fingerprint)
            return (row.issue_number, dict(row.body)) if row else (None, {})

    def _record(
        self,
        repository: str,
        fingerprint: str,
        number: int,
        changes: dict[str, Any],
        *,
        commenter: str | None = None,
    ) -> int:
        with self.store().session() as session:
            return _ci_repo(session).update_triage(
                repository,
                fingerprint,
                at=self.clock(),
                issue_number=number,
                changes=changes,
                commenter=commenter,
            )


def _str(value: JsonValue | None) -> str | None:
    return value if isinstance(value, str) else None


def _texts(alert: Alert, name: str) -> tuple[str, ...]:
    """A list attribute of the alert as text lines (none when absent or not a list)."""
    raw = alert.attributes.get(name)
    return tuple(str(x) for x in raw) if isinstance(raw, list) else ()


class GitHubRerunAdapter:
    """``github.rerun``: re-run the failed jobs of the alert's run, once per key, after backoff.

    The backoff is not waited here: ``due`` says when the re-run may go, the engine waits
    for it and then asks ``unwanted`` and the gates, so a pause, a ``/vanguard ignore`` or
    an outage declared during the wait stops the re-run.
    """

    kind: ClassVar[str] = "github.rerun"
    params_model: ClassVar[type[BaseModel]] = GitHubRerunParams

    def __init__(
        self,
        ledger: Ledger,
        *,
        api: Callable[[], GitHubApi],
        alerts: AlertLookup,
        keeper: IssueKeeper,
        store: Callable[[], Store],
        healing: Callable[[], HealingConfig],
        clock: Callable[[], datetime] = utcnow,
        context: GitHubContext | None = None,
    ) -> None:
        self.context = context
        self.ledger = ledger
        self.api = api
        self.alerts = alerts
        self.keeper = keeper
        self.store = store
        self.healing = healing
        self.clock = clock

    def _alert(self, incident_id: str) -> Alert:
        alert = self.alerts(incident_id)
        if alert is None:
            raise ActionFailed(f"incident {incident_id} is not in the store")
        return alert

    def plan(self, request: ActionRequest) -> Plan:
        validate_params(GitHubRerunParams, self.kind, request.params)
        alert = self._alert(request.incident_id)
        run_id = _int_label(alert, "run_id")
        steps = [
            f"wait the backoff of {alert.labels.get('backoff_s', '0')} s after the failure",
            f"POST /repos/{alert.service_name}/actions/runs/{run_id}/rerun-failed-jobs",
            "verify: the run has a new attempt queued or running",
        ]
        if alert.labels.get("track") == "true":
            steps.append(f"update the issue of fingerprint {alert.labels.get('fingerprint')}")
        return Plan(action=self.kind, target=request.target, steps=tuple(steps), undoable=False)

    def due(self, request: ActionRequest) -> datetime | None:
        """The failure's time plus its backoff, at most ``max_wait_s`` (the pattern's, else
        ``healing.max_wait_s``); ``None`` without a backoff (a ``/vanguard retry``)."""
        params = validate_params(GitHubRerunParams, self.kind, request.params)
        alert = self._alert(request.incident_id)
        try:
            backoff = float(alert.labels.get("backoff_s", "0") or 0)
        except ValueError:
            backoff = 0.0
        cap = params.max_wait_s if params.max_wait_s is not None else self.healing().max_wait_s
        wait = min(backoff, cap)
        return alert.detected_at + timedelta(seconds=wait) if wait > 0 else None

    def unwanted(self, request: ActionRequest) -> str | None:
        """Why the re-run is no longer wanted after its backoff, or ``None``.

        A ``/vanguard ignore`` of the fingerprint in the repository stops it; so does the
        fingerprint failing by now in ``storm_repositories`` repositories (the intake's
        verdict, ``CiRepo.storm``, read at this time): an outage is reported once, in one
        issue, not re-run repository by repository. A re-run a person asked for with
        ``/vanguard retry`` overrides the storm, as it did when it was asked for. The adapter
        reads these facts; ``ci.healing.rerun_withdrawn`` decides, next to ``plan_heal``.
        """
        alert = self._alert(request.incident_id)
        fingerprint = alert.labels.get("fingerprint")
        if not fingerprint:
            return None
        repository = alert.service_name
        names = dict.fromkeys([canonical_repository(repository), repository])
        requested = bool(alert.labels.get("requested_by"))
        with self.store().session() as session:
            ci = _ci_repo(session)
            ignored = ci.ignored(names, fingerprint)
            storm = (
                None
                if ignored or requested
                else ci.storm(fingerprint, self.clock(), self.healing())
            )
        return rerun_withdrawn(
            fingerprint=fingerprint,
            repository=repository,
            ignored=ignored,
            requested=requested,
            storm=storm,
        )

    def apply(self, request: ActionRequest) -> ActionResult:
        """Re-run the run's failed jobs unless its attempt was re-run already.

        Just before the POST (after the backoff, which the engine waits) the run is read: a
        newer attempt, or a run not completed, means it was re-run meanwhile (by a person, or
        before this key was interrupted), and another POST would start an attempt too many or
        be refused. Each attempt is also claimed in the ledger for one key, so two incidents
        of one attempt (two ``/vanguard retry`` comments, a retry during an automatic re-run's
        backoff) re-run it once.
        """
        validate_params(GitHubRerunParams, self.kind, request.params)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        alert = self._alert(request.incident_id)
        repository = alert.service_name
        run_id = _int_label(alert, "run_id")
        attempt = _int_label(alert, "run_attempt")
        before: dict[str, JsonValue] = {
            "repository": repository,
            "run_id": run_id,
            "run_attempt": attempt,
        }
        api = self.api()
        if entry is None:
            finished = begin_once(self.ledger, key, before)
            if finished is not None:
                return finished
        current = api.get_run(repository, run_id)
        holder = self._claim_attempt(repository, run_id, attempt, request)
        if holder is not None:
            return self._finish(
                request,
                alert,
                before,
                attempt + 1,
                f"attempt {attempt} of run {run_id} in {repository} is re-run by incident "
                f"{holder}; not repeated",
            )
        if current.run_attempt > attempt or current.status != "completed":
            if entry is not None:
                message = "re-run had already been requested before an interruption"
            else:
                message = (
                    f"run {run_id} in {repository} was already re-run (attempt "
                    f"{current.run_attempt} is {current.status})"
                )
            message += "; not repeated"
            expected = max(current.run_attempt, attempt + 1)
        else:
            api.rerun_failed_jobs(repository, run_id)
            if not alert.labels.get("requested_by"):
                with self.store().session() as session:
                    _ci_repo(session).mark_rerun(repository, run_id, attempt)
            message = (
                f"re-ran the failed jobs of run {run_id} in {repository} (attempt {attempt + 1})"
            )
            expected = attempt + 1
        tracked: IssueUpdate | None = None
        if alert.labels.get("track") == "true":
            tracked = self.keeper.upsert(alert, key=key)
            message += f"; tracked in issue #{tracked.issue_number}"
        return self._finish(request, alert, before, expected, message, tracked)

    def _claim_attempt(
        self, repository: str, run_id: int, attempt: int, request: ActionRequest
    ) -> str | None:
        """Claim the re-run of this attempt for the request's key in the ledger; the
        incident that holds it when that is another one.

        Repository names are compared as GitHub does, without case.
        """
        claim = f"{self.kind}:{repository.lower()}:{run_id}:{attempt}"
        mine: dict[str, JsonValue] = {
            "key": request.idempotency_key,
            "incident_id": request.incident_id,
        }
        self.ledger.begin(claim, mine)
        held = self.ledger.get(claim)
        if held is None or held.before.get("key") == request.idempotency_key:
            return None
        return str(held.before.get("incident_id") or held.before.get("key"))

    def _finish(
        self,
        request: ActionRequest,
        alert: Alert,
        before: dict[str, JsonValue],
        expected_attempt: int,
        message: str,
        tracked: IssueUpdate | None = None,
    ) -> ActionResult:
        repository, run_id = alert.service_name, before["run_id"]
        result = ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            before=before,
            after={
                "expected_attempt": expected_attempt,
                "issue": tracked.model_dump(mode="json") if tracked else None,
            },
            undo=UndoRecord(
                action=self.kind,
                target=request.target,
                possible=False,
                params={"repository": repository, "run_id": run_id},
                instructions=(
                    f"A re-run cannot be undone. To stop it: POST /repos/{repository}/actions/"
                    f"runs/{run_id}/cancel (or `gh run cancel {run_id} -R {repository}`)."
                ),
            ),
            message=message,
            finished_at=self.clock(),
        )
        self.ledger.finish(request.idempotency_key, result)
        return result

    def verify(self, result: ActionResult) -> Check:
        repository = str(result.before.get("repository"))
        run_id = int(str(result.before.get("run_id")))
        before_attempt = int(str(result.before.get("run_attempt", 1)))
        run = self.api().get_run(repository, run_id)
        observed: dict[str, JsonValue] = {
            "status": run.status,
            "conclusion": run.conclusion,
            "run_attempt": run.run_attempt,
            "before_attempt": before_attempt,
        }
        if run.run_attempt > before_attempt and run.conclusion == "success":
            return Check(ok=True, reason=f"attempt {run.run_attempt} passed", observed=observed)
        if run.status in PENDING_STATES:
            return Check(
                ok=True,
                reason=f"run {run_id} is {run.status} again (re-run accepted)",
                observed=observed,
            )
        if run.run_attempt > before_attempt and run.conclusion in {"failure", "timed_out"}:
            return Check(
                ok=False, reason=f"attempt {run.run_attempt} failed again", observed=observed
            )
        if run.run_attempt > before_attempt:
            return Check(
                ok=True, reason=f"attempt {run.run_attempt} is {run.status}", observed=observed
            )
        return Check(
            ok=False,
            reason=f"run {run_id} shows no new attempt ({run.status}/{run.conclusion})",
            observed=observed,
        )

    def rollback(self, request: RollbackRequest) -> ActionResult:
        """Never touches the run: returns ``applied=False`` saying why, so callers escalate."""
        return cannot_undo(self.kind, request, "a re-run", self.clock())


class GitHubTriageAdapter:
    """``github.triage``: open or update the one issue of the alert's failure fingerprint."""

    kind: ClassVar[str] = "github.triage"
    params_model: ClassVar[type[BaseModel]] = GitHubTriageParams

    def __init__(
        self,
        ledger: Ledger,
        *,
        api: Callable[[], GitHubApi],
        alerts: AlertLookup,
        keeper: IssueKeeper,
        clock: Callable[[], datetime] = utcnow,
        context: GitHubContext | None = None,
    ) -> None:
        self.context = context
        self.ledger = ledger
        self.api = api
        self.alerts = alerts
        self.keeper = keeper
        self.clock = clock

    def plan(self, request: ActionRequest) -> Plan:
        validate_params(GitHubTriageParams, self.kind, request.params)
        alert = self.alerts(request.incident_id)
        fingerprint = alert.labels.get("fingerprint", "?") if alert else "?"
        return Plan(
            action=self.kind,
            target=request.target,
            steps=(
                f"find the issue labelled {issue_label(fingerprint)} in {request.target}",
                "create it (title, labels, explaining lines, run links, CODEOWNERS owners) "
                "or comment the new failure on it",
                "never re-run the failed jobs",
            ),
            undoable=True,
        )

    def apply(self, request: ActionRequest) -> ActionResult:
        params = validate_params(GitHubTriageParams, self.kind, request.params)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        alert = self.alerts(request.incident_id)
        if alert is None:
            raise ActionFailed(f"incident {request.incident_id} is not in the store")
        repository = alert.service_name
        if entry is None:
            before: dict[str, JsonValue] = {
                "repository": repository,
                "fingerprint": _label(alert, "fingerprint"),
                "issue_before": self.keeper.locate(alert),
            }
            finished = begin_once(self.ledger, key, before)
            if finished is not None:
                return finished
            adopt = False
        else:
            before = dict(entry.before)
            adopt = "issue_before" in before and before["issue_before"] is None
        update = self.keeper.upsert(alert, params.extra_labels, key=key, adopt_found=adopt)
        number, created = update.issue_number, update.created
        verb = "opened" if created else "updated"
        result = ActionResult(
            idempotency_key=key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            before={"repository": repository, "fingerprint": update.fingerprint},
            after=update.model_dump(mode="json"),
            undo=UndoRecord(
                action=self.kind,
                target=request.target,
                possible=created,
                params={"repository": repository, "issue_number": number},
                instructions=(
                    f"close issue #{number} in {repository}"
                    if created
                    else f"delete the comment Vanguard added to #{number} in {repository}"
                ),
            ),
            message=f"{verb} issue #{number} in {repository} for {update.fingerprint}",
            finished_at=self.clock(),
        )
        self.ledger.finish(key, result)
        return result

    def verify(self, result: ActionResult) -> Check:
        number = result.after.get("issue_number")
        if isinstance(number, int) and number > 0:
            return Check(
                ok=True, reason=f"issue #{number} holds the failure", observed=result.after
            )
        return Check(ok=False, reason="no issue number recorded", observed=result.after)

    def rollback(self, request: RollbackRequest) -> ActionResult:
        """Close the issue if Vanguard opened it; a comment on an older issue stays."""
        undo = request.undo
        entry = self.ledger.get(request.idempotency_key)
        if entry is not None and entry.result is not None:
            return entry.result
        applied = False
        if undo.possible:
            if entry is None:
                finished = begin_once(self.ledger, request.idempotency_key, dict(undo.params))
                if finished is not None:
                    return finished
            self.api().set_issue_state(
                str(undo.params["repository"]), int(str(undo.params["issue_number"])), "closed"
            )
            applied = True
        result = ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=undo.target,
            applied=applied,
            undo=undo,
            message=("closed " if applied else "left as it was: ") + undo.instructions,
            finished_at=self.clock(),
        )
        if applied:
            self.ledger.finish(request.idempotency_key, result)
        return result


def github_adapters(context: GitHubContext, ledger: Ledger) -> dict[str, Adapter]:
    """Both GitHub adapters over one shared context (one store, one GitHub client)."""
    keeper = IssueKeeper(context.api, context.store, context.config, utcnow)
    return {
        GitHubRerunAdapter.kind: GitHubRerunAdapter(
            ledger,
            api=context.api,
            alerts=context.alert,
            keeper=keeper,
            store=context.store,
            healing=lambda: context.config().healing,
            context=context,
        ),
        GitHubTriageAdapter.kind: GitHubTriageAdapter(
            ledger, api=context.api, alerts=context.alert, keeper=keeper, context=context
        ),
    }


_SHARED: weakref.WeakKeyDictionary[Ledger, tuple[Settings, dict[str, Adapter]]] = (
    weakref.WeakKeyDictionary()
)
"""The adapters built for a ledger (one per runtime), so both kinds share one context.

The registry builds each kind on its own with ``(ledger, settings)``; entries go with their
ledger, and other settings build a new context.
"""


def _shared(ledger: Ledger, settings: Settings) -> dict[str, Adapter]:
    known = _SHARED.get(ledger)
    if known is not None and known[0] is settings:
        return known[1]
    from vanguard.store.ledger import SqlLedger

    store = ledger.store if isinstance(ledger, SqlLedger) else None
    adapters = github_adapters(GitHubContext(settings, store), ledger)
    _SHARED[ledger] = (settings, adapters)
    return adapters


def _rerun(ledger: Ledger, settings: Settings) -> Adapter:
    return _shared(ledger, settings)[GitHubRerunAdapter.kind]


def _triage(ledger: Ledger, settings: Settings) -> Adapter:
    return _shared(ledger, settings)[GitHubTriageAdapter.kind]


def close_github(adapters: Mapping[str, Adapter]) -> None:
    """Close the contexts of the GitHub adapters among ``adapters`` (each once)."""
    for adapter in adapters.values():
        if isinstance(adapter, GitHubRerunAdapter | GitHubTriageAdapter) and adapter.context:
            adapter.context.close()


GITHUB_ADAPTERS: Mapping[str, Callable[[Ledger, Settings], Adapter]] = {
    GitHubRerunAdapter.kind: _rerun,
    GitHubTriageAdapter.kind: _triage,
}
