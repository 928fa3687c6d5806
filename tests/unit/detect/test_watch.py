"""The per-series watch: breach forecasts, breaches, anomalies, bad samples, durable state,
and counters watched as their rates."""

from __future__ import annotations

import itertools
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vanguard.detect.default import BatchState, DefaultState
from vanguard.detect.watch import (
    ANOMALY_AFTER,
    ANOMALY_ALERT_SCORE,
    CLOCK_BACK_S,
    COARSE_LAG,
    COARSE_MIN,
    COOLDOWN_S,
    MARGIN_SE,
    MAX_POINTS,
    PRECISION,
    REACH,
    SEGMENTS,
    URGENT_FRACTION,
    URGENT_PRECISION,
    Z_CAP,
    Regression,
    SeriesState,
    WatchRule,
    _forecast,
    _Line,
    _phi,
    _precise,
    _regress,
    _robust_z,
    _serial,
    _slope,
    fingerprint,
    step,
    step_many,
)
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import load_patterns
from vanguard.model import Alert, Signal

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def signal(
    i: float, value: float, labels: dict[str, str] | None = None, metric: str = "rss_bytes"
) -> Signal:
    return Signal(
        source="test",
        service_name="api",
        metric_type=metric,
        labels=labels or {},
        timestamp=T0 + timedelta(seconds=i),
        value=value,
    )


def run(
    points: list[tuple[float, float]],
    rule: WatchRule,
    state: SeriesState | None = None,
    metric: str = "rss_bytes",
) -> tuple[SeriesState, list[tuple[int, Alert]]]:
    alerts: list[tuple[int, Alert]] = []
    st = state
    for k, (t, v) in enumerate(points):
        st, alert = step(st, signal(t, v, metric=metric), rule)
        if alert is not None:
            alerts.append((k, alert))
    assert st is not None
    return st, alerts


def test_rss_ramp_predicts_breach_minutes_ahead() -> None:
    """The first forecast comes once the fit reaches back a third of the way to the
    breach (``REACH``): 45 s into a leak that breaches at 180 s, 135 s ahead."""
    rule = WatchRule(threshold=400e6)
    points = [(float(i), 40e6 + 2e6 * i + random.Random(i).gauss(0, 1e6)) for i in range(200)]
    _, alerts = run(points, rule)
    first_k, first = alerts[0]
    assert first_k <= 50
    assert first.attributes["kind"] == "forecast"
    trend = first.trend_analysis
    assert trend is not None
    assert trend.predicted_breach_time is not None
    true_breach = T0 + timedelta(seconds=180)
    error = abs((trend.predicted_breach_time - true_breach).total_seconds())
    assert error < 0.15 * 180
    assert first.confidence >= rule.min_confidence
    assert "predicted breach T+" in first.summary
    assert any(a.attributes["kind"] == "breach" for _, a in alerts)


@pytest.mark.parametrize("rate", [0.5, 2.0, 10.0])
def test_linear_ramp_breach_time_error_is_small(rate: float) -> None:
    threshold = 1000.0
    rule = WatchRule(threshold=threshold, horizon_s=4 * 3600)
    step_s = 60.0
    points = [(i * step_s, 100.0 + rate * i) for i in range(3000)]
    _, alerts = run(points, rule)
    forecasts = [(k, a) for k, a in alerts if a.attributes["kind"] == "forecast"]
    assert forecasts
    for k, alert in forecasts:
        assert alert.trend_analysis is not None
        predicted = alert.trend_analysis.predicted_breach_time
        assert predicted is not None
        actual = T0 + timedelta(seconds=(threshold - 100.0) / rate * step_s)
        lead = (actual - (T0 + timedelta(seconds=points[k][0]))).total_seconds()
        assert abs((predicted - actual).total_seconds()) <= 0.01 * lead + 1.0


@pytest.mark.parametrize("seed", range(4))
def test_ramp_after_a_long_flat_is_measured_on_the_ramp_only(seed: int) -> None:
    rng = random.Random(seed)
    rule = WatchRule(threshold=90.0, horizon_s=3 * 3600)
    step_s, flat = 60.0, 600
    rate = 50.0 / 180.0
    points = [
        (i * step_s, 40.0 + rate * max(i - flat, 0) + rng.gauss(0.0, 1.0)) for i in range(900)
    ]
    _, alerts = run(points, rule)
    k, first = next((k, a) for k, a in alerts if a.attributes["kind"] == "forecast")
    assert first.trend_analysis is not None
    predicted = first.trend_analysis.predicted_breach_time
    assert predicted is not None
    actual = T0 + timedelta(seconds=(flat + 180) * step_s)
    lead = (actual - (T0 + timedelta(seconds=points[k][0]))).total_seconds()
    assert lead >= 2 * 3600
    assert abs((predicted - actual).total_seconds()) < 0.15 * lead


def test_a_slope_too_uncertain_to_time_the_breach_is_not_forecast() -> None:
    rng = random.Random(3)
    rule = WatchRule(threshold=90.0, horizon_s=3 * 3600, min_confidence=0.0)
    points = [(i * 60.0, 40.0 + 0.5 * i + rng.gauss(0.0, 20.0)) for i in range(40)]
    _, alerts = run(points, rule)
    assert all(a.attributes["kind"] != "forecast" for _, a in alerts)
    clean = [(t, 40.0 + 0.5 * i) for i, (t, _) in enumerate(points)]
    _, sure = run(clean, rule)
    assert any(a.attributes["kind"] == "forecast" for _, a in sure)


def test_stationary_noise_raises_no_alert() -> None:
    rng = random.Random(7)
    rule = WatchRule(threshold=90.0)
    points = [(i * 15.0, 50.0 + rng.gauss(0.0, 3.0)) for i in range(3000)]
    _, alerts = run(points, rule)
    assert alerts == []


def test_down_direction_predicts_falling_breach() -> None:
    rule = WatchRule(threshold=10.0, direction="down", horizon_s=3600)
    points = [(i * 10.0, 100.0 - 0.5 * i) for i in range(200)]
    _, alerts = run(points, rule)
    kinds = [a.attributes["kind"] for _, a in alerts]
    assert kinds[0] == "forecast"
    assert "breach" in kinds
    up = WatchRule(threshold=10.0, direction="up")
    _, none = run(points, up)
    assert all(a.attributes["kind"] != "forecast" for _, a in none)


