"""The per-series watch: breach forecasts, breaches, anomalies, bad samples, durable state."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from vanguard.detect.watch import (
    COOLDOWN_S,
    MARGIN_SE,
    PRECISION,
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
    _slope,
    fingerprint,
    step,
    step_many,
)
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import load_patterns
from vanguard.model import Alert, Signal

T0 = datetime(2026, 3, 1, 8, tzinfo=UTC)


def signal(i: float, value: float, labels: dict[str, str] | None = None) -> Signal:
    return Signal(
        source="test",
        service_name="api",
        metric_type="rss_bytes",
        labels=labels or {},
        timestamp=T0 + timedelta(seconds=i),
        value=value,
    )


def run(
    points: list[tuple[float, float]], rule: WatchRule, state: SeriesState | None = None
) -> tuple[SeriesState, list[tuple[int, Alert]]]:
    alerts: list[tuple[int, Alert]] = []
    st = state
    for k, (t, v) in enumerate(points):
        st, alert = step(st, signal(t, v), rule)
        if alert is not None:
            alerts.append((k, alert))
    assert st is not None
    return st, alerts


def test_rss_ramp_predicts_breach_minutes_ahead() -> None:
    rule = WatchRule(threshold=400e6)
    points = [(float(i), 40e6 + 2e6 * i + random.Random(i).gauss(0, 1e6)) for i in range(200)]
    _, alerts = run(points, rule)
    first_k, first = alerts[0]
    assert first_k <= 20
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


def test_no_alert_during_warmup() -> None:
    rule = WatchRule(threshold=10.0, warmup=10)
    points = [(float(i), 20.0) for i in range(9)]
    _, alerts = run(points, rule)
    assert alerts == []


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


def test_gap_drops_stale_points_and_does_not_crash() -> None:
    rule = WatchRule(threshold=1000.0)
    before = [(float(i), 100.0 + i * 0.01) for i in range(30)]
    after = [(10_000.0 + i, 100.3 + i * 0.01) for i in range(30)]
    st, alerts = run(before + after, rule)
    assert alerts == []
    assert min(st.times) >= 10_000.0


def test_state_stays_under_4kb_as_json() -> None:
    rule = WatchRule(threshold=1e12)
    rng = random.Random(1)
    points = [(i * 1.5, 1e9 * rng.random() + 1 / 3) for i in range(500)]
    st, _ = run(points, rule)
    assert len(st.times) == 20
    size = len(st.model_dump_json().encode())
    print(f"SeriesState as JSON: {size} bytes")
    assert size <= 4096


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
        st = None
        alert = None
        for i in range(3):
            st, alert = step(st, signal(i, 1.0, {"pid": "7"}), rule)
        assert alert is not None
        outs.append(alert.alert_id)
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
