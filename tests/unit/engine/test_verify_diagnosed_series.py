"""A remedy is judged by the series its pattern named when it matched, not by the library
the worker that verifies holds.

The library may be redeployed while an incident waits for approval or sits in its
verification window, or two workers may hold different libraries during a rolling deploy.
A pattern renamed or removed meanwhile fell back to the alert's own series with
``better: lower``, and one whose ``better`` flipped judged the same readings the other way:
a fix that raised the ok ratio read *degraded* and was rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pytest

from tests.unit.engine.test_verify_baseline import HEALTHY as FIXED
from tests.unit.engine.test_verify_baseline import Fix, api_settings
from vanguard.act.base import MemoryLedger
from vanguard.config import ServiceConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy, PatternVerify
from vanguard.engine.activities import Activities
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput, VerifyInput
from vanguard.model import (
    Alert,
    Diagnosis,
    EvidencePoint,
    Signal,
    TrendAnalysis,
    Verdict,
    Verification,
    VerifySeries,
)
from vanguard.store import Store

METRIC = "http_requests_ok_ratio"
SICK, HEALTHY = 0.5, 0.99


def _pattern(
    pid: str = "ok_ratio_drop", *, better: Literal["lower", "higher"] = "higher", version: int = 1
) -> Pattern:
    return Pattern(
        id=pid,
        version=version,
        description="the share of requests answered well falls",
        metric=METRIC,
        signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
        remedy=PatternRemedy(action="api.fix"),
        rollback_safe=True,
        prior_confidence=0.9,
        verify=(PatternVerify(better=better),),
    )


def _activities(
    store: Store, patterns: Sequence[Pattern], service: dict[str, float], mp: pytest.MonkeyPatch
) -> Activities:
    """Activities holding ``patterns`` whose ``api.fix`` (``Fix``, which sets the service's
    ``latency`` to ``FIXED``) brings the ok ratio to health."""
    settings = api_settings()
    adapter = Fix(service)
    acts = Activities(settings, store, patterns, {adapter.kind: adapter}, MemoryLedger(), [])
    rng = np.random.default_rng(3)

    def read(service_: ServiceConfig, metrics: Sequence[str], now: datetime) -> list[Signal]:
        ratio = HEALTHY if service["latency"] == FIXED else SICK
        value = ratio * (1 + 0.01 * rng.standard_normal())
        return [
            Signal(
                source="scrape", service_name="api", metric_type=METRIC, timestamp=now, value=value
            )
        ]

    mp.setattr(acts, "_read", read)
    return acts


def _alert() -> Alert:
    now = datetime.now(UTC)
    return Alert(
        alert_id="a-ok",
        fingerprint=f"api/{METRIC}",
        source="detector:breach",
        service_name="api",
        metric_type=METRIC,
        detected_at=now,
        summary="ok ratio fell",
        anomaly_score=1.0,
        confidence=0.99,
        trend_analysis=TrendAnalysis(
            current=SICK, ema=0.9, slope_per_hour=-1.0, zscore=-9.0, threshold=0.8
        ),
        evidence=tuple(
            EvidencePoint(timestamp=now - timedelta(seconds=5 * (8 - i)), value=SICK)
            for i in range(8)
        ),
        attributes={"kind": "breach"},
    )


def _diagnosed(store: Store, patterns: Sequence[Pattern], mp: pytest.MonkeyPatch) -> Diagnosis:
    """Incident ``inc-1`` opened and diagnosed by a worker holding ``patterns``."""
    acts = _activities(store, patterns, {"latency": SICK}, mp)
    alert = _alert()
    acts.open_incident(OpenInput(incident_id="inc-1", alert=alert))
    return acts.diagnose(DiagnoseInput(incident_id="inc-1", alert=alert))


def _verified(
    store: Store, patterns: Sequence[Pattern], diagnosis: Diagnosis, mp: pytest.MonkeyPatch
) -> Verification:
    """The rest of ``inc-1`` (decided, baseline, act, verify) by a worker holding
    ``patterns``; the fix raises the ok ratio from 0.5 to 0.99."""
    acts = _activities(store, patterns, {"latency": SICK}, mp)
    alert = _alert()
    acts.decide(DecideInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis))
    apply = ApplyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis)
    acts.record_baseline(apply)
    action = acts.apply_action(apply)
    return acts.verify(
        VerifyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis, action=action)
    )


def test_the_diagnosis_keeps_the_series_and_version_of_the_pattern_that_matched(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    diagnosis = _diagnosed(store, [_pattern(version=3)], monkeypatch)
    assert diagnosis.pattern_version == 3
    assert diagnosis.verify == (VerifySeries(better="higher"),)


@pytest.mark.parametrize(
    "library",
    [[], [_pattern("ok_ratio_falls")], [_pattern(better="lower", version=2)]],
    ids=["removed", "renamed", "better-flipped"],
)
def test_a_library_changed_mid_incident_does_not_change_how_it_is_judged(
    store: Store, monkeypatch: pytest.MonkeyPatch, library: list[Pattern]
) -> None:
    diagnosis = _diagnosed(store, [_pattern()], monkeypatch)
    verification = _verified(store, library, diagnosis, monkeypatch)
    assert verification.verdict is Verdict.improved, verification.reason


def test_a_diagnosis_stored_before_it_kept_its_series_looks_its_pattern_up(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row or workflow payload written by an earlier version has neither field."""
    kept = _diagnosed(store, [_pattern()], monkeypatch).model_dump(mode="json")
    del kept["verify"], kept["pattern_version"]
    older = Diagnosis.model_validate(kept)
    assert (older.verify, older.pattern_version) == (None, None)
    verification = _verified(store, [_pattern()], older, monkeypatch)
    assert verification.verdict is Verdict.improved, verification.reason