def test_value_already_beyond_threshold_is_a_critical_breach() -> None:
    rule = WatchRule(threshold=80.0, warmup=5)
    points = [(float(i), 50.0 + (i % 2)) for i in range(10)] + [(10.0, 95.0)]
    _, alerts = run(points, rule)
    assert len(alerts) == 1
    k, alert = alerts[0]
    assert k == 10
    assert alert.attributes["kind"] == "breach"
    assert alert.severity == "critical"
    assert alert.evidence[-1].value == 95.0
    assert alert.baseline is not None
    assert 49.0 < alert.baseline < 52.0


def test_warmup_holds_back_forecasts_but_never_a_breach() -> None:
    """A new series (a new pod, queue or pool, or one reset) already in breach is raised at
    its first sample: a breach needs no history. A forecast still waits for ``warmup``."""
    rule = WatchRule(threshold=100.0, warmup=10)
    _, ramp = run([(float(i), 10.0 * i) for i in range(9)], rule)
    assert ramp == []
    _, later = run([(float(i), 10.0 * i) for i in range(12)], rule)
    assert [(k, a.attributes["kind"]) for k, a in later] == [(9, "forecast"), (10, "breach")]
    state, breached = run([(5.0 * i, 150.0) for i in range(9)], rule, metric="queue_depth")
    assert [(k, a.attributes["kind"]) for k, a in breached] == [(0, "breach")]
    assert breached[0][1].severity == "critical"
    assert state.n == 9
    counter = WatchRule(threshold=50.0, warmup=10, counter=True)
    _, rates = run([(5.0 * i, 300.0 * i) for i in range(3)], counter, metric="jobs_total")
    assert [(k, a.attributes["kind"]) for k, a in rates] == [(1, "breach")]


def test_ongoing_breach_re_alerts_only_after_cooldown() -> None:
    rule = WatchRule(threshold=10.0, warmup=3)
    points = [(i * 10.0, 20.0) for i in range(int(3 * COOLDOWN_S / 10))]
    _, alerts = run(points, rule)
    times = [points[k][0] for k, _ in alerts]
    assert len(times) == 3
    assert all(b - a >= COOLDOWN_S for a, b in itertools.pairwise(times))


def test_forecast_escalates_to_breach_within_cooldown() -> None:
    rule = WatchRule(threshold=100.0)
    points = [(float(i), float(i)) for i in range(120)]
    _, alerts = run(points, rule)
    assert [a.attributes["kind"] for _, a in alerts] == ["forecast", "breach"]


def test_spike_scores_as_anomaly_without_threshold() -> None:
    rng = random.Random(3)
    rule = WatchRule()
    points = [(i * 60.0, 10.0 + rng.gauss(0, 0.5)) for i in range(600)]
    points.append((600 * 60.0, 40.0))
    _, alerts = run(points, rule)
    assert len(alerts) == 1
    k, alert = alerts[0]
    assert k == 600
    assert alert.attributes["kind"] == "anomaly"
    assert alert.anomaly_score >= 0.95
    assert alert.trend_analysis is not None
    assert alert.trend_analysis.zscore > 10


def test_an_anomaly_alert_is_raised_from_the_rules_anomaly_level() -> None:
    """A jump to 12.5 after 600 samples of 10 ± 0.5 scores 0.86: an alert at the default
    level, none at 0.95. ``min_confidence`` is the forecast's bar, not the anomaly's."""
    rng = random.Random(3)
    points = [(i * 60.0, 10.0 + rng.gauss(0, 0.5)) for i in range(600)]
    points.append((600 * 60.0, 12.5))
    assert WatchRule().anomaly_level == ANOMALY_ALERT_SCORE
    for rule in (WatchRule(), WatchRule(min_confidence=0.99)):
        _, alerts = run(points, rule)
        ((k, alert),) = alerts
        assert (k, alert.attributes["kind"]) == (600, "anomaly")
        assert alert.anomaly_score == pytest.approx(0.86, abs=0.01)
    _, alerts = run(points, WatchRule(anomaly_level=0.95))
    assert alerts == []


def test_a_young_series_surprise_is_learnt_not_alerted_until_anomaly_after() -> None:
    """A jump 120 samples in is held back (it is alerted when the hold-back is off); a drop
    past everything seen, once the series has ``ANOMALY_AFTER`` samples, is alerted. A
    breach on the same young series is raised at once."""
    rng = random.Random(3)
    points = [(i * 60.0, 10.0 + rng.gauss(0, 0.5)) for i in range(400)]
    points[120] = (120 * 60.0, 40.0)
    points[300] = (300 * 60.0, -20.0)
    assert WatchRule().anomaly_after == ANOMALY_AFTER == 200
    _, alerts = run(points, WatchRule())
    assert [(k, a.attributes["kind"]) for k, a in alerts] == [(300, "anomaly")]
    _, alerts = run(points, WatchRule(anomaly_after=0))
    assert [(k, a.attributes["kind"]) for k, a in alerts] == [(120, "anomaly"), (300, "anomaly")]
    _, alerts = run(points, WatchRule(anomaly_after=301))
    assert [k for k, _ in alerts] == [300], "the 301st sample is the first alerted"
    _, alerts = run(points, WatchRule(anomaly_after=302))
    assert alerts == []
    _, alerts = run(points, WatchRule(threshold=30.0))
    assert [(k, a.attributes["kind"]) for k, a in alerts] == [(120, "breach"), (300, "anomaly")]


def test_bad_samples_are_skipped_without_changing_outputs() -> None:
    rule = WatchRule(threshold=100.0)
    clean = [(float(i), float(i)) for i in range(60)]
    dirty: list[tuple[float, float]] = []
    for t, v in clean:
        dirty.append((t, v))
        if t % 7 == 3:
            dirty.append((t, v + 50.0))
            dirty.append((t - 2.0, v))
            dirty.append((t + 0.5, math.nan))
            dirty.append((t + 0.5, math.inf))
    st_clean, a_clean = run(clean, rule)
    st_dirty, a_dirty = run(dirty, rule)
    assert [a.model_dump() for _, a in a_clean] == [a.model_dump() for _, a in a_dirty]
    assert st_dirty.skipped == 4 * sum(1 for t, _ in clean if t % 7 == 3)
    assert st_dirty.model_copy(update={"skipped": 0}) == st_clean


