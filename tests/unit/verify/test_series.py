"""Several series judged together, each by its own baseline and name; and which of the
series read is the alert's own: one, or none, or several (never a guess)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal

import numpy as np
import pytest

from tests.unit.notify.builders import incident
from vanguard.config import VerifyMetric
from vanguard.model import EvidencePoint, Verdict, Verification
from vanguard.notify.render import render
from vanguard.verify import compare
from vanguard.verify.series import (
    LISTED,
    MAX_SERIES,
    SeriesJudgement,
    Unmatched,
    combine_verifications,
    judge_each_series,
    labels_key,
    own_series,
)

T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
WAIT = VerifyMetric(metric="wait_seconds")
A, B, C = (labels_key({"pool": p}) for p in "abc")


def _points(*values: float) -> tuple[EvidencePoint, ...]:
    return tuple(
        EvidencePoint(timestamp=T0 + timedelta(seconds=i), value=v) for i, v in enumerate(values)
    )


def _compare(base: Sequence[EvidencePoint], obs: Sequence[EvidencePoint]) -> Verification:
    return compare(base, obs, better="lower")


def test_each_matched_series_is_compared_with_its_own_baseline() -> None:
    judged = judge_each_series(
        WAIT,
        {A: _points(*[0.8] * 6), B: _points(*[0.1] * 6)},
        {A: _points(*[0.1] * 6), B: _points(*[0.8] * 6)},
        _compare,
    )
    assert [(j.name, j.verification.verdict) for j in judged] == [
        ("wait_seconds{pool=a}", Verdict.improved),
        ("wait_seconds{pool=b}", Verdict.degraded),
    ]


def test_a_series_seen_before_or_after_only_is_inconclusive() -> None:
    judged = judge_each_series(WAIT, {A: _points(*[0.8] * 6)}, {C: _points(*[0.1] * 6)}, _compare)
    assert [(j.name, j.verification.verdict, j.lost, j.new) for j in judged] == [
        ("wait_seconds{pool=a}", Verdict.inconclusive, True, False),
        ("wait_seconds{pool=c}", Verdict.inconclusive, False, True),
    ]


def test_nothing_matched_is_one_inconclusive_entry_by_its_own_name() -> None:
    entry = VerifyMetric(metric="wait_seconds", labels={"pool": "a"})
    (judged,) = judge_each_series(entry, {}, {}, _compare)
    assert judged.name == "wait_seconds{pool=a}"
    assert judged.verification.verdict is Verdict.inconclusive
    assert judged.lost
    assert combine_verifications([_judged("queue{}", UP), judged]).verdict is UNSURE


@pytest.mark.parametrize(
    ("baseline", "after", "better"),
    [
        ({}, [0.1] * 6, "lower"),
        ({A: [0.8] * 6}, [3.0] * 6, "lower"),
        ({A: [0.8] * 6}, [0.1] * 6, "higher"),
        ({A: [0.8] * 3}, [0.1] * 6, "lower"),
        ({A: [0.8] * 6, C: [0.1] * 3}, [0.1] * 6, "lower"),
        ({A: [0.8] * 6}, [0.1] * 3, "lower"),
    ],
    ids=[
        "no-series-before",
        "appeared-worse-than-all",
        "appeared-worse-higher-is-better",
        "others-too-short-before",
        "few-points-before",
        "few-points-after",
    ],
)
def test_only_a_harmless_newcomer_is_left_out_of_a_vetoing_entry(
    baseline: dict[str, list[float]], after: list[float], better: Literal["lower", "higher"]
) -> None:
    """Anything else unjudged (nothing before, appeared worse, too few points) is lost."""
    entry = VerifyMetric(metric="wait_seconds", better=better)
    before = {key: _points(*values) for key, values in baseline.items()}
    observed = {key: _points(*values) for key, values in baseline.items() if len(values) >= 5}
    observed[C] = _points(*after)
    judged = judge_each_series(entry, before, observed, partial(compare, better=better))
    newcomer = next(j for j in judged if j.name == "wait_seconds{pool=c}")
    assert (newcomer.lost, newcomer.new) == (True, False)
    assert combine_verifications([_judged("queue{}", UP), *judged]).verdict is UNSURE


def test_a_newcomer_no_worse_than_the_old_series_is_not_counted() -> None:
    judged = judge_each_series(
        WAIT, {A: _points(*[0.8] * 6)}, {A: _points(*[0.1] * 6), C: _points(*[0.8] * 6)}, _compare
    )
    assert [(j.lost, j.new) for j in judged] == [(False, False), (False, True)]
    combined = combine_verifications([_judged("queue{}", UP), *judged])
    assert combined.verdict is UP
    assert "not counted" in combined.reason


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
        SeriesJudgement(f"wait_seconds{{pool={p}}}", _v(v, n))
        for n, (p, v) in enumerate(zip("ab", deciding, strict=True))
    ]
    combined = combine_verifications(judged, deciding=len(judged))
    assert combined.verdict is verdict
    rank = (DOWN, UNSURE, SAME, UP)
    worst = float(min(range(len(deciding)), key=lambda n: rank.index(deciding[n])))
    assert combined.figures == {
        "m": worst,
        "wait_seconds{pool=a}:m": 0.0,
        "wait_seconds{pool=b}:m": 1.0,
    }
    assert combined.observed == _points(worst)
    assert "wait_seconds{pool=a}: " in combined.reason
    assert "wait_seconds{pool=b}: " in combined.reason


def test_a_vetoing_series_still_vetoes_several_deciding_ones() -> None:
    judged = [
        SeriesJudgement("wait_seconds{pool=a}", _v(UP, 0.0)),
        SeriesJudgement("wait_seconds{pool=b}", _v(SAME, 1.0)),
        SeriesJudgement("errors{}", _v(DOWN, 2.0)),
    ]
    combined = combine_verifications(judged, deciding=2)
    assert combined.verdict is Verdict.degraded
    assert combined.reason.startswith("degraded: errors{} got worse")
    assert combined.figures["errors{}:m"] == 2.0


def test_label_values_with_commas_or_equals_do_not_collide() -> None:
    """``a=1,b=2`` as one value and as two labels are two series, each kept apart."""
    one, two = labels_key({"a": "1,b=2"}), labels_key({"a": "1", "b": "2"})
    assert one != two
    judged = judge_each_series(
        WAIT, {one: _points(*[0.8] * 6), two: _points(*[0.1] * 6)}, {}, _compare
    )
    assert len(judged) == 2


def _judged(
    name: str, verdict: Verdict, *, lost: bool = False, new: bool = False
) -> SeriesJudgement:
    return SeriesJudgement(name, _v(verdict, 0.0), lost=lost, new=new)


@pytest.mark.parametrize(
    ("vetoing", "verdict"),
    [
        (_judged("wait_seconds{pool=b}", UNSURE, lost=True), UNSURE),
        (_judged("wait_seconds{pool=b}", UNSURE, new=True), UP),
        (_judged("wait_seconds{pool=b}", SAME), UP),
        (_judged("wait_seconds{pool=b}", DOWN), DOWN),
    ],
)
def test_a_vetoing_series_lost_after_the_action_is_inconclusive(
    vetoing: SeriesJudgement, verdict: Verdict
) -> None:
    """A remedy that removed a series may have broken it: never counted as a success.

    A series that appeared only after the action (a new pool) has nothing to compare with
    and is not counted; the reason says so.
    """
    judged = [_judged("queue{}", UP), _judged("wait_seconds{pool=a}", UP), vetoing]
    combined = combine_verifications(judged)
    assert combined.verdict is verdict
    if vetoing.lost:
        assert combined.reason.startswith("inconclusive: wait_seconds{pool=b} could not be judged")
    if vetoing.new:
        assert "wait_seconds{pool=b}: not counted, too few points before the action" in (
            combined.reason
        )


def test_a_lost_series_does_not_hide_one_that_got_worse() -> None:
    judged = [
        _judged("queue{}", UP),
        _judged("wait_seconds{pool=a}", DOWN),
        _judged("wait_seconds{pool=b}", UNSURE, lost=True),
    ]
    assert combine_verifications(judged).verdict is Verdict.degraded


@pytest.mark.parametrize(
    "vetoing",
    [
        _judged("wait_seconds{pool=b}", UNSURE, lost=True),
        SeriesJudgement("wait_seconds{}", _v(UNSURE, 0.0), too_many=True),
    ],
    ids=["lost", "too-many"],
)
def test_a_deciding_series_that_got_worse_is_named_degraded_beside_an_unjudged_one(
    vetoing: SeriesJudgement,
) -> None:
    """The verdict was degraded while the reason opened "inconclusive: ... could not be
    judged": a person read that the change was left in place as it was rolled back."""
    combined = combine_verifications([_judged("queue{}", DOWN), vetoing])
    assert combined.verdict is DOWN
    assert combined.reason.startswith("degraded (queue{}: degraded; ")


