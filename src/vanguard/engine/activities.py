"""Temporal activities: every side effect of the loop, each idempotent under retries.

Activities are methods of ``Activities``, which holds the settings, the store, the adapters
and the notifiers. Each takes one input model. State changes are guarded so a retried
activity finds its own earlier work and returns it instead of doing it again; adapters
consult the durable ledger before touching anything. The watcher's sweep is
``engine.sweep.SweepActivities``, which ``Activities`` inherits.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

import httpx
from pydantic import JsonValue
from sqlalchemy.orm import Session
from temporalio import activity

from vanguard.act.base import (
    FENCE_ACTION,
    MAX_DUE_S,
    Adapter,
    Deferred,
    Ledger,
    LedgerEntry,
    Withdrawable,
    fence_result,
    fenced_error,
)
from vanguard.act.registry import remedy_params
from vanguard.clock import utcnow
from vanguard.config import ServiceConfig, Settings, VerifyMetric
from vanguard.decide import GateContext, decide, failure_streak
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import Pattern
from vanguard.engine.heartbeat import HEARTBEAT_EVERY_S, heartbeating
from vanguard.engine.messages import (
    ApplyInput,
    CloseInput,
    DecideInput,
    DiagnoseInput,
    NotifyFailedInput,
    NotifyInput,
    OpenInput,
    RollbackInput,
    TransitionInput,
    VerifyInput,
    WorsenedInput,
)
from vanguard.engine.sweep import WORSENED, SweepActivities
from vanguard.errors import (
    ActionFailed,
    ActionWithheld,
    AdapterError,
    ConfigError,
    NotifyError,
    PartlyApplied,
    ScrapeError,
    StoreError,
    UnknownAdapter,
    VanguardError,
)
from vanguard.incident import Incident, IncidentState
from vanguard.learn import calibrate
from vanguard.model import (
    ActionRequest,
    ActionResult,
    Alert,
    Check,
    Decision,
    Diagnosis,
    EvidencePoint,
    Outcome,
    OutcomeStatus,
    RollbackRequest,
    Signal,
    UndoRecord,
    Verdict,
    Verification,
    VerifySeries,
)
from vanguard.notify import Message, Notifier, render
from vanguard.notify.base import FAILED, HELD, NOTIFIED, channel_ids
from vanguard.notify.render import config_flag, render_worsened
from vanguard.notify.repeat import held_note, repeat_history, repeat_key
from vanguard.redact import redact, redact_text
from vanguard.sources.pgbouncer import admin_rows, pool_signals
from vanguard.sources.prometheus import (
    Declared,
    MetadataCache,
    PrometheusClient,
    fetch_exposition,
    read_exposition,
    read_server,
)
from vanguard.store import (
    AuditEntry,
    AuditLog,
    IncidentRecord,
    IncidentRepo,
    PauseRepo,
    Store,
)
from vanguard.verify import compare, counter_rates, unproven
from vanguard.verify.series import (
    MAX_SERIES,
    SeriesJudgement,
    Unmatched,
    combine_verifications,
    judge_each_series,
    labels_from_key,
    labels_key,
    metric_key,
    own_series,
)

__all__ = ["Activities", "SeriesWindows"]

log = logging.getLogger(__name__)

APPLY_ATTEMPTS = 6
"""Attempts the workflow gives an activity. An apply that was begun and meets a transient
error is retried (the adapter finishes from its ledger entry) until the last attempt, which
turns it into ``PartlyApplied``."""
BASELINE = "verification.baseline"

OUTCOME_STATE: dict[OutcomeStatus, IncidentState] = {
    OutcomeStatus.resolved: IncidentState.resolved,
    OutcomeStatus.rolled_back: IncidentState.rolled_back,
    OutcomeStatus.escalated: IncidentState.escalated,
    OutcomeStatus.declined: IncidentState.declined,
    OutcomeStatus.dry_run: IncidentState.dry_run,
    OutcomeStatus.failed: IncidentState.failed,
}


def _undone_by_hand(record: IncidentRecord, outcome: Outcome) -> Outcome:
    """``outcome`` as it stands once a person's rollback by hand is taken into account."""
    by = next(
        (
            str(entry.payload.get("by"))
            for entry in record.audit
            if entry.kind == "action.rolled_back" and entry.payload.get("by") != "vanguard"
        ),
        None,
    )
    if by is None or outcome.status not in AFTER_APPLY:
        return outcome
    status = (
        OutcomeStatus.rolled_back
        if outcome.status is OutcomeStatus.rolled_back
        else OutcomeStatus.escalated
    )
    return outcome.model_copy(
        update={
            "status": status,
            "teaches": False,
            "reason": f"{by} rolled the action back by hand before Vanguard's verdict, so "
            f"the verification judged the service without the remedy ({outcome.reason}); "
            "not counted for the pattern",
        }
    )


AFTER_APPLY = frozenset(
    {OutcomeStatus.resolved, OutcomeStatus.rolled_back, OutcomeStatus.escalated}
)
"""Outcomes that can follow an applied action, which a rollback by hand may precede."""


IN_FLIGHT_GRACE = timedelta(minutes=30)
UNSETTLED = (
    IncidentState.approved,
    IncidentState.applied,
    IncidentState.verifying,
    IncidentState.rolling_back,
)
"""Incidents whose action is on its way or done but not yet judged."""


def _series_labels(alert: Alert) -> dict[str, str]:
    """The labels that name the alerting series (``service_type`` describes the service)."""
    return {k: v for k, v in alert.labels.items() if k != "service_type"}


def _own_keys(alert: Alert, metrics: Sequence[VerifyMetric]) -> frozenset[str]:
    """Keys of the entries that name the alert's own series by the alert's labels."""
    own = _series_labels(alert)
    return frozenset(
        metric_key(m) for m in metrics if m.metric == alert.metric_type and m.labels == own and own
    )


def will_be_retried(exc: BaseException) -> bool:
    """Whether Temporal will try this action again: a transient error (an adapter's or the
    store's, not a subclass saying retrying cannot help) before the last attempt."""
    return (
        type(exc) in (AdapterError, StoreError)
        and activity.in_activity()
        and activity.info().attempt < APPLY_ATTEMPTS
    )


def apply_key(incident_id: str) -> str:
    """The idempotency key of an incident's action: one action an incident, ever."""
    return f"{incident_id}:apply"


def rollback_key(incident_id: str) -> str:
    """The idempotency key of undoing it, by Vanguard or by hand: whichever comes first."""
    return f"{incident_id}:rollback"


PLAN_MARK = ". It would: "
"""Joins a decision's reason and the plan of its action (or why there is none)."""

SeriesWindows = dict[str, dict[str, tuple[EvidencePoint, ...]]]
"""Per verify entry (``metric_key``), the points of every series it matched (``labels_key``)."""

EARLIER_BASELINE = (
    "inconclusive: baseline recorded by an earlier version; its series cannot be matched; "
    "change left in place"
)


@dataclass(frozen=True)
class Baseline:
    """A recorded baseline; ``earlier`` when its form cannot be matched to series read now."""

    windows: SeriesWindows
    earlier: bool = False


EVIDENCE_FRESH_S = 60.0
"""An alert's own points stand for the state before the action while they are this recent;
after a wait (a person asked, a maintenance window) the series is read again."""