def test_a_sample_stamped_ahead_does_not_blind_the_series() -> None:
    """One sweep on a worker whose clock ran an hour ahead: the series goes on from the next
    correct sample, instead of skipping every sample (breaches too) for an hour."""
    rule = WatchRule(threshold=100.0, warmup=3)
    points = [(5.0 * i, 10.0 + 0.1 * (i % 2)) for i in range(30)]
    ahead = (5.0 * 30 + 3600.0, 10.0)
    breach = [(5.0 * i, 500.0) for i in range(31, 91)]
    state, alerts = run([*points, ahead, *breach], rule, metric="queue_depth")
    assert [(k, a.attributes["kind"]) for k, a in alerts] == [(31, "breach")]
    assert state.skipped == 0
    assert state.last_t == (T0 + timedelta(seconds=5.0 * 90)).timestamp()
    assert state.n == 91
    assert state.noise is not None


def test_a_late_sample_is_skipped_and_a_clock_put_right_is_followed() -> None:
    """A sample a little before the last (a second reader, a retry) is skipped as before;
    one more than ``CLOCK_BACK_S`` (or 20 usual steps) before it means the clock moved
    back: accepted, with the window and fits started afresh and the cooldown from now."""
    rule = WatchRule(threshold=100.0, warmup=3)
    state, _ = run([(60.0 * i, 150.0) for i in range(10)], rule, metric="queue_depth")
    assert state.last_alert_t == (T0 + timedelta(seconds=0.0)).timestamp()
    late, alert = step(state, signal(60.0 * 9 - 100.0, 150.0, metric="queue_depth"), rule)
    assert alert is None
    assert late.skipped == 1
    assert late.model_copy(update={"skipped": 0}) == state
    back_t = 60.0 * 9 - CLOCK_BACK_S - 1.0
    moved, alert = step(state, signal(back_t, 150.0, metric="queue_depth"), rule)
    assert alert is None
    assert moved.skipped == 0
    assert moved.times == ((T0 + timedelta(seconds=back_t)).timestamp(),)
    assert moved.n == state.n + 1
    assert moved.noise == state.noise
    assert moved.last_alert_t == state.last_alert_t
    counter = WatchRule(threshold=1e9, warmup=3, counter=True)
    ticking = [(60.0 * i, 30.0 * 60.0 * i) for i in range(10)]
    state, _ = run(ticking, counter, metric="jobs_total")
    primed, alert = step(state, signal(-1000.0, 30.0 * 60.0 * 10, metric="jobs_total"), counter)
    assert alert is None
    assert primed.n == state.n
    assert primed.last_raw == 30.0 * 60.0 * 10
    assert primed.values == ()
    after, _ = step(primed, signal(-940.0, 30.0 * 60.0 * 11, metric="jobs_total"), counter)
    assert after.values == (30.0,)


def test_gap_drops_stale_points_and_does_not_crash() -> None:
    rule = WatchRule(threshold=1000.0)
    before = [(float(i), 100.0 + i * 0.01) for i in range(30)]
    after = [(10_000.0 + i, 100.3 + i * 0.01) for i in range(30)]
    st, alerts = run(before + after, rule)
    assert alerts == []
    assert min(st.times) >= 10_000.0


def test_a_state_stays_under_4kb_as_json_at_its_largest() -> None:
    """The largest state measured: a counter whose increments look random in a small unit
    (its rates, fits and detector numbers take 17 digits and an exponent), scraped every
    minute with sub-second jitter, until its context bitset is half full and zlib cannot
    shrink it (from about 3,500 samples on)."""
    rule = WatchRule(threshold=1e12, counter=True)
    rng = random.Random(0)
    increments = ((rng.random() * 1000 + rng.random()) * 1e-9 for _ in range(5_000))
    st: SeriesState | None = None
    largest = 0
    for i, total in enumerate(itertools.accumulate(increments)):
        at = timedelta(seconds=60.0 * i, microseconds=123_457 * (i % 7))
        sample = Signal(
            source="t", service_name="api", metric_type="m", timestamp=T0 + at, value=total
        )
        st, _ = step(st, sample, rule)
        if i % 25 == 0:
            largest = max(largest, len(st.model_dump_json().encode()))
    assert st is not None
    assert len(st.times) == MAX_POINTS
    print(f"SeriesState as JSON, largest: {largest} bytes")
    assert largest < 4096


def test_no_state_is_over_4kb_whatever_its_numbers() -> None:
    """A bound, not a measure: every number at its longest written out (24 characters)
    and both bitsets full of random bits, which neither zlib nor anything else shrinks."""
    longest = -1.2345678901234567e-100
    assert len(json.dumps(longest)) == 24
    batch = BatchState.zeros(1)
    rng = random.Random(3)
    for bits in (batch.seen, batch.day_seen):
        bits[:] = [rng.getrandbits(8) for _ in range(bits.size)]
    numbers = {k: longest for k, v in DefaultState().model_dump().items() if isinstance(v, float)}
    detector = DefaultState.from_batch(batch).model_copy(
        update=numbers | {"ring": (9, 9, 9), "rec_max": (longest,) * 3, "n": 1e9 + 0.5}
    )
    fit = Regression(s0=longest, s1=longest, s2=longest, sy=longest, sty=longest, syy=longest)
    state = SeriesState(
        n=10**9,
        skipped=10**9,
        times=(longest,) * MAX_POINTS,
        values=(longest,) * MAX_POINTS,
        fast=fit,
        segments=(fit,) * SEGMENTS,
        detector=detector,
        last_alert_kind="forecast",
        **dict.fromkeys(
            (
                "last_t",
                "dt_ema",
                "ema",
                "noise",
                "fine",
                "coarse",
                "last_alert_t",
                "last_raw",
                "folded_t",
            ),
            longest,
        ),
    )
    size = len(state.model_dump_json().encode())
    print(f"SeriesState as JSON, at most: {size} bytes")
    assert size < 4096


def test_json_keeps_every_float_bit_for_bit() -> None:
    """The window and the fits are written as the bytes of their floats: any float, a
    negative zero and the smallest and largest ones included, loads as it was."""
    odd = (-0.0, 5e-324, -1.7976931348623157e308, -1.2345678901234567e-100, 1777852860.123457)
    fit = Regression(s0=odd[0], s1=odd[1], s2=odd[2], sy=odd[3], sty=odd[4], syy=1.0 / 3.0)
    state = SeriesState(n=5, times=odd, values=odd[::-1], fast=fit, segments=(fit, Regression()))
    saved = json.loads(state.model_dump_json())
    assert all(isinstance(saved[k], str) for k in ("times", "values", "fast"))
    loaded = SeriesState.model_validate_json(state.model_dump_json())
    assert repr(loaded.model_dump()) == repr(state.model_dump())
    assert SeriesState.model_validate(state.model_dump(mode="json")) == state
    assert state.model_dump()["times"] == odd
    for bad in ("AAAA", "not base64!"):
        with pytest.raises(ValueError, match="times"):
            SeriesState.model_validate({"times": bad})
    with pytest.raises(ValueError, match="packs 6 sums, not 1"):
        SeriesState.model_validate({"fast": "AAAAAAAAAAA="})


