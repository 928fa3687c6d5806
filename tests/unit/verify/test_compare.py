"""Baseline versus after-action comparison: verdicts, figures, trend handling, robustness."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pytest

import vanguard.verify
from vanguard.errors import InputError
from vanguard.model import EvidencePoint, Verdict, Verification
from vanguard.verify import (
    compare,
    holm,
    mann_kendall_p,
    mann_whitney_p,
    settle,
    theil_sen_slope,
    unproven,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=1)


def series(f: Callable[[int], float], n: int = 30, *, start: datetime = T0) -> list[EvidencePoint]:
    return [EvidencePoint(timestamp=start + i * STEP, value=f(i)) for i in range(n)]


def noisy(
    level: float, sd: float, seed: int, n: int = 30, slope: float = 0.0
) -> Callable[[int], float]:
    rng = random.Random(seed)
    noise = [rng.gauss(0.0, sd) for _ in range(n)]
    return lambda i: level + slope * i + noise[i]


AFTER = T0 + timedelta(hours=1)


def points(values: list[float], *, start: datetime = T0) -> list[EvidencePoint]:
    return [EvidencePoint(timestamp=start + i * STEP, value=v) for i, v in enumerate(values)]


def test_public_surface_is_pinned() -> None:
    assert sorted(vanguard.verify.__all__) == [
        "SeriesJudgement",
        "Settlement",
        "Unmatched",
        "combine_verifications",
        "compare",
        "counter_rates",
        "holm",
        "judge_each_series",
        "mann_kendall_p",
        "mann_whitney_p",
        "own_series",
        "settle",
        "theil_sen_slope",
        "unproven",
    ]


def test_leak_reset_but_still_rising_is_improved_with_recurrence() -> None:
    baseline = series(noisy(400.0, 3.0, 1, slope=3.0))
    observed = series(noisy(100.0, 3.0, 2, slope=3.0), start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.improved
    assert result.figures["relative_change"] < -0.6
    assert result.figures["p_value"] < 1e-6
    assert result.figures["baseline_slope_per_hour"] == pytest.approx(180.0, rel=0.1)
    assert result.figures["observed_slope_per_hour"] == pytest.approx(180.0, rel=0.1)
    gap = result.figures["baseline_median"] - result.figures["observed_median"]
    expected = gap / result.figures["observed_slope_per_hour"]
    assert result.figures["recurrence_hours"] == pytest.approx(expected)
    assert "still worsening" in result.reason
    assert "back at the baseline level in ~" in result.reason
    assert result.reason.startswith("improved: median ")


def test_clean_fix_has_no_recurrence() -> None:
    baseline = series(noisy(400.0, 3.0, 1, slope=3.0))
    observed = series(noisy(100.0, 3.0, 2), start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.improved
    assert "recurrence_hours" not in result.figures
    assert "still worsening" not in result.reason


def test_same_distribution_is_unchanged() -> None:
    baseline = series(noisy(5.0, 0.5, 3))
    observed = series(noisy(5.0, 0.5, 4), start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.unchanged
    assert "change too small" in result.reason or "not significant" in result.reason


def test_worse_latency_is_degraded() -> None:
    baseline = series(noisy(200.0, 10.0, 5))
    observed = series(noisy(320.0, 10.0, 6), start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.degraded
    assert result.figures["effect_size"] == pytest.approx(1.0)
    assert result.reason.startswith("degraded: median ")


def test_higher_is_better_flips_direction() -> None:
    baseline = series(noisy(50.0, 2.0, 7))
    observed = series(noisy(80.0, 2.0, 8), start=AFTER)
    assert compare(baseline, observed, better="higher").verdict is Verdict.improved
    assert compare(baseline, observed, better="lower").verdict is Verdict.degraded


def test_small_but_significant_change_is_unchanged() -> None:
    baseline = series(noisy(100.0, 0.1, 9))
    observed = series(noisy(95.0, 0.1, 10), start=AFTER)
    result = compare(baseline, observed, better="lower", min_relative_change=0.1)
    assert result.verdict is Verdict.unchanged
    assert result.figures["p_value"] < 0.001
    assert "change too small" in result.reason


def test_large_but_insignificant_worsening_is_unchanged() -> None:
    baseline = series(lambda i: [10.0, 200.0][i % 2], n=6)
    observed = series(lambda i: [10.0, 250.0][i % 2], n=6, start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.figures["relative_change"] >= 0.1
    assert result.verdict is Verdict.unchanged
    assert "not significant" in result.reason
    assert not unproven(result)


def test_large_but_insignificant_improvement_is_inconclusive_not_unchanged() -> None:
    """Not shown to be more than noise is not shown to be nothing: a fix is not undone on it."""
    baseline = series(lambda i: [10.0, 200.0][i % 2], n=6)
    observed = series(lambda i: [10.0, 150.0][i % 2], n=6, start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.figures["relative_change"] <= -0.1
    assert result.verdict is Verdict.inconclusive
    assert unproven(result)
    assert "not significant" in result.reason
    assert "nor shown to be less than 10% better" in result.reason
    assert settle(result, undo_possible=True).next_step == "escalate"


def test_an_improvement_shown_smaller_than_needed_is_unchanged() -> None:
    baseline = series(noisy(100.0, 1.0, 31))
    observed = series(noisy(99.0, 1.0, 32), n=10, start=AFTER)
    result = compare(baseline, observed, better="lower", min_relative_change=0.1)
    assert -0.1 < result.figures["relative_change"] < 0
    assert result.figures["short_p_value"] < 0.05
    assert result.verdict is Verdict.unchanged


def test_an_improvement_too_noisy_to_size_is_inconclusive() -> None:
    baseline = series(lambda i: [10.0, 200.0][i % 2], n=6)
    observed = series(lambda i: [10.0, 190.0][i % 2], n=6, start=AFTER)
    result = compare(baseline, observed, better="lower", min_relative_change=0.1)
    assert -0.1 < result.figures["relative_change"] < 0
    assert result.figures["short_p_value"] >= 0.05
    assert result.verdict is Verdict.inconclusive


def test_a_queue_cut_under_load_is_not_rolled_back() -> None:
    """A PgBouncer queue rising to 6 while read every 0.25 s, then 0 or 1 after the pool was
    raised: the readings move together, so the cut is not significant, and is no proof the
    resize did nothing either (seen on a real PgBouncer beside two busy CPUs)."""
    step = timedelta(seconds=0.25)
    before = [0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    after = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    baseline = [EvidencePoint(timestamp=T0 + i * step, value=v) for i, v in enumerate(before)]
    later = T0 + timedelta(seconds=10)
    observed = [EvidencePoint(timestamp=later + i * step, value=v) for i, v in enumerate(after)]
    result = compare(baseline, observed, better="lower", min_relative_change=0.2)
    assert result.figures["p_value"] >= 0.05
    assert result.verdict is Verdict.inconclusive
    assert settle(result, undo_possible=True).next_step == "escalate"


def test_stopped_trend_is_improved_even_at_the_same_level() -> None:
    baseline = series(lambda i: 90.0 + 20.0 * i / 29)
    observed = series(noisy(101.0, 0.3, 11), start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert abs(result.figures["relative_change"]) < 0.1
    assert result.verdict is Verdict.improved
    assert "the worsening trend stopped" in result.reason


def test_new_worsening_trend_is_reported_but_unchanged() -> None:
    baseline = series(noisy(100.0, 0.3, 12))
    observed = series(lambda i: 95.0 + 20.0 * i / 29, start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.unchanged
    assert "a worsening trend began after the action" in result.reason


def test_zero_baseline_uses_the_observed_level() -> None:
    baseline = series(lambda i: 0.0, n=10)
    observed = series(lambda i: 3.0 + 0.01 * (i % 3), n=10, start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.degraded
    assert result.figures["relative_change"] == pytest.approx(1.0)


def test_constant_equal_windows_are_unchanged() -> None:
    result = compare(series(lambda i: 7.0), series(lambda i: 7.0, start=AFTER), better="lower")
    assert result.verdict is Verdict.unchanged
    assert result.figures["p_value"] == 1.0
    assert result.figures["relative_change"] == 0.0


def test_all_zero_windows_are_unchanged() -> None:
    result = compare(series(lambda i: 0.0), series(lambda i: 0.0, start=AFTER), better="higher")
    assert result.verdict is Verdict.unchanged


def test_too_few_points_is_inconclusive() -> None:
    result = compare(series(lambda i: 1.0, n=4), series(lambda i: 9.0, start=AFTER), better="lower")
    assert result.verdict is Verdict.inconclusive
    assert result.reason == ("inconclusive: too few points (baseline 4, observed 30; need 5 each)")
    assert result.figures["baseline_points"] == 4


def test_non_finite_points_are_dropped_and_counted() -> None:
    values = [1.0, math.nan, math.inf, 1.0, 1.0, 1.0, -math.inf]
    baseline = series(lambda i: values[i], n=len(values))
    result = compare(baseline, series(lambda i: 1.0, start=AFTER), better="lower")
    assert result.verdict is Verdict.inconclusive
    assert result.figures["dropped_points"] == 3
    assert "3 non-finite dropped" in result.reason
    assert len(result.baseline) == 4


def test_evidence_is_kept_sorted() -> None:
    baseline = list(reversed(series(noisy(10.0, 1.0, 13))))
    result = compare(baseline, series(noisy(10.0, 1.0, 14), start=AFTER), better="lower")
    stamps = [p.timestamp for p in result.baseline]
    assert stamps == sorted(stamps)
    assert len(result.observed) == 30


def test_a_spike_does_not_flip_the_verdict() -> None:
    base_values = noisy(100.0, 2.0, 15)
    obs_values = noisy(100.0, 2.0, 16)
    baseline = series(base_values)
    observed = series(lambda i: 10_000.0 if i == 7 else obs_values(i), start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.unchanged
    assert result.figures["observed_mean"] > 400
    assert abs(result.figures["observed_median"] - 100) < 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"better": "smaller"}, "better must be"),
        ({"min_relative_change": -0.1}, "min_relative_change"),
        ({"min_relative_change": math.nan}, "min_relative_change"),
        ({"min_points": 0}, "min_points"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"better": "lower", **kwargs}
    with pytest.raises(InputError, match=message):
        compare(series(lambda i: 1.0), series(lambda i: 1.0), **options)  # type: ignore[arg-type]


def test_mann_whitney_matches_textbook_values() -> None:
    assert mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.0808556, rel=1e-5)
    assert mann_whitney_p([1.0] * 5, [1.0] * 5) == 1.0
    assert mann_whitney_p([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert mann_whitney_p([1, 2], [3, 4]) == mann_whitney_p([3, 4], [1, 2])


def test_theil_sen_ignores_outliers_and_frozen_time() -> None:
    hours = [float(h) for h in range(20)]
    values = [2.0 * h + 1.0 for h in hours]
    values[5] = 1_000.0
    values[12] = -1_000.0
    assert theil_sen_slope(hours, values) == pytest.approx(2.0)
    assert theil_sen_slope([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) == 0.0


def test_theil_sen_subsamples_long_series() -> None:
    hours = [h / 60.0 for h in range(5000)]
    assert theil_sen_slope(hours, [3.0 * h for h in hours]) == pytest.approx(3.0)


def random_windows(seed: int) -> tuple[list[EvidencePoint], list[EvidencePoint]]:
    rng = random.Random(seed)
    n_base, n_obs = rng.randint(3, 40), rng.randint(3, 40)
    level_b = rng.uniform(1, 1000)
    level_o = level_b * rng.choice([1.0, rng.uniform(0.2, 3.0)])
    sd = level_b * rng.uniform(0.001, 0.5)
    slope_b, slope_o = rng.gauss(0, sd / 5), rng.gauss(0, sd / 5)
    b = [level_b + slope_b * i + rng.gauss(0, sd) for i in range(n_base)]
    o = [level_o + slope_o * i + rng.gauss(0, sd) for i in range(n_obs)]
    return points(b), points(o, start=AFTER)


def transformed(points: list[EvidencePoint], f: Callable[[float], float]) -> list[EvidencePoint]:
    return [EvidencePoint(timestamp=p.timestamp, value=f(p.value)) for p in points]


@pytest.mark.parametrize("seed", range(60))
def test_symmetries(seed: int) -> None:
    baseline, observed = random_windows(seed)
    better: Literal["lower", "higher"] = "lower" if seed % 2 else "higher"
    mirrored: Literal["lower", "higher"] = "higher" if better == "lower" else "lower"
    result = compare(baseline, observed, better=better)
    scaled = compare(
        transformed(baseline, lambda v: 7.5 * v),
        transformed(observed, lambda v: 7.5 * v),
        better=better,
    )
    negated = compare(
        transformed(baseline, lambda v: -v), transformed(observed, lambda v: -v), better=mirrored
    )
    rng = random.Random(seed)
    shuffled_b, shuffled_o = baseline[:], observed[:]
    rng.shuffle(shuffled_b)
    rng.shuffle(shuffled_o)
    shuffled = compare(shuffled_b, shuffled_o, better=better)
    shifted = compare(
        [p.model_copy(update={"timestamp": p.timestamp + timedelta(days=3)}) for p in baseline],
        [p.model_copy(update={"timestamp": p.timestamp + timedelta(days=3)}) for p in observed],
        better=better,
    )
    assert scaled.verdict == result.verdict
    assert negated.verdict == result.verdict
    assert shuffled == result
    assert shifted.verdict == result.verdict
    assert shifted.figures == result.figures
    if result.verdict is not Verdict.inconclusive:
        assert 0.0 <= result.figures["p_value"] <= 1.0
        assert -1.0 <= result.figures["effect_size"] <= 1.0
        assert result.reason.startswith(result.verdict.value)


def test_false_alarm_rate_on_pure_noise_is_low() -> None:
    """Noise is rarely called a change, and mostly shown to be no 10 % improvement; the rest
    is left for a person (half of it leans better by chance)."""
    trials = 200
    seen: Counter[Verdict] = Counter()
    for seed in range(trials):
        rng = random.Random(10_000 + seed)
        b = [rng.gauss(100.0, 15.0) for _ in range(20)]
        o = [rng.gauss(100.0, 15.0) for _ in range(20)]
        seen[compare(points(b), points(o, start=AFTER), better="lower").verdict] += 1
    assert (seen[Verdict.improved] + seen[Verdict.degraded]) / trials <= 0.05
    assert seen[Verdict.unchanged] / trials >= 0.5


def test_real_shifts_are_found_through_noise() -> None:
    found = 0
    trials = 100
    for seed in range(trials):
        rng = random.Random(20_000 + seed)
        b = [rng.gauss(100.0, 15.0) for _ in range(20)]
        o = [rng.gauss(70.0, 15.0) for _ in range(20)]
        result = compare(points(b), points(o, start=AFTER), better="lower")
        found += result.verdict is Verdict.improved
    assert found / trials >= 0.9


def test_mann_kendall_matches_textbook_values() -> None:
    hours = [float(h) for h in range(10)]
    z = 44.0 / math.sqrt(125.0)
    assert mann_kendall_p(hours, hours) == pytest.approx(math.erfc(z / math.sqrt(2.0)))
    assert mann_kendall_p(hours, [-h for h in hours]) == mann_kendall_p(hours, hours)
    assert mann_kendall_p(hours, [5.0] * 10) == 1.0
    assert mann_kendall_p(hours, [1.0, 3.0] * 5) > 0.5


@pytest.mark.parametrize(
    ("after", "verdict"), [(1.0, Verdict.inconclusive), (200.0, Verdict.unchanged)]
)
def test_single_points_are_never_significant(after: float, verdict: Verdict) -> None:
    result = compare(
        series(lambda i: 100.0, n=1),
        series(lambda i: after, n=1, start=AFTER),
        better="lower",
        min_points=1,
    )
    assert result.verdict is verdict
    assert "not significant" in result.reason
    assert result.figures["baseline_slope_per_hour"] == 0.0


def test_few_clearly_lower_points_against_a_long_baseline_are_improved() -> None:
    baseline = series(noisy(400.0, 5.0, 21, slope=2.0), n=30)
    observed = series(noisy(120.0, 5.0, 22), n=5, start=AFTER)
    assert compare(baseline, observed, better="lower").verdict is Verdict.improved


@pytest.mark.parametrize("seed", range(10))
def test_effect_size_is_cliffs_delta(seed: int) -> None:
    rng = random.Random(seed)
    b = [float(rng.randint(0, 6)) for _ in range(rng.randint(5, 25))]
    o = [float(rng.randint(0, 6)) for _ in range(rng.randint(5, 25))]
    pairs = [(x > y) - (x < y) for x in o for y in b]
    result = compare(points(b), points(o, start=AFTER), better="lower")
    assert result.figures["effect_size"] == pytest.approx(sum(pairs) / len(pairs))


@pytest.mark.parametrize(
    ("hours", "text"),
    [(10 / 3600, "10 s"), (0.5, "30 min"), (3.0, "3.0 h")],
)
def test_recurrence_reads_in_a_human_unit(hours: float, text: str) -> None:
    from vanguard.verify.compare import _duration

    assert _duration(hours) == text


def _at(values: list[float] | np.ndarray, start: datetime, step_s: float) -> list[EvidencePoint]:
    return [
        EvidencePoint(timestamp=start + timedelta(seconds=i * step_s), value=float(v))
        for i, v in enumerate(values)
    ]


def _leak(
    seed: int, *, n: int, step_s: float, per_hour: float, sd: float, stops: bool
) -> tuple[list[EvidencePoint], list[EvidencePoint]]:
    """A leak's baseline, then the engine's window 5 min later: 6 readings 5 s apart.

    The remedy did nothing (``stops`` False: the leak goes on at the same rate) or stopped
    it at the level it had reached when it acted.
    """
    rng = np.random.default_rng(seed)
    hours = np.arange(n) * step_s / 3600
    baseline = 75 + per_hour * hours + rng.normal(0, sd, n)
    gap_s = (n - 1) * step_s + 300
    after = gap_s / 3600 + np.arange(6) * 5 / 3600
    level = after if not stops else np.full(6, hours[-1])
    observed = 75 + per_hour * level + rng.normal(0, sd, 6)
    return _at(baseline, T0, step_s), _at(observed, T0 + timedelta(seconds=gap_s), 5)


@pytest.mark.parametrize(
    ("n", "step_s", "per_hour"), [(20, 60, 30.0), (60, 60, 8.0)], ids=["20min-30/h", "1h-8/h"]
)
@pytest.mark.parametrize("sd", [0.1, 0.5, 1.0])
def test_a_leak_that_goes_on_is_not_improved(
    n: int, step_s: float, per_hour: float, sd: float
) -> None:
    """Six readings over 25 s say nothing of a slope: a leak the remedy did not touch is
    where its own trend leads, so its trend did not stop (it used to in up to 40 %)."""
    draws = 200
    windows = (
        _leak(s, n=n, step_s=step_s, per_hour=per_hour, sd=sd, stops=False) for s in range(draws)
    )
    improved = sum(compare(*w, better="lower").verdict is Verdict.improved for w in windows)
    assert improved / draws <= 0.05


@pytest.mark.parametrize(("sd", "share"), [(0.1, 0.8), (0.5, 0.7)])
def test_a_leak_stopped_by_the_remedy_is_improved(sd: float, share: float) -> None:
    """The same window after a remedy that stopped the leak where it stood: below where the
    trend leads, by more than the noise and the line's own uncertainty allow."""
    draws = 200
    windows = (
        _leak(10_000 + s, n=20, step_s=60, per_hour=30, sd=sd, stops=True) for s in range(draws)
    )
    results = [compare(*w, better="lower") for w in windows]
    stopped = [r for r in results if r.verdict is Verdict.improved]
    assert len(stopped) / draws >= share
    assert all("the worsening trend stopped" in r.reason for r in stopped)


