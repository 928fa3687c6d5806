"""``vanguard ci explain-run`` over an in-memory GitHub (the API is tested against Prism)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.cli.test_ci import SECRETS
from vanguard.ci.client import MemoryGitHub
from vanguard.ci.events import WorkflowJob, WorkflowRun
from vanguard.cli import app, github_cmd

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