SAVED = Path(__file__).parents[2] / "fixtures" / "states"


def saved_sample(i: int) -> Signal:
    """The series whose state at 700 samples main's code saved, before the packed floats
    and bitsets (tests/fixtures/states/README.md); a spike at 760."""
    return Signal(
        source="test",
        service_name="api",
        metric_type="queue_depth",
        timestamp=T0 + timedelta(seconds=300 * i, microseconds=123_457 * (i % 7)),
        value=100.0 + (i * i * 7919 % 1009) * 0.37 + (900.0 if i in (760, 761) else 0.0),
    )


def test_a_state_saved_before_the_packed_encodings_loads_and_goes_on_as_before() -> None:
    rule = WatchRule(threshold=1e6)
    fresh: SeriesState | None = None
    for i in range(700):
        fresh, _ = step(fresh, saved_sample(i), rule)
    assert fresh is not None
    text = (SAVED / "series-state-8b3a284.json").read_text()
    assert json.loads(text)["times"][0] == 1772556000.123457
    saved = SeriesState.model_validate_json(text)
    assert repr(saved.model_dump()) == repr(fresh.model_dump())
    again = SeriesState.model_validate_json(saved.model_dump_json())
    assert repr(again.model_dump()) == repr(fresh.model_dump())
    assert len(saved.model_dump_json()) < len(text)
    went: list[list[tuple[SeriesState, Alert | None]]] = []
    for st in (saved, fresh):
        steps = []
        for i in range(700, 900):
            st, alert = step(st, saved_sample(i), rule)
            steps.append((st, alert))
        went.append(steps)
    assert went[0] == went[1]
    assert [a.attributes["kind"] for _, a in went[0] if a] == ["anomaly"]


def test_json_round_trip_mid_stream_gives_identical_outputs() -> None:
    rule = WatchRule(threshold=500.0)
    rng = random.Random(5)
    points = [(i * 30.0, 100.0 + 0.5 * i + rng.gauss(0, 4.0)) for i in range(900)]
    half = len(points) // 2
    st_mid, first_alerts = run(points[:half], rule)
    restored = SeriesState.model_validate_json(st_mid.model_dump_json())
    assert restored == st_mid
    st_a, alerts_a = run(points[half:], rule, st_mid)
    st_b, alerts_b = run(points[half:], rule, restored)
    assert [a.model_dump() for _, a in alerts_a] == [a.model_dump() for _, a in alerts_b]
    assert st_a == st_b
    assert alerts_a or first_alerts


def test_many_series_stepped_together_match_each_stepped_alone() -> None:
    """The sweep steps all its series at once (the anomaly detector vectorised across
    them); a column mixed up or a skipped sample's slot misassigned would show here.
    Samples every 5 minutes for a day and a half reach the time-of-day signal."""
    rng = random.Random(11)
    rules = [WatchRule(threshold=300.0), WatchRule(threshold=-50.0, direction="down")]
    kinds = range(6)

    def value(kind: int, i: int) -> float:
        if kind == 0 and i % 37 == 5:
            return math.nan
        base = 100.0 + 10.0 * math.sin(i / 40.0) + rng.gauss(0, 2.0)
        if kind == 1 and i in (200, 201):
            return base + 400.0
        return base + (0.6 * i if kind == 2 and i > 300 else 0.0)

    points = [[value(k, i) for k in kinds] for i in range(440)]
    alone: list[SeriesState | None] = [None] * len(kinds)
    together: list[SeriesState | None] = [None] * len(kinds)
    raised: list[Alert] = []
    for i, row in enumerate(points):
        stamp = i * 300.0 - (300.0 if i % 53 == 7 else 0.0)
        sigs = [signal(stamp, v, {"k": str(k)}) for k, v in zip(kinds, row, strict=True)]
        items = [(together[k], sigs[k], rules[k % 2]) for k in kinds]
        batch = step_many(items)
        for k in kinds:
            state, alert = step(alone[k], sigs[k], rules[k % 2])
            assert batch[k][0] == state, f"series {k} at sample {i}"
            assert batch[k][1] == alert
            alone[k], together[k] = state, batch[k][0]
            raised += [alert] if alert else []
    kinds_raised = {a.attributes.get("kind") for a in raised}
    assert {"anomaly", "breach"} <= kinds_raised, kinds_raised
    assert all(s is not None and s.skipped > 0 for s in together)


def test_fingerprint_and_alert_id_are_stable() -> None:
    a = signal(0, 1.0, {"pid": "7", "host": "h1"})
    b = signal(5, 2.0, {"host": "h1", "pid": "7"})
    assert fingerprint(a) == fingerprint(b) == "api/rss_bytes{host=h1,pid=7}"
    assert fingerprint(signal(0, 1.0)) == "api/rss_bytes"
    rule = WatchRule(threshold=0.5, warmup=3)
    outs = []
    for _ in range(2):
        _, alerts = run([(float(i), 1.0) for i in range(3)], rule)
        outs.append([a.alert_id for _, a in alerts])
    assert len(outs[0]) == 1
    assert outs[0] == outs[1]


def test_rule_bounds_are_enforced() -> None:
    with pytest.raises(ValueError, match="min_confidence"):
        WatchRule(min_confidence=1.5)
    with pytest.raises(ValueError, match="horizon_s"):
        WatchRule(horizon_s=0)
    with pytest.raises(ValueError, match="warmup"):
        WatchRule(warmup=0)
    with pytest.raises(ValueError, match="threshold"):
        WatchRule(threshold=math.inf)
    for level in (0.0, 1.5):
        with pytest.raises(ValueError, match="anomaly_level"):
            WatchRule(anomaly_level=level)
    for after in (-1, 10_001):
        with pytest.raises(ValueError, match="anomaly_after"):
            WatchRule(anomaly_after=after)


