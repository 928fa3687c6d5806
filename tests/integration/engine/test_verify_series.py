"""Verification by several series from a real endpoint: baseline before, window after.

An in-test adapter changes what a real ``/metrics`` endpoint reports, as a remedy changes a
service: the queue and the wait time fall, and the error rate stays or rises. The baseline
is read once, before the action, and a series that got worse vetoes an improvement.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client import Gauge

from tests.integration.engine.gauge_action import GaugeAction, Gauges
from tests.servers.exporter import Exporter
from vanguard.act.base import MemoryLedger
from vanguard.config import ScrapeConfig, ServiceConfig, Settings, VerificationConfig, VerifyMetric
from vanguard.decide import PolicyConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy, PatternVerify
from vanguard.engine.activities import Activities
from vanguard.engine.messages import (
    ApplyInput,
    DecideInput,
    DiagnoseInput,
    OpenInput,
    VerifyInput,
)
from vanguard.model import (
    Alert,
    EvidencePoint,
    Verdict,
)
from vanguard.store import IncidentRepo, open_store

pytestmark = pytest.mark.integration


class Widen(GaugeAction):
    """``svc.widen``: the service's queue and wait fall; its error ratio becomes ``errors``."""

    kind: ClassVar[str] = "svc.widen"


def _widen(gauges: Gauges, errors: float) -> Widen:
    def effect(g: Gauges) -> None:
        g["queue"].set(2)
        g["wait"].set(0.05)
        g["errors"].set(errors)

    return Widen(gauges, effect)


PATTERN = Pattern(
    id="svc_queue",
    description="the queue grows",
    service_types=("svc",),
    metric="queue",
    signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
    remedy=PatternRemedy(action="svc.widen"),
    rollback_safe=True,
    prior_confidence=0.9,
)


@pytest.fixture
def exporter() -> Iterator[tuple[Exporter, dict[str, Gauge]]]:
    with Exporter() as exp:
        gauges = {
            "queue": exp.gauge("queue", "Waiting requests."),
            "wait": exp.gauge("wait_seconds", "Longest wait."),
            "errors": exp.gauge("error_ratio", "Failed requests / requests."),
        }
        gauges["queue"].set(10)
        gauges["wait"].set(0.8)
        gauges["errors"].set(0.01)
        yield exp, gauges


SERIES = ("queue", "wait_seconds", "error_ratio")
LISTED_BY_PATTERN = PATTERN.model_copy(
    update={"verify": tuple(PatternVerify(metric=m) for m in SERIES)}
)


