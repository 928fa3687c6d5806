"""Run the whole of Vanguard in one process tree: Temporal dev server, worker, API, watcher.

``serve`` is what ``vanguard up`` and the demo run. It returns only after everything it
started has stopped: the API, the worker (draining its activities) and the dev server
(SIGTERM, then SIGKILL, ports closed), so Ctrl-C leaves no process behind. The dev server's
Web UI runs only with ``temporal.ui: true``: it has no login, so whoever reaches it can
signal any incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import uvicorn

from vanguard.api import create_app
from vanguard.api.github import WEBHOOK_PATH, intake_from_settings
from vanguard.ci.intake import CiIntake
from vanguard.config import Settings
from vanguard.engine.client import connect, make_starter, start_watcher
from vanguard.engine.devserver import DevServer
from vanguard.engine.messages import WatcherInput
from vanguard.engine.runtime import Runtime
from vanguard.engine.worker import build_worker
from vanguard.netutil import free_port

__all__ = ["Endpoints", "serve", "watcher_input"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    temporal: str
    temporal_ui: str | None
    api: str | None
    task_queue: str
    github_webhook: str | None = None
    """Where GitHub's webhook must point, when the API serves a ``github`` section."""


class _QuietServer(uvicorn.Server):
    """Uvicorn without its own signal handling: the caller owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def watcher_input(settings: Settings, *, cooldown_s: float = 60.0) -> WatcherInput | None:
    """The sweep's parameters from the watched services, or None if nothing is watched."""
    intervals = [
        interval for s in settings.services if s.watch and (interval := s.interval_s) is not None
    ]
    if not intervals:
        return None
    return WatcherInput(
        interval_s=min(intervals),
        window_s=settings.verification.window_s,
        cooldown_s=cooldown_s,
    )


async def serve(
    settings: Settings,
    runtime: Runtime,
    stop: asyncio.Event,
    *,
    announce: Callable[[Endpoints], None] = lambda _: None,
    api: bool = True,
    watch: bool = True,
    worker: bool = True,
    watcher: WatcherInput | None = None,
) -> None:
    """Start what the settings ask for, announce where it listens, run until ``stop``."""
    temporal = settings.temporal
    dev: DevServer | None = None
    address = temporal.address
    if temporal.embedded:
        dev = DevServer(
            port=temporal.port,
            http_port=free_port(),
            metrics_port=free_port(),
            ui_port=temporal.ui_port if temporal.ui else None,
            db_filename=settings.data_dir / "temporal.db",
            log_file=settings.data_dir / "temporal.log",
            namespaces=(temporal.namespace,),
        )
        await asyncio.to_thread(dev.start, 60.0)
        address = dev.address
    try:
        client = await connect(address, temporal.namespace, timeout_s=temporal.connect_timeout_s)
        server: _QuietServer | None = None
        api_task: asyncio.Task[None] | None = None
        intake: CiIntake | None = None

        starter = make_starter(
            client, task_queue=temporal.task_queue, window_s=settings.verification.window_s
        )

        async with contextlib.AsyncExitStack() as running:
            if worker:
                await running.enter_async_context(
                    build_worker(client, runtime.activities, task_queue=temporal.task_queue)
                )
            if api:
                app = create_app(
                    runtime.store,
                    starter=starter,
                    alertmanager_token=settings.api.alertmanager_token(),
                    patterns=runtime.activities.patterns,
                    policy=settings.policy,
                    allowed_hosts=settings.api.hosts(),
                    services=settings.services,
                    config=settings.source_file,
                )
                if settings.github is not None:
                    intake = intake_from_settings(app, settings, runtime.store)
                server = _QuietServer(
                    uvicorn.Config(
                        app,
                        host=settings.api.host,
                        port=settings.api.port,
                        log_level="warning",
                        lifespan="off",
                    )
                )
                api_task = asyncio.create_task(server.serve())
                while not server.started and not api_task.done():
                    await asyncio.sleep(0.05)
                if api_task.done():
                    api_task.result()
            sweep = watcher or watcher_input(settings)
            if watch and sweep is not None:
                await start_watcher(client, sweep, task_queue=temporal.task_queue)
            api_url = f"http://{settings.api.host}:{settings.api.port}" if api else None
            announce(
                Endpoints(
                    temporal=address,
                    temporal_ui=dev.ui_url if dev else None,
                    api=api_url,
                    task_queue=temporal.task_queue,
                    github_webhook=f"{api_url}{WEBHOOK_PATH}" if intake is not None else None,
                )
            )
            await stop.wait()
            if server is not None and api_task is not None:
                server.should_exit = True
                await api_task
            if intake is not None:
                await intake.close()
    finally:
        if dev is not None:
            await asyncio.to_thread(dev.stop)