def test_state_saved_with_the_retired_slow_fit_still_loads() -> None:
    rule = WatchRule(threshold=90.0)
    state, _ = run([(i * 60.0, 40.0 + 0.1 * i) for i in range(30)], rule)
    saved = state.model_dump(mode="json")
    saved["slow"] = {"s0": 3.0, "s1": 0.0, "s2": 0.0, "sy": 0.0, "sty": 0.0, "syy": 0.0}
    assert SeriesState.model_validate(saved) == state
    without_noise = {k: v for k, v in saved.items() if k not in ("slow", "noise")}
    resumed = SeriesState.model_validate(without_noise)
    assert resumed.noise is None
    after, _ = step(resumed, signal(31 * 60.0, 43.1), rule)
    assert after.noise is not None
    with pytest.raises(ValueError, match="unknown"):
        SeriesState.model_validate({**saved, "unknown": 1})


def test_departure_from_a_mostly_idle_series_has_a_large_z() -> None:
    """An idle queue is 0 nearly always (MAD 0): a burst must still stand out."""
    idle = tuple(0.0 if i % 7 else 1.0 for i in range(20))
    flat = (0.0,) * 20
    assert _robust_z(12.0, 0.0, 0.0, idle) > 20
    assert _robust_z(12.0, 0.0, 0.0, flat) == Z_CAP
    assert _robust_z(-3.0, 0.0, 0.0, flat) == -Z_CAP
    assert _robust_z(0.0, 0.0, 0.0, flat) == 0.0
    assert _robust_z(12.0, 0.0, 2.0, idle) == 6.0


def _line_through(slope: float, noise: list[float], step_s: float = 60.0) -> _Line:
    """The fitted line of ``len(noise)`` points with the given slope and residuals."""
    reg = Regression()
    last = 0.0
    for i, e in enumerate(noise):
        y = slope * i * step_s + e
        reg = _regress(reg, step_s if i else 0.0, y - last if i else 0.0, math.inf)
        last = y
    return _slope(reg)


def test_precision_test_does_not_favour_a_slope_steepened_by_noise() -> None:
    """Same points but a 25 % steeper slope: the line is no better known, so no sooner due."""
    rng = random.Random(11)
    noise = [rng.gauss(0.0, 1.5) for _ in range(35)]
    rule = WatchRule(threshold=90.0, horizon_s=3 * 3600)
    true_rate = 50.0 / (3 * 3600)
    verdicts, slope_gate = set(), set()
    for rate in (true_rate, 1.25 * true_rate):
        line = _line_through(rate, noise)
        assert line.slope == pytest.approx(_line_through(true_rate, noise).slope + rate - true_rate)
        x = 50.0 - line.level - line.slope * line.tm
        gap = 90.0 - (x + line.level)
        verdicts.add(_precise(line, 40.0, gap / line.slope, rule.horizon_s))
        slope_gate.add(line.slope_se <= 0.08 * line.slope)
    assert verdicts == {False}
    assert slope_gate == {False, True}


def test_urgent_breach_relaxes_the_precision_it_waits_for() -> None:
    rule = WatchRule(threshold=90.0, horizon_s=3 * 3600)
    rng = random.Random(5)
    line = _line_through(50.0 / (3 * 3600), [rng.gauss(0.0, 2.0) for _ in range(60)])
    mean_gap = 40.0
    spread = line.spread(rule.horizon_s)
    assert PRECISION * mean_gap < spread < URGENT_PRECISION * mean_gap
    assert not _precise(line, mean_gap, 0.9 * rule.horizon_s, rule.horizon_s)
    assert _precise(line, mean_gap, URGENT_FRACTION * rule.horizon_s, rule.horizon_s)
    assert _precise(line, 2.5 * mean_gap, 0.9 * rule.horizon_s, rule.horizon_s)


def test_a_fit_quieter_than_the_series_does_not_overstate_the_confidence() -> None:
    """A fit whose residuals are small by chance, on a series whose running noise is high:
    the confidence uses the slope's standard error at the running noise level, the same
    variance the precision test uses, so it is lower than the fit's own would give."""
    rng = random.Random(1)
    rule = WatchRule(threshold=90.0, horizon_s=3 * 3600)
    line = _line_through(50.0 / (3 * 3600), [rng.gauss(0.0, 0.5) for _ in range(60)])
    x = 90.0 - line.level - 0.9 * line.slope * rule.horizon_s
    excess = line.slope - (90.0 - x - line.level) / rule.horizon_s
    quiet_at, quiet = _forecast(0.0, x, line, None, rule)
    assert quiet_at is not None
    assert _forecast(0.0, x, line, 0.5 * line.sigma2, rule) == (quiet_at, quiet)
    previous = quiet
    for noise in (0.8, 1.0, 1.5):
        assert noise > line.sigma2
        at, conf = _forecast(0.0, x, line, noise, rule)
        assert at == pytest.approx(quiet_at)
        assert conf == pytest.approx(_phi(excess / math.sqrt(noise / line.sxx) - MARGIN_SE))
        assert conf < previous
        previous = conf
    assert previous < 0.8 < quiet


def test_leak_sampled_each_second_is_forecast_as_it_enters_the_horizon() -> None:
    """The demo's case: a steep, clean ramp and a 60 s horizon, forecast about a minute ahead."""
    rule = WatchRule(threshold=400 * 2**20, horizon_s=60, min_confidence=0.6, warmup=10)
    rng = random.Random(2)
    points = [(float(i), 25 * 2**20 + 4 * 2**20 * i + rng.random() * 2**20) for i in range(120)]
    _, alerts = run(points, rule)
    k, first = alerts[0]
    assert first.attributes["kind"] == "forecast"
    assert 30 <= k <= 36
    assert first.trend_analysis is not None
    predicted = first.trend_analysis.predicted_breach_time
    assert predicted is not None
    breach = T0 + timedelta(seconds=(375 * 2**20) / (4 * 2**20))
    assert abs((predicted - breach).total_seconds()) < 3.0


def _forecasts(values: list[float], threshold: float, step_s: float = 5.0) -> list[Alert]:
    _, alerts = run(
        [(step_s * i, v) for i, v in enumerate(values)],
        WatchRule(threshold=threshold),
        metric="process_resident_memory_bytes",
    )
    return [a for _, a in alerts if a.attributes["kind"] == "forecast"]


def test_a_wander_far_below_its_threshold_is_not_forecast_to_breach() -> None:
    """A mean-reverting queue (Ornstein-Uhlenbeck around 65, sd 3.5, 8 min memory) scraped
    every 5 s for 4 h never passes 72; the threshold is 100. Its rises are clean lines for a
    minute or two, which were forecast to breach at 99 % and matched a leak's pattern."""
    rng = random.Random(0)
    x, values = 65.0, []
    for _ in range(2880):
        x += 0.01 * (65.0 - x) + rng.gauss(0.0, 0.5)
        values.append(x)
    assert max(values) < 72.0
    assert _forecasts(values, 100.0) == []


