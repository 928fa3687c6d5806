"""The engine's activities apply a ``config.set`` remedy where the service's section says.

Real git (a working tree and a bare remote); the activities are called in order, as the
workflow would, so that the test is about where the parameters come from, not timing.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from vanguard.act.base import MemoryLedger
from vanguard.act.configfile import ConfigSetAdapter
from vanguard.config import ConfigFileTarget, ServiceConfig, Settings
from vanguard.decide import PolicyConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy
from vanguard.engine.activities import Activities
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput
from vanguard.model import Alert
from vanguard.store import Store

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 6, 12, tzinfo=UTC)
PATTERN = Pattern(
    id="queue_backlog_growing",
    description="the work queue grows faster than the workers drain it",
    metric="queue_depth",
    signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
    remedy=PatternRemedy(
        action="config.set",
        params={"key": "workers.replicas", "factor": 1.5, "max": 12, "repo": "/elsewhere"},
    ),
    rollback_safe=True,
    prior_confidence=0.9,
)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_service_section_says_where_and_the_pattern_says_what(
    store: Store, tmp_path: Path
) -> None:
    origin, seed, work = tmp_path / "origin.git", tmp_path / "seed", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(seed))
    (seed / "queue").mkdir()
    (seed / "queue" / "values.yaml").write_text("workers:\n  replicas: 4  # per zone\n")
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "initial")
    git(seed, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(tmp_path, "clone", "-q", "-b", "main", str(origin), str(work))

    service = ServiceConfig(
        name="queue",
        config_file=ConfigFileTarget(repo=work, file="queue/values.yaml", push=True),
    )
    settings = Settings(
        data_dir=tmp_path, services=(service,), policy=PolicyConfig(min_confidence=0.5)
    )
    adapter = ConfigSetAdapter(MemoryLedger())
    acts = Activities(
        settings, store, [PATTERN], {adapter.kind: adapter}, MemoryLedger(), [], clock=lambda: T0
    )
    alert = Alert(
        alert_id="queue-1",
        fingerprint="queue/queue_depth",
        source="test",
        service_name="queue",
        metric_type="queue_depth",
        detected_at=T0,
        summary="queue depth rising",
        anomaly_score=0.9,
        confidence=0.9,
    )
    acts.open_incident(OpenInput(incident_id="inc-q", alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-q", alert=alert))
    decision = acts.decide(DecideInput(incident_id="inc-q", alert=alert, diagnosis=diagnosis))
    assert decision.approved, decision.reason
    result = acts.apply_action(ApplyInput(incident_id="inc-q", alert=alert, diagnosis=diagnosis))

    assert result.after["value"] == 6
    assert result.after["repo"] == str(work), "the service's repository, not the pattern's"
    assert git(origin, "show", "main:queue/values.yaml") == "workers:\n  replicas: 6  # per zone"
    assert adapter.verify(result).ok
