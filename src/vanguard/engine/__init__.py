"""Engine: Temporal workflows, activities, worker, client and the embedded dev server.

Names are imported on first use: Temporal's sandbox imports ``vanguard.engine.workflows``
afresh for each workflow run, and with it this package; an eager import here would pull
the client, the dev server and numpy into every sandbox.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vanguard.engine.client import connect, start_remediation, start_watcher
    from vanguard.engine.devserver import DevServer, find_temporal_binary
    from vanguard.engine.runtime import Runtime, build_runtime
    from vanguard.engine.worker import build_worker
    from vanguard.engine.workflows import RemediationWorkflow, WatcherWorkflow, incident_id_for

_HOMES = {
    "DevServer": "devserver",
    "RemediationWorkflow": "workflows",
    "Runtime": "runtime",
    "WatcherWorkflow": "workflows",
    "build_runtime": "runtime",
    "build_worker": "worker",
    "connect": "client",
    "find_temporal_binary": "devserver",
    "incident_id_for": "workflows",
    "start_remediation": "client",
    "start_watcher": "client",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
