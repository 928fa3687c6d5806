"""A verify entry that matched several series: each judged by its own baseline, each named."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from vanguard.config import VerifyMetric
from vanguard.engine.activities import combine_verifications, judge_each_series
from vanguard.model import EvidencePoint, Verdict, Verification
from vanguard.verify import compare

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
WAIT = VerifyMetric(metric="wait_seconds")


def _points(*values: float) -> tuple[EvidencePoint, ...]:
    return tuple(
        EvidencePoint(timestamp=T0 + timedelta(seconds=i), value=v) for i, v in enumerate(values)
    )


def _compare(base: Sequence[EvidencePoint], obs: Sequence[EvidencePoint]) -> Verification:
    return compare(base, obs, better="lower")


def test_each_matched_series_is_compared_with_its_own_baseline() -> None:
    judged = judge_each_series(
        WAIT,
        {"pool=a": _points(*[0.8] * 6), "pool=b": _points(*[0.1] * 6)},
        {"pool=a": _points(*[0.1] * 6), "pool=b": _points(*[0.8] * 6)},
        _compare,
    )
    assert [(name, v.verdict) for name, v in judged] == [
        ("wait_seconds{pool=a}", Verdict.improved),
        ("wait_seconds{pool=b}", Verdict.degraded),
    ]


def test_a_series_seen_before_or_after_only_is_inconclusive() -> None:
    judged = judge_each_series(
        WAIT, {"pool=a": _points(*[0.8] * 6)}, {"pool=c": _points(*[0.1] * 6)}, _compare
    )
    assert [(name, v.verdict) for name, v in judged] == [
        ("wait_seconds{pool=a}", Verdict.inconclusive),
        ("wait_seconds{pool=c}", Verdict.inconclusive),
    ]


def test_nothing_matched_is_one_inconclusive_entry_by_its_own_name() -> None:
    entry = VerifyMetric(metric="wait_seconds", labels={"pool": "a"})
    ((name, verification),) = judge_each_series(entry, {}, {}, _compare)
    assert name == "wait_seconds{pool=a}"
    assert verification.verdict is Verdict.inconclusive


def _v(verdict: Verdict, figure: float) -> Verification:
    return Verification(
        verdict=verdict, reason=verdict.value, observed=_points(figure), figures={"m": figure}
    )


UP, SAME, DOWN, UNSURE = Verdict.improved, Verdict.unchanged, Verdict.degraded, Verdict.inconclusive


@pytest.mark.parametrize(
    ("deciding", "verdict"),
    [
        ((UP, SAME), UP),
        ((SAME, SAME), SAME),
        ((UP, DOWN), DOWN),
        ((UP, UNSURE), UNSURE),
        ((SAME, UNSURE), UNSURE),
        ((UNSURE, DOWN), DOWN),
    ],
)
def test_several_deciding_series(deciding: tuple[Verdict, ...], verdict: Verdict) -> None:
    """Worse anywhere, then unjudged anywhere, then better anywhere, else unchanged."""
    judged = [
        (f"wait_seconds{{pool={p}}}", _v(v, n))
        for n, (p, v) in enumerate(zip("ab", deciding, strict=True))
    ]
    combined = combine_verifications(judged, deciding=len(judged))
    assert combined.verdict is verdict
    assert combined.figures == {"wait_seconds{pool=a}:m": 0.0, "wait_seconds{pool=b}:m": 1.0}
    assert combined.baseline == combined.observed == ()
    assert "wait_seconds{pool=a}: " in combined.reason
    assert "wait_seconds{pool=b}: " in combined.reason


def test_a_vetoing_series_still_vetoes_several_deciding_ones() -> None:
    judged = [
        ("wait_seconds{pool=a}", _v(UP, 0.0)),
        ("wait_seconds{pool=b}", _v(SAME, 1.0)),
        ("errors{}", _v(DOWN, 2.0)),
    ]
    combined = combine_verifications(judged, deciding=2)
    assert combined.verdict is Verdict.degraded
    assert combined.reason.startswith("degraded: errors{} got worse")
    assert combined.figures["errors{}:m"] == 2.0
