"""Human approval: it lets an action through, but never past a gate that closed meanwhile."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from typer.testing import CliRunner, Result

from tests.leaks import StartLeaky, hold_baseline, leak_alert, leak_settings, wait_for_incidents
from tests.notifiers import Refusing
from vanguard.cli.apps import app
from vanguard.config import Settings
from vanguard.decide import PolicyConfig
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.messages import ApplyInput, WorsenedInput
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.sweep import WORSENED
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import RETRY, RemediationWorkflow
from vanguard.errors import InputError
from vanguard.incident import IncidentState
from vanguard.model import ActionResult, Outcome, OutcomeStatus
from vanguard.notify import MemoryNotifier, Message
from vanguard.store import AuditEntry, AuditLog, IncidentRepo

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _asking(settings: Settings, **limits: int) -> Settings:
    """The settings with a policy that asks a person before any restart."""
    policy = PolicyConfig(
        min_confidence=0.6, require_approval_for=("supervisor.restart",), **limits
    )
    return settings.model_copy(update={"policy": policy})


async def _awaiting_approval(
    client: Client, runtime: Runtime, service: str, task_queue: str
) -> tuple[str, WorkflowHandle[RemediationWorkflow, Outcome]]:
    """Start an incident of ``service`` and return once it waits for a person."""
    incident_id, handle = await start_remediation(
        client, leak_alert(service, datetime.now(UTC)), task_queue=task_queue, window_s=1
    )
    assert handle is not None
    await wait_for_incidents(
        runtime.store, 1, timeout_s=60, until=lambda i: i.state is IncidentState.awaiting_approval
    )
    return incident_id, handle


async def _answer(
    settings: Settings, temporal: str, verb: str, incident_id: str, who: str
) -> Result:
    """``vanguard incidents VERB ID --by WHO`` against ``settings``' store and ``temporal``."""
    args = ["incidents", verb, incident_id, "--by", who]
    args += ["--store", settings.resolved_store_url(), "--temporal", temporal]
    return await asyncio.to_thread(CliRunner().invoke, app, args)


async def _asked(notifier: MemoryNotifier, count: int) -> list[Message]:
    """The approval requests sent so far, once ``count`` of them have arrived."""
    for _ in range(200):
        asked = [m for m in notifier.messages if m.title.startswith("[needs approval]")]
        if len(asked) >= count:
            return asked
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} approval requests expected: {notifier.messages}")


