"""Verification readings: at least one after the action, each sample counted once, and
Temporal kept informed however far apart they are."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from tests.unit.engine.test_verify_baseline import (
    HEALTHY,
    PATTERN,
    SICK,
    Fix,
    api_settings,
    latency,
    through_verify,
)
from tests.unit.engine.test_verify_baseline import _alert as api_alert
from vanguard.act.base import MemoryLedger
from vanguard.config import (
    MAX_SAMPLE_INTERVAL_S,
    PrometheusSource,
    ScrapeConfig,
    ServiceConfig,
    Settings,
    VerificationConfig,
    VerifyMetric,
)
from vanguard.engine import activities
from vanguard.engine.activities import Activities
from vanguard.engine.messages import RemediationInput
from vanguard.model import Alert, EvidencePoint, Signal, Verdict
from vanguard.store import Store
from vanguard.verify import compare
from vanguard.verify.series import judge_each_series, labels_key, metric_key


@pytest.mark.parametrize("samples", [0, -1])
def test_fewer_than_one_verify_sample_is_refused(store: Store, samples: int) -> None:
    """No reading after the action would leave nothing to compare (a median of nothing)."""
    with pytest.raises(ValueError, match=f"verify_samples must be at least 1, got {samples}"):
        Activities(
            Settings(data_dir=Path(".")), store, [], {}, MemoryLedger(), [], verify_samples=samples
        )


def test_one_verify_sample_is_enough(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``verify_samples=1`` the one reading after the action is judged against the
    baseline, and a fix it shows is a verdict, not too few points to judge by."""
    service = {"latency": SICK}
    fix = Fix(service)
    acts = Activities(
        api_settings(), store, [PATTERN], {fix.kind: fix}, MemoryLedger(), [], verify_samples=1
    )
    read: list[float] = []

    def reading(service_: ServiceConfig, metrics: Sequence[str], now: datetime) -> list[Signal]:
        read.append(service["latency"])
        return latency(service["latency"], now)

    monkeypatch.setattr(acts, "_read", reading)
    before = [SICK * (1 + 0.01 * (i % 3)) for i in range(20)]
    verification = through_verify(acts, api_alert("forecast", before))
    assert read == [HEALTHY]
    assert verification.verdict is Verdict.improved, verification.reason
    assert [p.value for p in verification.observed] == [HEALTHY]


T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
WAIT = VerifyMetric(metric="wait_seconds")
POOL = labels_key({"pool": "a"})


def _ticking(step_s: float = 5.0) -> Callable[[], datetime]:
    """A clock that moves ``step_s`` on every reading."""
    ticks = itertools.count()
    return lambda: T0 + timedelta(seconds=step_s * next(ticks))


def _scraped(service: ServiceConfig, store: Store, *, interval_s: float = 0.2) -> Activities:
    settings = Settings(
        data_dir=Path("."),
        services=(service,),
        verification=VerificationConfig(sample_interval_s=interval_s),
    )
    return Activities(settings, store, [], {}, MemoryLedger(), [], clock=_ticking())


SCRAPED = ServiceConfig(name="svc", type="svc", scrape=ScrapeConfig(url="http://x"))


Read = Callable[[ServiceConfig, Sequence[str], datetime], list[Signal]]


def _server_answering(every_s: float) -> Read:
    """A Prometheus server's answers: its last scrape (every ``every_s``) with that scrape's
    time, whenever it is read."""

    def read(service: ServiceConfig, metrics: Sequence[str], now: datetime) -> list[Signal]:
        scraped = (now - T0).total_seconds() // every_s * every_s
        return [
            Signal(
                source="prometheus",
                service_name="svc",
                metric_type="wait_seconds",
                labels={"pool": "a"},
                timestamp=T0 + timedelta(seconds=scraped),
                value=scraped,
            )
        ]

    return read


def test_a_sample_read_again_counts_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read every 5 s while the server scrapes every 15 s: 6 readings are 2 samples, not 6
    points (the same sample counted three times passed for evidence of a change)."""
    acts = _scraped(SCRAPED, store)
    monkeypatch.setattr(acts, "_read", _server_answering(15.0))
    windows = acts._sample(SCRAPED, [WAIT], 6)
    points = windows[metric_key(WAIT)][POOL]
    assert [p.timestamp for p in points] == [T0, T0 + timedelta(seconds=15)]


def test_one_sample_read_six_times_is_too_few_to_judge_by(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scrape every minute and the window read over 25 s: one sample, not six points."""
    acts = _scraped(SCRAPED, store)
    monkeypatch.setattr(acts, "_read", _server_answering(60.0))
    after = acts._sample(SCRAPED, [WAIT], 6)[metric_key(WAIT)][POOL]
    before = tuple(
        EvidencePoint(timestamp=T0 - timedelta(seconds=15 * (20 - i)), value=1.0 + 0.01 * i)
        for i in range(20)
    )
    (judged,) = judge_each_series(
        WAIT, {POOL: before}, {POOL: after}, partial(compare, better="lower")
    )
    assert judged.verification.verdict is Verdict.inconclusive
    assert "observed 1; need 5 each" in judged.verification.reason


def test_a_prometheus_server_is_read_no_faster_than_its_interval(store: Store) -> None:
    prometheus = ServiceConfig(
        name="svc",
        type="svc",
        prometheus=PrometheusSource(url="http://prometheus:9090", interval_s=15),
    )
    acts = _scraped(prometheus, store, interval_s=5)
    assert acts._sample_interval(prometheus) == 15
    assert acts._sample_interval(SCRAPED) == 5
    slow = prometheus.model_copy(
        update={"prometheus": PrometheusSource(url="http://prometheus:9090", interval_s=3600)}
    )
    assert acts._sample_interval(slow) == MAX_SAMPLE_INTERVAL_S


def test_sampling_tells_temporal_the_worker_is_alive_while_it_waits(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One heartbeat per reading left a minute-long interval silent past the 60 s
    heartbeat timeout: every baseline and verification failed as if the worker had died."""
    monkeypatch.setattr(activities, "HEARTBEAT_EVERY_S", 0.05)
    acts = _scraped(SCRAPED, store, interval_s=1.0)
    monkeypatch.setattr(acts, "_read", _server_answering(1.0))
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    env.run(acts._sample, SCRAPED, [WAIT], 2)
    assert len(beats) >= 10


def test_the_workflow_gives_sampling_the_time_the_settings_can_ask_for() -> None:
    """The longest baseline (``baseline_s`` up to a day) and the longest verification (six
    readings up to ``MAX_SAMPLE_INTERVAL_S`` apart, and six more for a second look) fit in
    their activities' timeouts."""
    longest_baseline = VerificationConfig.model_json_schema()["properties"]["baseline_s"]["maximum"]
    inp = RemediationInput(incident_id="inc-1", alert=_alert(), window_s=60)
    assert inp.baseline_timeout_s >= longest_baseline + 600
    assert inp.verify_timeout_s >= 2 * 6 * MAX_SAMPLE_INTERVAL_S + 600


def _alert() -> Alert:
    return Alert(
        alert_id="a-1",
        fingerprint="svc/wait_seconds",
        source="detector:breach",
        service_name="svc",
        metric_type="wait_seconds",
        detected_at=T0,
        summary="wait",
        anomaly_score=1.0,
        confidence=1.0,
    )
