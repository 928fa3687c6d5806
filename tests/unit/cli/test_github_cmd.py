"""``vanguard ci explain-run`` over an in-memory GitHub (the API is tested against Prism)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.cli.test_ci import SECRETS
from vanguard.ci.client import MemoryGitHub, StoredBudget
from vanguard.ci.config import GitHubConfig, PollConfig
from vanguard.ci.events import WorkflowJob, WorkflowRun
from vanguard.cli import app, github_cmd
from vanguard.clock import utcnow
from vanguard.store import default_store_url, open_store

CILOGS = Path(__file__).parents[2] / "fixtures" / "cilogs"
JOB_URL = "https://github.com/o/r/actions/runs/400/job/4000"
runner = CliRunner()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MemoryGitHub:
    """A failed run 501 of a build whose output is stale, and the last run that passed."""
    memory = MemoryGitHub()
    for run_id, conclusion, log in (
        (501, "failure", "github_actions_stale_dist.log"),
        (400, "success", "github_actions_stale_dist_passing.log"),
    ):
        memory.runs[("o/r", run_id)] = WorkflowRun(
            id=run_id,
            name="CI [linux]",
            workflow_id=7,
            head_sha="0" * 40,
            head_branch="main",
            status="completed",
            conclusion=conclusion,
        )
        memory.jobs[("o/r", run_id)] = [
            WorkflowJob(
                id=run_id * 10,
                run_id=run_id,
                name="build",
                status="completed",
                conclusion=conclusion,
                html_url=JOB_URL if conclusion == "success" else None,
            )
        ]
        memory.logs[("o/r", run_id * 10)] = (CILOGS / log).read_bytes()
    monkeypatch.setattr(github_cmd, "build_github_api", lambda config: memory)
    monkeypatch.chdir(tmp_path)
    Path("vanguard.yaml").write_text("github: {default_branch: main}\n")
    return memory


def test_a_run_is_explained_against_the_last_passing_run(github: MemoryGitHub) -> None:
    result = runner.invoke(app, ["ci", "explain-run", "o/r", "501"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "run 501 attempt 1 of CI [linux] in o/r: failure; 1 job log(s) read" in said
    assert f"compared with the passing job {JOB_URL}" in result.output
    payload = json.loads(runner.invoke(app, ["ci", "explain-run", "o/r", "501", "--json"]).output)
    assert payload["baseline"]["url"] == JOB_URL
    assert payload["explanation"]["lines"][0]["text"] == " M dist/index.js"
    assert payload["explanation"]["category"] != "network_transient"
    assert github.reruns == [], "explaining never re-runs"


def test_credentials_in_the_log_are_masked_in_text_and_json(github: MemoryGitHub) -> None:
    github.runs[("o/r", 502)] = github.runs[("o/r", 501)].model_copy(update={"id": 502})
    github.jobs[("o/r", 502)] = [
        job.model_copy(update={"id": 5020, "run_id": 502}) for job in github.jobs[("o/r", 501)]
    ]
    github.logs[("o/r", 5020)] = (CILOGS / "github_actions_leaked_credentials.log").read_bytes()
    text = runner.invoke(app, ["ci", "explain-run", "o/r", "502"], env={"COLUMNS": "300"})
    as_json = runner.invoke(app, ["ci", "explain-run", "o/r", "502", "--json"])
    assert text.exit_code == as_json.exit_code == 0, text.output
    lines = json.loads(as_json.output)["explanation"]["lines"]
    assert sum("[REDACTED]" in line["text"] for line in lines) >= 4
    for output in (text.output, as_json.output):
        assert not [secret for secret in SECRETS if secret in output]


def test_without_a_github_section_it_says_what_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "vanguard.yaml"
    config.write_text("notify: []\n")
    result = runner.invoke(app, ["ci", "explain-run", "o/r", "1", "-c", str(config)])
    assert result.exit_code != 0
    assert str(result.exception).startswith(f"{config}: github: no 'github' section")


def _budget(url: str, *args: str) -> str:
    result = runner.invoke(app, ["ci", "budget", "--store", url, *args], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    return result.output


def test_ci_budget_shows_the_kept_budget_and_clears_a_wait(tmp_path: Path) -> None:
    """A wait kept in the store holds every process back; a person must see it and be able
    to end one they know to be wrong without writing SQL."""
    url = default_store_url(tmp_path)
    now = utcnow()
    config = GitHubConfig(
        api_url="https://ghe.example.com/api/v3", poll=PollConfig(calls_per_hour=500, reserve=50)
    )
    store = open_store(url)
    try:
        assert _budget(url) == "no GitHub API budget kept in this store yet\n"
        keeper = StoredBudget(store, config, clock=lambda: now)
        reset = str(int((now + timedelta(minutes=40)).timestamp()))
        headers = {
            "Retry-After": "600",
            "x-ratelimit-remaining": "4000",
            "x-ratelimit-reset": reset,
        }
        keeper.change(lambda b: b.spend(now).spend(now).observe(now, 429, headers))
        shown = _budget(url)
        assert shown.startswith(
            "https://ghe.example.com/api/v3: 2 of 500 calls spent in the hour from "
            f"{now:%Y-%m-%d %H:%M:%S} UTC, the last 50 kept for re-runs and issues; GitHub "
            "said 4000 calls left until "
        )
        until = now + timedelta(seconds=600)
        assert shown.endswith(
            f"; every call waits until {until:%Y-%m-%d %H:%M:%S} UTC: "
            "Retry-After 600 s (HTTP 429)\n"
        )
        cleared = _budget(url, "--clear-block").splitlines()
        assert cleared[0] == "https://ghe.example.com/api/v3: wait cleared"
        assert "waits" not in cleared[1]
        assert keeper.read().check(now).allowed
        assert _budget(url, "--clear-block").startswith("no wait to clear\n")
    finally:
        store.close()