def test_the_reason_opens_with_the_verdict_it_gives() -> None:
    """Whatever settles it (a worse or unjudged series, the alerting one), the words at the
    head of the reason name the verdict itself."""
    verdicts = [_v(UP, 0.0), _v(SAME, 0.0), _v(DOWN, 0.0), _v(UNSURE, 0.0), UNPROVEN]
    vetoing = [
        [],
        [_judged("errors{}", UP)],
        [_judged("errors{}", DOWN)],
        [_judged("errors{}", UNSURE, lost=True)],
        [_judged("errors{}", UNSURE, new=True)],
        [SeriesJudgement("errors{}", _v(UNSURE, 0.0), too_many=True)],
    ]
    for x, y, rest, deciding, alerting, untold in itertools.product(
        verdicts, verdicts, vetoing, [1, 2], [None, "wait_seconds{pool=x}"], [False, True]
    ):
        judged = [
            SeriesJudgement("wait_seconds{pool=x}", x),
            SeriesJudgement("wait_seconds{pool=y}", y),
            *rest,
        ]
        combined = combine_verifications(
            judged, deciding=deciding, alerting=alerting, untold=untold
        )
        head = combined.reason.split(" (", 1)[0]
        assert head.split(":", 1)[0] == combined.verdict.value, combined.reason


