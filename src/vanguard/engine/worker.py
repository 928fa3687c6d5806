"""Build a worker that runs Vanguard's workflows and activities on one task queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from vanguard.engine.activities import Activities
from vanguard.engine.workflows import RemediationWorkflow, WatcherWorkflow

__all__ = ["build_worker"]


def build_worker(
    client: Client,
    activities: Activities,
    *,
    task_queue: str,
    max_threads: int = 16,
    identity: str | None = None,
) -> Worker:
    """Activities are synchronous (store, XML-RPC, admin consoles) and run on a thread pool.

    A short sticky timeout lets another worker pick an incident up within seconds when
    the worker that last ran it has died.
    """
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RemediationWorkflow, WatcherWorkflow],
        activities=[
            activities.open_incident,
            activities.diagnose,
            activities.decide,
            activities.transition,
            activities.record_baseline,
            activities.action_due_in,
            activities.apply_action,
            activities.action_begun,
            activities.verify,
            activities.rollback,
            activities.close_incident,
            activities.notify,
            activities.notify_failed,
            activities.note_worsened,
            activities.sweep,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=max_threads),
        max_concurrent_activities=max_threads,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
        identity=identity,
    )
