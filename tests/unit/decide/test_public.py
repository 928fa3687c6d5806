"""The public surface of ``vanguard.decide`` is pinned."""

from __future__ import annotations

import vanguard.decide


def test_all_is_pinned() -> None:
    assert sorted(vanguard.decide.__all__) == sorted(
        [
            "DEFAULT_GATES",
            "GATES",
            "REQUIRED_GATES",
            "BreakerState",
            "FailureStreak",
            "Gate",
            "GateContext",
            "GateFactory",
            "OnceWindow",
            "PolicyConfig",
            "WeeklyWindow",
            "Window",
            "WindowCheck",
            "breaker_state",
            "build_gates",
            "check_windows",
            "context_from_history",
            "count_within",
            "decide",
            "failure_streak",
        ]
    )
    for name in vanguard.decide.__all__:
        assert hasattr(vanguard.decide, name)
