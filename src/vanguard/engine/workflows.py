"""Temporal workflows: one ``RemediationWorkflow`` per incident, one ``WatcherWorkflow`` sweep.

The remediation runs diagnose → decide → act → wait the verification window (a durable
timer) → verify → roll back if worse → notify → record the outcome. Every side effect is an
activity carrying an idempotency key, so a worker killed anywhere resumes on another worker
without repeating it. Compensation (rollback, escalation) is kept apart in ``_roll_back``.

Both workflows run in Temporal's sandbox, which turns a non-deterministic call (the wall
clock, random numbers, I/O) into an error instead of a silent replay divergence. Vanguard's
models and activities are imported through ``imports_passed_through``: they are loaded once
per process, not once per workflow run, and numpy (a C extension) cannot be loaded twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    FailureError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from vanguard.decide.policy import not_acting_status
    from vanguard.engine.activities import APPLY_ATTEMPTS, Activities
    from vanguard.engine.messages import (
        ApplyInput,
        CloseInput,
        DecideInput,
        DiagnoseInput,
        NotifyFailedInput,
        NotifyInput,
        OpenInput,
        RemediationInput,
        RollbackInput,
        SweepInput,
        TransitionInput,
        VerifyInput,
        WatcherInput,
        WorsenedInput,
    )
    from vanguard.engine.sweep import sweep_timeout
    from vanguard.model import (
        DECLINED_BY,
        NOT_BEGUN,
        ActionResult,
        Alert,
        Decision,
        Diagnosis,
        Outcome,
        OutcomeStatus,
        Verification,
    )
    from vanguard.verify import settle

__all__ = ["RemediationWorkflow", "WatcherWorkflow", "incident_id_for", "workflow_id_for"]

NON_RETRYABLE = [
    "ConfigError",
    "InvalidTransition",
    "UnknownAdapter",
    "InvalidParams",
    "ActionFailed",
    "ActionWithheld",
    "ActionFenced",
    "PartlyApplied",
]
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=APPLY_ATTEMPTS,
    non_retryable_error_types=NON_RETRYABLE,
)
BOOKKEEPING_RETRY = dataclasses.replace(
    RETRY, maximum_interval=timedelta(seconds=60), maximum_attempts=60
)
"""Steps that only read and write the store (open, diagnose, decide, asking the ledger
whether a failed action began, close): retried for about an hour, so a store restart or
failover delays an incident instead of failing its workflow (which lost the incident, left
it 'applied' for ever, or an action that ran unrecorded); a bug that fails every time
still ends it then. Errors retrying cannot help are non-retryable and end it at once."""
NOTIFY_RETRY = dataclasses.replace(RETRY, maximum_interval=timedelta(minutes=5), maximum_attempts=0)
"""Outcome messages: retried without a count, bounded by the incident's notify patience."""
PATIENT_NOTIFY = "patient-notify"
"""Patch marker: incidents started before outcome messages were retried patiently."""
ASK_PEOPLE = "notify-approval"
"""Patch marker: incidents started before people were told of approvals replay without it."""
FIRST_ANSWER = "first-approval-answer"
"""Patch marker: incidents started before answers were ordered replay the last one."""
HISTORY_BUDGET = "watcher-history-budget"
"""Patch marker: watchers started before the history budget replay without it."""
UNANSWERED_ACTION = "failed-action-asks-ledger"
"""Patch marker: incidents started before a failed action's ledger was asked end *failed*."""
STATES_IN_STORE = "watch-states-in-store"
"""Patch marker: watchers started before the states moved to the store carry them."""
LATE_DECLINE = "decline-after-approval"
"""Patch marker: incidents started before a late decline was read act on the approval."""
NAMED_APPROVER = "approval-names-someone"
"""Patch marker: incidents started before a nameless approval was ignored accept one."""
DUE_IN_WORKFLOW = "wait-until-due-in-workflow"
"""Patch marker: incidents started before the workflow waited for an action's due time
wait inside ``apply_action``, where a decline is read only after the action."""
DUE_ROUNDS = 3
"""How many times the workflow asks how long until the action is due and waits that long:
a clock behind the failure's time is told ``MAX_DUE_S`` at most per round, and what a last
round leaves is waited inside ``apply_action``, where a decline is not heard."""
CANCELLED = f"{DECLINED_BY}cancelling its workflow in Temporal"
"""The answer a cancel of the workflow while its action waits to be due stands for."""
SWEEP_HEARTBEAT = "sweep-heartbeat"
"""Patch marker: watchers started before sweeps heartbeat schedule them without a
heartbeat timeout."""
SHORT_TIMEOUT = timedelta(seconds=30)
ACT_TIMEOUT = timedelta(minutes=5)
HEARTBEAT_TIMEOUT = timedelta(seconds=60)
ACTION_HEARTBEAT = timedelta(seconds=20)
"""An action heartbeats every 5 s: a worker killed mid-action is noticed within 20 s."""
SWEEP_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
"""A sweep heartbeats every 5 s: a worker killed mid-sweep is noticed within 20 s, not at
the sweep's start-to-close timeout (5 × the interval), while no other sweep runs."""


