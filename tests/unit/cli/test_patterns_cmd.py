"""``vanguard patterns``: outcomes move a pattern's confidence, and below policy it asks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.store.values import incident, outcome
from tests.unit.cli.entry import run
from vanguard.cli.apps import app
from vanguard.decide.policy import PolicyConfig
from vanguard.learn import calibrate, confidence_legend
from vanguard.model import OutcomeStatus
from vanguard.store import IncidentRepo, default_store_url, open_store


def _store(tmp_path: Path, statuses: list[OutcomeStatus]) -> str:
    url = default_store_url(tmp_path)
    store = open_store(url)
    with store.session() as session:
        repo = IncidentRepo(session)
        for i, status in enumerate(statuses):
            repo.save_incident(incident(f"inc-{i}"))
            repo.save_outcome(outcome(f"inc-{i}", status=status, minutes=i))
    store.close()
    return url


def _rows(url: str) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["patterns", "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    return {row["pattern_id"]: row for row in json.loads(result.output)}


def test_failures_lower_the_confidence_until_the_pattern_asks_a_person(tmp_path: Path) -> None:
    fresh = _rows(_store(tmp_path / "fresh", []))
    assert fresh["memory_leak_gradual"]["confidence"] == 0.9
    assert fresh["memory_leak_gradual"]["acts_alone"] is True

    statuses = [OutcomeStatus.rolled_back, OutcomeStatus.escalated, OutcomeStatus.failed]
    statuses += [OutcomeStatus.declined]
    url = _store(tmp_path / "burnt", statuses)
    row = _rows(url)["memory_leak_gradual"]
    assert row["lost"] == 3
    assert row["won"] == 0
    assert row["ignored"] == 1
    store = open_store(url)
    with store.session() as session:
        used = calibrate(0.9, IncidentRepo(session).outcomes_for_pattern("memory_leak_gradual"))
    store.close()
    assert row["confidence"] == pytest.approx(used)
    assert used == pytest.approx(9 / 13)
    assert row["acts_alone"] is False, "0.69 is below the default min_confidence 0.8"

    table = CliRunner().invoke(app, ["patterns", "--store", url])
    line = next(x for x in table.output.splitlines() if x.startswith("memory_leak_gradual"))
    assert line.split()[1:] == ["supervisor.restart", "0.90", "0", "3", "0.69", "asks"]


def test_a_config_file_that_is_not_there_is_an_error_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-c vanguard.yml`` (the file is ``.yaml``) with ``--store`` used the defaults in
    silence: the team's patterns missing, "alone" judged against another min_confidence."""
    url = _store(tmp_path, [])
    typo = tmp_path / "vanguard.yml"
    assert run(monkeypatch, "patterns", "-c", str(typo), "--store", url, "--json") == 2
    assert f"{typo}: file not found" in capsys.readouterr().err
    monkeypatch.setenv("VANGUARD_CONFIG", str(typo))
    assert run(monkeypatch, "patterns", "--store", url, "--json") == 2
    monkeypatch.delenv("VANGUARD_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert run(monkeypatch, "patterns", "--store", url, "--json") == 0, "no -c: the defaults"


def test_a_pattern_the_policy_always_asks_about_is_not_shown_acting_alone(
    tmp_path: Path,
) -> None:
    """Under ``require_approval_for: [supervisor.restart]`` every restart waits for a
    person, whatever the pattern's confidence."""
    url = _store(tmp_path, [])
    config = tmp_path / "vanguard.yaml"
    config.write_text("policy:\n  require_approval_for: [supervisor.restart]\n", "utf-8")
    result = CliRunner().invoke(app, ["patterns", "-c", str(config), "--store", url, "--json"])
    assert result.exit_code == 0, result.output
    row = {r["pattern_id"]: r for r in json.loads(result.output)}["memory_leak_gradual"]
    assert (row["confidence"], row["acts_alone"]) == (0.9, False)
    assert row["min_alert_confidence"] is None
    assert "require_approval_for covers supervisor.restart" in row["reason"]


def test_the_table_says_from_which_alert_confidence_a_pattern_acts_alone(
    tmp_path: Path,
) -> None:
    """0.9 × an alert's confidence must reach min_confidence 0.8: alerts of 0.89 or more."""
    table = CliRunner().invoke(app, ["patterns", "--store", _store(tmp_path, [])])
    assert table.exit_code == 0, table.output
    line = next(x for x in table.output.splitlines() if x.startswith("memory_leak_gradual"))
    assert line.split()[-2:] == ["0.90", "≥0.89"]
    assert confidence_legend(PolicyConfig()) in " ".join(table.output.split())
