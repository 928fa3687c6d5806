"""The closed vocabulary a pattern's trend signature is written in.

Fields name what an alert can say about a series; operators compare. Both sets are closed:
a pattern file that names anything else is rejected when it is loaded, not when it runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

from vanguard.model import Alert

__all__ = [
    "FIELDS",
    "NUMERIC",
    "TEXT_FIELDS",
    "Operator",
    "apply_operator",
    "field_value",
    "is_text",
]


class Operator(StrEnum):
    gt = "gt"
    gte = "gte"
    lt = "lt"
    lte = "lte"
    eq = "eq"
    ne = "ne"
    between = "between"
    one_of = "in"
    matches = "matches"


NUMERIC = frozenset({Operator.gt, Operator.gte, Operator.lt, Operator.lte, Operator.between})
"""Operators that compare numbers: they never hold on a text field."""


def _breach_in_s(alert: Alert) -> float | None:
    trend = alert.trend_analysis
    if trend is None or trend.predicted_breach_time is None:
        return None
    return (trend.predicted_breach_time - alert.detected_at).total_seconds()


def _trend(name: str) -> Callable[[Alert], float | None]:
    def read(alert: Alert) -> float | None:
        trend = alert.trend_analysis
        if trend is None:
            return None
        value = getattr(trend, name)
        return None if value is None else float(value)

    return read


def _ema_ratio(alert: Alert) -> float | None:
    trend = alert.trend_analysis
    if trend is None or trend.ema == 0:
        return None
    return trend.current / trend.ema


FIELDS: dict[str, Callable[[Alert], float | str | None]] = {
    "anomaly_score": lambda a: a.anomaly_score,
    "confidence": lambda a: a.confidence,
    "severity": lambda a: str(a.severity),
    "source": lambda a: a.source,
    "trend.current": _trend("current"),
    "trend.ema": _trend("ema"),
    "trend.ema_ratio": _ema_ratio,
    "trend.slope_per_hour": _trend("slope_per_hour"),
    "trend.zscore": _trend("zscore"),
    "trend.threshold": _trend("threshold"),
    "trend.breach_confidence": _trend("breach_confidence"),
    "trend.breach_in_s": _breach_in_s,
}


TEXT_FIELDS = frozenset({"severity", "source"})
"""Fields that read as text, as every ``labels.NAME`` does; the others read as numbers."""


def is_text(field: str) -> bool:
    """Whether ``field`` reads as text (compared with strings) rather than as a number."""
    return field in TEXT_FIELDS or field.startswith("labels.")


def field_value(alert: Alert, field: str) -> float | str | None:
    """Read ``field`` (from ``FIELDS`` or ``labels.NAME``) off an alert; None when absent."""
    if field.startswith("labels."):
        return alert.labels.get(field.removeprefix("labels."))
    return FIELDS[field](alert)


def apply_operator(op: Operator, actual: float | str | None, expected: object) -> bool:
    """Compare; an absent value never satisfies a condition."""
    if actual is None:
        return False
    if op is Operator.eq:
        return actual == expected
    if op is Operator.ne:
        return actual != expected
    if op is Operator.one_of:
        return isinstance(expected, list | tuple) and actual in expected
    if op is Operator.matches:
        return isinstance(expected, str) and re.search(expected, str(actual)) is not None
    if isinstance(actual, str):
        return False
    if op is Operator.between:
        if not isinstance(expected, list | tuple) or len(expected) != 2:
            return False
        low, high = expected
        return float(low) <= actual <= float(high)
    if not isinstance(expected, int | float):
        return False
    return {
        Operator.gt: actual > expected,
        Operator.gte: actual >= expected,
        Operator.lt: actual < expected,
        Operator.lte: actual <= expected,
    }[op]