@pytest.mark.parametrize("shape", ["sine", "sawtooth"])
def test_an_oscillation_far_below_its_threshold_is_not_forecast_to_breach(shape: str) -> None:
    """A heap or queue between 50 and 80 (a 15 min sine, a 10 min GC sawtooth), threshold
    200: each rise was a line that, extrapolated 8-60 times its span, crossed 200 in time."""
    rng = random.Random(1)
    if shape == "sine":
        values = [
            65 + 15 * math.sin(2 * math.pi * i / 180) + rng.gauss(0, 0.2) for i in range(1440)
        ]
    else:
        values = [50 + 30 * (i % 120) / 120 + rng.gauss(0, 0.5) for i in range(1440)]
    _, alerts = run(
        [(5.0 * i, v) for i, v in enumerate(values)],
        WatchRule(threshold=200.0),
        metric="process_resident_memory_bytes",
    )
    assert [a for _, a in alerts if a.attributes["kind"] == "forecast"] == []
    patterns = load_patterns()
    found = [match(a, patterns, service_type="python-web").pattern_id for _, a in alerts]
    assert "memory_leak_gradual" not in found


def test_a_forecast_looks_no_further_ahead_than_reach_times_its_fit() -> None:
    """A clean line through 20 minutes of points is forecast up to an hour ahead, not
    beyond, however sure its slope: nothing in 20 minutes says the trend lasts longer."""
    rule = WatchRule(threshold=1000.0, horizon_s=4 * 3600)
    rng = random.Random(2)
    line = _line_through(0.01, [rng.gauss(0.0, 0.1) for _ in range(21)])
    assert line.reach == pytest.approx(20 * 60.0)
    for ahead, forecast in ((0.9 * REACH * 1200.0, True), (1.1 * REACH * 1200.0, False)):
        x = 1000.0 - line.level - line.slope * ahead
        at, conf = _forecast(0.0, x, line, None, rule)
        assert (at is not None) is forecast
        assert (conf > 0.9) is forecast


def test_serial_correlation_is_measured_from_the_noise_and_widens_the_slope() -> None:
    """Independent noise, with or without a trend, leaves a slope's variance as least
    squares says; a random walk or a smooth oscillation widens it many times over."""
    rng = random.Random(3)
    rule = WatchRule(threshold=1e9)
    series = {
        "independent": [50.0 + rng.gauss(0.0, 1.0) for _ in range(600)],
        "trend": [50.0 + 0.1 * i + rng.gauss(0.0, 1.0) for i in range(600)],
        "walk": list(itertools.accumulate(rng.gauss(0.0, 0.5) for _ in range(600))),
        "sine": [65 + 15 * math.sin(2 * math.pi * i / 180) + rng.gauss(0, 0.2) for i in range(600)],
    }
    factor = {}
    for name, values in series.items():
        st, _ = run([(5.0 * i, v) for i, v in enumerate(values)], rule)
        factor[name] = _serial(st.fine, st.coarse, st.n)
    assert factor["independent"] < 1.3
    assert factor["trend"] < 1.3
    assert factor["walk"] > 10
    assert factor["sine"] > 3
    assert _serial(1.0, 1.0, 100) == 1.0
    assert _serial(1.0, 0.5, 100) == 1.0
    assert _serial(1.0, 2.0, 100) == pytest.approx(2.445, abs=1e-3)
    assert _serial(1.0, 2.0, 2 * COARSE_LAG + COARSE_MIN - 1) == 1.0


def test_a_slope_no_surer_than_its_correlated_noise_is_not_forecast() -> None:
    """The same line, precise enough on independent noise, is not forecast once the noise
    is known to wander: its slope's standard error widens by the serial factor."""
    rule = WatchRule(threshold=90.0, horizon_s=3 * 3600)
    rng = random.Random(1)
    line = _line_through(50.0 / (3 * 3600), [rng.gauss(0.0, 1.0) for _ in range(60)])
    x = 90.0 - line.level - 0.7 * line.slope * rule.horizon_s
    at, conf = _forecast(0.0, x, line, None, rule)
    assert at is not None
    assert conf > 0.9
    assert _forecast(0.0, x, line, None, rule, serial=1.2) == (at, conf)
    assert _forecast(0.0, x, line, None, rule, serial=10.0) == (None, 0.0)


@pytest.mark.parametrize("rate", [0.0, 0.3, 50.0])
def test_noise_level_is_measured_whatever_the_trend(rate: float) -> None:
    """The running noise variance sees the scatter, not the slope, and irregular steps."""
    rng = random.Random(4)
    rule = WatchRule(threshold=1e9)
    ts = list(itertools.accumulate(rng.choice((45.0, 60.0, 75.0)) for _ in range(600)))
    clean, _ = run([(t, 10.0 + rate * t / 60.0) for t in ts], rule)
    noisy, _ = run([(t, 10.0 + rate * t / 60.0 + rng.gauss(0.0, 2.0)) for t in ts], rule)
    assert clean.noise is not None
    assert noisy.noise is not None
    assert clean.noise < 1e-9 * max(rate, 1.0) ** 2
    assert 0.7 * 4.0 < noisy.noise < 1.3 * 4.0


