"""The workflows run in Temporal's sandbox, and the engine package stays cheap to import."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from vanguard.engine.workflows import RemediationWorkflow, WatcherWorkflow


@pytest.mark.parametrize("cls", [RemediationWorkflow, WatcherWorkflow])
def test_workflows_are_sandboxed_and_the_sandbox_accepts_them(cls: type) -> None:
    definition = workflow._Definition.must_from_class(cls)
    assert definition.sandboxed

    async def prepare() -> None:
        SandboxedWorkflowRunner().prepare_workflow(definition)

    asyncio.run(prepare())


def test_importing_the_engine_package_loads_none_of_its_heavy_parts() -> None:
    probe = (
        "import sys, vanguard.engine as e; "
        "print(sorted(m for m in ('numpy', 'vanguard.engine.client', 'vanguard.engine.runtime') "
        "if m in sys.modules)); print(e.incident_id_for.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "vanguard.engine.workflows"
