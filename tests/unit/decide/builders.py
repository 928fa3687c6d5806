"""Shared builders for decide tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vanguard.decide import GateContext
from vanguard.model import Diagnosis, Remedy

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def diagnosis(**overrides: Any) -> Diagnosis:
    data: dict[str, Any] = {
        "alert_id": "a1",
        "pattern_id": "memory_leak_gradual",
        "confidence": 0.9,
        "remedy": Remedy(action="supervisor.restart", params={"program": "leaky"}),
        "rollback_safe": False,
        "automation_eligible": True,
    }
    data.update(overrides)
    return Diagnosis(**data)


def context(**overrides: Any) -> GateContext:
    data: dict[str, Any] = {
        "now": T0,
        "service_name": "leaky",
        "action": "supervisor.restart",
        "actions_today": 0,
        "actions_this_week": 0,
    }
    data.update(overrides)
    return GateContext(**data)
