"""The githubkit client against GitHub's own API description served by Prism."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.servers.prism import PrismServer
from vanguard.ci.client import GithubkitApi, build_github_api
from vanguard.ci.config import GitHubConfig, PollConfig
from vanguard.ci.triage import IssueDraft
from vanguard.errors import ActionFailed, AdapterError, ConfigError

pytestmark = pytest.mark.integration

LOGS = Path(__file__).parents[2] / "fixtures" / "github" / "logs"


@pytest.fixture
def api(prism: PrismServer, monkeypatch: pytest.MonkeyPatch) -> GithubkitApi:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_test_token_value")
    config = GitHubConfig(api_url=prism.url, token_env="VANGUARD_TEST_GH_TOKEN")
    return build_github_api(config)


def test_rerun_failed_jobs_is_accepted_and_sent_once(api: GithubkitApi, prism: PrismServer) -> None:
    api.rerun_failed_jobs("octo-org/octo-repo", 30433642)
    (sent,) = prism.proxy.sent("POST", "/rerun-failed-jobs")
    assert sent.status == 201
    assert sent.path == "/repos/octo-org/octo-repo/actions/runs/30433642/rerun-failed-jobs"
    assert sent.headers.get("Authorization") == "token ghs_test_token_value"
    assert "application/vnd.github" in sent.headers.get("Accept", "")


def test_create_issue_is_201_and_parsed(api: GithubkitApi, prism: PrismServer) -> None:
    draft = IssueDraft(title="[vanguard] CI failure", body="lines", labels=("vanguard",))
    issue = api.create_issue("octo-org/octo-repo", draft)
    assert issue.number >= 1
    (sent,) = prism.proxy.sent("POST", "/issues")
    assert sent.status == 201
    assert sent.json() == {"title": draft.title, "body": "lines", "labels": ["vanguard"]}


def test_malformed_request_is_a_clear_action_failed(api: GithubkitApi, prism: PrismServer) -> None:
    with pytest.raises(ActionFailed, match=r"HTTP 422"):
        api.comment_issue("octo-org/octo-repo", 1, 123)  # type: ignore[arg-type]
    assert prism.proxy.sent("POST", "/comments")[0].status == 422


def test_bad_repository_name_never_reaches_github(api: GithubkitApi, prism: PrismServer) -> None:
    with pytest.raises(ActionFailed, match="owner/repo"):
        api.rerun_failed_jobs("not a repo", 1)
    assert prism.proxy.requests == []


def test_job_log_follows_the_redirect_and_streams_with_a_cap(
    prism: PrismServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_test_token_value")
    config = GitHubConfig(api_url=prism.url, token_env="VANGUARD_TEST_GH_TOKEN", log_max_bytes=4096)
    api = build_github_api(config)
    prism.logs.body = (LOGS / "network_econnreset.log").read_bytes() * 100
    data = b"".join(api.stream_job_log("octo-org/octo-repo", 399444496))
    assert len(data) == 4096
    assert data.startswith(b"2026-11-20T10:00:00")
    assert prism.proxy.sent("GET", "/actions/jobs/399444496/logs")[0].status == 302
    assert prism.logs.hits == 1


def test_runs_and_failed_jobs_parse_from_the_spec_examples(api: GithubkitApi) -> None:
    page = api.list_runs("octo-org/octo-repo", etag=None, per_page=10)
    assert page.runs is not None
    assert page.runs[0].id > 0
    run = api.get_run("octo-org/octo-repo", page.runs[0].id)
    assert run.head_sha
    (job,) = api.run_jobs("octo-org/octo-repo", run.id)
    assert job.id > 0


def test_jobs_of_one_attempt_are_asked_for_by_its_number(
    api: GithubkitApi, prism: PrismServer
) -> None:
    """The attempt a failure was delivered for, not the run's latest (``filter=latest``)."""
    (job,) = api.run_jobs("octo-org/octo-repo", 30433642, attempt=2)
    assert job.id > 0
    (sent,) = prism.proxy.sent("GET", "/attempts/2/jobs")
    assert sent.status == 200
    assert sent.path.startswith("/repos/octo-org/octo-repo/actions/runs/30433642/attempts/2/jobs")


def test_last_success_asks_for_one_branch_s_successes_and_trusts_only_a_success(
    api: GithubkitApi, prism: PrismServer
) -> None:
    """Prism checks the query against GitHub's description; its example run is ``queued``,
    which must not serve as a passing baseline even though ``status=success`` was asked."""
    assert api.last_success("octo-org/octo-repo", 159038, "release/1.x") is None
    (sent,) = prism.proxy.sent("GET", "/actions/workflows/159038/runs")
    assert sent.status == 200
    assert "status=success" in sent.path
    assert "branch=release%2F1.x" in sent.path
    assert "exclude_pull_requests=true" in sent.path


def test_conditional_request_sends_if_none_match(api: GithubkitApi, prism: PrismServer) -> None:
    api.list_runs("octo-org/octo-repo", etag='W/"abc"', per_page=5)
    (sent,) = prism.proxy.sent("GET", "/actions/runs")
    assert sent.headers.get("If-None-Match") == 'W/"abc"'
    assert "per_page=5" in sent.path


def test_forbidden_with_retry_after_blocks_the_budget(
    api: GithubkitApi, prism: PrismServer
) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    api.clock = lambda: now
    api.budget = api.budget.observe(now, 403, {"Retry-After": "120"})
    with pytest.raises(AdapterError, match="Retry-After 120 s"):
        api.get_run("octo-org/octo-repo", 1)
    assert prism.proxy.requests == []


def test_permission_lookup(api: GithubkitApi) -> None:
    assert api.permission("octo-org/octo-repo", "octocat") == "admin"


def test_missing_credentials_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no GitHub credentials"):
        build_github_api(GitHubConfig(poll=PollConfig()))


def test_placeholder_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "changeme")
    with pytest.raises(ConfigError, match="placeholder"):
        build_github_api(GitHubConfig(token_env="VANGUARD_TEST_GH_TOKEN"))


def test_spec_request_bodies_are_validated(prism: PrismServer) -> None:
    spec = json.loads((prism.root / "github-api.trim.json").read_text())
    assert "x-webhooks" not in spec
    assert len(spec["paths"]) >= 15


def test_github_app_installation_auth_exchanges_a_jwt_for_a_token(
    prism: PrismServer, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_file = tmp_path / "app.pem"
    key_file.write_bytes(pem)
    config = GitHubConfig.model_validate(
        {
            "api_url": prism.url,
            "app": {"app_id": 1234, "installation_id": 42, "private_key_file": str(key_file)},
        }
    )
    api = build_github_api(config)
    api.rerun_failed_jobs("octo-org/octo-repo", 30433642)
    (exchange,) = prism.proxy.sent("POST", "/app/installations/42/access_tokens")
    assert exchange.status == 201
    assert exchange.headers["Authorization"].startswith("Bearer ey")
    (rerun,) = prism.proxy.sent("POST", "/rerun-failed-jobs")
    assert rerun.headers["Authorization"].startswith("token ghs_")
