"""Decide: the policy engine, its pluggable safety gates, windows and circuit breaker."""

from vanguard.decide.breaker import BreakerState, FailureStreak, breaker_state, failure_streak
from vanguard.decide.gates import GATES, Gate, GateContext, GateFactory
from vanguard.decide.history import context_from_history, count_within
from vanguard.decide.policy import (
    DEFAULT_GATES,
    REQUIRED_GATES,
    PolicyConfig,
    build_gates,
    decide,
)
from vanguard.decide.windows import OnceWindow, WeeklyWindow, Window, WindowCheck, check_windows

__all__ = [
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
