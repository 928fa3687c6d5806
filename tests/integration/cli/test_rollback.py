"""``vanguard rollback`` undoes a real pool resize by hand, once, on the record."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.e2e.pgbouncer_lab import ALIAS, SERVICE, WAITING, Pool, pool_settings
from tests.servers.pgbouncer import StartPgBouncer
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput
from vanguard.engine.runtime import build_runtime
from vanguard.model import Alert, TrendAnalysis
from vanguard.store import IncidentRepo, open_store

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _vanguard(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.prefix) / "bin" / "vanguard"
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_rollback_by_hand_restores_the_pool_once(
    pgbouncer_server: StartPgBouncer, tmp_path: Path
) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    original = pool.bouncer.ini_path.read_text()
    settings = pool_settings(
        tmp_path, pool, temporal="127.0.0.1:7233", task_queue="unused", window_s=1
    )
    config = tmp_path / "vanguard.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_none=True)))
    alert = Alert(
        alert_id="a-1",
        fingerprint=f"{SERVICE}/{WAITING}",
        source="detector:breach",
        service_name=SERVICE,
        metric_type=WAITING,
        labels={"database": ALIAS, "user": "postgres"},
        detected_at=datetime.now(UTC),
        summary="clients wait",
        anomaly_score=1.0,
        confidence=0.99,
        trend_analysis=TrendAnalysis(current=12, ema=4, slope_per_hour=9000, zscore=3),
    )
    runtime = build_runtime(settings, notifiers=[])
    acts = runtime.activities
    try:
        acts.open_incident(OpenInput(incident_id="inc-hand", alert=alert))
        diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-hand", alert=alert))
        acts.decide(DecideInput(incident_id="inc-hand", alert=alert, diagnosis=diagnosis))
        acts.apply_action(ApplyInput(incident_id="inc-hand", alert=alert, diagnosis=diagnosis))
    finally:
        runtime.close()
    assert pool.live_size() == 4

    first = _vanguard("rollback", "inc-hand", "-c", str(config), "--who", "alice", "--json")
    second = _vanguard("rollback", "inc-hand", "-c", str(config))
    missing = _vanguard("rollback", "inc-nope", "-c", str(config))

    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    assert body["new"] is True
    assert body["result"]["after"]["pool_size"] == 2
    assert second.returncode == 0, second.stderr
    assert "already rolled back" in second.stdout
    assert missing.returncode == 2
    assert "inc-nope" in missing.stderr
    assert pool.live_size() == 2
    assert pool.bouncer.ini_path.read_text() == original
    subjects = [s for _, s in pool.repo.log(pool.bouncer.ini_path)]
    assert subjects[0] == 'Revert "auto: raise app pool 2→4, incident inc-hand"'
    assert len(subjects) == 3
    store = open_store(settings.resolved_store_url())
    try:
        with store.session() as session:
            record = IncidentRepo(session).get_record("inc-hand")
    finally:
        store.close()
    assert record is not None
    assert sorted(a.idempotency_key for a in record.actions) == [
        "inc-hand:apply",
        "inc-hand:rollback",
    ]
    (entry,) = [e for e in record.audit if e.kind == "action.rolled_back"]
    assert entry.payload["by"] == "hand:alice"