def test_noise_level_is_steady_early_and_shrugs_off_one_spike() -> None:
    """After 30 samples the level is near the truth on most series, and a lone 20-sigma
    spike moves it by a fraction, not a multiple (a forecast is not held back for long)."""
    rule = WatchRule(threshold=1e9)
    early = []
    for seed in range(60):
        rng = random.Random(100 + seed)
        state, _ = run([(60.0 * i, 50.0 + rng.gauss(0.0, 1.0)) for i in range(30)], rule)
        assert state.noise is not None
        early.append(state.noise)
    early.sort()
    assert early[len(early) // 10] > 0.5
    assert early[-len(early) // 10] < 1.6

    rng = random.Random(7)
    points = [(60.0 * i, 50.0 + rng.gauss(0.0, 1.0)) for i in range(300)]
    calm, _ = run(points, rule)
    spiked, _ = run([*points[:-1], (points[-1][0], points[-1][1] + 20.0)], rule)
    assert calm.noise is not None
    assert spiked.noise is not None
    assert spiked.noise < 1.2 * calm.noise


def test_a_breach_is_a_certain_breach_now_so_leak_patterns_still_match() -> None:
    """A leak whose forecast was missed, dry-run or declined still matches its pattern
    once it breaches: the breach time is now, its confidence the cap."""
    rule = WatchRule(threshold=300e6, warmup=5)
    points = [(float(i), 100e6 + 3e6 * i) for i in range(80)]
    _, alerts = run(points, rule)
    breach = next(a for _, a in alerts if a.attributes["kind"] == "breach")
    trend = breach.trend_analysis
    assert trend is not None
    assert trend.predicted_breach_time == breach.detected_at
    assert trend.breach_confidence >= 0.9
    rss = breach.model_copy(update={"metric_type": "process_resident_memory_bytes"})
    found = match(rss, load_patterns(), service_type="python-web")
    assert found.pattern_id == "memory_leak_gradual", found.reasons


def test_the_largest_float_is_skipped_and_the_state_still_round_trips() -> None:
    """Exporters use float max as 'unset'; its square made the state NaN, stored as null."""
    rule = WatchRule(threshold=1000.0, warmup=5)
    points = [(float(i), 100.0 + i % 3) for i in range(20)]
    state, _ = run(points, rule)
    state, alert = step(state, signal(20, 1.7976931348623157e308), rule)
    assert alert is None
    assert state.skipped == 1
    state, _ = run([(21.0 + i, 100.0) for i in range(5)], rule, state)
    again = SeriesState.model_validate_json(state.model_dump_json())
    assert again == state
    _, breach = step(state, signal(30, 5000.0), rule)
    assert breach is not None, "a breach after it is still seen"


TOTAL = "http_requests_total"


def requests(t: float, value: float) -> Signal:
    return signal(t, value, metric=TOTAL)


def run_counter(
    points: list[tuple[float, float]], rule: WatchRule, state: SeriesState | None = None
) -> tuple[SeriesState, list[tuple[int, Alert]]]:
    return run(points, rule, state, metric=TOTAL)


def test_a_counters_first_sample_only_primes_and_each_next_gives_its_rate() -> None:
    rule = WatchRule(counter=True)
    primed, alert = step(None, requests(0.0, 1000.0), rule)
    assert alert is None
    assert (primed.n, primed.last_raw, primed.values) == (0, 1000.0, ())
    assert primed.last_t == T0.timestamp()
    st, _ = run_counter([(10.0, 1050.0), (30.0, 1250.0), (31.0, 1250.0)], rule, primed)
    assert st.values == (5.0, 10.0, 0.0)
    assert st.last_raw == 1250.0


def test_a_steady_counter_is_watched_as_its_rate_in_per_second_units() -> None:
    rule = WatchRule(threshold=5.0, counter=True)
    _, alerts = run_counter([(15.0 * i, 1000.0 + 150.0 * i) for i in range(12)], rule)
    ((k, alert),) = alerts
    assert k == 1, "the first sample primed: the first rate is the first breach"
    assert alert.attributes["kind"] == "breach"
    assert [p.value for p in alert.evidence] == [10.0]
    assert alert.summary == "current 10/s, +0/s per h, z 0.0σ, threshold 5/s breached"
    assert alert.trend_analysis is not None
    assert alert.trend_analysis.per_second
    assert alert.trend_analysis.describe(alert.metric_type) == (
        "current 10/s, +0/s per h, z 0.0σ, threshold 5/s, 99% breach confidence"
    )


def test_a_byte_counters_rate_is_in_binary_units_per_second() -> None:
    rule = WatchRule(threshold=2**20, counter=True, warmup=3)
    _, alerts = run(
        [(float(i), 3.0 * 2**20 * i) for i in range(4)], rule, metric="net_sent_bytes_total"
    )
    ((_, alert),) = alerts
    assert alert.summary.startswith("current 3.0 MiB/s, +0 B/s per h, ")
    assert alert.summary.endswith("threshold 1.0 MiB/s breached")


@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_reset_re_primes_the_counter_never_a_fall_or_an_anomaly(direction: str) -> None:
    """The rate across a restart is unknown (what was counted between the last scrape and
    the restart is lost): read by Prometheus' rule it is low, a false breach of a ``down``
    threshold. The sample after a drop only primes the next rate."""
    threshold = 50.0 if direction == "up" else 5.0
    rule = WatchRule(threshold=threshold, counter=True, direction=direction)
    before, alerts = run_counter([(15.0 * i, 1e6 + 150.0 * i) for i in range(400)], rule)
    restarted = requests(6000.0, 50.0)
    at_reset, alert = step(before, restarted, rule)
    assert alert is None
    assert at_reset == before.model_copy(
        update={
            "last_t": restarted.timestamp.timestamp(),
            "last_raw": 50.0,
            "folded_t": before.last_t,
        }
    )
    after, more = run_counter(
        [(6000.0 + 15.0 * i, 50.0 + 150.0 * i) for i in range(1, 400)], rule, at_reset
    )
    assert alerts == more == []
    assert set(after.values) == {10.0}
    assert after.n == before.n + 399


def test_a_reset_leaves_the_fits_as_a_missed_sample_would() -> None:
    """The sample after a drop primes the next rate and folds nothing: the fits must still
    measure the next point's distance from the last point they hold, not from the reset
    (every earlier point moved one interval closer, a bias in slope and breach time)."""
    rule = WatchRule(threshold=1e9, counter=True)
    rising = [(15.0 * i, 1e6 + 150.0 * i + 0.5 * i * i) for i in range(200)]
    before, _ = run_counter(rising, rule)
    reset, _ = step(before, requests(3000.0, 50.0), rule)
    went_on, _ = step(reset, requests(3015.0, 50.0 + 350.0 * 15), rule)
    missed, _ = step(before, requests(3015.0, rising[-1][1] + 350.0 * 30), rule)
    for field in ("fast", "segments", "dt_ema", "times", "values"):
        assert getattr(went_on, field) == getattr(missed, field), field


@pytest.mark.parametrize("seed", range(4))
def test_a_restart_mid_interval_raises_nothing(seed: int) -> None:
    """A restart loses what was counted since the last scrape: the rate across it is low
    by that much, so it is not scored as an anomaly nor learnt. (An alert before the first
    restart is the young series' own noise: seed 3's rate of 7.1 after 81 rates of
    10 ± 0.8, 3.6 σ low 20 minutes in, scores 0.53.)"""
    rng = random.Random(seed)
    total, points = 5e5, []
    for i in range(1200):
        increase = rng.gauss(150.0, 12.0)
        total = increase * rng.random() if i in (400, 800) else total + increase
        points.append((15.0 * i, float(round(total))))
    st, alerts = run_counter(points, WatchRule(threshold=20.0, counter=True))
    assert [k for k, _ in alerts if k >= 400] == []
    assert st.last_raw == points[-1][1]
    assert min(st.values) >= 0.0


def test_a_counter_growing_faster_and_faster_forecasts_its_rate_breach() -> None:
    """``c(t) = 10 t + t²/720``: the rate ``10 + t/360`` per second reaches 40 at 3 h.

    Each sample's rate is the mean over the minute before it, ``10 + t/360 - 1/12``, so
    the watch sees the crossing 30 s late, at 10,830 s.
    """
    rule = WatchRule(threshold=40.0, horizon_s=3600, counter=True)
    points = [(60.0 * i, 10.0 * 60 * i + (60.0 * i) ** 2 / 720) for i in range(200)]
    _, alerts = run_counter(points, rule)
    (k, forecast), *_ = alerts
    j = next(j for j, a in alerts if a.attributes["kind"] == "breach")
    assert forecast.attributes["kind"] == "forecast"
    assert forecast.trend_analysis is not None
    assert forecast.trend_analysis.slope_per_hour == pytest.approx(10.0)
    predicted = forecast.trend_analysis.predicted_breach_time
    assert predicted is not None
    assert (predicted - T0).total_seconds() == pytest.approx(10_830.0, abs=1.0)
    assert 10_830.0 - points[k][0] >= 0.8 * rule.horizon_s
    assert points[j][0] == 10_860.0
    assert "+10/s per h" in forecast.summary


def test_a_counter_at_a_steady_rate_never_forecasts() -> None:
    """Its raw value rises for ever, so as a gauge any threshold is soon forecast."""
    rng = random.Random(9)
    total, points = 0.0, []
    for i in range(3000):
        total += rng.gauss(600.0, 25.0)
        points.append((60.0 * i, total))
    rule = WatchRule(threshold=20.0, counter=True)
    st, alerts = run_counter(points, rule)
    assert {a.attributes["kind"] for _, a in alerts} <= {"anomaly"}
    assert 9.0 < st.ema < 11.0
    as_gauge = WatchRule(threshold=1e6)
    _, raw = run_counter(points, as_gauge)
    kinds = [a.attributes["kind"] for _, a in raw]
    assert kinds[0] == "forecast"
    assert "breach" in kinds


def test_bad_counter_samples_are_skipped_without_changing_outputs() -> None:
    rule = WatchRule(threshold=12.0, counter=True)
    clean = [(10.0 * i, 100.0 * i + i * i) for i in range(60)]
    dirty: list[tuple[float, float]] = []
    for t, v in clean:
        dirty.append((t, v))
        if t % 70 == 30:
            dirty += [(t, v + 50.0), (t - 20.0, 0.0), (t + 5.0, math.nan), (t + 5.0, -1.0)]
    st_clean, a_clean = run_counter(clean, rule)
    st_dirty, a_dirty = run_counter(dirty, rule)
    assert a_clean
    assert [a.model_dump() for _, a in a_clean] == [a.model_dump() for _, a in a_dirty]
    assert st_dirty.skipped == len(dirty) - len(clean)
    assert st_dirty.model_copy(update={"skipped": 0}) == st_clean


def test_a_state_saved_before_counters_loads_and_a_change_of_kind_starts_afresh() -> None:
    """A gauge's state has no ``last_raw``; once its rule says counter (a ``*_total`` metric
    now defaults to one) its history of raw values is no history of rates."""
    rule = WatchRule(threshold=1e9)
    state, _ = run_counter([(15.0 * i, 1000.0 + 150.0 * i) for i in range(30)], rule)
    saved = state.model_dump(mode="json")
    del saved["last_raw"]
    old = SeriesState.model_validate_json(json.dumps(saved))
    assert old == state
    assert old.last_raw is None
    state = state.model_copy(update={"last_alert_t": 100.0, "last_alert_kind": "forecast"})

    counter = WatchRule(counter=True)
    primed, alert = step(state, requests(450.0, 7750.0), counter)
    assert alert is None
    assert primed == SeriesState(
        last_t=T0.timestamp() + 450.0,
        last_raw=7750.0,
        last_alert_t=100.0,
        last_alert_kind="forecast",
    )
    counted, _ = step(primed, requests(465.0, 7900.0), counter)
    assert (counted.n, counted.values) == (1, (10.0,))

    back, _ = step(counted, requests(480.0, 8050.0), rule)
    assert (back.n, back.values, back.last_raw) == (1, (8050.0,), None)
    assert back.last_alert_kind == "forecast"


def test_counters_stepped_together_with_gauges_match_each_stepped_alone() -> None:
    """A sweep's batch holds gauges, counters priming, counters crossing a reset (their
    rate kept from the anomaly detector) and skipped samples; each slot must get its own."""
    rng = random.Random(8)
    gauge, counter = WatchRule(threshold=500.0), WatchRule(threshold=30.0, counter=True)
    rules = [gauge, counter, counter, counter]
    totals = [0.0, 1e4, 0.0, 0.0]
    alone: list[SeriesState | None] = [None] * 4
    together: list[SeriesState | None] = [None] * 4
    for i in range(400):
        totals[0] = 100.0 + rng.gauss(0, 3.0)
        totals[1] = rng.uniform(0, 150.0) if i % 97 == 50 else totals[1] + rng.gauss(150, 10)
        totals[2] += rng.gauss(150, 10) if i >= 120 else 0.0
        totals[3] = -1.0 if i % 41 == 3 else 5.0 * i * i
        sigs = [signal(15.0 * i, v, {"k": str(k)}, TOTAL) for k, v in enumerate(totals)]
        present = [k for k in range(4) if k != 2 or i >= 120]
        batch = step_many([(together[k], sigs[k], rules[k]) for k in present])
        for k, (state, alert) in zip(present, batch, strict=True):
            assert (state, alert) == step(alone[k], sigs[k], rules[k]), f"series {k}, sample {i}"
            alone[k] = together[k] = state
    states = [s for s in together if s is not None]
    assert [s.last_raw is not None for s in states] == [False, True, True, True]
    assert states[2].n == 400 - 120 - 1
    assert states[3].skipped == len([i for i in range(400) if i % 41 == 3])