def test_a_vetoing_series_too_short_after_the_action_is_lost() -> None:
    """Worse but with too few points after the action: not judged, so not passed over."""
    (judged,) = judge_each_series(
        WAIT, {A: _points(*[0.1] * 6)}, {A: _points(*[3.0] * 2)}, _compare
    )
    assert judged.lost
    combined = combine_verifications([_judged("queue{}", UP), judged])
    assert combined.verdict is Verdict.inconclusive


def test_an_entry_matching_too_many_series_is_not_judged() -> None:
    """Judging thousands of series would outgrow the workflow's payload: inconclusive."""
    many = {labels_key({"pool": str(n)}): _points(*[0.8] * 6) for n in range(MAX_SERIES + 1)}
    (judged,) = judge_each_series(WAIT, many, many, _compare)
    assert judged.name == "wait_seconds{}"
    assert judged.too_many
    assert judged.verification.reason == (
        f"inconclusive: entry matches {MAX_SERIES + 1} series, more than {MAX_SERIES}; "
        "add labels that pick fewer"
    )
    combined = combine_verifications([_judged("queue{}", UP), judged])
    assert combined.verdict is Verdict.inconclusive
    assert combined.reason.startswith("inconclusive: wait_seconds{} matches too many series")


def test_an_entry_at_the_limit_is_judged_series_by_series() -> None:
    many = {labels_key({"pool": str(n)}): _points(*[0.8] * 6) for n in range(MAX_SERIES)}
    judged = judge_each_series(WAIT, many, many, _compare)
    assert len(judged) == MAX_SERIES
    assert not any(j.too_many for j in judged)


def test_the_reason_names_series_not_improved_first_and_counts_the_rest() -> None:
    improved = [_judged(f"wait_seconds{{pool={n}}}", UP) for n in range(LISTED + 37)]
    judged = [*improved, _judged("wait_seconds{pool=z}", SAME)]
    combined = combine_verifications(judged, deciding=len(judged))
    assert combined.verdict is Verdict.improved
    parts = combined.reason.split(" (", 1)[1].split("; ")
    assert parts[0] == "wait_seconds{pool=z}: unchanged"
    assert len(parts) == LISTED + 1
    assert parts[-1] == "and 38 more improved)"


def test_the_rest_are_counted_by_verdict() -> None:
    judged = [_judged(f"q{{n={n}}}", SAME) for n in range(LISTED + 2)]
    judged += [_judged(f"q{{n=up{n}}}", UP) for n in range(3)]
    combined = combine_verifications(judged, deciding=len(judged))
    assert combined.verdict is Verdict.improved
    assert combined.reason.endswith("; and 5 more (2 unchanged, 3 improved))")


