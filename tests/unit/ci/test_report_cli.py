"""``vanguard ci report``: a table or JSON from the recorded attempts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from vanguard.ci.health import AttemptRecord
from vanguard.ci.records import CiRepo
from vanguard.cli.apps import app
from vanguard.store import default_store_url, open_store


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path}\n")
    store = open_store(default_store_url(tmp_path))
    start = datetime.now(UTC) - timedelta(hours=2)
    try:
        with store.session() as session:
            repo = CiRepo(session)
            for run, attempt, conclusion, minutes, rerun in [
                (1, 1, "failure", 0, True),
                (1, 2, "success", 5, False),
                (2, 1, "success", 30, False),
            ]:
                repo.record_attempt(
                    AttemptRecord(
                        repository="o/r",
                        workflow="CI",
                        run_id=run,
                        run_attempt=attempt,
                        head_sha=f"sha{run}",
                        head_branch="main",
                        conclusion=conclusion,
                        at=start + timedelta(minutes=minutes),
                        retryable=conclusion == "failure",
                        rerun_by_vanguard=rerun,
                    )
                )
    finally:
        store.close()
    return config


def test_report_json_has_the_figures(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ci", "report", "-c", str(_config(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    (figures,) = json.loads(result.output)
    assert figures["repository"] == "o/r"
    assert figures["success_rate"] == 1.0
    assert figures["flaky_rate"] == 0.5
    assert figures["auto_heal_coverage"] == 1.0
    assert figures["median_recovery_s"] == 300.0


def test_report_table_and_filters(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    table = CliRunner().invoke(app, ["ci", "report", "-c", config])
    assert table.exit_code == 0, table.output
    assert "o/r" in table.output
    assert "100.0%" in table.output
    other = CliRunner().invoke(app, ["ci", "report", "-c", config, "--repo", "x/y"])
    assert "no finished CI runs" in other.output
    spelt = CliRunner().invoke(app, ["ci", "report", "-c", config, "--repo", "O/R", "--json"])
    assert [f["repository"] for f in json.loads(spelt.output)] == ["o/r"], (
        "GitHub's names ignore case"
    )


def test_report_plot_draws_a_panel_per_repository_with_the_target(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    plot = tmp_path / "health.svg"
    config = str(_config(tmp_path))
    result = CliRunner().invoke(app, ["ci", "report", "-c", config, "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    ns = {"s": "http://www.w3.org/2000/svg"}
    (panel,) = ET.fromstring(plot.read_text()).findall("s:g[@class='panel']", ns)
    assert panel.attrib["data-label"].startswith("o/r: runs that succeeded, per day (2 runs)")
    assert panel.find("s:line[@class='level']", ns) is not None
    assert panel.find("s:path[@class='series']", ns) is not None
    assert not panel.findall("s:circle", ns)
    empty = CliRunner().invoke(
        app, ["ci", "report", "-c", config, "--repo", "x/y", "--plot", str(plot)]
    )
    assert empty.exit_code == 0
    assert "no finished runs" in plot.read_text()


def test_a_fork_pull_request_from_main_leaves_the_default_branch_green(tmp_path: Path) -> None:
    """The fork flag survives a later record of the run that lacks it (a ``/vanguard retry``)."""
    config = tmp_path / "vanguard.yaml"
    config.write_text(f"data_dir: {tmp_path}\n")
    start = datetime.now(UTC) - timedelta(hours=2)

    def attempt(run: int, conclusion: str, minutes: int, *, fork: bool) -> AttemptRecord:
        return AttemptRecord(
            repository="c/c",
            workflow="CI",
            run_id=run,
            run_attempt=1,
            head_sha=f"sha{run}",
            head_branch="main",
            conclusion=conclusion,
            at=start + timedelta(minutes=minutes),
            from_fork=fork,
        )

    store = open_store(default_store_url(tmp_path))
    try:
        with store.session() as session:
            repo = CiRepo(session)
            repo.record_attempt(attempt(1, "success", 0, fork=False))
            repo.record_attempt(attempt(2, "failure", 10, fork=True))
        with store.session() as session:
            CiRepo(session).record_attempt(attempt(2, "failure", 10, fork=False))
    finally:
        store.close()
    result = CliRunner().invoke(app, ["ci", "report", "-c", str(config), "--json"])
    assert result.exit_code == 0, result.output
    (figures,) = json.loads(result.output)
    assert figures["red_since"] is None
    assert figures["recoveries"] == 0
