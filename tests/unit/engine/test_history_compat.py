"""Histories recorded by an earlier release replay under today's workflows.

A change to a workflow's commands that is not guarded by ``workflow.patched`` makes every
run started before the upgrade fail its next workflow task after it (a nondeterminism
error), so the incidents in flight stall. ``tests/fixtures/histories`` (see its README)
holds histories recorded by running an earlier release against the Temporal dev server;
each must replay without a failure. No server: the replayer runs the workflow code alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from vanguard.engine.workflows import RemediationWorkflow, WatcherWorkflow

HISTORIES = Path(__file__).parents[2] / "fixtures" / "histories"


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_a_recorded_history_replays_under_todays_workflows(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[RemediationWorkflow, WatcherWorkflow], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"


def test_there_are_histories_of_both_workflows() -> None:
    kinds = {p.stem.split("-")[0] for p in HISTORIES.glob("*.json")}
    assert kinds == {"remediation", "watcher"}
