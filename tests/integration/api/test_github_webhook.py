"""The GitHub webhook endpoint of the real FastAPI app, with GitHub's API served by Prism."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.integration.ci.helpers import (
    SECRET,
    RecordingStarter,
    failed_run,
    github_app,
    headers,
    log_bytes,
    payload,
)
from tests.servers.prism import PrismServer
from vanguard.act.github import GitHubContext
from vanguard.api import create_app
from vanguard.api.github import install_github, intake_from_settings
from vanguard.ci.client import build_github_api
from vanguard.ci.config import GitHubConfig, PollConfig
from vanguard.ci.events import MAX_BODY_BYTES, sign
from vanguard.ci.intake import CiIntake
from vanguard.ci.records import CiRepo
from vanguard.config import Settings
from vanguard.errors import AdapterError, ConfigError
from vanguard.model import Alert
from vanguard.store import Store

pytestmark = pytest.mark.integration

URL = "/webhooks/github"


@pytest.fixture
def config(prism: PrismServer, monkeypatch: pytest.MonkeyPatch) -> GitHubConfig:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_webhook_test_token")
    return GitHubConfig(api_url=prism.url, token_env="VANGUARD_TEST_GH_TOKEN")


@pytest.fixture
def starter() -> RecordingStarter:
    return RecordingStarter()


@pytest.fixture
def client(store: Store, config: GitHubConfig, starter: RecordingStarter) -> TestClient:
    app, _ = github_app(store, build_github_api(config), config, starter)
    return TestClient(app)


def _status(store: Store, delivery: str) -> tuple[str, str] | None:
    with store.session() as session:
        row = CiRepo(session).delivery(delivery)
        return (row.status, row.reason) if row else None


def test_good_signature_failed_run_starts_one_incident(
    client: TestClient, store: Store, prism: PrismServer, starter: RecordingStarter
) -> None:
    prism.logs.body = log_bytes("network_econnreset")
    body = json.dumps(failed_run("octo-org/octo-repo", 4242)).encode()
    answer = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-1"))
    assert answer.status_code == 202, answer.json()
    assert answer.json()["status"] == "accepted"
    (alert,) = starter.alerts
    assert alert.service_name == "octo-org/octo-repo"
    assert alert.labels["category"] == "network_transient"
    assert alert.labels["heal"] == "rerun"
    assert alert.labels["run_id"] == "4242"
    assert answer.json()["incident_id"] == f"inc-{alert.alert_id}"
    assert _status(store, "d-1") == ("accepted", answer.json()["reason"])
    assert prism.proxy.sent("GET", "/actions/runs/4242/attempts/1/jobs")[0].status == 200
    assert prism.logs.hits == 1


def test_duplicate_delivery_does_nothing_the_second_time(
    client: TestClient, prism: PrismServer, starter: RecordingStarter
) -> None:
    prism.logs.body = log_bytes("network_econnreset")
    body = json.dumps(failed_run("octo-org/octo-repo", 4243)).encode()
    first = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-2"))
    calls = len(prism.proxy.requests)
    second = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-2"))
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert len(starter.alerts) == 1
    assert len(prism.proxy.requests) == calls


def test_duplicate_is_remembered_across_app_instances(
    store: Store, config: GitHubConfig, starter: RecordingStarter
) -> None:
    body = json.dumps(payload("workflow_run.completed.success")).encode()
    for _ in range(2):
        app, _ = github_app(store, build_github_api(config), config, starter)
        last = TestClient(app).post(
            URL, content=body, headers=headers("workflow_run", body, delivery="d-3")
        )
    assert last.json()["status"] == "duplicate"


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=" + "0" * 64, "sha1=abc", sign(b"another-secret", b"{}")],
)
def test_bad_or_missing_signature_is_401_and_nothing_is_stored(
    client: TestClient, store: Store, signature: str | None
) -> None:
    body = json.dumps(payload("workflow_run.completed.success")).encode()
    sent = headers("workflow_run", body, delivery="d-bad")
    if signature is None:
        del sent["X-Hub-Signature-256"]
    else:
        sent["X-Hub-Signature-256"] = signature
    answer = client.post(URL, content=body, headers=sent)
    assert answer.status_code == 401
    assert _status(store, "d-bad") is None


def test_signature_over_other_bytes_is_401(client: TestClient) -> None:
    body = json.dumps(payload("workflow_run.completed.success")).encode()
    sent = headers("workflow_run", body)
    answer = client.post(URL, content=body + b" ", headers=sent)
    assert answer.status_code == 401


def test_malformed_json_is_recorded_as_rejected(client: TestClient, store: Store) -> None:
    body = b'{"action": "completed", "workflow_run": '
    answer = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-4"))
    assert answer.status_code == 400
    status, reason = _status(store, "d-4") or ("", "")
    assert status == "rejected"
    assert "not JSON" in reason


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"[1, 2]", "not an object"),
        (b'{"action": "completed"}', "missing repository, workflow_run"),
        (b'{"repository": {"full_name": "o/r"}, "workflow_run": {"id": "x"}}', "malformed"),
        (b"\xff\xfe\x00binary junk\x00", "not JSON"),
    ],
)
def test_unusable_payloads_are_rejected_with_a_reason(
    client: TestClient, store: Store, body: bytes, expected: str
) -> None:
    answer = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-5"))
    assert answer.status_code == 400
    assert expected in answer.json()["reason"]
    assert _status(store, "d-5") == ("rejected", answer.json()["reason"])


def test_json_nested_past_the_parser_is_rejected_not_a_500(
    client: TestClient, store: Store
) -> None:
    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    answer = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-6"))
    assert answer.status_code == 400
    assert _status(store, "d-6") == ("rejected", answer.json()["reason"])


def test_an_id_too_large_to_store_is_rejected_not_failed(client: TestClient, store: Store) -> None:
    data = failed_run("octo-org/octo-repo", 4242)
    data["workflow_run"]["id"] = 10**30
    body = json.dumps(data).encode()
    answer = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="d-7"))
    assert answer.status_code == 400
    status, reason = _status(store, "d-7") or ("", "")
    assert status == "rejected"
    assert "workflow_run.id" in reason


def test_a_chunked_body_over_the_limit_is_413_before_it_is_all_read(
    client: TestClient, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """No ``Content-Length`` (``tests/unit/api/test_bodies.py`` shows reading stops), logged."""
    chunk = b"A" * (1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    caplog.set_level(logging.WARNING, logger="vanguard.api.github")
    answer = client.post(
        URL,
        content=chunks(),
        headers={"X-GitHub-Event": "workflow_run", "X-GitHub-Delivery": "d-8"},
    )
    assert answer.status_code == 413
    assert _status(store, "d-8") is None
    assert any("'d-8'" in r.getMessage() and "413" not in r.getMessage() for r in caplog.records)


def test_unknown_event_is_acknowledged_and_recorded(client: TestClient, store: Store) -> None:
    body = json.dumps({"zen": "Keep it logically awesome."}).encode()
    answer = client.post(URL, content=body, headers=headers("star", body, delivery="d-6"))
    assert answer.status_code == 202
    assert _status(store, "d-6") == ("ignored", "event 'star' is not one the CI agent handles")


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ("workflow_job", "workflow_job.completed.failure"),
        ("check_run", "check_run.completed.failure"),
        ("issues", "issues.opened"),
        ("issue_comment", "issue_comment.created"),
        ("workflow_run", "workflow_run.requested"),
        ("workflow_run", "workflow_run.completed.success"),
        ("ping", "ping"),
    ],
)
def test_real_example_payloads_are_handled(
    client: TestClient, starter: RecordingStarter, event: str, name: str
) -> None:
    body = json.dumps(payload(name)).encode()
    answer = client.post(URL, content=body, headers=headers(event, body))
    assert answer.status_code == 202, answer.json()
    assert answer.json()["status"] in {"accepted", "ignored"}
    assert starter.alerts == []


def test_compile_failure_is_triaged_never_rerun(
    client: TestClient, prism: PrismServer, starter: RecordingStarter
) -> None:
    prism.logs.body = log_bytes("compile_rust")
    body = json.dumps(failed_run("octo-org/octo-repo", 5001)).encode()
    answer = client.post(URL, content=body, headers=headers("workflow_run", body))
    assert answer.status_code == 202
    (alert,) = starter.alerts
    assert alert.labels["category"] == "compile"
    assert alert.labels["heal"] == "triage"
    assert alert.confidence == 1.0


def test_huge_binary_log_is_read_through_and_its_tail_explained(
    store: Store, prism: PrismServer, config: GitHubConfig, starter: RecordingStarter
) -> None:
    small = config.model_copy(update={"log_tail_bytes": 64 * 1024})
    app, _ = github_app(store, build_github_api(small), small, starter)
    prism.logs.body = b"\x00\xff junk \x1b[31m" * 300_000 + log_bytes("network_econnreset")
    body = json.dumps(failed_run("octo-org/octo-repo", 5002)).encode()
    answer = TestClient(app).post(URL, content=body, headers=headers("workflow_run", body))
    assert answer.status_code == 202, answer.json()
    (alert,) = starter.alerts
    assert alert.labels["category"] == "network_transient"
    assert prism.logs.hits == 1


def test_download_cap_stops_a_log_that_never_ends(
    store: Store, prism: PrismServer, config: GitHubConfig, starter: RecordingStarter
) -> None:
    capped = config.model_copy(update={"log_max_bytes": 64 * 1024})
    app, _ = github_app(store, build_github_api(capped), capped, starter)
    prism.logs.body = log_bytes("compile_rust") + b"more output\n" * 100_000
    body = json.dumps(failed_run("octo-org/octo-repo", 5004)).encode()
    answer = TestClient(app).post(URL, content=body, headers=headers("workflow_run", body))
    assert answer.status_code == 202, answer.json()
    (alert,) = starter.alerts
    assert alert.labels["category"] == "compile"


def test_unconfigured_server_refuses_with_503(store: Store) -> None:
    body = b"{}"
    answer = TestClient(create_app(store)).post(URL, content=body, headers=headers("ping", body))
    assert answer.status_code == 503


def test_unwatched_repository_is_ignored(
    store: Store, config: GitHubConfig, starter: RecordingStarter
) -> None:
    only = config.model_copy(update={"repositories": ("someone/else",)})
    app, _ = github_app(store, build_github_api(only), only, starter)
    body = json.dumps(failed_run("octo-org/octo-repo", 5003)).encode()
    answer = TestClient(app).post(URL, content=body, headers=headers("workflow_run", body))
    assert answer.json()["status"] == "ignored"
    assert starter.alerts == []


def test_slow_handling_answers_202_in_time_and_finishes_after(
    store: Store, config: GitHubConfig, prism: PrismServer
) -> None:
    class SlowStarter(RecordingStarter):
        async def __call__(self, alert: Alert) -> tuple[str, bool]:
            await asyncio.sleep(3.0)
            return await super().__call__(alert)

    slow = SlowStarter()
    app = create_app(store, starter=slow)
    install_github(
        app, CiIntake(store, build_github_api(config), config, slow), SECRET, answer_within_s=0.2
    )
    prism.logs.body = log_bytes("network_econnreset")
    body = json.dumps(failed_run("octo-org/octo-repo", 5005)).encode()
    with TestClient(app) as client:
        started = time.monotonic()
        answer = client.post(
            URL, content=body, headers=headers("workflow_run", body, delivery="s1")
        )
        assert time.monotonic() - started < 2.5, "answered before the 3 s start finished"
        assert answer.status_code == 202
        assert answer.json()["status"] == "received"
        deadline = time.monotonic() + 10
        while _status(store, "s1") == ("received", "being handled") and time.monotonic() < deadline:
            time.sleep(0.05)
    status, _ = _status(store, "s1") or ("", "")
    assert status == "accepted"
    assert len(slow.alerts) == 1


def test_intake_from_settings_resolves_secrets_and_needs_a_starter(
    store: Store, prism: PrismServer, config: GitHubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_HOOK_SECRET", SECRET.decode())
    settings = Settings(
        github=config.model_copy(update={"webhook_secret_env": "VANGUARD_TEST_HOOK_SECRET"})
    )
    app = create_app(store)
    intake_from_settings(app, settings, store)
    prism.logs.body = log_bytes("compile_rust")
    body = json.dumps(failed_run("octo-org/octo-repo", 5006)).encode()
    answer = TestClient(app).post(URL, content=body, headers=headers("workflow_run", body))
    assert answer.status_code == 503
    assert "no incident starter" in answer.json()["reason"]


def test_the_intakes_and_the_adapters_of_every_process_spend_one_hourly_cap(
    store: Store, config: GitHubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``poll.calls_per_hour`` is the store's: ``vanguard up`` and a second process (a cron
    poller, its own settings loaded) spend one cap, and its last ``reserve`` calls are left
    to the adapters' re-runs and issues, whatever the intakes spent."""
    monkeypatch.setenv("VANGUARD_TEST_HOOK_SECRET", SECRET.decode())
    settings = Settings(
        github=config.model_copy(
            update={
                "webhook_secret_env": "VANGUARD_TEST_HOOK_SECRET",
                "poll": PollConfig(calls_per_hour=10, reserve=2),
            }
        )
    )
    intake = intake_from_settings(create_app(store), settings, store)
    elsewhere = intake_from_settings(create_app(store), settings.model_copy(deep=True), store)
    context = GitHubContext(settings, store)
    try:
        for _ in range(4):
            intake.api.list_runs("octo-org/octo-repo", etag=None, per_page=1)
            elsewhere.api.list_runs("octo-org/octo-repo", etag=None, per_page=1)
        with pytest.raises(AdapterError, match="the last 2 are kept for re-runs and issues"):
            elsewhere.api.list_runs("octo-org/octo-repo", etag=None, per_page=1)
        for _ in range(2):
            context.api().get_run("octo-org/octo-repo", 30433642)
        with pytest.raises(AdapterError, match="own budget of 10 calls per hour spent; retry at"):
            context.api().get_run("octo-org/octo-repo", 30433642)
    finally:
        context.close()


