"""The poller against Prism: conditional listing headers, budget, nothing started twice."""

from __future__ import annotations

import pytest

from tests.integration.ci.helpers import RecordingStarter
from tests.servers.prism import PrismServer
from vanguard.ci.client import build_github_api
from vanguard.ci.config import GitHubConfig, PollConfig
from vanguard.ci.intake import CiIntake
from vanguard.ci.poller import poll_once
from vanguard.ci.records import CiRepo
from vanguard.store import Store

pytestmark = pytest.mark.integration


async def test_poll_lists_each_repository_conditionally(
    prism: PrismServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_poll_token_value")
    config = GitHubConfig(
        api_url=prism.url,
        token_env="VANGUARD_TEST_GH_TOKEN",
        repositories=("octo-org/one", "octo-org/two"),
        poll=PollConfig(per_page=7, calls_per_hour=10, reserve=0),
    )
    api = build_github_api(config, store=store)
    starter = RecordingStarter()
    intake = CiIntake(store, api, config, starter)
    with store.session() as session:
        CiRepo(session).save_poll_etag("octo-org/two", 'W/"seen"', at=api.clock())
    report = await poll_once(api, intake, config)
    assert set(report.outcomes) == {"octo-org/one", "octo-org/two"}
    one, two = prism.proxy.sent("GET", "/actions/runs")
    assert one.path.startswith("/repos/octo-org/one/actions/runs?")
    assert "status=completed" in one.path
    assert "per_page=7" in one.path
    assert "If-None-Match" not in one.headers
    assert two.headers["If-None-Match"] == 'W/"seen"'
    assert starter.alerts == []


async def test_spent_budget_skips_polls_without_calling_github(
    prism: PrismServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget is the store's: what another process spent is spent for this one too."""
    monkeypatch.setenv("VANGUARD_TEST_GH_TOKEN", "ghs_poll_token_value")
    config = GitHubConfig(
        api_url=prism.url,
        token_env="VANGUARD_TEST_GH_TOKEN",
        repositories=("octo-org/one", "octo-org/two", "octo-org/three"),
        poll=PollConfig(calls_per_hour=10, reserve=0),
    )
    spent = build_github_api(config, store=store)
    spent.budget = spent.budget.spend(spent.clock()).model_copy(update={"used": 9})
    api = build_github_api(config.model_copy(), store=store)
    intake = CiIntake(store, api, config, RecordingStarter())
    report = await poll_once(api, intake, config)
    skipped = [r for r, outcome in report.outcomes.items() if outcome.startswith("skipped")]
    assert len(skipped) == 2
    assert len(prism.proxy.sent("GET", "/actions/runs")) == 1