def incident_id_for(alert: Alert) -> str:
    """A stable incident id: the same alert delivered twice maps to the same incident."""
    digest = hashlib.sha256(alert.alert_id.encode()).hexdigest()[:12]
    return f"inc-{alert.detected_at:%Y%m%d}-{digest}"


def workflow_id_for(incident_id: str) -> str:
    return f"vanguard-incident-{incident_id}"


@workflow.defn
class RemediationWorkflow:
    """Drive one incident from alert to outcome."""

    def __init__(self) -> None:
        self._approval: tuple[bool, str] | None = None
        self._approved = False
        self._acting = False
        self._late_decline: str | None = None
        self._stage = "open"
        self._notify_patience_s = 3600.0
        self._worse: list[WorsenedInput] = []
        self._worse_kinds: set[str] = set()

    @workflow.signal
    def approve(self, who: str) -> None:
        if not who.strip() and workflow.patched(NAMED_APPROVER):
            workflow.logger.warning("approval without a name ignored: an approver is named")
            return
        self._answer((True, f"approved by {who}"))

    @workflow.signal
    def decline(self, who: str) -> None:
        """A decline; one that comes once the action is scheduled cannot stop it, and is kept
        for the ``late_decline`` query and logged instead of being dropped unheard."""
        answer = f"{DECLINED_BY}{who}"
        if self._acting:
            self._late_decline = answer
            workflow.logger.warning(
                "%s came too late: the action was already scheduled and is not stopped", answer
            )
        self._answer((False, answer))

    @workflow.signal
    def worsened(self, news: WorsenedInput) -> None:
        """A more urgent alert of this incident's series (the watcher sends it while the
        incident waits for a person): told once per kind, while it still waits."""
        kind = str(news.alert.attributes.get("kind") or "alert")
        if kind not in self._worse_kinds and self._stage == "awaiting_approval":
            self._worse_kinds.add(kind)
            self._worse.append(news)

    def _answer(self, answer: tuple[bool, str]) -> None:
        """Answers sent while no worker ran arrive together. An approval counts only when it
        is the first answer; a decline counts whenever it comes before the action (the safe
        side: someone who approved by mistake declines at once)."""
        if (
            self._approval is not None
            and workflow.patched(FIRST_ANSWER)
            and (answer[0] or not self._approval[0])
        ):
            workflow.logger.warning(
                "%s ignored: the incident was already %s", answer[1], self._approval[1]
            )
            return
        self._approval = answer
        self._approved = self._approved or answer[0]

    @workflow.query
    def stage(self) -> str:
        return self._stage

    @workflow.query
    def late_decline(self) -> str | None:
        """The decline that came once the action was scheduled (``declined by NAME``), which
        did not stop it; ``None`` when none did."""
        return self._late_decline

    @workflow.run
    async def run(self, inp: RemediationInput) -> Outcome:
        iid, alert = inp.incident_id, inp.alert
        self._notify_patience_s = inp.notify_patience_s
        self._stage = "open"
        await self._call(Activities.open_incident, OpenInput(incident_id=iid, alert=alert))
        self._stage = "diagnose"
        diagnosis: Diagnosis = await self._call(
            Activities.diagnose, DiagnoseInput(incident_id=iid, alert=alert)
        )
        self._stage = "decide"
        decision: Decision = await self._call(
            Activities.decide, DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis)
        )
        if decision.needs_approval:
            if workflow.patched(ASK_PEOPLE):
                await self._ask(iid)
            decision = await self._await_approval(inp, decision, diagnosis)
        decision = self._declined_since(decision) or decision
        if not decision.approved or decision.dry_run:
            status = not_acting_status(decision, diagnosis)
            return await self._finish(iid, diagnosis, status, decision.reason, decision)

        self._stage = "act"
        apply = ApplyInput(incident_id=iid, alert=alert, diagnosis=diagnosis)
        try:
            await workflow.execute_activity_method(
                Activities.record_baseline,
                apply,
                start_to_close_timeout=timedelta(seconds=inp.baseline_timeout_s),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
        except ActivityError as exc:
            return await self._finish_failed_action(iid, diagnosis, decision, apply, exc)
        declined = self._declined_since(decision)
        if declined is None and workflow.patched(DUE_IN_WORKFLOW):
            try:
                await self._until_due(apply)
            except ActivityError as exc:
                return await self._finish_failed_action(iid, diagnosis, decision, apply, exc)
            declined = self._declined_since(decision)
        if declined is not None:
            return await self._finish(
                iid, diagnosis, OutcomeStatus.declined, declined.reason, declined
            )
        self._acting = True
        try:
            action: ActionResult = await self._call(
                Activities.apply_action,
                apply,
                timeout=ACT_TIMEOUT,
                retry=RETRY,
                heartbeat=ACTION_HEARTBEAT,
            )
        except ActivityError as exc:
            return await self._finish_failed_action(iid, diagnosis, decision, apply, exc)

        self._stage = "observe"
        await workflow.sleep(timedelta(seconds=inp.window_s))

        self._stage = "verify"
        try:
            verification: Verification = await workflow.execute_activity_method(
                Activities.verify,
                VerifyInput(incident_id=iid, alert=alert, diagnosis=diagnosis, action=action),
                start_to_close_timeout=timedelta(seconds=inp.verify_timeout_s),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
        except ActivityError as exc:
            reason = f"the action was applied but could not be verified: {_cause(exc)}"
            store = isinstance(exc.cause, ApplicationError) and exc.cause.type == "StoreError"
            return await self._finish(
                iid, diagnosis, OutcomeStatus.escalated, reason, decision, teaches=not store
            )
        settlement = settle(
            verification,
            undo_possible=action.undo.possible,
            rollback_safe=diagnosis.rollback_safe,
        )
        if settlement.next_step == "resolve":
            return await self._finish(
                iid, diagnosis, OutcomeStatus.resolved, settlement.reason, decision, verification
            )
        if settlement.next_step == "roll_back":
            return await self._roll_back(iid, diagnosis, decision, action, verification)
        return await self._finish(
            iid, diagnosis, OutcomeStatus.escalated, settlement.reason, decision, verification
        )

    async def _until_due(self, apply: ApplyInput) -> None:
        """Wait until the action is due (a re-run's backoff), or until a decline arrives.

        Waited here, not in ``apply_action``: a decline during the wait ends it at once,
        before anything is begun, and a worker lost meanwhile leaves a durable timer, not an
        activity to retry. The activity is asked again after each wait, ``DUE_ROUNDS`` times
        at most, so a clock behind the failure's time (told ``MAX_DUE_S`` per round) is
        waited out here too. A cancel of the workflow meanwhile (from the Temporal UI or
        CLI) stands for a decline: the incident ends *declined* and closed, with nothing
        begun, instead of being left *approved* by a cancelled workflow.
        """
        for _ in range(DUE_ROUNDS):
            left: float = await self._call(Activities.action_due_in, apply)
            if left <= 0 or self._declined():
                break
            self._stage = "deferred"
            try:
                await workflow.wait_condition(self._declined, timeout=left)
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                workflow.logger.warning(
                    "workflow cancelled while its action waited to be due: it ends declined"
                )
                self._approval = (False, CANCELLED)
            break
        self._stage = "act"

    def _declined(self) -> bool:
        """Whether the answer that stands is a decline."""
        return self._approval is not None and not self._approval[0]

    def _declined_since(self, decision: Decision) -> Decision | None:
        """The decision declined, when a decline came after the approval it acts on.

        A decline wins until the action is scheduled (``_answer``): one that arrives while
        the gates run again, the baseline is read or the action waits until it is due is
        honoured here, at the last moments before acting, instead of being stored and never
        read. The reason says "after the approval" only when a person approved: an incident
        the policy let through had none.
        """
        if (
            decision.approved
            and self._approval is not None
            and not self._approval[0]
            and workflow.patched(LATE_DECLINE)
        ):
            when = "before the action"
            if self._approved:
                when = f"after the approval, {when}"
            return decision.model_copy(
                update={
                    "approved": False,
                    "reason": f"{self._approval[1]} {when}",
                }
            )
        return None

    async def _finish_failed_action(
        self,
        iid: str,
        diagnosis: Diagnosis,
        decision: Decision,
        apply: ApplyInput,
        exc: ActivityError,
    ) -> Outcome:
        status, reason, begun = await self._failed_action(apply, exc)
        return await self._finish(iid, diagnosis, status, reason, decision, teaches=begun)

    async def _failed_action(
        self, apply: ApplyInput, exc: ActivityError
    ) -> tuple[OutcomeStatus, str, bool]:
        """How an action that did not complete ends: *failed* only when its ledger shows it
        never began, *escalated* when it may have.

        ``ActionWithheld`` (the gates, run again just before acting, stopped it) ends
        *declined* when the ledger agrees nothing began. ``PartlyApplied`` says so itself.
        Anything else (an adapter's error, a store that stayed down after the adapter
        finished, a last attempt that timed out on a hung target or a lost worker) leaves
        it open, so the ledger is asked; if even that cannot be read, a person is told: an
        action half done and reported as failed is left as it is. The flag says whether it
        may have begun: one that never began says nothing about the remedy (a misspelt
        program, a target down), so its outcome teaches neither the pattern's confidence
        nor the circuit breaker.
        """
        reason = f"action failed: {_cause(exc)}"
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "PartlyApplied":
            return OutcomeStatus.escalated, reason, True
        withheld = isinstance(cause, ApplicationError) and cause.type == "ActionWithheld"
        if not workflow.patched(UNANSWERED_ACTION):
            if withheld:
                return OutcomeStatus.declined, _cause(exc), False
            return OutcomeStatus.failed, reason, True
        try:
            before: str | None = await self._call(
                Activities.action_begun, apply, retry=BOOKKEEPING_RETRY
            )
        except ActivityError as check:
            return (
                OutcomeStatus.escalated,
                f"{reason}; whether it began is unknown ({_cause(check)}): it may be partly "
                "applied, a person must check the target",
                True,
            )
        if before is None:
            if withheld:
                return OutcomeStatus.declined, f"{_cause(exc)}; {NOT_BEGUN}", False
            return OutcomeStatus.failed, f"{reason}; {NOT_BEGUN}", False
        return (
            OutcomeStatus.escalated,
            f"{reason}; the action was begun and may be partly applied (state before it: "
            f"{before}): a person must check the target",
            True,
        )

    async def _roll_back(
        self,
        iid: str,
        diagnosis: Diagnosis,
        decision: Decision,
        action: ActionResult,
        verification: Verification,
    ) -> Outcome:
        """Compensation: undo the action, and hand over to a human if even that fails."""
        self._stage = "rollback"
        await self._call(
            Activities.transition,
            TransitionInput(incident_id=iid, state="rolling_back", reason=verification.reason),
        )
        try:
            undone: ActionResult | None = await self._call(
                Activities.rollback,
                RollbackInput(incident_id=iid, action=action),
                timeout=ACT_TIMEOUT,
                retry=RETRY,
                heartbeat=ACTION_HEARTBEAT,
            )
        except ActivityError as exc:
            withheld = isinstance(exc.cause, ApplicationError) and (
                exc.cause.type == "ActionWithheld"
            )
            reason = _cause(exc) if withheld else f"rollback failed: {_cause(exc)}"
            return await self._finish(
                iid, diagnosis, OutcomeStatus.escalated, reason, decision, verification
            )
        if undone is not None and not undone.applied:
            reason = (
                f"the rollback changed nothing ({undone.message}) after: {verification.reason}; "
                "a person must check the target"
            )
            return await self._finish(
                iid, diagnosis, OutcomeStatus.escalated, reason, decision, verification
            )
        reason = f"rolled back: {verification.reason}"
        return await self._finish(
            iid, diagnosis, OutcomeStatus.rolled_back, reason, decision, verification
        )

    async def _ask(self, iid: str) -> None:
        """Tell people an answer is awaited; a channel that stays down does not stop the wait.

        The incident is awaiting approval in the store and on the dashboard either way, and
        the outcome is notified when it ends; an undelivered request is recorded on the
        incident as ``notify.failed``.
        """
        self._stage = "awaiting_approval"
        try:
            await self._call(
                Activities.notify, NotifyInput(incident_id=iid, phase="approval"), retry=RETRY
            )
        except ActivityError as exc:
            workflow.logger.warning("approval request for %s not sent: %s", iid, _cause(exc))
            await self._call(
                Activities.notify_failed,
                NotifyFailedInput(incident_id=iid, phase="approval", reason=_cause(exc)),
            )

    def _answered_or_worse(self) -> bool:
        return self._approval is not None or bool(self._worse)

    async def _tell_worse(self, news: WorsenedInput) -> None:
        """Tell the people asked that it got worse; a channel that stays down is recorded
        and the wait goes on."""
        try:
            await self._call(Activities.note_worsened, news, retry=RETRY)
        except ActivityError as exc:
            iid = news.incident_id
            workflow.logger.warning("worse news of %s not sent: %s", iid, _cause(exc))
            await self._call(
                Activities.notify_failed,
                NotifyFailedInput(incident_id=iid, phase="worsened", reason=_cause(exc)),
            )

    async def _await_approval(
        self, inp: RemediationInput, decision: Decision, diagnosis: Diagnosis
    ) -> Decision:
        """Wait for a human; an approval runs every gate again, it does not bypass them.

        The policy may have changed in the meantime: a freeze window opened, the day's
        actions ran out, the circuit breaker opened. Only overridable gates yield to it.
        """
        self._stage = "awaiting_approval"
        deadline = workflow.now() + timedelta(seconds=inp.approval_timeout_s)
        while self._approval is None:
            left = deadline - workflow.now()
            try:
                if left <= timedelta(0):
                    raise TimeoutError
                await workflow.wait_condition(self._answered_or_worse, timeout=left)
            except TimeoutError:
                self._approval = (False, f"no approval within {inp.approval_timeout_s:.0f} s")
                break
            while self._worse and self._approval is None:
                await self._tell_worse(self._worse.pop(0))
        approved, why = self._approval
        if not approved:
            return decision.model_copy(
                update={"approved": False, "needs_approval": False, "reason": why}
            )
        who = why.removeprefix("approved by ")
        redecided: Decision = await self._call(
            Activities.decide,
            DecideInput(
                incident_id=inp.incident_id,
                alert=inp.alert,
                diagnosis=diagnosis,
                approved_by=who,
            ),
        )
        return redecided

    async def _finish(
        self,
        iid: str,
        diagnosis: Diagnosis,
        status: OutcomeStatus,
        reason: str,
        decision: Decision | None = None,
        verification: Verification | None = None,
        *,
        teaches: bool = True,
    ) -> Outcome:
        self._stage = "notify"
        outcome = Outcome(
            incident_id=iid,
            pattern_id=diagnosis.pattern_id,
            status=status,
            reason=reason,
            verification=verification,
            finished_at=workflow.now(),
            teaches=teaches,
            action=diagnosis.remedy.action if diagnosis.remedy else None,
            pattern_version=diagnosis.pattern_version,
        )
        stored: Outcome | None = await self._call(
            Activities.close_incident,
            CloseInput(outcome=outcome, decision=decision, verification=verification),
        )
        if stored is not None:
            outcome = stored
        if workflow.patched(PATIENT_NOTIFY):
            await self._tell(iid, outcome.status)
        else:
            await self._call(
                Activities.notify, NotifyInput(incident_id=iid, status=outcome.status), retry=RETRY
            )
        self._stage = "closed"
        return outcome

    async def _tell(self, iid: str, status: OutcomeStatus) -> None:
        """Notify the outcome, retrying while channels are down for ``notify_patience_s``.

        The incident is closed and its outcome stored before this; a message that cannot
        be delivered in that time is recorded as ``notify.failed`` on the incident (and
        logged) instead of failing the workflow after half a minute, as it used to.
        """
        try:
            await workflow.execute_activity_method(
                Activities.notify,
                NotifyInput(incident_id=iid, status=status),
                start_to_close_timeout=SHORT_TIMEOUT,
                schedule_to_close_timeout=timedelta(seconds=self._notify_patience_s),
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as exc:
            await self._call(
                Activities.notify_failed,
                NotifyFailedInput(
                    incident_id=iid,
                    phase="outcome",
                    reason=f"not delivered within {self._notify_patience_s:g} s: {_cause(exc)}",
                ),
            )

    @staticmethod
    async def _call(  # type: ignore[no-untyped-def]
        fn,
        arg,
        *,
        timeout: timedelta = SHORT_TIMEOUT,
        retry: RetryPolicy = BOOKKEEPING_RETRY,
        heartbeat: timedelta | None = None,
    ):
        return await workflow.execute_activity_method(
            fn,
            arg,
            start_to_close_timeout=timeout,
            retry_policy=retry,
            heartbeat_timeout=heartbeat,
        )


def _cause(exc: ActivityError) -> str:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause or exc)


@workflow.defn
class WatcherWorkflow:
    """Scrape, detect and open incidents every ``interval_s``, forever.

    The series' detector states live in the store, a generation per sweep; the workflow
    carries the generation's number, so a sweep lost with its worker resumes on another
    from the same states, and the history stays small however many series are watched.
    ``continue_as_new`` bounds it.
    """

    @workflow.run
    async def run(self, inp: WatcherInput) -> int:
        states, scrape_state = dict(inp.states), dict(inp.scrape_state)
        suppressed = dict(inp.suppressed_until)
        generation, token = inp.generation, inp.state_token
        done = 0
        while inp.max_sweeps is None or done < inp.max_sweeps:
            now = workflow.now().timestamp()
            suppressed = {fp: until for fp, until in suppressed.items() if until > now}
            stored = workflow.patched(STATES_IN_STORE)
            try:
                result = await workflow.execute_activity_method(
                    Activities.sweep,
                    SweepInput(
                        states=states,
                        scrape_state=scrape_state,
                        suppressed=tuple(suppressed),
                        watcher=self._watcher_key() if stored else "",
                        generation=generation if stored else None,
                        token=token,
                    ),
                    start_to_close_timeout=sweep_timeout(inp.interval_s),
                    heartbeat_timeout=(
                        SWEEP_HEARTBEAT_TIMEOUT if workflow.patched(SWEEP_HEARTBEAT) else None
                    ),
                    retry_policy=RetryPolicy(maximum_attempts=3),
                )
            except ActivityError as exc:
                if isinstance(exc.cause, CancelledError):
                    raise
                workflow.logger.warning(
                    "sweep failed (%s); the next one runs with the same detector state",
                    _cause(exc),
                )
            else:
                states, scrape_state = result.states, result.scrape_state
                if result.generation is not None:
                    generation, token = result.generation, result.token
                for alert in result.alerts:
                    if alert.fingerprint in suppressed:
                        continue
                    suppressed[alert.fingerprint] = now + inp.window_s + inp.cooldown_s
                    await self._start_incident(alert, inp.window_s)
                for news in result.worsened:
                    await self._tell_incident(news)
            done += 1
            if self._history_full(done, inp) and (inp.max_sweeps is None or done < inp.max_sweeps):
                workflow.continue_as_new(
                    inp.model_copy(
                        update={
                            "states": states,
                            "scrape_state": scrape_state,
                            "suppressed_until": suppressed,
                            "generation": generation,
                            "state_token": token,
                            "max_sweeps": None if inp.max_sweeps is None else inp.max_sweeps - done,
                        }
                    )
                )
            await workflow.sleep(timedelta(seconds=inp.interval_s))
        return done

    @staticmethod
    async def _tell_incident(news: WorsenedInput) -> None:
        """Pass a more urgent alert to the incident waiting on its series; one that ended
        meanwhile has nobody left to tell."""
        handle = workflow.get_external_workflow_handle(workflow_id_for(news.incident_id))
        try:
            await handle.signal(RemediationWorkflow.worsened, news)
        except FailureError as exc:
            workflow.logger.info("%s not told it got worse: %s", news.incident_id, exc)

    @staticmethod
    def _watcher_key() -> str:
        """Whose states these are: namespaces sharing a store may reuse workflow ids."""
        info = workflow.info()
        return f"{info.namespace}/{info.workflow_id}"

    @staticmethod
    def _history_full(done: int, inp: WatcherInput) -> bool:
        """Time to continue as new: every ``iterations_per_run`` sweeps, or sooner when the
        history grows past its budget or Temporal suggests it."""
        if done % inp.iterations_per_run == 0:
            return True
        if not workflow.patched(HISTORY_BUDGET):
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_size() > inp.history_budget_bytes
        )

    @staticmethod
    async def _start_incident(alert: Alert, window_s: float) -> None:
        iid = incident_id_for(alert)
        try:
            await workflow.start_child_workflow(
                RemediationWorkflow.run,
                RemediationInput(incident_id=iid, alert=alert, window_s=window_s),
                id=workflow_id_for(iid),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("incident %s already exists; not started twice", iid)
