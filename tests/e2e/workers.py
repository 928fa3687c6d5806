"""Vanguard workers started in their own process: is one alive, has one begun polling."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client


def running(proc: subprocess.Popen[bytes], log: Path) -> Callable[[], None]:
    """A ``check`` that fails the test, with the log's tail, once ``proc`` has exited."""

    def check() -> None:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"the worker exited with {proc.returncode}:\n{tail}")

    return check


async def polled(
    client: Client,
    task_queue: str,
    *,
    timeout_s: float,
    workers: int = 1,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Wait until ``workers`` workers poll ``task_queue`` for activities: a worker started
    in its own process may take seconds to import on a busy machine, and a scenario begun
    before it runs has that much less time left (``check`` may fail the test early)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        check()
        pollers = (await client.workflow_service.describe_task_queue(request)).pollers
        if len({p.identity for p in pollers}) >= workers:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"fewer than {workers} worker(s) polled {task_queue} within {timeout_s:g} s")
