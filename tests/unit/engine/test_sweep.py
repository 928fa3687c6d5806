"""Which series of a reading the sweep watches, and under which entry's rule."""

from __future__ import annotations

from datetime import UTC, datetime

from vanguard.config import WatchConfig
from vanguard.detect.watch import WatchRule
from vanguard.engine.sweep import watched_series
from vanguard.model import Signal

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _sample(metric: str, value: float = 1.0, source: str = "scrape", **labels: str) -> Signal:
    return Signal(
        source=source,
        service_name="db",
        metric_type=metric,
        labels=labels,
        timestamp=T0,
        value=value,
    )


def test_an_entry_takes_the_samples_of_its_metric_whose_labels_include_its_own() -> None:
    entry = WatchConfig(metric="waiting", labels={"pool": "app"})
    reading = [
        _sample("waiting", pool="app", user="rw"),
        _sample("waiting", pool="batch"),
        _sample("waiting"),
        _sample("active", pool="app"),
    ]
    watched = watched_series("db", [entry], reading)
    assert list(watched.series) == ["db/waiting{pool=app,user=rw}"]
    assert watched.series["db/waiting{pool=app,user=rw}"] == (reading[0], entry.rule)
    assert watched.matched == (1,)


def test_an_entry_without_labels_takes_every_series_of_its_metric_in_the_readings_order() -> None:
    reading = [_sample("waiting", pool="b"), _sample("waiting"), _sample("waiting", pool="a")]
    watched = watched_series("db", [WatchConfig(metric="waiting")], reading)
    assert list(watched.series) == ["db/waiting{pool=b}", "db/waiting{}", "db/waiting{pool=a}"]
    assert watched.matched == (3,)


def test_a_series_two_sources_report_is_watched_once_by_its_first_sample() -> None:
    """A scrape and a console both reporting a series must not step its detector twice
    in one sweep; both samples still count as matched for the entry."""
    first = _sample("waiting", 3.0, "scrape", pool="app")
    again = _sample("waiting", 4.0, "pgbouncer", pool="app")
    watched = watched_series("db", [WatchConfig(metric="waiting")], [first, again])
    assert [signal for signal, _ in watched.series.values()] == [first]
    assert watched.matched == (2,)


def test_a_series_is_watched_by_the_first_entry_that_takes_it() -> None:
    broad = WatchConfig(metric="waiting", rule=WatchRule(threshold=10))
    narrow = WatchConfig(metric="waiting", labels={"pool": "app"}, rule=WatchRule(threshold=2))
    reading = [_sample("waiting", pool="app"), _sample("waiting", pool="batch")]
    watched = watched_series("db", [broad, narrow], reading)
    assert [rule.threshold for _, rule in watched.series.values()] == [10, 10]
    assert watched.matched == (2, 1)


def test_an_entry_that_matches_nothing_counts_zero() -> None:
    entries = [WatchConfig(metric="waiting"), WatchConfig(metric="wait_seconds")]
    watched = watched_series("db", entries, [_sample("waiting")])
    assert watched.matched == (1, 0)
    assert list(watched.series) == ["db/waiting{}"]
