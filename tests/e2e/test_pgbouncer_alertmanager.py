"""Prometheus rule → two Alertmanagers → Vanguard's webhook: one incident, one resize.

The pool is watched by PyPI's exporter (in its own virtualenv) and Prometheus; the rule
carries the trend in PromQL-templated annotations. Prometheus sends the alert to both
Alertmanager replicas, so Vanguard receives every notification twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from tests.e2e.pgbouncer_lab import (
    LAB_DIR,
    SERVICE,
    WAITING,
    PgBouncerExporter,
    Pool,
    Saturation,
    exporter_venv,
    pool_settings,
    wait_for_incidents,
)
from tests.servers.alertmanager import StartAlertmanager
from tests.servers.pgbouncer import StartPgBouncer
from tests.servers.prometheus import PrometheusServer, ScrapeTarget, StartPrometheus
from vanguard.api import create_app
from vanguard.engine.client import connect, start_remediation
from vanguard.engine.runtime import build_runtime
from vanguard.engine.worker import build_worker
from vanguard.incident import IncidentState
from vanguard.model import Alert
from vanguard.netutil import free_port
from vanguard.store import AuditLog, IncidentRepo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SERIES = f"{WAITING}{{database='app'}}"
RULES = {
    "groups": [
        {
            "name": "pgbouncer",
            "rules": [
                {
                    "alert": "PgBouncerClientsWaiting",
                    "expr": f'{WAITING}{{database="app"}} > 8',
                    "labels": {
                        "severity": "warning",
                        "service": SERVICE,
                        "metric": WAITING,
                    },
                    "annotations": {
                        "summary": "{{ $value }} clients wait for a server connection",
                        "current": "{{ $value }}",
                        "ema": (
                            f'{{{{ with query "avg_over_time({SERIES}[15s])" }}}}'
                            "{{ . | first | value }}{{ end }}"
                        ),
                        "slope_per_hour": (
                            f'{{{{ with query "deriv({SERIES}[10s]) * 3600" }}}}'
                            "{{ . | first | value }}{{ end }}"
                        ),
                        "zscore": (
                            f'{{{{ with query "({SERIES} - avg_over_time({SERIES}[30s]))'
                            f' / stddev_over_time({SERIES}[30s])" }}}}'
                            "{{ . | first | value }}{{ end }}"
                        ),
                    },
                }
            ],
        }
    ]
}


async def _delivered(deliveries: list[tuple[str, bool, datetime]]) -> None:
    """Return once the first alert has been delivered."""
    while not deliveries:
        await asyncio.sleep(0.2)


class _Api(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _add_alertmanager(prometheus: PrometheusServer, url: str) -> None:
    """Point Prometheus at a second Alertmanager replica and reload its configuration."""
    conf = prometheus.root / "prometheus.yml"
    config: dict[str, Any] = yaml.safe_load(conf.read_text())
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"].append(
        url.removeprefix("http://")
    )
    conf.write_text(yaml.safe_dump(config))
    request = urllib.request.Request(f"{prometheus.url}/-/reload", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


async def test_duplicate_alertmanager_deliveries_start_one_incident_and_one_action(
    pgbouncer_server: StartPgBouncer,
    prometheus_server: StartPrometheus,
    alertmanager_server: StartAlertmanager,
    temporal_address: str,
    task_queue: str,
    tmp_path: Path,
) -> None:
    binary = exporter_venv(LAB_DIR)
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    settings = pool_settings(
        tmp_path, pool, temporal=temporal_address, task_queue=task_queue, window_s=8
    )
    runtime = build_runtime(settings, notifiers=[])
    client = await connect(temporal_address)
    deliveries: list[tuple[str, bool, datetime]] = []

    async def starter(alert: Alert) -> tuple[str, bool]:
        incident_id, handle = await start_remediation(
            client, alert, task_queue=task_queue, window_s=8
        )
        deliveries.append((incident_id, handle is not None, alert.detected_at))
        return incident_id, handle is not None

    api_port = free_port()
    server = _Api(
        uvicorn.Config(
            create_app(runtime.store, starter=starter, services=settings.services),
            host="127.0.0.1",
            port=api_port,
            log_level="warning",
            lifespan="off",
        )
    )
    hook = f"http://127.0.0.1:{api_port}/api/alertmanager"
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(RULES))
    url = f"postgresql://postgres@127.0.0.1:{pool.bouncer.port}/pgbouncer"
    load = Saturation(pool.bouncer)
    api_task = asyncio.create_task(server.serve())
    try:
        with PgBouncerExporter(binary, url) as exporter:
            first, second = alertmanager_server(hook), alertmanager_server(hook)
            prometheus = prometheus_server(
                [ScrapeTarget(job="pgbouncer", url=exporter.url)],
                rule_files=[rules],
                alertmanager=first.url,
            )
            _add_alertmanager(prometheus, second.url)
            async with build_worker(client, runtime.activities, task_queue=task_queue):
                await load.run(base_s=6)
                await asyncio.wait_for(_delivered(deliveries), timeout=120)
                began = min(at for _, _, at in deliveries)
                first_id = next(iid for iid, _, at in deliveries if at == began)
                (incident,) = await wait_for_incidents(
                    runtime.store,
                    1,
                    timeout_s=120,
                    until=lambda i: i.incident_id == first_id and i.closed,
                )
                load.stop()
                await asyncio.sleep(2)
        with runtime.store.session() as session:
            repo = IncidentRepo(session)
            incidents = repo.list_incidents(limit=10)
            record = repo.get_record(incident.incident_id)
            chain = AuditLog(session).verify_chain()
    finally:
        load.stop()
        server.should_exit = True
        await api_task
        runtime.close()

    # The queue can drain and build again while the load runs on: the alert then fires anew
    # (a later startsAt), which is a new incident by design. The claim is about the copies
    # of the first firing that both replicas deliver.
    assert incident.alert.detected_at == began
    copies = [(iid, new) for iid, new, at in deliveries if at == began]
    assert len(copies) >= 2, "both replicas must have delivered"
    assert {iid for iid, _ in copies} == {incident.incident_id}
    assert [new for _, new in copies].count(True) == 1
    assert incident.incident_id in [i.incident_id for i in incidents]
    assert record is not None
    assert record.incident.alert.source == "alertmanager"
    assert record.diagnosis is not None
    assert record.diagnosis.pattern_id == "connection_pool_exhaustion", record.diagnosis.reasons
    assert record.incident.state is IncidentState.resolved, record.incident.history
    (action,) = record.actions
    assert (action.before["pool_size"], action.after["pool_size"]) == (2, 4)
    raises = [s for _, s in pool.repo.log(pool.bouncer.ini_path) if incident.incident_id in s]
    assert raises == [f"auto: raise app pool 2→4, incident {incident.incident_id}"]
    assert chain.ok, chain.reason