@pytest.mark.parametrize("listed_by", ["service", "pattern"])
@pytest.mark.parametrize(("errors", "verdict"), [(0.01, Verdict.improved), (0.3, Verdict.degraded)])
def test_queue_wait_and_error_rate_judge_the_remedy(
    exporter: tuple[Exporter, dict[str, Gauge]],
    tmp_path: Path,
    errors: float,
    verdict: Verdict,
    listed_by: str,
) -> None:
    """The series may be listed by the service or by the pattern; either way all are read.

    The pattern case's alert carries its own series' evidence, as a detector's does: that is
    a baseline for the queue alone, so the other series must still be sampled before acting.
    """
    exp, gauges = exporter
    by_service = listed_by == "service"
    settings = Settings(
        data_dir=tmp_path,
        services=(
            ServiceConfig(
                name="svc",
                type="svc",
                scrape=ScrapeConfig(url=exp.url),
                verify=tuple(VerifyMetric(metric=m) for m in SERIES) if by_service else (),
            ),
        ),
        policy=PolicyConfig(min_confidence=0.5),
        verification=VerificationConfig(baseline_s=1, sample_interval_s=0.2),
    )
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    adapter = _widen(gauges, errors)
    pattern = PATTERN if by_service else LISTED_BY_PATTERN
    acts = Activities(settings, store, [pattern], {adapter.kind: adapter}, MemoryLedger(), [])
    now = datetime.now(UTC)
    alert = Alert(
        alert_id="a-1",
        fingerprint="svc/queue",
        source="alertmanager" if by_service else "watch",
        service_name="svc",
        metric_type="queue",
        detected_at=now,
        summary="queue 10",
        anomaly_score=1.0,
        confidence=1.0,
        evidence=()
        if by_service
        else tuple(
            EvidencePoint(timestamp=now - timedelta(seconds=s), value=10.0) for s in range(5, 0, -1)
        ),
    )
    try:
        acts.open_incident(OpenInput(incident_id="inc-1", alert=alert))
        diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-1", alert=alert))
        acts.decide(DecideInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis))
        apply = ApplyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis)
        acts.record_baseline(apply)
        acts.record_baseline(apply)
        action = acts.apply_action(apply)
        acts.apply_action(apply)
        verification = acts.verify(
            VerifyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis, action=action)
        )
        with store.session() as session:
            record = IncidentRepo(session).get_record("inc-1")
    finally:
        store.close()

    assert verification.verdict is verdict, verification.reason
    assert [p.value for p in verification.baseline] == [10.0] * len(verification.baseline)
    assert len(verification.baseline) >= 5
    assert {p.value for p in verification.observed} == {2.0}
    assert verification.figures["wait_seconds{}:observed_median"] == 0.05
    assert verification.figures["error_ratio{}:observed_median"] == errors
    if verdict is Verdict.degraded:
        assert "error_ratio{} got worse" in verification.reason
    assert record is not None
    assert record.verification == verification
    assert [e.kind for e in record.audit].count("verification.baseline") == 1


@pytest.mark.parametrize(("age_s", "read_again"), [(2, False), (600, True)])
def test_an_alert_that_waited_for_a_person_is_judged_against_the_series_as_it_is_now(
    exporter: tuple[Exporter, dict[str, Gauge]], tmp_path: Path, age_s: int, read_again: bool
) -> None:
    """The queue was 10 when the alert fired and grew to 40 while someone decided; a
    baseline from the alert's own points would have called a fall to 20 an improvement
    from 10 to 20, a degradation. After a wait the series is read again before acting."""
    exp, gauges = exporter
    gauges["queue"].set(40)
    settings = Settings(
        data_dir=tmp_path,
        services=(ServiceConfig(name="svc", type="svc", scrape=ScrapeConfig(url=exp.url)),),
        policy=PolicyConfig(min_confidence=0.5),
        verification=VerificationConfig(baseline_s=1, sample_interval_s=0.2),
    )
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    adapter = Widen(gauges, lambda g: g["queue"].set(20))
    acts = Activities(settings, store, [PATTERN], {adapter.kind: adapter}, MemoryLedger(), [])
    fired = datetime.now(UTC) - timedelta(seconds=age_s)
    alert = Alert(
        alert_id="a-2",
        fingerprint="svc/queue",
        source="watch",
        service_name="svc",
        metric_type="queue",
        detected_at=fired,
        summary="queue 10",
        anomaly_score=1.0,
        confidence=1.0,
        evidence=tuple(
            EvidencePoint(timestamp=fired - timedelta(seconds=s), value=10.0)
            for s in range(5, -1, -1)
        ),
    )
    try:
        acts.open_incident(OpenInput(incident_id="inc-2", alert=alert))
        diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-2", alert=alert))
        acts.decide(DecideInput(incident_id="inc-2", alert=alert, diagnosis=diagnosis))
        apply = ApplyInput(incident_id="inc-2", alert=alert, diagnosis=diagnosis)
        acts.record_baseline(apply)
        action = acts.apply_action(apply)
        verification = acts.verify(
            VerifyInput(incident_id="inc-2", alert=alert, diagnosis=diagnosis, action=action)
        )
    finally:
        store.close()
    if read_again:
        assert {p.value for p in verification.baseline} == {40.0}
        assert verification.verdict is Verdict.improved, verification.reason
    else:
        assert {p.value for p in verification.baseline} == {10.0}
        assert verification.verdict is Verdict.degraded, verification.reason