async def test_approval_acts_once_and_a_second_approval_meets_the_daily_limit(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["gated"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    settings = _asking(base, max_actions_per_service_per_day=1, max_actions_per_service_per_week=1)
    notifier = MemoryNotifier()
    runtime = build_runtime(settings, notifiers=[notifier])
    client = await connect(temporal_address)
    first_alert = leak_alert(svc.name, datetime.now(UTC))
    second_alert = leak_alert(svc.name, datetime.now(UTC))
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            first_id, first = await start_remediation(
                client, first_alert, task_queue=task_queue, window_s=1
            )
            second_id, second = await start_remediation(
                client, second_alert, task_queue=task_queue, window_s=1
            )
            assert first is not None
            assert second is not None
            await wait_for_incidents(
                runtime.store,
                2,
                timeout_s=60,
                until=lambda i: i.state is IncidentState.awaiting_approval,
            )
            assert svc.spawns() == 1, "nothing may happen before a human approves"
            asked = await _asked(notifier, 2)
            assert {m.incident_id for m in asked} == {first_id, second_id}
            for message in asked:
                assert f"vanguard incidents approve {message.incident_id}" in message.body
            await first.signal(RemediationWorkflow.approve, "alice")
            first_outcome = await first.result()
            await second.signal(RemediationWorkflow.approve, "bob")
            second_outcome = await second.result()
        with runtime.store.session() as session:
            repo = IncidentRepo(session)
            first_record = repo.get_record(first_id)
            second_record = repo.get_record(second_id)
    finally:
        runtime.close()

    assert first_outcome.status is OutcomeStatus.resolved
    assert second_outcome.status is OutcomeStatus.declined
    assert first_record is not None
    assert second_record is not None
    assert first_record.decision is not None
    assert first_record.decision.approved
    assert second_record.decision is not None
    assert not second_record.decision.approved
    failed = {v.gate for v in second_record.decision.verdicts if not v.passed}
    assert "rate_limit" in failed, second_record.decision.reason
    assert second_record.actions == ()
    assert svc.spawns() == 2, "exactly one restart: the second approval met the daily limit"
    titles = [m.title.split("]")[0] + "]" for m in notifier.messages]
    assert sorted(titles) == ["[declined]", "[needs approval]", "[needs approval]", "[resolved]"]


async def test_a_person_answers_from_the_command_line(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["asked"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    settings = _asking(base)
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)
    where = ["--store", settings.resolved_store_url(), "--temporal", temporal_address]

    async def answer(verb: str, incident_id: str, who: str) -> str:
        result = await _answer(settings, temporal_address, verb, incident_id, who)
        assert result.exit_code == 0, result.output
        return result.output

    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            started = [
                await start_remediation(
                    client,
                    leak_alert(svc.name, datetime.now(UTC)),
                    task_queue=task_queue,
                    window_s=1,
                )
                for _ in range(2)
            ]
            await wait_for_incidents(
                runtime.store,
                2,
                timeout_s=60,
                until=lambda i: i.state is IncidentState.awaiting_approval,
            )
            (first_id, first), (second_id, second) = started
            assert first is not None
            assert second is not None
            said = await answer("decline", first_id, "carol")
            assert f"{first_id} declined by carol" in said
            declined = await first.result()
            said = await answer("approve", second_id, "dave")
            assert "every gate runs again" in said
            approved = await second.result()
            refused = await asyncio.to_thread(
                CliRunner().invoke, app, ["incidents", "approve", first_id, *where]
            )
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(second_id)
    finally:
        runtime.close()

    assert declined.status is OutcomeStatus.declined
    assert "declined by carol" in declined.reason
    assert approved.status is OutcomeStatus.resolved
    assert record is not None
    assert any(e.payload.get("approved_by") == "dave" for e in record.audit)
    assert "not awaiting approval" in str(refused.exception)
    assert svc.spawns() == 2, "one restart: the approved incident's, not the declined one's"


async def test_a_channel_that_is_down_does_not_stop_the_wait_for_an_answer(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    (svc,) = leaky(["unasked"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = Refusing(lambda message, _: message.title.startswith("[needs approval]"))
    runtime = build_runtime(_asking(base), notifiers=[notifier])
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await _awaiting_approval(client, runtime, svc.name, task_queue)
            for _ in range(900):
                if notifier.refused >= RETRY.maximum_attempts:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
            assert await handle.query(RemediationWorkflow.stage) == "awaiting_approval"
            await handle.signal(RemediationWorkflow.approve, "erin")
            outcome = await handle.result()
        with runtime.store.session() as session:
            audit = AuditLog(session).entries(incident_id)
    finally:
        runtime.close()
    assert outcome.status is OutcomeStatus.resolved
    assert notifier.refused == RETRY.maximum_attempts
    assert [m.title.split("]")[0] for m in notifier.messages] == ["[resolved"]
    assert [e.payload.get("phase") for e in audit if e.kind == "notified"] == ["outcome"]
    assert svc.spawns() == 2


async def _answered_while_no_worker_ran(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    name: str,
    answers: list[tuple[bool, str]],
) -> tuple[Outcome, list[AuditEntry], int, Result]:
    """An incident of service ``name`` waits for a person; ``answers`` (approve?, who) are
    sent while no worker runs, then one runs it to the end. Also what ``vanguard incidents
    approve`` says to a blank ``--by`` afterwards."""
    (svc,) = leaky([name], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    runtime = build_runtime(_asking(base), notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await _awaiting_approval(client, runtime, svc.name, task_queue)
        for approve, who in answers:
            signal = RemediationWorkflow.approve if approve else RemediationWorkflow.decline
            await handle.signal(signal, who)
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            outcome = await handle.result()
        with runtime.store.session() as session:
            audit = AuditLog(session).entries(incident_id)
        blank = await _answer(base, temporal_address, "approve", incident_id, "  ")
    finally:
        runtime.close()
    return outcome, audit, svc.spawns(), blank


async def test_of_answers_sent_while_no_worker_ran_a_decline_wins_and_no_approval_undoes_it(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Alice approved, Mallory declined, Bob approved; all arrive together. The last answer
    used to win (Bob's); a decline is the safe side and an approval after it is ignored."""
    outcome, _, spawns, _ = await _answered_while_no_worker_ran(
        leaky,
        temporal_address,
        task_queue,
        tmp_path,
        "contested",
        [(True, "alice"), (False, "mallory"), (True, "bob")],
    )
    assert outcome.status is OutcomeStatus.declined, outcome.reason
    assert "declined by mallory" in outcome.reason
    assert spawns == 1, "nothing was restarted"


async def test_an_approval_that_names_nobody_is_ignored(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Any Temporal client can send the signal (the Web UI, ``temporal workflow signal``):
    a blank name used to count as the approval, and the audit trail named nobody."""
    outcome, audit, _, blank = await _answered_while_no_worker_ran(
        leaky, temporal_address, task_queue, tmp_path, "nameless", [(True, " "), (True, "bob")]
    )
    assert outcome.status is OutcomeStatus.resolved, outcome.reason
    approvals = [e.payload.get("approved_by") for e in audit if e.kind == "state.approved"]
    assert approvals == ["bob"]
    assert isinstance(blank.exception, InputError), blank.output
    assert "cannot be blank" in str(blank.exception)


async def test_a_decline_after_the_approval_stops_the_action_before_it_starts(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Alice approves; while the baseline is read before acting, Mallory declines. The
    decline was stored and never read: the action went ahead while ``decline`` had told
    Mallory nothing would be done. The incident is *approved* by then, which the command
    refused as not awaiting approval, so Mallory could not decline it at all."""
    (svc,) = leaky(["second-thoughts"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    runtime = build_runtime(_asking(base), notifiers=[MemoryNotifier()])
    baseline = hold_baseline(runtime)
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await _awaiting_approval(client, runtime, svc.name, task_queue)
            await handle.signal(RemediationWorkflow.approve, "alice")
            assert await asyncio.to_thread(baseline.started.wait, 60)
            declined = await _answer(base, temporal_address, "decline", incident_id, "mallory")
            baseline.release.set()
            outcome = await handle.result()
    finally:
        runtime.close()
    assert declined.exit_code == 0, declined.output
    assert f"{incident_id} declined by mallory: the action will not run" in (
        " ".join(declined.output.split())
    )
    assert outcome.status is OutcomeStatus.declined, outcome.reason
    assert "declined by mallory after the approval, before the action" in outcome.reason
    assert svc.spawns() == 1, "nothing was restarted"


async def test_a_decline_once_the_action_is_scheduled_fails_saying_it_came_too_late(
    leaky: StartLeaky,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An approved restart whose ``apply_action`` is scheduled (nothing begun yet, the store
    still says *approved*): the decline was dropped unheard while the command exited 0
    saying the incident would not act unless already under way, and the restart went
    ahead. Now the command fails saying it came too late, and the workflow keeps it."""
    (svc,) = leaky(["late-no"], 0.0)
    settings = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    started, release = threading.Event(), threading.Event()
    real = runtime.activities.apply_action

    @activity.defn(name="apply_action")
    def held_apply(inp: ApplyInput) -> ActionResult:
        started.set()
        assert release.wait(60), "the test let the action go on"
        return real(inp)

    runtime.activities.apply_action = held_apply  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING, logger="temporalio.workflow")
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await start_remediation(
                client, leak_alert(svc.name, datetime.now(UTC)), task_queue=task_queue, window_s=1
            )
            assert handle is not None
            assert await asyncio.to_thread(started.wait, 60)
            declined = await _answer(settings, temporal_address, "decline", incident_id, "mallory")
            late = await handle.query(RemediationWorkflow.late_decline)
            release.set()
            outcome = await handle.result()
    finally:
        release.set()
        runtime.close()
    assert declined.exit_code != 0
    assert isinstance(declined.exception, InputError)
    said = " ".join(str(declined.exception).split())
    assert f"decline of {incident_id} sent as mallory came too late" in said
    assert "will run (or ran)" in said
    assert f"vanguard incidents show {incident_id}" in said
    assert late == "declined by mallory"
    assert any("declined by mallory came too late" in r.getMessage() for r in caplog.records)
    assert outcome.status is OutcomeStatus.resolved, outcome.reason
    assert svc.spawns() == 2, "the action scheduled before the decline ran"


async def test_an_approval_says_when_an_earlier_answer_stands(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """Answers sent while no worker runs are read back from the workflow: an approval after
    another changes nothing, and one after a decline is refused, the decline standing."""
    (svc,) = leaky(["overruled"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    settings = _asking(base)
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)

    async def answer(verb: str, incident_id: str, who: str) -> Result:
        return await _answer(settings, temporal_address, verb, incident_id, who)

    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await _awaiting_approval(client, runtime, svc.name, task_queue)
        first = await answer("approve", incident_id, "alice")
        second = await answer("approve", incident_id, "carol")
        declined = await answer("decline", incident_id, "mallory")
        overruled = await answer("approve", incident_id, "bob")
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            outcome = await handle.result()
    finally:
        runtime.close()

    def said(result: Result) -> str:
        return " ".join(result.output.split())

    assert first.exit_code == 0, first.output
    assert f"approval of {incident_id} sent as alice: every gate runs again" in said(first)
    assert declined.exit_code == 0, declined.output
    assert overruled.exit_code != 0, overruled.output
    assert isinstance(overruled.exception, InputError)
    assert (
        f"approval of {incident_id} sent as bob, but a decline stands (declined by mallory)"
        in str(overruled.exception)
    )
    assert "the incident will not act" in str(overruled.exception)
    assert second.exit_code == 0, second.output
    assert f"{incident_id} was already approved by alice; the approval sent as carol" in said(
        second
    )
    assert outcome.status is OutcomeStatus.declined
    assert "declined by mallory" in outcome.reason
    assert svc.spawns() == 1, "nothing was restarted"


async def test_an_incident_whose_workflow_ended_is_no_longer_awaiting_approval(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The store still says it waits (no worker recorded the end); the workflow says not."""
    (svc,) = leaky(["ended"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    settings = _asking(base)
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    client = await connect(temporal_address)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await _awaiting_approval(client, runtime, svc.name, task_queue)
        await handle.terminate("cleaned up by hand")
        refused = await _answer(settings, temporal_address, "approve", incident_id, "alice")
    finally:
        runtime.close()
    assert isinstance(refused.exception, InputError), refused.output
    assert f"incident {incident_id} is no longer awaiting approval: its workflow has ended " in (
        str(refused.exception)
    )
    assert "(terminated)" in str(refused.exception)


async def _told_worse(notifier: MemoryNotifier) -> Message:
    """The first message that says the incident got worse, once it has arrived."""
    for _ in range(200):
        worse = [m for m in notifier.messages if "(worse: " in m.title]
        if worse:
            return worse[0]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no message that it got worse: {notifier.messages}")


async def test_people_asked_are_told_once_when_it_gets_worse_while_it_waits(
    leaky: StartLeaky, temporal_address: str, task_queue: str, tmp_path: Path
) -> None:
    """The forecast a person was asked about came true: they hear of it while the answer
    is still theirs, once however often the watcher passes it on, and the wait goes on."""
    (svc,) = leaky(["worse"], 0.0)
    base = leak_settings(
        tmp_path, [svc], temporal=temporal_address, task_queue=task_queue, window_s=1
    )
    notifier = MemoryNotifier()
    runtime = build_runtime(_asking(base), notifiers=[notifier])
    client = await connect(temporal_address)
    breach = leak_alert(svc.name, datetime.now(UTC), level_mb=700).model_copy(
        update={"attributes": {"kind": "breach"}, "summary": "rss 700 MiB, over its 600 MiB"}
    )
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id, handle = await _awaiting_approval(client, runtime, svc.name, task_queue)
            await _asked(notifier, 1)
            news = WorsenedInput(incident_id=incident_id, alert=breach)
            for _ in range(3):
                await handle.signal(RemediationWorkflow.worsened, news)
            worse = await _told_worse(notifier)
            assert await handle.query(RemediationWorkflow.stage) == "awaiting_approval"
            await handle.signal(RemediationWorkflow.decline, "carol")
            outcome = await handle.result()
        with runtime.store.session() as session:
            told = AuditLog(session).entries_of([incident_id], (WORSENED,))
    finally:
        runtime.close()
    assert outcome.status is OutcomeStatus.declined
    assert [m.title for m in notifier.messages if "(worse: " in m.title] == [worse.title]
    assert worse.title == f"[needs approval] {svc.name} process_resident_memory_bytes: " + (
        "memory_leak_gradual (worse: breach)"
    )
    assert worse.body.startswith("Worse while it waits for your answer\n  rss 700 MiB, over")
    assert f"vanguard incidents approve {incident_id}" in worse.body
    assert [e.payload["kind"] for e in told] == ["breach"]
    assert svc.spawns() == 1, "the answer is still the person's: nothing was done"
