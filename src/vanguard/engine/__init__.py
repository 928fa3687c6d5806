"""Engine: Temporal workflows, activities, worker, client and the embedded dev server."""

from vanguard.engine.client import connect, start_remediation, start_watcher
from vanguard.engine.devserver import DevServer, find_temporal_binary
from vanguard.engine.runtime import Runtime, build_runtime
from vanguard.engine.worker import build_worker
from vanguard.engine.workflows import RemediationWorkflow, WatcherWorkflow, incident_id_for

__all__ = [
    "DevServer",
    "RemediationWorkflow",
    "Runtime",
    "WatcherWorkflow",
    "build_runtime",
    "build_worker",
    "connect",
    "find_temporal_binary",
    "incident_id_for",
    "start_remediation",
    "start_watcher",
]