def test_intake_from_settings_refuses_a_placeholder_secret(
    store: Store, config: GitHubConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_HOOK_SECRET", "changeme")
    settings = Settings(
        github=config.model_copy(update={"webhook_secret_env": "VANGUARD_TEST_HOOK_SECRET"})
    )
    with pytest.raises(ConfigError, match="placeholder"):
        intake_from_settings(create_app(store), settings, store)


def test_an_engine_error_answers_503_and_the_redelivery_is_processed(
    store: Store, config: GitHubConfig, prism: PrismServer
) -> None:
    class DownStarter(RecordingStarter):
        down = True

        async def __call__(self, alert: Alert) -> tuple[str, bool]:
            if self.down:
                raise ConnectionRefusedError("Temporal at 127.0.0.1:1 refused the connection")
            return await super().__call__(alert)

    starter = DownStarter()
    app, _ = github_app(store, build_github_api(config), config, starter)
    client = TestClient(app)
    prism.logs.body = log_bytes("network_econnreset")
    body = json.dumps(failed_run("octo-org/octo-repo", 5007)).encode()
    first = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="e1"))
    assert first.status_code == 503
    assert "ConnectionRefusedError" in first.json()["reason"]
    assert _status(store, "e1") == ("failed", first.json()["reason"])
    starter.down = False
    again = client.post(URL, content=body, headers=headers("workflow_run", body, delivery="e1"))
    assert again.status_code == 202, again.json()
    assert len(starter.alerts) == 1


async def test_close_finishes_what_was_still_being_handled_when_the_server_stopped(
    store: Store, config: GitHubConfig, prism: PrismServer
) -> None:
    class SlowStarter(RecordingStarter):
        async def __call__(self, alert: Alert) -> tuple[str, bool]:
            await asyncio.sleep(0.5)
            return await super().__call__(alert)

    slow = SlowStarter()
    app = create_app(store, starter=slow)
    intake = CiIntake(store, build_github_api(config), config, slow)
    install_github(app, intake, SECRET, answer_within_s=0.05)
    prism.logs.body = log_bytes("network_econnreset")
    body = json.dumps(failed_run("octo-org/octo-repo", 5008)).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vanguard") as http:
        answer = await http.post(
            URL, content=body, headers=headers("workflow_run", body, delivery="c1")
        )
    assert answer.status_code == 202
    assert answer.json()["status"] == "received"
    assert intake.pending == 1
    await intake.close()
    assert intake.pending == 0
    status, _ = _status(store, "c1") or ("", "")
    assert status == "accepted"
    assert len(slow.alerts) == 1
