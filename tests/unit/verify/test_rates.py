"""A counter's readings as rates: hand-computed cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vanguard.model import EvidencePoint
from vanguard.verify import counter_rates

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def _points(*pairs: tuple[float, float]) -> tuple[EvidencePoint, ...]:
    return tuple(EvidencePoint(timestamp=T0 + timedelta(seconds=s), value=v) for s, v in pairs)


def test_increases_over_time_between_readings() -> None:
    got = counter_rates(_points((0, 100.0), (2, 120.0), (7, 170.0)))
    assert [(p.timestamp - T0).total_seconds() for p in got] == [2.0, 7.0]
    assert [p.value for p in got] == [10.0, 10.0]


def test_the_pair_across_a_restart_gives_no_rate() -> None:
    """Prometheus' rule would give 30 / 5 = 6 here, below the true 10: lost since t=0."""
    got = counter_rates(_points((0, 500.0), (5, 30.0), (10, 80.0), (15, 130.0)))
    assert [(p.timestamp - T0).total_seconds() for p in got] == [10.0, 15.0]
    assert [p.value for p in got] == [10.0, 10.0]


def test_readings_out_of_order_are_sorted_and_repeats_give_no_rate() -> None:
    got = counter_rates(_points((4, 40.0), (0, 0.0), (4, 40.0), (2, 20.0)))
    assert [p.value for p in got] == [10.0, 10.0]


def test_fewer_than_two_readings_give_no_rate() -> None:
    assert counter_rates(_points((0, 5.0))) == ()
    assert counter_rates(()) == ()
