"""Values round-trip through JSON and are immutable."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest

from vanguard.model import (
    ActionResult,
    Alert,
    Decision,
    Diagnosis,
    EvidencePoint,
    GateVerdict,
    Outcome,
    OutcomeStatus,
    Remedy,
    TrendAnalysis,
    UndoRecord,
    Verdict,
    Verification,
    VerifySeries,
    quantity,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def sample_values() -> list[pydantic.BaseModel]:
    trend = TrendAnalysis(
        current=78.0,
        ema=77.1,
        slope_per_hour=5.2,
        zscore=2.8,
        threshold=90.0,
        predicted_breach_time=T0,
        breach_confidence=0.87,
    )
    alert = Alert(
        alert_id="a1",
        fingerprint="svc/mem",
        source="detector:trend",
        service_name="svc",
        metric_type="memory_percent",
        detected_at=T0,
        summary="memory rising",
        anomaly_score=0.7,
        confidence=0.87,
        trend_analysis=trend,
        evidence=(EvidencePoint(timestamp=T0, value=78.0),),
    )
    undo = UndoRecord(action="noop", target="svc", possible=False, instructions="nothing")
    return [
        alert,
        Decision(
            incident_id="i",
            approved=True,
            dry_run=False,
            verdicts=(GateVerdict(gate="confidence", passed=True, reason="0.87 >= 0.8"),),
            reason="all gates passed",
            decided_at=T0,
        ),
        ActionResult(
            idempotency_key="k",
            incident_id="i",
            action="supervisor.restart",
            target="svc",
            applied=True,
            before={"pid": 1},
            after={"pid": 2},
            undo=undo,
            message="restarted",
            finished_at=T0,
        ),
        Diagnosis(
            alert_id="a1",
            pattern_id="ok_ratio_drop",
            confidence=0.81,
            remedy=Remedy(action="supervisor.restart"),
            pattern_version=2,
            verify=(VerifySeries(better="higher"), VerifySeries(metric="q", labels={"p": "a"})),
        ),
        Outcome(
            incident_id="i",
            pattern_id="memory_leak_gradual",
            status=OutcomeStatus.resolved,
            reason="recovered",
            verification=Verification(verdict=Verdict.improved, reason="mean fell 60 %"),
            finished_at=T0,
        ),
    ]


@pytest.mark.parametrize("value", sample_values(), ids=lambda v: type(v).__name__)
def test_round_trip_through_json(value: pydantic.BaseModel) -> None:
    again = type(value).model_validate_json(value.model_dump_json())
    assert again == value


def test_a_diagnosis_stored_by_an_earlier_version_loads() -> None:
    """Stored rows and workflow payloads written before ``pattern_version`` and ``verify``."""
    old = '{"alert_id": "a1", "pattern_id": "p", "confidence": 0.5, "reasons": ["matched"]}'
    diagnosis = Diagnosis.model_validate_json(old)
    assert (diagnosis.pattern_version, diagnosis.verify) == (None, None)


def test_values_are_frozen() -> None:
    alert = sample_values()[0]
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        alert.summary = "changed"  # type: ignore[attr-defined]


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="timezone"):
        EvidencePoint(timestamp=datetime(2026, 1, 1), value=1.0)


def test_trend_description_reads_like_the_seed_plan() -> None:
    trend = TrendAnalysis(
        current=78, ema=77, slope_per_hour=5.2, zscore=2.8, breach_confidence=0.87
    )
    assert trend.describe() == "current 78, +5.2/h, z 2.8σ, 87% breach confidence"
    rss = TrendAnalysis(
        current=93.85e6, ema=90e6, slope_per_hour=-2**20, zscore=1.0, threshold=2**28,
        breach_confidence=0.5,
    )  # fmt: skip
    assert rss.describe("process_resident_memory_bytes") == (
        "current 89.5 MiB, -1.0 MiB/h, z 1.0σ, threshold 256.0 MiB, 50% breach confidence"
    ), "the same units as the alert's summary"


def test_byte_metrics_are_summarised_in_binary_units() -> None:
    assert quantity(166_100_000, "process_resident_memory_bytes") == "158.4 MiB"
    assert quantity(3 * 2**30, "node_memory_bytes") == "3.0 GiB"
    assert quantity(512, "x_bytes") == "512 B"
    assert quantity(78.25, "cpu_percent") == "78.25"


def test_a_trend_without_a_forecast_claims_no_confidence() -> None:
    """An anomaly's notification said "confidence 0.93", then "0% confidence" a line below."""
    trend = TrendAnalysis(current=78, ema=77, slope_per_hour=0.1, zscore=4.0, threshold=90)
    assert trend.describe() == "current 78, +0.1/h, z 4.0σ, threshold 90"