def test_a_significantly_worse_level_is_never_a_stopped_trend() -> None:
    """Well below where the old trend leads, but 8 % above the baseline's median at p<0.05:
    not *improved*, whatever the trend did."""
    baseline = series(lambda i: 100.0 + i, n=20)
    observed = series(noisy(118.0, 0.05, 31, n=30), n=30, start=AFTER)
    result = compare(baseline, observed, better="lower")
    assert 0 < result.figures["relative_change"] < 0.1
    assert result.figures["p_value"] < 0.05
    assert result.figures["trend_stop_p_value"] < 0.05
    assert result.verdict is Verdict.unchanged
    assert "the level is significantly worse" in result.reason


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """AR(1) noise with marginal standard deviation ``sd``, started in its stationary state."""
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0, sd * math.sqrt(1 - phi * phi))
    return x


def _untouched(seed: int, phi: float, shift: float = 0.0) -> Verification:
    """The engine's windows of a series no action touched (or one ``shift`` moved, as a
    fraction), read every 5 s: 60 readings, 5 min, then 6 readings; CV 10 %."""
    rng = np.random.default_rng(seed)
    x = 100 + _ar1(rng, 60 + 60 + 6, phi, 10)
    observed = x[120:] + 100 * shift
    return compare(
        _at(x[:60], T0, 5), _at(observed, T0 + timedelta(seconds=600), 5), better="lower"
    )