class Activities(SweepActivities):
    """The side-effecting half of the loop, bound to one set of clients."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        patterns: Sequence[Pattern],
        adapters: Mapping[str, Adapter],
        ledger: Ledger,
        notifiers: Sequence[Notifier],
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        verify_samples: int = 6,
        http: httpx.Client | None = None,
    ) -> None:
        if verify_samples < 1:
            raise ValueError(
                f"verify_samples must be at least 1, got {verify_samples}: "
                "verification compares the readings after the action with those before it"
            )
        self.settings = settings
        self.store = store
        self.patterns = list(patterns)
        self.adapters = dict(adapters)
        self.ledger = ledger
        self.notifiers = list(notifiers)
        self.clock = clock
        self.sleep = sleep
        """How an action waits until it is due (tests pass one that returns at once)."""
        self.verify_samples = verify_samples
        self.http = http or httpx.Client()
        self._metadata = MetadataCache()
        super().__init__()

    # -- helpers -----------------------------------------------------------------------

    @property
    def _in_flight_hold(self) -> timedelta:
        """How long an approval not applied yet holds its slot: the baseline sampling before
        the action plus ``IN_FLIGHT_GRACE`` for the action and its retries. Past that its
        workflow is gone, and the slot is free again."""
        return timedelta(seconds=self.settings.verification.baseline_s) + IN_FLIGHT_GRACE

    @property
    def _unsettled_hold(self) -> timedelta:
        """How long an incident approved, applied or being verified counts as unsettled: the
        in-flight hold, the verification window and the verification's own readings (a
        second look included, at the slowest service's interval). Past that its workflow is
        gone."""
        verification = self.settings.verification
        interval = max(
            (self._sample_interval(s) for s in self.settings.services),
            default=verification.sample_interval_s,
        )
        readings = 2 * self.verify_samples * interval
        return self._in_flight_hold + timedelta(seconds=verification.window_s + readings)

    def _service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.settings.services if s.name == name), None)

    def _pattern(self, pattern_id: str | None) -> Pattern | None:
        return next((p for p in self.patterns if p.id == pattern_id), None)

    def _record(self, repo: IncidentRepo, incident_id: str) -> IncidentRecord:
        record = repo.get_record(incident_id)
        if record is None:
            raise ConfigError(f"incident {incident_id} is not in the store", key="incident_id")
        return record

    def _advance(
        self,
        repo: IncidentRepo,
        audit: AuditLog,
        incident: Incident,
        target: IncidentState,
        reason: str,
        payload: Mapping[str, JsonValue] | None = None,
    ) -> Incident:
        """Move the incident on, once: a retry that finds it already there does nothing."""
        if incident.state is target:
            return incident
        now = self.clock()
        moved = incident.transition(target, at=now, reason=reason)
        repo.save_incident(moved)
        audit.append(
            incident_id=incident.incident_id,
            kind=f"state.{target}",
            payload={"from": str(incident.state), "reason": reason, **(payload or {})},
            at=now,
        )
        return moved

    # -- remediation -------------------------------------------------------------------

    @activity.defn
    def open_incident(self, inp: OpenInput) -> None:
        """Persist the incident and the signals that triggered it (once per incident id)."""
        alert = inp.alert
        with self.store.session() as session:
            repo = IncidentRepo(session)
            if repo.get_incident(inp.incident_id) is not None:
                return
            repo.save_incident(Incident.open(inp.incident_id, alert))
            repo.add_signals(
                inp.incident_id,
                [
                    Signal(
                        source=alert.source,
                        service_name=alert.service_name,
                        metric_type=alert.metric_type,
                        labels=alert.labels,
                        timestamp=p.timestamp,
                        value=p.value,
                    )
                    for p in alert.evidence
                ],
            )
            AuditLog(session).append(
                incident_id=inp.incident_id,
                kind="incident.opened",
                payload={
                    "summary": alert.summary,
                    "service": alert.service_name,
                    "metric": alert.metric_type,
                    "fingerprint": alert.fingerprint,
                    "confidence": alert.confidence,
                },
                at=self.clock(),
            )

    @activity.defn
    def diagnose(self, inp: DiagnoseInput) -> Diagnosis:
        """Match the alert against the pattern library with calibrated confidences."""
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.incident_id)
            if record.diagnosis is not None:
                return record.diagnosis
            service = self._service(inp.alert.service_name)
            counts = repo.outcome_counts(
                {p.id: p.remedy.action for p in self.patterns},
                breaker_threshold=self.settings.policy.breaker_threshold,
            )
            confidences = {p.id: calibrate(p.prior_confidence, counts[p.id]) for p in self.patterns}
            diagnosis = match(
                inp.alert,
                self.patterns,
                service_type=(
                    service.type if service else inp.alert.labels.get("service_type", "generic")
                ),
                confidences=confidences,
            )
            repo.save_diagnosis(inp.incident_id, diagnosis)
            summary = (
                f"matched {diagnosis.pattern_id} (confidence {diagnosis.confidence:.2f})"
                if diagnosis.pattern_id
                else "no known pattern matched"
            )
            self._advance(
                repo,
                AuditLog(session),
                record.incident,
                IncidentState.diagnosed,
                summary,
                {"pattern_id": diagnosis.pattern_id, "reasons": list(diagnosis.reasons)},
            )
            return diagnosis

    @activity.defn
    def decide(self, inp: DecideInput) -> Decision:
        """The decision (``_decide``), with the action's plan when it would act in a dry run
        or waits for a person.

        The plan is read outside the decision's unit of work: adapters read their targets and
        may open the store themselves (the GitHub adapters read the alert), which on SQLite
        would wait for the decision's own write lock.
        """
        decision = self._decide(inp)
        would_act = decision.dry_run and all(
            v.passed for v in decision.verdicts if v.gate != "dry_run"
        )
        asks = decision.needs_approval and inp.approved_by is None
        if not (would_act or asks) or PLAN_MARK in decision.reason:
            return decision
        planned = self._with_plan(inp, decision)
        with self.store.session() as session:
            IncidentRepo(session).save_decision(planned)
            AuditLog(session).append(
                incident_id=inp.incident_id,
                kind="decision.planned",
                payload={"reason": planned.reason},
                at=self.clock(),
            )
        return planned

    def _decide(self, inp: DecideInput) -> Decision:
        """Run the policy gates once; the recorded decision is final for this incident.

        Decisions are taken one at a time (``lock_decisions``), and approvals not applied
        yet within ``_in_flight_hold`` count against the rate limits and the cooldown.
        """
        with self.store.session() as session:
            repo = IncidentRepo(session)
            repo.lock_decisions()
            record = self._record(repo, inp.incident_id)
            earlier = record.decision
            if earlier is not None and (inp.approved_by is None or not earlier.needs_approval):
                return earlier
            now = self.clock()
            ctx = self._gate_context(
                session, inp.incident_id, inp.alert, inp.diagnosis, inp.approved_by, now
            )
            decision = decide(inp.incident_id, inp.diagnosis, ctx, self.settings.policy)
            repo.save_decision(decision)
            payload: dict[str, JsonValue] = {
                "approved": decision.approved,
                "dry_run": decision.dry_run,
                "verdicts": [v.model_dump(mode="json") for v in decision.verdicts],
            }
            audit = AuditLog(session)
            if inp.approved_by is not None:
                payload["approved_by"] = inp.approved_by
            if decision.needs_approval and inp.approved_by is None:
                self._advance(
                    repo,
                    audit,
                    record.incident,
                    IncidentState.awaiting_approval,
                    decision.reason,
                    payload,
                )
            elif decision.approved and not decision.dry_run:
                self._advance(
                    repo, audit, record.incident, IncidentState.approved, decision.reason, payload
                )
            else:
                audit.append(
                    incident_id=inp.incident_id,
                    kind="decision.not_acting",
                    payload={"reason": decision.reason, **payload},
                    at=now,
                )
            return decision

    def _gate_context(
        self,
        session: Session,
        incident_id: str,
        alert: Alert,
        diagnosis: Diagnosis,
        approved_by: str | None,
        now: datetime,
    ) -> GateContext:
        """The facts the gates judge ``incident_id``'s action by, read from the store now."""
        repo = IncidentRepo(session)
        service = alert.service_name
        policy = self.settings.policy
        unmetered, day = policy.unmetered_actions, timedelta(days=1)
        pattern = diagnosis.pattern_id
        streak = failure_streak(
            repo.latest_outcomes(
                pattern,
                service=service,
                action=diagnosis.remedy.action if diagnosis.remedy else None,
                page=policy.breaker_threshold + 1,
            )
            if pattern
            else (),
            newest_first=True,
            enough=policy.breaker_threshold,
        )
        unsettled = now - self._unsettled_hold
        return GateContext(
            now=now,
            service_name=service,
            action=diagnosis.remedy.action if diagnosis.remedy else None,
            actions_today=repo.count_actions(service, now - day, excluding=unmetered),
            actions_this_week=repo.count_actions(
                service, now - timedelta(days=7), excluding=unmetered
            ),
            actions_today_all_services=repo.count_all_actions(now - day, excluding=unmetered),
            actions_in_flight=repo.count_in_flight(
                service,
                since=now - self._in_flight_hold,
                excluding=incident_id,
                excluding_actions=unmetered,
            ),
            actions_in_flight_all_services=repo.count_in_flight(
                since=now - self._in_flight_hold,
                excluding=incident_id,
                excluding_actions=unmetered,
            ),
            actions_unsettled=repo.count_in_flight(
                service,
                since=unsettled,
                excluding=incident_id,
                excluding_actions=(*unmetered, *policy.concurrent_actions),
                states=UNSETTLED,
            ),
            trials_in_flight=(
                repo.count_in_flight(
                    service,
                    since=unsettled,
                    excluding=incident_id,
                    states=UNSETTLED,
                    pattern_id=pattern,
                )
                if pattern
                else 0
            ),
            last_action_at=repo.last_action_at(service, excluding=unmetered),
            recent_failures=streak.count,
            last_failure_at=streak.last_failure_at,
            approved_by=approved_by,
            pauses=tuple(PauseRepo(session).active(now, service)),
        )

    @activity.defn
    def transition(self, inp: TransitionInput) -> None:
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.incident_id)
            self._advance(
                repo,
                AuditLog(session),
                record.incident,
                IncidentState(inp.state),
                inp.reason,
                inp.details,
            )

    def _request(self, inp: ApplyInput) -> tuple[Adapter, ActionRequest]:
        remedy = inp.diagnosis.remedy
        if remedy is None:
            raise ConfigError("the diagnosis has no remedy to apply", key="remedy")
        adapter = self.adapters.get(remedy.action)
        if adapter is None:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise UnknownAdapter(f"no adapter for {remedy.action!r} (registered: {known})")
        params = remedy_params(remedy.action, remedy.params, self._service(inp.alert.service_name))
        request = ActionRequest(
            idempotency_key=apply_key(inp.incident_id),
            incident_id=inp.incident_id,
            action=remedy.action,
            target=inp.alert.service_name,
            params=params,
        )
        return adapter, request

    def _with_plan(self, inp: DecideInput, decision: Decision) -> Decision:
        """The decision with what the action would do, read from its target now.

        A dry run must say what it would have done, and a person asked to approve must see
        the resulting values (``2 → 3 in /etc/pgbouncer/pgbouncer.ini``), not only the
        pattern's factor. Planning changes nothing; a plan that cannot be made is said so.
        """
        apply = ApplyInput(incident_id=inp.incident_id, alert=inp.alert, diagnosis=inp.diagnosis)
        try:
            adapter, request = self._request(apply)
            plan = adapter.plan(request)
        except (VanguardError, OSError) as exc:
            log.warning("incident %s: no plan for its action: %s", inp.incident_id, exc)
            return decision.model_copy(
                update={"reason": f"{decision.reason}{PLAN_MARK}unknown: {exc}"}
            )
        steps = "; ".join(plan.steps)
        return decision.model_copy(update={"reason": f"{decision.reason}{PLAN_MARK}{steps}"})

    @activity.defn
    def action_due_in(self, inp: ApplyInput) -> float:
        """Seconds until the adapter lets the action run (a re-run's backoff); 0: at once.

        The workflow waits them itself, where a person's decline reaches it: inside
        ``apply_action`` the wait could not hear one, and the re-run was POSTed after it.
        An action already begun is not waited for. A wait is logged, as the wait inside
        ``apply_action`` is, so an *approved* incident that does nothing for minutes says why.
        """
        adapter, request = self._request(inp)
        if self.ledger.get(request.idempotency_key) is not None:
            return 0.0
        wait = self._due_in(inp, adapter, request)
        if wait > 0:
            log.info("incident %s: waiting %.0f s until its action is due", inp.incident_id, wait)
        return wait

    @activity.defn
    def apply_action(self, inp: ApplyInput) -> ActionResult:
        """Apply the remedy once per incident; the adapter's ledger makes retries safe.

        An incident already past *approved* (its workflow failed later, for an hour-long store
        outage say, and a resend of the alert drove it again) gets its recorded result back
        and stays where it is. It heartbeats from its start: the wait until the action is
        due and the checks before the adapter wait on the store's locks, and a silence past
        the heartbeat timeout would start a second attempt alongside this one."""
        with heartbeating():
            return self._apply(inp)

    def _apply(self, inp: ApplyInput) -> ActionResult:
        adapter, request = self._request(inp)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.fenced:
            raise fenced_error(key)
        started = entry is not None
        with self.store.session() as session:
            decision = self._record(IncidentRepo(session), inp.incident_id).decision
        if decision is None or not decision.approved or decision.dry_run:
            raise ActionFailed(
                f"incident {inp.incident_id}: refusing to act without a recorded approval "
                f"({'no decision' if decision is None else decision.reason})"
            )
        if not started and self._wait_until_due(inp, adapter, request):
            entry = self.ledger.get(key)
            if entry is not None and entry.fenced:
                raise fenced_error(key)
            started = entry is not None
        if not started:
            withheld = (
                self._unwanted(inp, adapter, request)
                or self._plan_drift(inp, adapter, request)
                or self._gates_again(inp)
            )
            if withheld is not None:
                raise ActionWithheld(
                    f"incident {inp.incident_id}: approved, but not applied: {withheld}"
                )
        try:
            result = adapter.apply(request)
        except Exception as exc:
            try:
                begun = self.ledger.get(key)
            except VanguardError:
                raise exc from None
            if begun is None or begun.fenced:
                raise
            if will_be_retried(exc):
                raise
            try:
                self._record_begun(inp, begun)
            except VanguardError as store:
                log.warning("incident %s: begun action not recorded: %s", inp.incident_id, store)
            state = json.dumps(redact(dict(begun.before)), sort_keys=True, default=str)
            raise PartlyApplied(
                f"{exc}; the action was begun and may be partly applied (state before it: "
                f"{state}): a person must check the target"
            ) from exc
        if result.action == FENCE_ACTION:
            raise fenced_error(key)
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.incident_id)
            if not any(a.idempotency_key == result.idempotency_key for a in record.actions):
                repo.save_action(result)
            if record.incident.state is IncidentState.approved:
                self._advance(
                    repo,
                    AuditLog(session),
                    record.incident,
                    IncidentState.applied,
                    result.message,
                    {"action": result.action, "before": result.before, "after": result.after},
                )
        return result

    def _wait_until_due(self, inp: ApplyInput, adapter: Adapter, request: ActionRequest) -> bool:
        """Wait until the adapter says its action is due (a re-run's backoff); whether it
        waited.

        The wait comes before every check, so a pause, an ignore or an outage that arrives
        during it stops the action, and before anything is begun, so a worker that dies
        meanwhile leaves nothing to reconcile; the retried activity waits only what is left,
        since ``due`` derives from the alert's time. ``apply_action`` heartbeats meanwhile.
        A wait past ``MAX_DUE_S`` (a clock ahead of ours) is cut to it, so the activity's
        timeout still covers the wait and the action. Workflows started since
        ``action_due_in`` have waited already, so only those started before wait here.
        """
        wait = self._due_in(inp, adapter, request)
        if wait <= 0:
            return False
        log.info("incident %s: waiting %.0f s until its action is due", inp.incident_id, wait)
        self.sleep(wait)
        return True

    def _due_in(self, inp: ApplyInput, adapter: Adapter, request: ActionRequest) -> float:
        """Seconds until the adapter's ``due`` time, 0 when it has none or it has passed; a
        wait past ``MAX_DUE_S`` (a clock ahead of ours) is cut to it, and logged."""
        if not isinstance(adapter, Deferred):
            return 0.0
        due = adapter.due(request)
        if due is None:
            return 0.0
        wait = (due - self.clock()).total_seconds()
        if wait > MAX_DUE_S:
            log.warning(
                "incident %s: its action is due in %.0f s, later than an action may wait; "
                "acting after %g s",
                inp.incident_id,
                wait,
                MAX_DUE_S,
            )
            return MAX_DUE_S
        return max(wait, 0.0)

    def _unwanted(self, inp: ApplyInput, adapter: Adapter, request: ActionRequest) -> str | None:
        """Why the adapter no longer wants the action (asked after the wait), audited as the
        gates' verdict is; ``None`` when it still does or cannot tell.

        Read outside any unit of work: the adapter may open the store.
        """
        if not isinstance(adapter, Withdrawable):
            return None
        why = adapter.unwanted(request)
        if why is not None:
            self._audit_withheld(inp.incident_id, why)
        return why

    def _audit_withheld(self, incident_id: str, why: str) -> None:
        """Audit why an approved action is withheld just before it would run."""
        with self.store.session() as session:
            AuditLog(session).append(
                incident_id=incident_id,
                kind="decision.withheld",
                payload={"reason": why},
                at=self.clock(),
            )

    def _plan_drift(self, inp: ApplyInput, adapter: Adapter, request: ActionRequest) -> str | None:
        """How the action's plan changed since a person approved it, or ``None``.

        The request showed the values (``pool_size 2 → 3``); the adapter reads its target
        again when it acts, so an edit by hand meanwhile (now 4) would become ``4 → 6``
        under an approval of ``2 → 3``. The plan is read again and must be the one shown;
        a change is audited and withholds the action. Read outside any unit of work, as
        when it was first made (an adapter may open the store).
        """
        with self.store.session() as session:
            entries = AuditLog(session).entries(inp.incident_id)
        asked = any(
            e.kind == f"state.{IncidentState.approved}" and e.payload.get("approved_by")
            for e in entries
        )
        shown = next(
            (e.payload.get("reason") for e in reversed(entries) if e.kind == "decision.planned"),
            None,
        )
        if not asked or not isinstance(shown, str) or PLAN_MARK not in shown:
            return None
        before = shown.split(PLAN_MARK, 1)[1]
        if before.startswith("unknown: "):
            return None
        try:
            now = redact_text("; ".join(adapter.plan(request).steps))
        except (VanguardError, OSError) as exc:
            now = f"unknown: {exc}"
        if now == before:
            return None
        why = f"its plan changed since it was approved: it was «{before}», it is «{now}»"
        self._audit_withheld(inp.incident_id, why)
        return why

    def _gates_again(self, inp: ApplyInput) -> str | None:
        """Run every gate again just before acting: why the action is withheld, or ``None``.

        The decision may be minutes old (the baseline is read in between) or hours (a
        worker or Temporal was down): a pause, a freeze window that opened, a limit another
        incident used up or a breaker that opened meanwhile stops the action now. A
        person's approval lifts what it lifted when given (the approver is read from the
        audit trail). Passing renews the approval's hold on its slot from now, so an
        incident deciding next counts it; both verdicts are audited.
        """
        iid = inp.incident_id
        with self.store.session() as session:
            repo = IncidentRepo(session)
            repo.lock_decisions()
            audit = AuditLog(session)
            approver = next(
                (
                    who
                    for entry in reversed(audit.entries(iid))
                    if entry.kind == f"state.{IncidentState.approved}"
                    and isinstance(who := entry.payload.get("approved_by"), str)
                ),
                None,
            )
            now = self.clock()
            ctx = self._gate_context(session, iid, inp.alert, inp.diagnosis, approver, now)
            again = decide(iid, inp.diagnosis, ctx, self.settings.policy)
            acts = again.approved and not again.dry_run
            if acts:
                repo.touch(iid, now)
            audit.append(
                incident_id=iid,
                kind="decision.rechecked" if acts else "decision.withheld",
                payload={
                    "reason": again.reason,
                    "verdicts": [v.model_dump(mode="json") for v in again.verdicts],
                },
                at=now,
            )
        return None if acts else f"the gates, run again just before acting, said {again.reason}"

    @activity.defn
    def action_begun(self, inp: ApplyInput) -> str | None:
        """The state before the incident's action if its adapter began it, else ``None``.

        Asked when the action's activity failed for good: begun, it may be partly applied
        and a person must look; never begun, nothing changed, and the key is fenced in the
        same step, so an attempt still running on a worker cut off from the workflow cannot
        begin it after the outcome said so.
        """
        key = apply_key(inp.incident_id)
        entry = self.ledger.fence(
            key, fence_result(key, inp.incident_id, inp.alert.service_name, self.clock())
        )
        if entry.fenced:
            return None
        self._record_begun(inp, entry)
        return json.dumps(redact(dict(entry.before)), sort_keys=True, default=str)

    def _record_begun(self, inp: ApplyInput, entry: LedgerEntry) -> None:
        """Keep an action that began and never answered among its incident's actions.

        Its change may be in place, so the rate limits and the cooldown must count it as
        they count an applied one; without a row it used no budget, and the next incident
        on the service was approved a minute later. The ledger's result is kept when the
        adapter finished (its answer was lost); otherwise a record that says it began.
        """
        remedy = inp.diagnosis.remedy
        kind = remedy.action if remedy is not None else "unknown"
        target = inp.alert.service_name
        before = json.dumps(redact(dict(entry.before)), sort_keys=True, default=str)
        result = entry.result or ActionResult(
            idempotency_key=entry.key,
            incident_id=inp.incident_id,
            action=kind,
            target=target,
            applied=True,
            before=dict(entry.before),
            undo=UndoRecord(
                action=kind,
                target=target,
                possible=False,
                instructions=f"it began and did not finish: check {target} by hand (the "
                f"state before it: {before})",
            ),
            message="begun, then failed: it may be partly applied",
            finished_at=self.clock(),
        )
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.incident_id)
            if not any(a.idempotency_key == result.idempotency_key for a in record.actions):
                repo.save_action(result)

    def _verify_metrics(self, alert: Alert, diagnosis: Diagnosis) -> list[VerifyMetric]:
        """The service's ``verify`` list, else the pattern's series, else the alert's.

        The pattern's series are those the diagnosis kept when it matched, whatever the
        library holds now; only a diagnosis stored before it kept them looks them up.
        """
        service = self._service(alert.service_name)
        if service is not None and service.verify:
            return list(service.verify)
        wanted: Sequence[VerifySeries] = (VerifySeries(),)
        if diagnosis.verify is not None:
            wanted = diagnosis.verify
        elif (pattern := self._pattern(diagnosis.pattern_id)) is not None:
            wanted = pattern.verify
        own = _series_labels(alert)
        metrics: list[VerifyMetric] = []
        trend = alert.trend_analysis
        for series in wanted:
            if series.metric is None or series.metric == alert.metric_type:
                labels = series.labels or own
                metric = VerifyMetric(
                    metric=alert.metric_type,
                    labels=labels,
                    better=series.better,
                    kind=("counter" if trend.per_second else "gauge") if trend else None,
                )
            else:
                metric = VerifyMetric(
                    metric=series.metric, labels=series.labels, better=series.better
                )
            if metric not in metrics:
                metrics.append(metric)
        return metrics

    @staticmethod
    def _incident_evidence(alert: Alert) -> tuple[EvidencePoint, ...]:
        """The alert's own points that show the incident, to judge a remedy against.

        A forecast's points are the trend it extrapolated: all of them. A breach is raised
        on the first point past its threshold, so most of its points show the service
        healthy, before the incident: only the last run past the threshold is kept. An
        anomaly is one surprising point after ordinary ones: none is kept. Compared with
        the healthy past, a remedy that restored health would read *unchanged* and be
        rolled back; with too few points left the series is read before acting instead.
        """
        kind = alert.attributes.get("kind")
        if kind == "anomaly":
            return ()
        if kind != "breach":
            return alert.evidence
        trend = alert.trend_analysis
        if trend is None or trend.threshold is None or not alert.evidence:
            return ()
        threshold = trend.threshold
        up = alert.evidence[-1].value >= threshold
        run: list[EvidencePoint] = []
        for point in reversed(alert.evidence):
            if (point.value < threshold) if up else (point.value > threshold):
                break
            run.append(point)
        return tuple(reversed(run))

    @staticmethod
    def _judged_by_alert_alone(alert: Alert, metrics: Sequence[VerifyMetric]) -> bool:
        """Only the alerting series judges, so the alert's evidence is its baseline."""
        own = _series_labels(alert)
        return (
            bool(alert.evidence)
            and len(metrics) == 1
            and metrics[0].metric == alert.metric_type
            and metrics[0].labels == own
        )

    @activity.defn
    def record_baseline(self, inp: ApplyInput) -> None:
        """Read the series that will judge the remedy, over ``baseline_s``, before it acts.

        An alert from the detector carries its series' recent points; those that show the
        incident (``_incident_evidence``) are the baseline when only that series judges,
        they are still recent (``EVIDENCE_FRESH_S``, or two sample intervals) and there are
        enough of them to judge by, and nothing is read. Otherwise (a ``verify`` list, an
        alert with no evidence such as Alertmanager's, a breach or anomaly whose points are
        mostly from before it, or evidence that aged while a person was asked) the series
        are sampled now, once: never after the action began, and never twice.
        The points go to the audit trail (at most ``MAX_SERIES`` + 1 series per entry: one
        more already makes it inconclusive).
        """
        service = self._service(inp.alert.service_name)
        if service is None or not service.has_source:
            return
        metrics = self._verify_metrics(inp.alert, inp.diagnosis)
        verification = self.settings.verification
        fresh = timedelta(seconds=max(EVIDENCE_FRESH_S, 2 * verification.sample_interval_s))
        evidence = self._incident_evidence(inp.alert)
        usable = len({p.timestamp for p in evidence}) >= max(min(5, self.verify_samples), 1)
        recent = usable and self.clock() - evidence[-1].timestamp <= fresh
        if not service.verify and recent and self._judged_by_alert_alone(inp.alert, metrics):
            return
        if self.ledger.get(apply_key(inp.incident_id)) is not None:
            return
        with self.store.session() as session:
            if self._baseline_windows(AuditLog(session).entries(inp.incident_id)) is not None:
                return
        count = max(
            self.verify_samples,
            min(600, round(verification.baseline_s / self._sample_interval(service))),
        )
        windows = self._sample(service, metrics, count, loose=_own_keys(inp.alert, metrics))
        payload: list[JsonValue] = [
            {
                "entry": entry,
                "labels": [[k, v] for k, v in json.loads(labels)],
                "points": [[p.timestamp.isoformat(), p.value] for p in points],
            }
            for entry, series in windows.items()
            for labels, points in sorted(series.items())[: MAX_SERIES + 1]
        ]
        with self.store.session() as session:
            AuditLog(session).append(
                incident_id=inp.incident_id,
                kind=BASELINE,
                payload={"windows": payload},
                at=self.clock(),
            )

    @staticmethod
    def _baseline_windows(entries: Sequence[AuditEntry]) -> Baseline | None:
        """The recorded baseline, per verify entry and series, or None when none was recorded.

        Each series is stored as one item of a list (``entry``, ``labels`` as pairs,
        ``points``), so no label value is ever a mapping key: the audit trail's redaction
        replaces the whole value under a key that looks like a secret (``user=token_rw``).
        A baseline keyed by name (recorded by an earlier version) cannot be matched to the
        series read now, so it is marked as such and never guessed from.
        """
        for entry in entries:
            windows = entry.payload.get("windows")
            if entry.kind != BASELINE:
                continue
            if not isinstance(windows, list):
                return Baseline(windows={}, earlier=True)
            out: SeriesWindows = {}
            for item in windows:
                if not isinstance(item, dict):
                    continue
                name, labels, rows = item.get("entry"), item.get("labels"), item.get("points")
                if not isinstance(name, str) or not isinstance(labels, list):
                    continue
                pairs = {
                    str(pair[0]): str(pair[1])
                    for pair in labels
                    if isinstance(pair, list) and len(pair) == 2
                }
                out.setdefault(name, {})[labels_key(pairs)] = tuple(
                    EvidencePoint.model_validate({"timestamp": row[0], "value": row[1]})
                    for row in (rows if isinstance(rows, list) else [])
                    if isinstance(row, list) and len(row) == 2
                )
            return Baseline(windows=out)
        return None

    @activity.defn
    def verify(self, inp: VerifyInput) -> Verification:
        """Compare the series after the action with the baseline before it.

        A service with no metric source (a CI repository) is judged by the adapter's own
        check alone; otherwise a failed check is degraded whatever the series say. When the
        readings lean better without showing it (``vanguard.verify.unproven``), as many
        again are read and the whole judged once more before the action is left in place
        for a person: a second look settles most of them either way.
        """
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.incident_id)
            if record.verification is not None:
                return record.verification
        adapter = self.adapters[inp.action.action]
        check = adapter.verify(inp.action)
        service = self._service(inp.alert.service_name)
        if service is None or not service.has_source:
            verification = self._judge_by_check(check)
        else:
            verification = self._judge_by_series(inp, service, record.audit)
            if not check.ok:
                verification = verification.model_copy(
                    update={
                        "verdict": Verdict.degraded,
                        "reason": f"the action's own check failed: {check.reason}",
                    }
                )
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.incident_id)
            repo.save_verification(inp.incident_id, verification)
            self._advance(
                repo,
                AuditLog(session),
                record.incident,
                IncidentState.verifying,
                verification.reason,
                {
                    "check": check.reason,
                    "figures": [[name, value] for name, value in verification.figures.items()],
                },
            )
        return verification

    @staticmethod
    def _judge_by_check(check: Check) -> Verification:
        figures = {
            f"check.{name}": float(value)
            for name, value in check.observed.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        state = "passed" if check.ok else "failed"
        return Verification(
            verdict=Verdict.improved if check.ok else Verdict.degraded,
            reason=f"no metric source; the action's own check {state}: {check.reason}",
            figures=figures,
        )

    def _judge_by_series(
        self, inp: VerifyInput, service: ServiceConfig, audit: Sequence[AuditEntry]
    ) -> Verification:
        metrics = self._verify_metrics(inp.alert, inp.diagnosis)
        recorded = self._baseline_windows(audit)
        if recorded is not None and recorded.earlier:
            return Verification(verdict=Verdict.inconclusive, reason=EARLIER_BASELINE)
        loose = _own_keys(inp.alert, metrics)
        read = self._sample(service, metrics, self.verify_samples, loose=loose)
        verification = self._judge_windows(inp, service, metrics, recorded, read)
        if not unproven(verification):
            return verification
        more = self._sample(service, metrics, self.verify_samples, loose=loose)
        again = self._judge_windows(inp, service, metrics, recorded, _joined(read, more))
        return again.model_copy(
            update={
                "reason": f"{again.reason}; judged again on {self.verify_samples} more "
                "readings: the first ones leaned better without showing it",
                "figures": {**again.figures, "second_look": 1.0},
            }
        )

    def _judge_windows(
        self,
        inp: VerifyInput,
        service: ServiceConfig,
        metrics: Sequence[VerifyMetric],
        recorded: Baseline | None,
        read: SeriesWindows,
    ) -> Verification:
        """Every series ``read`` after the action judged against its baseline: the one
        recorded before it, else the alert's own evidence."""
        counters = {metric_key(m) for m in metrics if m.counter(service.watch)}
        observed = _as_rates(read, counters)
        if recorded is not None:
            baseline = _as_rates(recorded.windows, counters)
        else:
            baseline = self._evidence_as_baseline(inp.alert, metrics[0], observed)
            trend = inp.alert.trend_analysis
            if not (trend and trend.per_second):
                baseline = _as_rates(baseline, counters)
        judged: list[SeriesJudgement] = []
        deciding = 0
        for n, m in enumerate(metrics):
            key = metric_key(m)
            min_points = max(min(5, self.verify_samples - (key in counters)), 1)
            series = judge_each_series(
                m,
                baseline.get(key, {}),
                observed.get(key, {}),
                partial(
                    compare,
                    better=m.better,
                    min_relative_change=self.settings.verification.min_relative_change,
                    min_points=min_points,
                ),
                min_points=min_points,
            )
            names = {j.name for j in judged}
            judged += [
                replace(j, name=f"{j.name}#{n + 1}") if j.name in names else j for j in series
            ]
            deciding = deciding or len(series)
        alerting, untold = self._alerting_series(inp.alert, metrics[0], judged[:deciding])
        return combine_verifications(judged, deciding=deciding, alerting=alerting, untold=untold)

    @staticmethod
    def _evidence_as_baseline(
        alert: Alert, first: VerifyMetric, observed: SeriesWindows
    ) -> SeriesWindows:
        """The alert's points that show the incident (``_incident_evidence``) as the first
        entry's baseline, under the series they are.

        They belong to the alerting series: the one series read now that is the entry's own
        (``own_series``; the source may add labels the alert did not carry), else the series
        the entry's labels name.
        """
        key = metric_key(first)
        own = own_series(first.labels, {k: labels_from_key(k) for k in observed.get(key, {})})
        labels = labels_key(first.labels) if isinstance(own, Unmatched) else own
        return {key: {labels: Activities._incident_evidence(alert)}}

    @staticmethod
    def _alerting_series(
        alert: Alert, first: VerifyMetric, deciding: Sequence[SeriesJudgement]
    ) -> tuple[str | None, bool]:
        """The name of the alert's own series among several deciding ones, if exactly one is,
        and whether it could not be told (the alert names it, but none or several match).

        Which one it is, ``own_series`` tells: an alert's routing labels (``team``, ``env``)
        are not on the series and must not hide which one alerted. An alert that carries
        none of the label names the series carry does not name one of them at all.
        """
        if first.metric != alert.metric_type or len(deciding) < 2:
            return None, False
        labels = _series_labels(alert)
        if not any(name in j.labels for j in deciding for name in labels):
            return None, False
        own = own_series(labels, {j.name: j.labels for j in deciding if not j.too_many})
        return (None, True) if isinstance(own, Unmatched) else (own, False)

    def _read(
        self,
        service: ServiceConfig,
        metrics: Sequence[str],
        now: datetime,
        *,
        declared: dict[str, Declared] | None = None,
    ) -> list[Signal]:
        """One reading of ``metrics`` from every source of ``service``, begun at ``now``.

        A sample without a time of its own is stamped when its source answered: stamped
        at ``now``, a counter's rate took on the latency of every target read before it
        (a steady 30/s read as 66/s and 13.6/s by turns). A Prometheus server is asked as
        of ``now``; its samples carry their own time. With ``declared``, what the sources
        declare of the metrics' kinds is added to it: an exposition's ``# TYPE`` lines
        come with the reading; a server's metadata is asked once per
        ``MetadataCache.refresh_s``, within the read's ``timeout_s``, and its failure only
        leaves it out.
        """
        signals: list[Signal] = []
        if service.scrape is not None:
            text = fetch_exposition(
                service.scrape.url, client=self.http, timeout_s=service.scrape.timeout_s
            )
            exposition = read_exposition(
                text,
                source=redact_text(service.scrape.url),
                service_name=service.name,
                now=self.clock(),
                metrics=tuple(metrics),
            )
            signals += exposition.signals
            if declared is not None:
                declared.update(exposition.declared)
        if service.prometheus is not None:
            source = service.prometheus
            with (
                PrometheusClient(source.url, timeout_s=source.timeout_s) as server,
                server.budget(),
            ):
                signals += read_server(
                    server,
                    tuple(metrics),
                    selector=source.selector,
                    service_name=service.name,
                    now=now,
                )
                if declared is not None:
                    declared.update(self._metadata.read(server, metrics, now))
        if service.pgbouncer is not None:
            dsn = service.pgbouncer.admin_dsn
            pools, databases = admin_rows(
                dsn, ("SHOW POOLS", "SHOW DATABASES"), timeout_s=service.pgbouncer.timeout_s
            )
            signals += pool_signals(
                pools,
                databases,
                source=f"pgbouncer:{dsn}",
                service_name=service.name,
                now=self.clock(),
                metrics=tuple(metrics),
            )
        return signals

    def _sample(
        self,
        service: ServiceConfig,
        metrics: Sequence[VerifyMetric],
        count: int,
        *,
        loose: frozenset[str] = frozenset(),
    ) -> SeriesWindows:
        """Read the series ``count`` times, ``_sample_interval`` apart.

        Every series an entry matches is kept under its own labels: an entry that names a
        metric but not the labels telling its series apart matches each of them. A series
        that two sources both report (scrape and console) counts once per reading: the
        first, so a reading does not weigh double in the comparison. A reading whose
        sample time that series already has (a Prometheus server answers with its last
        scrape until the next) is the same sample again and is dropped. An entry in
        ``loose`` (the alert's own series, named by the alert's labels) that matches no
        series falls back to the alert's own series among those of its metric
        (``own_series``): an alert's rule may add labels (``team``) that its series never
        had. Only the points of series that could be it, were they the only one read, are
        kept until then. Temporal hears from the worker every few seconds throughout, so
        an interval of a minute or more does not look like a dead worker.
        """
        interval = self._sample_interval(service)
        names = sorted({m.metric for m in metrics})
        sampled = _Sampled.of(metrics, loose)
        with heartbeating(HEARTBEAT_EVERY_S):
            for n in range(count):
                if n:
                    time.sleep(interval)
                if activity.in_activity():
                    activity.heartbeat(n)
                try:
                    signals = self._read(service, names, self.clock())
                except ScrapeError as exc:
                    log.warning("verification read of %s failed: %s", service.name, exc)
                    continue
                sampled.take(signals)
        return sampled.windows()

    def _sample_interval(self, service: ServiceConfig) -> float:
        """How far apart ``service`` is read (``VerificationConfig.interval_for``)."""
        return self.settings.verification.interval_for(service)

    @activity.defn
    def rollback(self, inp: RollbackInput) -> ActionResult:
        """Undo the action that made things worse, unless a person paused automation since.

        A pause means nothing is applied on the service (a failover in progress): pushing a
        revert or reloading a pool then is an action too, so the rollback is withheld and a
        person is told how to undo it by hand. One already begun is finished.
        """
        if self.ledger.get(rollback_key(inp.incident_id)) is None:
            with self.store.session() as session:
                pauses = PauseRepo(session).active(self.clock(), inp.action.target)
            if pauses:
                raise ActionWithheld(
                    f"rollback withheld: {pauses[0].describe()}; undo it by hand once it is "
                    f"safe: `vanguard rollback {inp.incident_id}"
                    f"{config_flag(self.settings.source_file)}` ({inp.action.undo.instructions})"
                )
        return self._undo(inp.incident_id, inp.action, by="vanguard")

    def _undo(self, incident_id: str, action: ActionResult, *, by: str) -> ActionResult:
        """Undo ``action`` under the incident's one rollback key, recorded once."""
        adapter = self.adapters.get(action.action)
        if adapter is None:
            raise UnknownAdapter(f"no adapter for {action.action!r} to roll back with")
        key = rollback_key(incident_id)
        try:
            with heartbeating():
                result = adapter.rollback(
                    RollbackRequest(idempotency_key=key, incident_id=incident_id, undo=action.undo)
                )
        except VanguardError as exc:
            if not will_be_retried(exc):
                self._audit_failed_rollback(incident_id, key, by, exc)
            raise
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, incident_id)
            if not any(a.idempotency_key == result.idempotency_key for a in record.actions):
                repo.save_action(result)
                AuditLog(session).append(
                    incident_id=incident_id,
                    kind="action.rolled_back",
                    payload={
                        "by": by,
                        "message": result.message,
                        "before": result.before,
                        "after": result.after,
                    },
                    at=self.clock(),
                )
        return result

    def _audit_failed_rollback(
        self, incident_id: str, key: str, by: str, exc: VanguardError
    ) -> None:
        """Record a rollback that failed for good, with how far it got; never hides ``exc``."""
        try:
            begun = self.ledger.get(key)
            with self.store.session() as session:
                AuditLog(session).append(
                    incident_id=incident_id,
                    kind="action.rollback_failed",
                    payload={
                        "by": by,
                        "error": f"{type(exc).__name__}: {exc}",
                        "begun": begun is not None,
                        "before": dict(begun.before) if begun is not None else None,
                    },
                    at=self.clock(),
                )
        except Exception:
            log.exception("incident %s: the failed rollback could not be audited", incident_id)

    def roll_back_by_hand(self, incident_id: str, *, who: str) -> tuple[ActionResult, bool]:
        """Undo the incident's applied action (``vanguard rollback``); returns (result, new).

        Shares the automatic rollback's key, so whichever runs first undoes the action
        and the other finds it done. An incident already *resolved* keeps its status, but
        its success no longer teaches: the person's undo is no verdict on the remedy (it
        may be caution), and the success it contradicts is no evidence for it either.
        """
        with self.store.session() as session:
            record = self._record(IncidentRepo(session), incident_id)
        actions = {a.idempotency_key.rsplit(":", 1)[-1]: a for a in record.actions}
        done = actions.get("rollback")
        if done is not None:
            return done, False
        applied = actions.get("apply")
        if applied is None or not applied.applied:
            raise AdapterError(f"incident {incident_id} has no applied action to undo")
        if not applied.undo.possible:
            raise AdapterError(
                f"the {applied.action} of incident {incident_id} cannot be undone by Vanguard: "
                f"{applied.undo.instructions}"
            )
        result = self._undo(incident_id, applied, by=who)
        with self.store.session() as session:
            repo = IncidentRepo(session)
            outcome = self._record(repo, incident_id).outcome
            if outcome is not None and outcome.status is OutcomeStatus.resolved and outcome.teaches:
                repo.save_outcome(
                    outcome.model_copy(
                        update={
                            "teaches": False,
                            "reason": f"{outcome.reason}; {who} rolled the action back by "
                            "hand afterwards: it teaches nothing",
                        }
                    )
                )
        return result, True

    @activity.defn
    def close_incident(self, inp: CloseInput) -> Outcome:
        """Record the outcome, move the incident to its terminal state, and return the
        outcome as stored.

        An action a person undid by hand (``vanguard rollback``) before Vanguard's verdict
        changes the outcome: the verification judged a state the remedy no longer produced,
        so the incident ends *escalated* (or *rolled back*, when Vanguard's own rollback
        found it done) and teaches nothing. The person's undo is no verdict on the remedy
        either: it may be caution.

        An action the ledger shows finished but the incident lacks (the store went down
        between the adapter's answer and its record, and stayed down while the workflow
        asked) is recorded here, so the rate limits and the cooldown count it.
        """
        key = apply_key(inp.outcome.incident_id)
        entry = self.ledger.get(key)
        finished = entry.result if entry is not None and not entry.fenced else None
        with self.store.session() as session:
            repo = IncidentRepo(session)
            record = self._record(repo, inp.outcome.incident_id)
            if finished is not None and all(a.idempotency_key != key for a in record.actions):
                repo.save_action(finished)
            outcome = record.outcome
            if outcome is None:
                outcome = _undone_by_hand(record, inp.outcome)
                repo.save_outcome(outcome)
            if inp.verification is not None and record.verification is None:
                repo.save_verification(outcome.incident_id, inp.verification)
            self._advance(
                repo,
                AuditLog(session),
                record.incident,
                OUTCOME_STATE[outcome.status],
                outcome.reason,
                {"status": str(outcome.status)},
            )
        return outcome

    @activity.defn
    def notify(self, inp: NotifyInput) -> None:
        """Tell people what happened and how to undo it, once per channel and phase.

        The ``approval`` phase asks for an answer while the incident waits (how to approve
        or decline it); the ``outcome`` phase says how it ended. Each channel has its own
        ledger key per phase, named by what the channel is (``channel_ids``), not where it
        stands in ``notify:``: a retry after one channel failed resends only to the channels
        not yet done, even when ``notify:`` was edited in between. A channel that failed
        mid-send may receive the message twice (at least once, never silently dropped);
        receivers dedupe by incident id and title. Keys of the earlier scheme (by position)
        are not read as done: a retry in flight across that upgrade resends once to the
        channels that already had it, and is then never held as a repeat. The ``notified``
        entry is written once per phase, by the retry that finds every channel done if the
        attempt that sent could not write it.
        """
        with self.store.session() as session:
            record = self._record(IncidentRepo(session), inp.incident_id)
        actions = {a.idempotency_key.rsplit(":", 1)[-1]: a for a in record.actions}
        outcome = record.outcome if inp.phase == "outcome" else None
        message = render(
            record.incident,
            record.diagnosis,
            record.decision,
            actions.get("apply"),
            record.verification,
            outcome,
            rollback=actions.get("rollback"),
            config=self.settings.source_file,
        )
        stage = "notify" if inp.phase == "outcome" else "notify-approval"
        pending: list[tuple[str, Notifier]] = []
        title = message.title
        for channel, notifier in zip(channel_ids(self.notifiers), self.notifiers, strict=True):
            key = f"{inp.incident_id}:{stage}:{channel}"
            entry = self.ledger.get(key)
            if entry is None or entry.result is None:
                pending.append((key, notifier))
            else:
                title = entry.result.message
        repeat = (
            repeat_key(
                record.incident.alert.fingerprint,
                outcome,
                record.decision,
                record.actions,
                asked=any(
                    change.state is IncidentState.awaiting_approval
                    for change in record.incident.history
                ),
            )
            if self.settings.notify_repeat_s > 0
            else None
        )
        if not pending:
            if self.notifiers:
                self._notified(inp, title, repeat)
            return
        if repeat is not None:
            positional = (
                f"{inp.incident_id}:{stage}:{n}:{type(notifier).__name__}"
                for n, notifier in enumerate(self.notifiers)
            )
            begun = any(self.ledger.get(key) for key, _ in pending) or any(
                self.ledger.get(key) for key in positional
            )
            hold, note = self._repeat_verdict(record, repeat, may_hold=not begun)
            if hold:
                return
            if note is not None:
                message = message.model_copy(update={"body": f"{message.body}\n\n{note}"})
        self._send(message, pending)
        self._notified(inp, message.title, repeat)

    def _send(self, message: Message, pending: Sequence[tuple[str, Notifier]]) -> None:
        """Send ``message`` to each channel under its ledger key; every channel is tried,
        and the failures are raised together (a retry sends only to those)."""
        failures: list[str] = []
        for key, notifier in pending:
            self.ledger.begin(key, {})
            try:
                notifier.send(message)
            except VanguardError as exc:
                failures.append(f"{type(notifier).__name__}: {exc}")
                continue
            self.ledger.finish(key, self._sent(key, message.incident_id, notifier, message.title))
        if failures:
            raise NotifyError("; ".join(failures))

    def _notified(self, inp: NotifyInput, title: str, repeat: str | None) -> None:
        """Audit that every channel took the phase's message, once: a retry after the
        entry failed to be written, with every channel done, writes it then."""
        with self.store.session() as session:
            audit = AuditLog(session)
            recorded = audit.entries_of([inp.incident_id], (NOTIFIED,))
            if any(e.payload.get("phase") == inp.phase for e in recorded):
                return
            audit.append(
                incident_id=inp.incident_id,
                kind=NOTIFIED,
                payload={
                    "title": title,
                    "channels": len(self.notifiers),
                    "phase": inp.phase,
                    "repeat_key": repeat,
                },
                at=self.clock(),
            )

    @activity.defn
    def notify_failed(self, inp: NotifyFailedInput) -> None:
        """Record that a message could not be delivered (once per incident and phase)."""
        with self.store.session() as session:
            audit = AuditLog(session)
            recorded = audit.entries_of([inp.incident_id], (FAILED,))
            if any(e.payload.get("phase") == inp.phase for e in recorded):
                return
            audit.append(
                incident_id=inp.incident_id,
                kind=FAILED,
                payload={"phase": inp.phase, "reason": inp.reason[:2000]},
                at=self.clock(),
            )
        log.error("%s: people could not be told (%s): %s", inp.incident_id, inp.phase, inp.reason)

    @activity.defn
    def note_worsened(self, inp: WorsenedInput) -> None:
        """Tell the people asked about an incident that its series got worse while it
        waits for them (a forecast they were asked about became a breach), once per kind.

        The news is audited (``incident.worsened``) before it is sent; each channel has its
        own ledger key, so a retry sends only to the channels not yet done. The incident
        goes on waiting: the answer is still theirs, and an approval runs every gate again.
        """
        kind = str(inp.alert.attributes.get("kind") or "alert")
        summary = redact_text(inp.alert.summary)
        with self.store.session() as session:
            record = self._record(IncidentRepo(session), inp.incident_id)
            audit = AuditLog(session)
            told = audit.entries_of([inp.incident_id], (WORSENED,))
            if not any(e.payload.get("kind") == kind for e in told):
                audit.append(
                    incident_id=inp.incident_id,
                    kind=WORSENED,
                    payload={
                        "kind": kind,
                        "summary": summary,
                        "confidence": inp.alert.confidence,
                        "detected_at": inp.alert.detected_at.isoformat(),
                        "alert_id": inp.alert.alert_id,
                    },
                    at=self.clock(),
                )
        if record.incident.state is not IncidentState.awaiting_approval:
            return
        asked = render(
            record.incident,
            record.diagnosis,
            record.decision,
            config=self.settings.source_file,
        )
        message = render_worsened(asked, inp.alert)
        keyed = (
            (f"{inp.incident_id}:notify-worsened-{kind}:{channel}", notifier)
            for channel, notifier in zip(channel_ids(self.notifiers), self.notifiers, strict=True)
        )
        self._send(message, [(k, n) for k, n in keyed if not _done(self.ledger.get(k))])

    def _repeat_verdict(
        self, record: IncidentRecord, repeat: str, *, may_hold: bool
    ) -> tuple[bool, str | None]:
        """Hold the message when people were told the same news within ``notify_repeat_s``.

        The hold is audited once (a retried activity holds again without a second entry);
        a message some channel already took is never held (``may_hold`` false). A message
        that is sent carries a note on how many like incidents went unsent, the same on a
        retry that completes the channels left.
        """
        incident_id = record.incident.incident_id
        if any(e.kind == HELD for e in record.audit):
            return True, None
        now = self.clock()
        window = timedelta(seconds=self.settings.notify_repeat_s)
        with self.store.session() as session:
            repo = IncidentRepo(session)
            ids = repo.ids_since(record.incident.alert.service_name, now - 2 * window)
            others = [i for i in ids if i != incident_id]
            audit = AuditLog(session)
            entries = audit.entries_of(others, (NOTIFIED, HELD))
            history = repeat_history(entries, repeat, now - window)
            if history.notified is None or not may_hold:
                return False, held_note(history)
            audit.append(
                incident_id=incident_id,
                kind=HELD,
                payload={
                    "repeat_key": repeat,
                    "repeat_of": history.notified.incident_id,
                    "notified_at": history.notified.at.isoformat(),
                    "repeat_s": self.settings.notify_repeat_s,
                },
                at=now,
            )
        log.info(
            "%s: not notified, same news as %s at %s",
            incident_id,
            history.notified.incident_id,
            history.notified.at.isoformat(),
        )
        return True, None

    def _sent(self, key: str, incident_id: str, notifier: Notifier, title: str) -> ActionResult:
        return ActionResult(
            idempotency_key=key,
            incident_id=incident_id,
            action="notify.send",
            target=type(notifier).__name__,
            applied=True,
            undo=UndoRecord(
                action="notify.send",
                target="people",
                possible=False,
                instructions="a sent message cannot be recalled",
            ),
            message=title,
            finished_at=self.clock(),
        )


