"""Pattern loading and matching: the closed vocabulary, the built-in library, explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vanguard.diagnose.matcher import match
from vanguard.diagnose.operators import Operator, apply_operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy, load_patterns
from vanguard.errors import ConfigError
from vanguard.model import Alert, TrendAnalysis

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def leak_alert(slope: float = 7.2e8, breach_in_s: float = 600, conf: float = 0.9) -> Alert:
    return Alert(
        alert_id="a",
        fingerprint="leaky/mem",
        source="detector:watch",
        service_name="leaky",
        metric_type="process_resident_memory_bytes",
        detected_at=T0,
        summary="rising",
        anomaly_score=0.4,
        confidence=conf,
        trend_analysis=TrendAnalysis(
            current=1e8,
            ema=9e7,
            slope_per_hour=slope,
            zscore=3.0,
            threshold=4e8,
            predicted_breach_time=T0 + timedelta(seconds=breach_in_s),
            breach_confidence=0.8,
        ),
    )


def test_builtin_library_loads_and_names_files_after_ids() -> None:
    ids = [p.id for p in load_patterns()]
    assert "memory_leak_gradual" in ids
    leak = next(p for p in load_patterns() if p.id == "memory_leak_gradual")
    assert leak.remedy.action == "supervisor.restart"
    assert leak.rollback_safe is False


def test_memory_leak_matches_with_product_confidence_and_reasons() -> None:
    diagnosis = match(leak_alert(), load_patterns(), service_type="python-web")
    assert diagnosis.pattern_id == "memory_leak_gradual"
    assert diagnosis.confidence == pytest.approx(0.9 * 0.9)
    assert diagnosis.remedy is not None
    assert diagnosis.remedy.action == "supervisor.restart"
    assert any("trend.slope_per_hour" in r and r.endswith("yes") for r in diagnosis.reasons)


def test_falling_memory_does_not_match_and_says_why() -> None:
    diagnosis = match(leak_alert(slope=-1e6), load_patterns(), service_type="python-web")
    assert diagnosis.pattern_id is None
    assert diagnosis.remedy is None
    assert any("trend.slope_per_hour" in r and r.endswith("no") for r in diagnosis.reasons)


def test_breach_too_far_away_does_not_match() -> None:
    assert (
        match(leak_alert(breach_in_s=10 * 3600), load_patterns(), service_type="x").pattern_id
        is None
    )


def test_calibrated_confidence_overrides_prior() -> None:
    diagnosis = match(
        leak_alert(), load_patterns(), service_type="x", confidences={"memory_leak_gradual": 0.5}
    )
    assert diagnosis.confidence == pytest.approx(0.45)


def test_unknown_metric_gives_no_pattern() -> None:
    alert = leak_alert().model_copy(update={"metric_type": "http_requests_total"})
    diagnosis = match(alert, load_patterns(), service_type="x")
    assert diagnosis.pattern_id is None
    assert "no pattern covers" in diagnosis.reasons[0]


PATTERN = """\
id: {id}
description: test
metric: m
signature:
  - {{field: {field}, op: {op}, value: 1}}