@pytest.mark.parametrize("phi", [0.0, 0.9])
def test_readings_that_move_together_are_not_taken_for_a_change(phi: float) -> None:
    """AR(1) noise (memory 0.9 per 5 s reading) that no action touched: the test counts the
    readings as the fewer independent ones they are worth. Treated as independent, it
    called 25 % of such windows improved and 19 % degraded."""
    draws = 400
    verdicts = Counter(_untouched(seed, phi).verdict for seed in range(draws))
    assert verdicts[Verdict.improved] / draws <= 0.07
    assert verdicts[Verdict.degraded] / draws <= 0.07


@pytest.mark.parametrize(("phi", "shift", "share"), [(0.0, 0.3, 0.95), (0.9, 1.0, 0.9)])
def test_a_real_degradation_is_still_found(phi: float, shift: float, share: float) -> None:
    draws = 200
    found = sum(
        _untouched(30_000 + seed, phi, shift).verdict is Verdict.degraded for seed in range(draws)
    )
    assert found / draws >= share


def test_repeated_readings_of_a_sample_count_once() -> None:
    """A Prometheus server read every 5 s while it scrapes every 15 s answers each sample
    three times: 6 readings are 2 samples, too few to judge by."""
    baseline = [p for p in series(noisy(10.0, 1.0, 41), n=20) for _ in range(3)]
    observed = [p for p in series(lambda i: 2.0, n=2, start=AFTER) for _ in range(3)]
    result = compare(baseline, observed, better="lower")
    assert result.verdict is Verdict.inconclusive
    assert result.figures["baseline_points"] == 20
    assert result.figures["observed_points"] == 2
    assert result.figures["repeated_points"] == 44
    assert "(baseline 20, observed 2; need 5 each)" in result.reason
    assert "44 repeated readings of a sample counted once" in result.reason
    assert len(result.baseline) == 20