def _done(entry: LedgerEntry | None) -> bool:
    return entry is not None and entry.result is not None


def _joined(first: SeriesWindows, then: SeriesWindows) -> SeriesWindows:
    """Two successive readings of the same entries as one, each series in time order."""
    return {
        key: {
            labels: (*first.get(key, {}).get(labels, ()), *then.get(key, {}).get(labels, ()))
            for labels in {*first.get(key, {}), *then.get(key, {})}
        }
        for key in {*first, *then}
    }


def _as_rates(windows: SeriesWindows, counters: set[str]) -> SeriesWindows:
    """``windows`` with the series of the ``counters`` entries turned into per-second rates
    (an alert's own evidence on a watched counter already is)."""
    return {
        key: (
            {labels: counter_rates(points) for labels, points in series.items()}
            if key in counters
            else series
        )
        for key, series in windows.items()
    }


@dataclass
class _Sampled:
    """The points a verification's readings gathered so far (``Activities._sample``)."""

    wanted: dict[str, VerifyMetric]
    points: dict[str, dict[str, list[EvidencePoint]]]
    """Per entry, the points of every series it matches, by ``labels_key``."""
    others: dict[str, dict[str, Mapping[str, str]]]
    """Per loose entry, the labels of the series of its metric it does not match."""
    kept: dict[str, dict[str, list[EvidencePoint]]]
    """Per loose entry, the points of those that could be its own series."""
    taken: set[tuple[str, str, datetime]] = field(default_factory=set)

    @classmethod
    def of(cls, metrics: Sequence[VerifyMetric], loose: frozenset[str]) -> _Sampled:
        wanted = {metric_key(m): m for m in metrics}
        return cls(
            wanted=wanted,
            points={key: {} for key in wanted},
            others={key: {} for key in loose},
            kept={key: {} for key in loose},
        )

    def take(self, signals: Sequence[Signal]) -> None:
        """Add one reading: each series once (its first source's sample), and a sample
        time a series already has not again."""
        for key, m in self.wanted.items():
            read: set[str] = set()
            for signal in signals:
                labels = labels_key(signal.labels)
                if signal.metric_type != m.metric or labels in read:
                    continue
                read.add(labels)
                if (key, labels, signal.timestamp) in self.taken:
                    continue
                self.taken.add((key, labels, signal.timestamp))
                point = EvidencePoint(timestamp=signal.timestamp, value=signal.value)
                if signal.labels.items() >= m.labels.items():
                    self.points[key].setdefault(labels, []).append(point)
                elif key in self.others:
                    self.others[key][labels] = signal.labels
                    alone = own_series(m.labels, {labels: signal.labels})
                    if not isinstance(alone, Unmatched):
                        self.kept[key].setdefault(labels, []).append(point)

    def windows(self) -> SeriesWindows:
        """The points gathered, a loose entry that matched no series falling back to the
        alert's own series among those of its metric (``own_series``)."""
        points = dict(self.points)
        for key, candidates in self.others.items():
            if points[key]:
                continue
            own = own_series(self.wanted[key].labels, candidates)
            if not isinstance(own, Unmatched):
                points[key] = {own: self.kept[key][own]}
        return {
            key: {labels: tuple(found) for labels, found in series.items()}
            for key, series in points.items()
        }