def test_another_pool_improving_does_not_end_the_alerting_pools_alert() -> None:
    """The alerting series is among the deciding ones: it must itself have improved."""
    judged = [_judged("wait_seconds{pool=x}", SAME), _judged("wait_seconds{pool=y}", UP)]
    combined = combine_verifications(judged, deciding=2, alerting="wait_seconds{pool=x}")
    assert combined.verdict is Verdict.unchanged
    assert combined.reason.startswith(
        "unchanged: the alerting series wait_seconds{pool=x} did not improve"
    )
    assert combine_verifications(judged, deciding=2).verdict is Verdict.improved
    mine = combine_verifications(judged, deciding=2, alerting="wait_seconds{pool=y}")
    assert mine.verdict is Verdict.improved


def test_an_improvement_elsewhere_is_no_verdict_when_the_alerting_series_is_missing() -> None:
    judged = [SeriesJudgement(f"wait_seconds{{pool={p}}}", _v(UP, 0.0), {"pool": p}) for p in "xy"]
    combined = combine_verifications(judged, deciding=2, untold=True)
    assert combined.verdict is UNSURE
    assert combined.reason.startswith("inconclusive: the alerting series is not one of")
    assert combine_verifications(judged, deciding=2).verdict is UP


def test_series_names_in_the_reason_are_redacted() -> None:
    judged = [_judged("errors{dsn=postgres://app:hunter2@db/app}", UP)]
    reason = combine_verifications(judged).reason
    assert "hunter2" not in reason
    assert "postgres://app:[REDACTED]@db/app" in reason


def test_a_message_shows_the_worst_deciding_series_figures() -> None:
    """Several series decide: the message still carries one series' figures, the worst's."""
    judged = [
        judge_each_series(WAIT, {A: _points(*[0.8] * 6)}, {A: _points(*[0.1] * 6)}, _compare)[0],
        judge_each_series(WAIT, {B: _points(*[0.8] * 6)}, {B: _points(*[0.8] * 6)}, _compare)[0],
    ]
    combined = combine_verifications(judged, deciding=2)
    text = render(incident(), verification=combined).body
    assert "baseline_median=0.8, observed_median=0.8" in text


def _noise_series(rng: np.random.Generator, name: str, phi: float) -> SeriesJudgement:
    """A pool no action touched, CV 10 %, memory ``phi`` per 5 s reading: 60 readings, a
    5 min wait, then the window's 6."""
    x = np.empty(126)
    x[0] = rng.normal(0, 10)
    for i in range(1, 126):
        x[i] = phi * x[i - 1] + rng.normal(0, 10 * np.sqrt(1 - phi * phi))
    x += 100
    before = tuple(
        EvidencePoint(timestamp=T0 + timedelta(seconds=5 * i), value=float(v))
        for i, v in enumerate(x[:60])
    )
    after = tuple(
        EvidencePoint(timestamp=T0 + timedelta(seconds=5 * i), value=float(v))
        for i, v in enumerate(x[120:], start=120)
    )
    return SeriesJudgement(name, compare(before, after, better="lower"))


def _working_fix(rng: np.random.Generator) -> SeriesJudgement:
    before = tuple(
        EvidencePoint(timestamp=T0 + timedelta(seconds=5 * i), value=float(v))
        for i, v in enumerate(rng.normal(100, 5, 60))
    )
    after = tuple(
        EvidencePoint(timestamp=T0 + timedelta(seconds=600 + 5 * i), value=float(v))
        for i, v in enumerate(rng.normal(50, 5, 6))
    )
    return SeriesJudgement("queue{}", compare(before, after, better="lower"))


@pytest.mark.parametrize(
    ("pools", "phi", "most"), [(10, 0.0, 0.05), (50, 0.0, 0.05), (10, 0.9, 0.2), (50, 0.9, 0.2)]
)
def test_noise_on_many_vetoing_series_does_not_roll_back_a_working_fix(
    pools: int, phi: float, most: float
) -> None:
    """Each pool alone at p<0.05 called one of 50 untouched pools worse in 36 % of working
    fixes, and in all of them with memory 0.9 in the readings; corrected for their number
    and for the memory, in about 1 % and 10 %."""
    draws = 100
    vetoed = 0
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        judged = [_working_fix(rng)]
        judged += [_noise_series(rng, f"wait_seconds{{pool={n}}}", phi) for n in range(pools)]
        vetoed += combine_verifications(judged).verdict is Verdict.degraded
    assert vetoed / draws <= most


