"""Whole CI incidents through Temporal: a signed delivery in, GitHub (Prism) calls out."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client
from typer.testing import CliRunner

from tests.integration.ci.helpers import SECRET, failed_run, headers, log_bytes
from tests.leaks import wait_for_incidents
from tests.servers.prism import PrismServer
from vanguard.api import create_app
from vanguard.api.github import WEBHOOK_PATH, install_github
from vanguard.ci.client import build_github_api
from vanguard.ci.config import GitHubConfig, HealingConfig
from vanguard.ci.intake import CiIntake
from vanguard.cli.apps import app as cli
from vanguard.config import Settings, TemporalConfig, VerificationConfig
from vanguard.decide import PolicyConfig
from vanguard.engine.activities import apply_key
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import RemediationWorkflow, workflow_id_for
from vanguard.incident import IncidentState
from vanguard.model import Alert, OutcomeStatus
from vanguard.notify import MemoryNotifier
from vanguard.store import AuditLog, IncidentRecord, IncidentRepo, PauseRepo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

REPO = "octo-org/octo-repo"


def _settings(tmp_path: Path, prism: PrismServer, temporal: str, task_queue: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        temporal=TemporalConfig(address=temporal, task_queue=task_queue),
        policy=PolicyConfig(),
        verification=VerificationConfig(window_s=1, sample_interval_s=0.2),
        github=GitHubConfig(api_url=prism.url, token_env="VANGUARD_TEST_GH_TOKEN"),
    )


def _stored(settings: Settings, incident_id: str) -> IncidentRecord | None:
    """The incident as the store holds it once its workflow has finished."""
    store = build_runtime(settings, notifiers=[]).store
    try:
        with store.session() as session:
            return IncidentRepo(session).get_record(incident_id)
    finally:
        store.close()


async def _webhook_app(
    runtime: Runtime, github: GitHubConfig, temporal_address: str, task_queue: str
) -> tuple[FastAPI, Client]:
    """The API with its GitHub webhook, starting each incident's workflow on ``task_queue``
    through the Temporal client it returns too (for the test's worker)."""
    client = await connect(temporal_address)

    async def starter(alert: Alert) -> tuple[str, bool]:
        incident_id, handle = await start_remediation(
            client, alert, task_queue=task_queue, window_s=1
        )
        return incident_id, handle is not None

    app = create_app(runtime.store, starter=starter)
    intake = CiIntake(runtime.store, build_github_api(github), github, starter)
    install_github(app, intake, SECRET)
    return app, client


async def _deliver_and_settle(
    tmp_path: Path,
    prism: PrismServer,
    temporal_address: str,
    task_queue: str,
    log_name: str,
    run_id: int,
) -> tuple[list[httpx.Response], str]:
    prism.logs.body = log_bytes(log_name)
    settings = _settings(tmp_path, prism, temporal_address, task_queue)
    assert settings.github is not None
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    app, client = await _webhook_app(runtime, settings.github, temporal_address, task_queue)
    body = json.dumps(failed_run(REPO, run_id)).encode()
    answers: list[httpx.Response] = []
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://vanguard") as http:
                for delivery in ("e2e-1", "e2e-1", "e2e-2"):
                    answers.append(
                        await http.post(
                            WEBHOOK_PATH,
                            content=body,
                            headers=headers("workflow_run", body, delivery=delivery),
                        )
                    )
            (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=90)
        return answers, incident.incident_id
    finally:
        runtime.close()


async def test_network_failure_is_rerun_exactly_once(
    prism: PrismServer,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_e2e_token_value")
    prism.proxy.runs[777001] = {"run_attempt": 1, "status": "completed", "conclusion": "failure"}
    answers, incident_id = await _deliver_and_settle(
        tmp_path, prism, temporal_address, task_queue, "network_econnreset", 777001
    )
    assert [a.status_code for a in answers] == [202, 200, 202]
    assert answers[0].json()["incident_id"] == incident_id
    assert answers[2].json()["incident_id"] == incident_id
    record = _stored(_settings(tmp_path, prism, temporal_address, task_queue), incident_id)
    assert record is not None
    assert record.diagnosis is not None
    assert record.diagnosis.pattern_id == "ci_rerun"
    assert record.outcome is not None
    assert record.outcome.status is OutcomeStatus.resolved, record.outcome.reason
    (action,) = record.actions
    assert action.action == "github.rerun"
    assert action.before == {"repository": REPO, "run_id": 777001, "run_attempt": 1}
    (rerun,) = prism.proxy.sent("POST", "/rerun-failed-jobs")
    assert rerun.path == f"/repos/{REPO}/actions/runs/777001/rerun-failed-jobs"
    assert rerun.status == 201
    assert prism.proxy.sent("POST", "/issues") == []


async def test_compile_failure_opens_an_issue_and_is_never_rerun(
    prism: PrismServer,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_e2e_token_value")
    answers, incident_id = await _deliver_and_settle(
        tmp_path, prism, temporal_address, task_queue, "compile_rust", 777002
    )
    assert [a.status_code for a in answers] == [202, 200, 202]
    record = _stored(_settings(tmp_path, prism, temporal_address, task_queue), incident_id)
    assert record is not None
    assert record.diagnosis is not None
    assert record.diagnosis.pattern_id == "ci_triage"
    assert record.outcome is not None
    assert record.outcome.status is OutcomeStatus.resolved, record.outcome.reason
    (action,) = record.actions
    assert action.action == "github.triage"
    assert action.after["created"] is True
    assert prism.proxy.sent("POST", "/rerun-failed-jobs") == []
    (created,) = [r for r in prism.proxy.sent("POST", "/issues") if r.path.endswith("/issues")]
    assert created.status == 201
    issue = created.json()
    assert issue["title"].startswith("[vanguard] CI failure: compile:")
    assert "vanguard-fp:" + record.incident.alert.labels["fingerprint"] in issue["labels"]
    assert "error[E0425]: cannot find value 'totl' in this scope" in issue["body"]
    link = f"https://github.com/{REPO}/actions/runs/777002"
    assert "#777002 attempt 1 at `" in issue["body"]
    assert f": {link}\n" in issue["body"], "the issue links the failed run"


def _waiting_settings(
    tmp_path: Path, prism: PrismServer, temporal: str, task_queue: str, max_wait_s: float
) -> Settings:
    """The settings with re-runs held back ``max_wait_s`` at most after a failure."""
    base = _settings(tmp_path, prism, temporal, task_queue)
    assert base.github is not None
    github = base.github.model_copy(update={"healing": HealingConfig(max_wait_s=max_wait_s)})
    return base.model_copy(update={"github": github})


async def _failed_just_now(app: FastAPI, run_id: int) -> str:
    """Deliver the failure of run ``run_id`` as of now (its backoff still ahead); the
    incident's id."""
    body = failed_run(REPO, run_id)
    body["workflow_run"]["updated_at"] = datetime.now(UTC).isoformat()
    raw = json.dumps(body).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vanguard") as http:
        answer = await http.post(WEBHOOK_PATH, content=raw, headers=headers("workflow_run", raw))
    assert answer.status_code == 202, answer.text
    assert "rerun" in answer.json()["reason"]
    return str(answer.json()["incident_id"])


async def _in_backoff(client: Client, runtime: Runtime, incident_id: str) -> None:
    """Return once the incident's workflow waits out the re-run's backoff."""
    await wait_for_incidents(
        runtime.store, 1, timeout_s=60, until=lambda i: i.state is IncidentState.approved
    )
    handle = client.get_workflow_handle(workflow_id_for(incident_id))
    for _ in range(300):
        if await handle.query(RemediationWorkflow.stage) == "deferred":
            return
        await asyncio.sleep(0.1)
    pytest.fail("the re-run never waited out its backoff")


async def test_a_pause_during_the_backoff_stops_the_rerun(
    prism: PrismServer,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen live: the gates passed, a person paused automation during the re-run's backoff,
    and the re-run was POSTed 18 s later. The wait now comes first: declined, no POST."""
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_e2e_token_value")
    prism.logs.body = log_bytes("network_econnreset")
    prism.proxy.runs[777003] = {"run_attempt": 1, "status": "completed", "conclusion": "failure"}
    settings = _waiting_settings(tmp_path, prism, temporal_address, task_queue, max_wait_s=10)
    assert settings.github is not None
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    app, client = await _webhook_app(runtime, settings.github, temporal_address, task_queue)
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id = await _failed_just_now(app, 777003)
            await _in_backoff(client, runtime, incident_id)
            with runtime.store.session() as session:
                PauseRepo(session).pause(
                    service=None,
                    reason="registry maintenance",
                    by="erin",
                    now=datetime.now(UTC),
                )
            (incident,) = await wait_for_incidents(runtime.store, 1, timeout_s=90)
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident.incident_id)
            kinds = [e.kind for e in AuditLog(session).entries(incident.incident_id)]
        fence = runtime.activities.ledger.get(apply_key(incident.incident_id))
    finally:
        runtime.close()
    assert record is not None
    assert record.outcome is not None
    assert record.outcome.status is OutcomeStatus.declined, record.outcome.reason
    assert "automation paused on every service by erin" in record.outcome.reason
    assert record.actions == ()
    assert "decision.withheld" in kinds
    assert fence is not None
    assert fence.fenced
    assert prism.proxy.sent("POST", "/rerun-failed-jobs") == []


async def test_a_decline_during_the_backoff_stops_the_rerun(
    prism: PrismServer,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wait ran inside the action, out of a decline's reach: a re-run declined during
    its backoff was POSTed once the backoff ended, and the incident resolved. The workflow
    waits now, and hears it. The worker stops during the wait and the decline is sent
    while none runs: the wait outlives its worker."""
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_e2e_token_value")
    prism.logs.body = log_bytes("network_econnreset")
    prism.proxy.runs[777004] = {"run_attempt": 1, "status": "completed", "conclusion": "failure"}
    settings = _waiting_settings(tmp_path, prism, temporal_address, task_queue, max_wait_s=60)
    assert settings.github is not None
    runtime = build_runtime(settings, notifiers=[MemoryNotifier()])
    app, client = await _webhook_app(runtime, settings.github, temporal_address, task_queue)
    args = ["incidents", "decline", "--by", "mallory", "--store", settings.resolved_store_url()]
    try:
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            incident_id = await _failed_just_now(app, 777004)
            await _in_backoff(client, runtime, incident_id)
        declined = await asyncio.to_thread(
            CliRunner().invoke, cli, [*args, incident_id, "--temporal", temporal_address]
        )
        async with build_worker(client, runtime.activities, task_queue=task_queue):
            handle = client.get_workflow_handle_for(
                RemediationWorkflow.run, workflow_id_for(incident_id)
            )
            outcome = await handle.result()
        with runtime.store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
            audit = AuditLog(session).entries(incident_id)
        begun = runtime.activities.ledger.get(apply_key(incident_id))
    finally:
        runtime.close()
    assert declined.exit_code == 0, declined.output
    assert f"{incident_id} declined by mallory" in declined.output
    assert outcome.status is OutcomeStatus.declined, outcome.reason
    assert "declined by mallory" in outcome.reason
    assert record is not None
    assert record.actions == ()
    (closed,) = [e for e in audit if e.kind == "state.declined"]
    assert "declined by mallory" in str(closed.payload["reason"])
    assert "decision.rechecked" not in [e.kind for e in audit], "the action never started"
    assert begun is None, "nothing was begun"
    assert prism.proxy.sent("POST", "/rerun-failed-jobs") == []
