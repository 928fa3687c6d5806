"""A counter's readings as per-second rates, so a remedy is judged on what it changed.

A counter's raw value only grows, and a restart (the remedy itself, often) drops it to 0:
compared raw, any restart would look like a great improvement of an error count. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from vanguard.model import EvidencePoint

__all__ = ["counter_rates"]


def counter_rates(points: Sequence[EvidencePoint]) -> tuple[EvidencePoint, ...]:
    """The per-second increase between consecutive readings, stamped at the later one.

    A drop is a reset (a restart, often the remedy's own): the pair across it gives no
    rate, as in the watch. Prometheus' rule would take the later value as the increase, but
    whatever the counter gained before the restart since the reading before is lost, so
    that rate reads low and a restart inside the window would lean the verdict toward
    "improved". Readings not after the one before them give no rate either; ``n``
    readings give at most ``n - 1`` rates.
    """
    rates: list[EvidencePoint] = []
    for before, after in pairwise(sorted(points, key=lambda p: p.timestamp)):
        dt = (after.timestamp - before.timestamp).total_seconds()
        if dt <= 0 or after.value < before.value:
            continue
        rates.append(
            EvidencePoint(timestamp=after.timestamp, value=(after.value - before.value) / dt)
        )
    return tuple(rates)