def test_a_series_that_really_got_worse_still_vetoes_among_many() -> None:
    rng = np.random.default_rng(7)
    judged = [_working_fix(rng)]
    judged += [_noise_series(rng, f"wait_seconds{{pool={n}}}", 0.9) for n in range(49)]
    judged.append(
        judge_each_series(
            VerifyMetric(metric="error_ratio"),
            {A: _points(*[0.01] * 60)},
            {A: _points(*[0.3] * 6)},
            _compare,
        )[0]
    )
    combined = combine_verifications(judged)
    assert combined.verdict is Verdict.degraded
    assert "error_ratio{pool=a}" in combined.reason.split(" got worse")[0]


def _tested(verdict: Verdict, p_value: float) -> Verification:
    return Verification(
        verdict=verdict, reason=f"{verdict.value}: median 1 → 2", figures={"p_value": p_value}
    )


def test_a_change_that_does_not_survive_the_correction_is_named_so() -> None:
    judged = [SeriesJudgement("queue{}", _tested(UP, 1e-6))]
    judged.append(SeriesJudgement("wait_seconds{pool=a}", _tested(DOWN, 0.01)))
    judged += [SeriesJudgement(f"wait_seconds{{pool={n}}}", _tested(SAME, 0.5)) for n in range(8)]
    combined = combine_verifications(judged)
    assert combined.verdict is UP
    assert (
        "wait_seconds{pool=a}: unchanged: median 1 → 2; degraded alone, but not significant "
        "among 10 series judged together (Holm-adjusted p=0.09, need <0.05)"
    ) in combined.reason
    assert combined.figures["wait_seconds{pool=a}:adjusted_p_value"] == pytest.approx(0.09)
    assert combine_verifications(judged[:2]).verdict is DOWN


UNPROVEN = _tested(UNSURE, 0.4)
"""Better by far, but not shown to be more than noise (``vanguard.verify.unproven``)."""


@pytest.mark.parametrize(
    ("deciding", "verdict"),
    [
        ((UNPROVEN,), UNSURE),
        ((UNPROVEN, _tested(SAME, 0.5)), UNSURE),
        ((UNPROVEN, _tested(UP, 1e-6)), UP),
        ((UNPROVEN, _tested(DOWN, 1e-6)), DOWN),
    ],
)
def test_a_deciding_series_better_but_unproven_is_no_proof_of_nothing(
    deciding: tuple[Verification, ...], verdict: Verdict
) -> None:
    """Ranked below a proven improvement and above unchanged: it leaves the action in place."""
    judged = [SeriesJudgement(f"queue{{pool={n}}}", v) for n, v in enumerate(deciding)]
    assert combine_verifications(judged, deciding=len(judged)).verdict is verdict


def test_a_vetoing_series_better_but_unproven_is_judged_not_lost() -> None:
    before = _points(10, 200, 10, 200, 10, 200)
    after = tuple(
        p.model_copy(update={"timestamp": p.timestamp + timedelta(minutes=10)})
        for p in _points(10, 150, 10, 150, 10, 150)
    )
    (wait,) = judge_each_series(WAIT, {A: before}, {A: after}, _compare)
    assert wait.verification.verdict is UNSURE
    assert not wait.lost
    queue = SeriesJudgement("queue{}", _tested(UP, 1e-6))
    assert combine_verifications([queue, wait]).verdict is UP


def test_the_alerting_series_better_but_unproven_leaves_the_action_in_place() -> None:
    judged = [
        SeriesJudgement("wait_seconds{pool=x}", UNPROVEN),
        SeriesJudgement("wait_seconds{pool=y}", _tested(UP, 1e-6)),
    ]
    combined = combine_verifications(judged, deciding=2, alerting="wait_seconds{pool=x}")
    assert combined.verdict is UNSURE
    assert combined.reason.startswith(
        "inconclusive: the alerting series wait_seconds{pool=x} was not shown to improve"
    )


