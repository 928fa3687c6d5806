"""Shared builders for CI tests: one failed run's alert with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vanguard.ci.alerts import failure_alert
from vanguard.ci.healing import HealKind, HealPlan
from vanguard.diagnose.cilog import Explanation
from vanguard.model import Alert

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def run_alert(
    explanation: Explanation,
    *,
    kind: HealKind = HealKind.rerun,
    reason: str = "r",
    **overrides: Any,
) -> Alert:
    """``failure_alert`` for run 5 (attempt 1) of workflow CI in ``o/r``; ``overrides`` win."""
    data: dict[str, Any] = {
        "repository": "o/r",
        "workflow": "CI",
        "run_id": 5,
        "run_attempt": 1,
        "head_sha": "abc",
        "head_branch": "main",
        "run_url": None,
        "job_id": 50,
        "explanation": explanation,
        "plan": HealPlan(kind=kind, reason=reason, reruns_done=0, max_reruns=2),
        "storm": None,
        "finished_at": T0,
    }
    data.update(overrides)
    return failure_alert(**data)
