"""Scenario helpers: leaking services under a real supervisord, settings, waiting.

Shared by the e2e and engine integration tests; their conftest files import ``leaky``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import pytest
from temporalio import activity

from tests.servers.supervisor import Program, StartSupervisord, rpc_call
from vanguard.config import (
    ScrapeConfig,
    ServiceConfig,
    Settings,
    SupervisorTarget,
    TemporalConfig,
    VerificationConfig,
    WatchConfig,
)
from vanguard.decide import PolicyConfig
from vanguard.detect.watch import WatchRule
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.messages import ApplyInput
from vanguard.engine.runtime import Runtime
from vanguard.engine.worker import build_worker
from vanguard.incident import Incident
from vanguard.model import Alert, EvidencePoint, Outcome, TrendAnalysis
from vanguard.netutil import free_port, wait_for_port
from vanguard.store import IncidentRecord, IncidentRepo, Store

MB = 1024 * 1024


@dataclass(frozen=True)
class Leaky:
    """One leaking program: where to scrape it and how to reach its supervisor."""

    name: str
    metrics_url: str
    rpc_url: str

    def pid(self) -> int:
        info = rpc_call(self.rpc_url, "supervisor.getProcessInfo", self.name)
        return int(info["pid"])

    def spawns(self) -> int:
        """How many times supervisord has spawned the program (initial start included)."""
        log = str(rpc_call(self.rpc_url, "supervisor.readLog", 0, 0))
        return log.count(f"spawned: '{self.name}'")

    def start(self) -> None:
        """Start a program left stopped (``started=False``): its leak begins now."""
        rpc_call(self.rpc_url, "supervisor.startProcess", self.name, True)
        port = urlsplit(self.metrics_url).port
        assert port is not None
        assert wait_for_port("127.0.0.1", port, timeout_s=20)


class StartLeaky(Protocol):
    """The ``leaky`` fixture: start leaking programs (names, MB/s) under one supervisord.

    With ``started=False`` they stay stopped until ``Leaky.start``: a leak runs on a
    clock, and a test whose worker takes seconds to come up starts it only then.
    """

    def __call__(
        self, names: Sequence[str], mb_per_s: float, *, started: bool = True
    ) -> list[Leaky]: ...


@pytest.fixture
def leaky(supervisord: StartSupervisord) -> StartLeaky:
    """Factory: start leaking programs (names, MB/s) under one supervisord."""

    def start(names: Sequence[str], mb_per_s: float, *, started: bool = True) -> list[Leaky]:
        ports = {name: free_port() for name in names}
        url = supervisord(
            [
                Program(
                    name=name,
                    command=(
                        f"{sys.executable} -m vanguard.demo.leaky --port {port} "
                        f"--leak-mb-per-s {mb_per_s} --cap-mb 700"
                    ),
                    autostart=started,
                    startsecs=1,
                )
                for name, port in ports.items()
            ]
        )
        for port in ports.values() if started else ():
            assert wait_for_port("127.0.0.1", port, timeout_s=20)
        return [
            Leaky(name=n, metrics_url=f"http://127.0.0.1:{p}/metrics", rpc_url=url)
            for n, p in ports.items()
        ]

    return start


LEAK_FORECAST_CONFIDENCE = 0.75
"""The least forecast the leak watch raises: the diagnosis scales it by the pattern's trust
(0.9), and the first forecast must still clear the policy's 0.6, or the incident waits for
a person (a loaded runner's jittery scrapes start forecasts near the floor)."""


def leak_settings(
    data_dir: Path,
    services: Sequence[Leaky],
    *,
    temporal: str,
    task_queue: str,
    window_s: float,
    store_url: str | None = None,
    dry_run: bool = False,
    threshold_mb: float = 600,
) -> Settings:
    return Settings(
        data_dir=data_dir,
        store_url=store_url,
        temporal=TemporalConfig(address=temporal, task_queue=task_queue),
        services=tuple(
            ServiceConfig(
                name=s.name,
                type="python-web",
                scrape=ScrapeConfig(
                    url=s.metrics_url, metrics=("process_resident_memory_bytes",), interval_s=0.5
                ),
                watch=(
                    WatchConfig(
                        metric="process_resident_memory_bytes",
                        rule=WatchRule(
                            threshold=threshold_mb * MB,
                            horizon_s=15,
                            min_confidence=LEAK_FORECAST_CONFIDENCE,
                            warmup=8,
                        ),
                    ),
                ),
                supervisor=SupervisorTarget(url=s.rpc_url, program=s.name),
            )
            for s in services
        ),
        policy=PolicyConfig(min_confidence=0.6, dry_run=dry_run),
        verification=VerificationConfig(window_s=window_s, sample_interval_s=0.3),
    )


async def wait_for_incidents(
    store: Store,
    count: int,
    *,
    timeout_s: float,
    until: Callable[[Incident], bool] = lambda i: i.closed,
) -> list[Incident]:
    """Poll the store until ``count`` incidents satisfy ``until``; fail loudly otherwise."""
    deadline = time.monotonic() + timeout_s
    found: list[Incident] = []
    while time.monotonic() < deadline:
        with store.session() as session:
            found = IncidentRepo(session).list_incidents(limit=100)
        done = [i for i in found if until(i)]
        if len(done) >= count:
            return done
        await asyncio.sleep(0.2)
    states = [(i.incident_id, str(i.state)) for i in found]
    pytest.fail(f"timed out after {timeout_s} s waiting for {count} incident(s): {states}")


def leak_alert(service: str, at: datetime, *, level_mb: float = 500) -> Alert:
    """An alert as the watcher would raise it for a leak well above the service's baseline."""
    level = level_mb * MB
    evidence = tuple(
        EvidencePoint(timestamp=at - timedelta(seconds=10 - i), value=level - (10 - i) * MB)
        for i in range(10)
    )
    return Alert(
        alert_id=f"{service}-{uuid.uuid4().hex[:8]}",
        fingerprint=f"{service}/process_resident_memory_bytes",
        source="test",
        service_name=service,
        metric_type="process_resident_memory_bytes",
        detected_at=at,
        summary=f"synthetic leak on {service}",
        anomaly_score=0.5,
        confidence=0.95,
        trend_analysis=TrendAnalysis(
            current=level,
            ema=level * 0.97,
            slope_per_hour=3600 * MB,
            zscore=3.0,
            threshold=600 * MB,
            predicted_breach_time=at + timedelta(seconds=100),
            breach_confidence=0.9,
        ),
        evidence=evidence,
    )


async def remediate(
    runtime: Runtime, temporal_address: str, task_queue: str, alert: Alert
) -> tuple[Outcome, IncidentRecord | None]:
    """Run one incident to its end on a worker over ``runtime`` (a one-second window);
    its outcome and the record the store keeps."""
    client = await connect(temporal_address)
    async with build_worker(client, runtime.activities, task_queue=task_queue):
        incident_id, handle = await start_remediation(
            client, alert, task_queue=task_queue, window_s=1
        )
        assert handle is not None
        outcome = await handle.result()
    with runtime.store.session() as session:
        record = IncidentRepo(session).get_record(incident_id)
    return outcome, record


@dataclass
class HeldBaseline:
    """``record_baseline`` held open until the test says so: ``started`` is set when the
    activity begins, and it reads the baseline once ``release`` is set."""

    started: threading.Event
    release: threading.Event


def hold_baseline(runtime: Runtime) -> HeldBaseline:
    """Hold ``runtime``'s baseline reading, the minutes between a decision and its action,
    so that a test can change the world in between (answer, pause...)."""
    held = HeldBaseline(threading.Event(), threading.Event())
    real = runtime.activities.record_baseline

    @activity.defn(name="record_baseline")
    def slow_baseline(inp: ApplyInput) -> None:
        held.started.set()
        assert held.release.wait(30), "the test let the baseline go on"
        real(inp)

    runtime.activities.record_baseline = slow_baseline  # type: ignore[method-assign]
    return held