def _judged(verdict: Verdict, p_value: float) -> Verification:
    return Verification(
        verdict=verdict, reason=f"{verdict.value}: median 1 → 2", figures={"p_value": p_value}
    )


def test_holm_keeps_a_lone_series_as_it_is() -> None:
    alone = _judged(Verdict.degraded, 0.04)
    assert holm([alone]) == [alone]


def test_holm_drops_a_change_that_many_series_make_likely_by_chance() -> None:
    noise = [_judged(Verdict.unchanged, 0.2 + i / 100) for i in range(19)]
    chance, real = _judged(Verdict.degraded, 0.01), _judged(Verdict.degraded, 1e-6)
    corrected = holm([real, chance, *noise])
    assert corrected[0].verdict is Verdict.degraded
    assert corrected[0].figures["adjusted_p_value"] == pytest.approx(21e-6)
    assert corrected[1].verdict is Verdict.unchanged
    assert corrected[1].figures["adjusted_p_value"] == pytest.approx(0.2)
    assert corrected[1].reason == (
        "unchanged: median 1 → 2; degraded alone, but not significant among 21 series "
        "judged together (Holm-adjusted p=0.2, need <0.05)"
    )
    assert all(v.verdict is Verdict.unchanged for v in corrected[2:])


def test_holm_counts_neither_unjudged_series_nor_a_check_without_a_p_value() -> None:
    check = Verification(verdict=Verdict.degraded, reason="the action's own check failed")
    unjudged = Verification(verdict=Verdict.inconclusive, reason="too few points")
    changed = _judged(Verdict.improved, 0.03)
    assert holm([check, unjudged, changed]) == [check, unjudged, changed]


