"""A counter judges a remedy by its rate: a restart's reset to 0 is not an improvement.

A real ``/metrics`` endpoint serves ``errors_total`` as a counter growing at a set rate
(computed from the clock when scraped, so the rate is steady). The in-test remedy
restarts it, as restarting a process does: the count starts again at 0, at the rate the
remedy leaves. Compared raw, the reset read as a fall of the error count, and every
restart "worked".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from tests.integration.engine.gauge_action import GaugeAction, verify_remedy
from tests.servers.exporter import Exporter
from vanguard.act.base import MemoryLedger
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, VerificationConfig, VerifyMetric
from vanguard.decide import PolicyConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy
from vanguard.engine.activities import Activities
from vanguard.model import Alert, Verdict
from vanguard.store import open_store

pytestmark = pytest.mark.integration


class Errors(Collector):
    """``errors_total``: ``rate`` a second since ``start``; a restart sets both anew."""

    def __init__(self, rate: float) -> None:
        self.lock = threading.Lock()
        self.rate, self.start = rate, time.monotonic() - 600.0

    def restart(self, rate: float) -> None:
        with self.lock:
            self.rate, self.start = rate, time.monotonic()

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self.lock:
            value = self.rate * (time.monotonic() - self.start)
        yield CounterMetricFamily("errors", "Failed requests.", value=value)


class Restart(GaugeAction):
    kind: ClassVar[str] = "svc.restart"


PATTERN = Pattern(
    id="svc_errors",
    description="errors climb",
    service_types=("svc",),
    metric="errors_total",
    signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
    remedy=PatternRemedy(action="svc.restart"),
    rollback_safe=True,
    prior_confidence=0.9,
)


@pytest.mark.parametrize(
    ("rate_after", "verdict"),
    [(100.0, Verdict.unchanged), (20.0, Verdict.improved), (300.0, Verdict.degraded)],
)
def test_a_restart_is_judged_by_the_error_rate_it_leaves(
    tmp_path: Path, rate_after: float, verdict: Verdict
) -> None:
    errors = Errors(rate=100.0)
    with Exporter() as exporter:
        exporter.registry.register(errors)
        settings = Settings(
            data_dir=tmp_path,
            services=(
                ServiceConfig(
                    name="svc",
                    type="svc",
                    scrape=ScrapeConfig(url=exporter.url),
                    verify=(VerifyMetric(metric="errors_total"),),
                ),
            ),
            policy=PolicyConfig(min_confidence=0.5),
            verification=VerificationConfig(baseline_s=1, sample_interval_s=0.2),
        )
        store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
        adapter = Restart({}, lambda _: errors.restart(rate_after))
        acts = Activities(settings, store, [PATTERN], {adapter.kind: adapter}, MemoryLedger(), [])
        alert = Alert(
            alert_id="a-1",
            fingerprint="svc/errors_total",
            source="alertmanager",
            service_name="svc",
            metric_type="errors_total",
            detected_at=datetime.now(UTC),
            summary="errors climb",
            anomaly_score=1.0,
            confidence=1.0,
        )
        try:
            verification = verify_remedy(acts, alert)
        finally:
            store.close()
    assert verification.verdict is verdict, verification.reason
    before = [p.value for p in verification.baseline]
    after = [p.value for p in verification.observed]
    assert len(before) >= 5
    assert len(after) >= 5
    assert all(90.0 < v < 110.0 for v in before), before
    assert all(0.9 * rate_after < v < 1.1 * rate_after for v in after), after