remedy: {{action: supervisor.restart}}
rollback_safe: false
prior_confidence: 0.5
"""


@pytest.mark.parametrize(
    ("pid", "field", "op", "line", "key", "message"),
    [
        ("bad_field", "trend.nope", "gt", 5, "signature[0].field", "unknown field"),
        ("bad_op", "confidence", "approx", 5, "signature[0].op", "Input should be"),
        ("other_name", "confidence", "gt", 1, "id", "must match the file name"),
    ],
)
def test_invalid_patterns_are_rejected_at_load(
    tmp_path: Path, pid: str, field: str, op: str, line: int, key: str, message: str
) -> None:
    name = "bad_field" if pid == "other_name" else pid
    (tmp_path / f"{name}.yaml").write_text(PATTERN.format(id=pid, field=field, op=op))
    with pytest.raises(ConfigError) as info:
        load_patterns([tmp_path], include_builtin=False)
    assert (info.value.line, info.value.key) == (line, key)
    assert message in str(info.value)


def test_missing_patterns_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="patterns directory not found"):
        load_patterns([tmp_path / "nope"])


@pytest.mark.parametrize(
    ("op", "actual", "expected", "result"),
    [
        (Operator.gt, 2.0, 1, True),
        (Operator.gt, 1.0, 1, False),
        (Operator.gte, 1.0, 1, True),
        (Operator.lt, 0.5, 1, True),
        (Operator.lte, 1.0, 1, True),
        (Operator.eq, "critical", "critical", True),
        (Operator.ne, "warning", "critical", True),
        (Operator.between, 5.0, [1, 10], True),
        (Operator.between, 11.0, [1, 10], False),
        (Operator.between, 5.0, [1], False),
        (Operator.one_of, "a", ["a", "b"], True),
        (Operator.matches, "pool-exhausted", "exhaust", True),
        (Operator.gt, None, 1, False),
        (Operator.gt, "text", 1, False),
        (Operator.gt, 2.0, "1", False),
    ],
)
def test_operators(
    op: Operator, actual: float | str | None, expected: object, result: bool
) -> None:
    assert apply_operator(op, actual, expected) is result


GENERIC = (Condition(field="trend.slope_per_hour", op=Operator.gt, value=0),)
NARROWER = (*GENERIC, Condition(field="trend.breach_confidence", op=Operator.gte, value=0.5))


def _leak_pattern(
    pid: str,
    signature: tuple[Condition, ...] = GENERIC,
    types: tuple[str, ...] = ("any",),
    prior: float = 0.9,
) -> Pattern:
    return Pattern(
        id=pid,
        description=pid,
        service_types=types,
        metric="process_resident_memory_bytes",
        signature=signature,
        remedy=PatternRemedy(action="supervisor.restart"),
        rollback_safe=False,
        prior_confidence=prior,
    )


@pytest.mark.parametrize(
    ("generic", "specific"),
    [
        (_leak_pattern("a_generic"), _leak_pattern("z_checkout", types=("python-web",))),
        (_leak_pattern("a_generic"), _leak_pattern("z_checkout", signature=NARROWER)),
        (
            _leak_pattern("a_generic", signature=NARROWER),
            _leak_pattern("z_checkout", types=("python-web",)),
        ),
    ],
    ids=["service-type", "more-conditions", "type-before-conditions"],
)
def test_a_tie_goes_to_the_more_specific_pattern_not_the_first_id(
    generic: Pattern, specific: Pattern
) -> None:
    """A generic pattern whose id sorted first beat a team's specific one, and renaming a
    file changed which remedy ran."""
    diagnosis = match(leak_alert(), [generic, specific], service_type="python-web")
    assert diagnosis.pattern_id == "z_checkout"
    assert diagnosis.reasons[-1] == "also matched: a_generic (0.81)"


def test_confidence_comes_before_specificity_and_the_id_breaks_a_full_tie() -> None:
    surer = _leak_pattern("z_generic", prior=0.95)
    specific = _leak_pattern("a_checkout", signature=NARROWER, types=("python-web",))
    assert match(leak_alert(), [specific, surer], service_type="python-web").pattern_id == (
        "z_generic"
    )
    twins = [_leak_pattern("b_leak"), _leak_pattern("a_leak")]
    diagnosis = match(leak_alert(), twins, service_type="python-web")
    assert diagnosis.pattern_id == "a_leak"
    assert diagnosis.reasons[-1] == "also matched: b_leak (0.81)"


def test_only_the_winner_is_named_when_one_pattern_matches() -> None:
    diagnosis = match(leak_alert(), load_patterns(), service_type="python-web")
    assert not any(reason.startswith("also matched") for reason in diagnosis.reasons)