WAITING = "waiting{}"
MAXWAIT = "maxwait{database=bench}"


def test_the_first_series_decides_and_its_evidence_is_kept() -> None:
    combined = combine_verifications(
        [
            SeriesJudgement(WAITING, _v(Verdict.improved, 1.0)),
            SeriesJudgement(MAXWAIT, _v(Verdict.unchanged, 2.0)),
        ]
    )
    assert combined.verdict is Verdict.improved
    assert combined.observed == _points(1.0)
    assert combined.figures == {"m": 1.0, "maxwait{database=bench}:m": 2.0}


def test_any_degraded_series_vetoes_an_improvement() -> None:
    combined = combine_verifications(
        [
            SeriesJudgement(WAITING, _v(Verdict.improved, 1.0)),
            SeriesJudgement(MAXWAIT, _v(Verdict.degraded, 2.0)),
        ]
    )
    assert combined.verdict is Verdict.degraded
    assert combined.reason.startswith("degraded: maxwait{database=bench} got worse")


def test_nothing_to_judge_is_inconclusive() -> None:
    assert combine_verifications([]).verdict is Verdict.inconclusive


POOLS = {"a": {"pool": "a"}, "b": {"pool": "b"}}


def test_the_series_with_the_alerts_exact_labels_is_its_own() -> None:
    assert own_series({"pool": "a"}, POOLS) == "a"


def test_routing_labels_on_the_alert_do_not_hide_its_series() -> None:
    """Alertmanager alerts carry their rule's labels (``team``), which no series has."""
    assert own_series({"pool": "b", "team": "db", "env": "prod"}, POOLS) == "b"


def test_labels_the_source_adds_do_not_hide_the_series() -> None:
    candidates = {"one": {"pool": "a", "instance": "db1"}, "two": {"pool": "b", "instance": "db1"}}
    assert own_series({"pool": "a"}, candidates) == "one"


@pytest.mark.parametrize(
    ("alert", "candidates"),
    [
        (
            {"database": "app"},
            {"rw": {"database": "app", "user": "rw"}, "ro": {"database": "app", "user": "ro"}},
        ),
        ({"team": "db"}, POOLS),
        ({}, POOLS),
        ({"pool": "a"}, {"exact": {"pool": "a"}, "more": {"pool": "a", "user": "rw"}}),
    ],
    ids=["labels-tell-no-series-apart", "only-routing-labels", "no-labels", "exact-and-wider"],
)
def test_several_agreeing_series_are_ambiguous(
    alert: Mapping[str, str], candidates: Mapping[str, Mapping[str, str]]
) -> None:
    assert own_series(alert, candidates) is Unmatched.several


@pytest.mark.parametrize(
    ("alert", "candidates"),
    [
        ({"pool": "c", "team": "db"}, POOLS),
        ({"pool": "a"}, {}),
        ({"pool": "b"}, {"all": {}, "a": {"pool": "a"}}),
    ],
    ids=["another-pool", "nothing-read", "one-lacks-the-label-telling-them-apart"],
)
def test_no_agreeing_series_is_none(
    alert: Mapping[str, str], candidates: Mapping[str, Mapping[str, str]]
) -> None:
    assert own_series(alert, candidates) is Unmatched.none


def test_the_only_series_read_is_the_alerts_when_it_names_none_of_its_labels() -> None:
    assert own_series({"team": "db"}, {"queue": {}}) == "queue"


def test_any_key_names_the_candidates() -> None:
    assert own_series({"pool": "b"}, {n: {"pool": p} for n, p in enumerate("ab")}) == 1


def test_another_series_with_a_routing_label_does_not_hide_the_alerts_own() -> None:
    candidates = {"a": {"pool": "a", "instance": "1"}, "b": {"pool": "b", "team": "x"}}
    assert own_series({"pool": "a", "team": "x"}, candidates) == "a"
    assert own_series({"pool": "a", "team": "x"}, {"a": {"pool": "a"}, "y": {"team": "y"}}) == "a"


def test_the_series_naming_the_pool_wins_over_an_unlabelled_total() -> None:
    assert own_series({"pool": "a", "team": "x"}, {"total": {}, "a": {"pool": "a"}}) == "a"