def test_holm_weighs_a_stopped_trend_by_its_own_p_value() -> None:
    stopped = Verification(
        verdict=Verdict.improved,
        reason="improved: the worsening trend stopped",
        figures={"p_value": 0.9, "trend_stop_p_value": 0.02},
    )
    corrected = holm([stopped, _judged(Verdict.unchanged, 0.5), _judged(Verdict.unchanged, 0.6)])
    assert corrected[0].verdict is Verdict.inconclusive
    assert corrected[0].figures["adjusted_p_value"] == pytest.approx(0.06)


def test_holm_leaves_an_improvement_it_drops_unproven_not_unchanged() -> None:
    noise = [_judged(Verdict.unchanged, 0.2 + i / 100) for i in range(9)]
    corrected = holm([_judged(Verdict.improved, 0.01), *noise])
    assert corrected[0].verdict is Verdict.inconclusive
    assert unproven(corrected[0])
    assert corrected[0].reason == (
        "inconclusive: median 1 → 2; improved alone, but not significant among 10 series "
        "judged together (Holm-adjusted p=0.1, need <0.05)"
    )


def test_unproven_is_only_a_judged_inconclusive() -> None:
    assert not unproven(Verification(verdict=Verdict.inconclusive, reason="too few points"))
    assert not unproven(_judged(Verdict.unchanged, 0.5))
    assert unproven(_judged(Verdict.inconclusive, 0.5))
