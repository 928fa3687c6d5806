"""A verify entry that matched several series, as the activities read and record it: each
series kept under its own labels, its baseline matched to it, the alert's own one told."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import JsonValue

from tests.unit.verify.test_series import T0, UP, WAIT, A, _points, _v
from vanguard.act.base import MemoryLedger
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, VerificationConfig, VerifyMetric
from vanguard.engine.activities import BASELINE, Activities
from vanguard.model import Alert, Signal
from vanguard.redact import redact
from vanguard.store import AuditEntry, Store
from vanguard.verify.series import SeriesJudgement, labels_key, metric_key


def _entry(windows: JsonValue) -> AuditEntry:
    return AuditEntry(
        seq=1,
        incident_id="inc-1",
        kind=BASELINE,
        payload={"windows": windows},
        at=T0,
        prev_hash="",
        hash="",
    )


def test_a_baseline_keyed_by_name_is_from_an_earlier_version() -> None:
    """One window per entry, its series' labels unknown: marked, never guessed from."""
    recorded = Activities._baseline_windows([_entry({"wait_seconds{}": [[T0.isoformat(), 1.0]]})])
    assert recorded is not None
    assert recorded.earlier
    assert recorded.windows == {}


def test_a_baseline_round_trips_through_the_redacting_audit_trail() -> None:
    """Label values stay values: one that looks like a secret keeps its points."""
    labels = {"database": "app", "user": "token_rw"}
    entry = metric_key(VerifyMetric(metric="llm_tokens_total"))
    stored = redact(
        [
            {
                "entry": entry,
                "labels": [[k, v] for k, v in sorted(labels.items())],
                "points": [[T0.isoformat(), 2.0]],
            }
        ]
    )
    recorded = Activities._baseline_windows([_entry(stored)])
    assert recorded is not None
    assert not recorded.earlier
    assert recorded.windows == {entry: {labels_key(labels): _points(2.0)}}


def _alert(**labels: str) -> Alert:
    return Alert(
        alert_id="a-1",
        fingerprint="svc/wait_seconds",
        source="detector",
        service_name="svc",
        metric_type="wait_seconds",
        labels={"service_type": "svc", **labels},
        detected_at=T0,
        summary="wait",
        anomaly_score=1.0,
        confidence=1.0,
        evidence=_points(*[0.8] * 6),
    )


def test_the_alerting_series_is_the_one_deciding_series_its_labels_name() -> None:
    deciding = [
        SeriesJudgement(f"wait_seconds{{pool={p}}}", _v(UP, 0.0), {"pool": p}) for p in "xy"
    ]
    found = Activities._alerting_series(_alert(pool="x"), WAIT, deciding)
    assert found == ("wait_seconds{pool=x}", False)
    assert Activities._alerting_series(_alert(), WAIT, deciding) == (None, False)
    assert Activities._alerting_series(_alert(team="db"), WAIT, deciding) == (None, False)
    other = VerifyMetric(metric="queue")
    assert Activities._alerting_series(_alert(pool="x"), other, deciding) == (None, False)
    assert Activities._alerting_series(_alert(pool="z"), WAIT, deciding) == (None, True)


def test_the_alerts_evidence_is_the_baseline_of_the_series_read_now() -> None:
    """A source that adds a label the alert lacks: the one series read is the alert's."""
    entry = VerifyMetric(metric="wait_seconds", labels={"pool": "a"})
    full = labels_key({"pool": "a", "instance": "db1"})
    observed = {metric_key(entry): {full: _points(0.1)}}
    baseline = Activities._evidence_as_baseline(_alert(pool="a"), entry, observed)
    assert baseline == {metric_key(entry): {full: _points(*[0.8] * 6)}}
    two = {metric_key(entry): {full: _points(0.1), labels_key({"pool": "a", "x": "1"}): ()}}
    baseline = Activities._evidence_as_baseline(_alert(pool="a"), entry, two)
    assert baseline == {metric_key(entry): {labels_key({"pool": "a"}): _points(*[0.8] * 6)}}


def test_one_reading_counts_a_series_once_when_two_sources_report_it(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scrape and console both listing a pool must not double its points in the test."""
    settings = Settings(
        data_dir=Path("."),
        services=(ServiceConfig(name="svc", type="svc", scrape=ScrapeConfig(url="http://x")),),
        verification=VerificationConfig(sample_interval_s=0.2),
    )
    ticks = iter(range(10))
    acts = Activities(
        settings,
        store,
        [],
        {},
        MemoryLedger(),
        [],
        clock=lambda: T0 + timedelta(seconds=next(ticks)),
    )

    def read(service: ServiceConfig, metrics: Sequence[str], now: datetime) -> list[Signal]:
        return [
            Signal(
                source=source,
                service_name="svc",
                metric_type="wait_seconds",
                labels={"pool": "a"},
                timestamp=now,
                value=value,
            )
            for source, value in (("scrape", 1.0), ("pgbouncer", 2.0))
        ]

    monkeypatch.setattr(acts, "_read", read)
    windows = acts._sample(settings.services[0], [WAIT], 2)
    assert windows == {metric_key(WAIT): {A: _points(1.0, 1.0)}}
