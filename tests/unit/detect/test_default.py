"""The default detector: batch and streaming paths agree, state is small and durable."""

from __future__ import annotations

import base64
import json
import zlib

import numpy as np
import pytest

from vanguard.detect.default import (
    DEFAULT_PARAMS,
    BatchState,
    DefaultDetector,
    DefaultParams,
    DefaultState,
    default_step,
    score_batch,
    score_chunk,
)
from vanguard.detect.watch import ANOMALY_ALERT_SCORE


def noisy_daily(n: int, seed: int, step_s: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = 1.7e9 + step_s * np.arange(n)
    x = 50 + 10 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 1, n)
    return x, t


def test_batch_equals_streaming_and_pure_step() -> None:
    x, t = noisy_daily(900, 1)
    x[700] += 40.0
    x[300] = np.nan
    batch = score_batch(np.stack([x, x * 2]), times=np.stack([t, t]))
    det = DefaultDetector()
    stream = []
    state = DefaultState()
    pure = []
    for xi, ti in zip(x.tolist(), t.tolist(), strict=True):
        stream.append(det.score_one(xi, ti))
        det.learn_one(xi, ti)
        state, s = default_step(state, xi, ti)
        pure.append(s)
    assert np.allclose(batch[0], stream)
    assert np.allclose(batch[0], pure)
    assert np.allclose(batch[0], batch[1])


def test_scores_are_bounded_and_zero_during_warmup() -> None:
    x, t = noisy_daily(2000, 2)
    x[1500:1520] = 200.0
    scores = score_batch(x, times=t)[0]
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert not scores[: DEFAULT_PARAMS.warmup].any()
    det = DefaultDetector()
    for xi in x[: DEFAULT_PARAMS.warmup - 1].tolist():
        det.learn_one(xi)
    assert not det.ready
    det.learn_one(float(x[DEFAULT_PARAMS.warmup]))
    assert det.ready


def test_spike_scores_high_once_then_holds() -> None:
    x, t = noisy_daily(3000, 3)
    x[2500] += 100.0
    x[2550] += 100.0
    scores = score_batch(x, times=t)[0]
    assert scores[2500] == 1.0
    assert scores[2501 : 2500 + DEFAULT_PARAMS.hold].max() == 0.0
    assert scores[800:2500].max() < scores[2500]


def test_level_shift_is_detected_without_timestamps() -> None:
    rng = np.random.default_rng(4)
    x = np.r_[rng.normal(10, 0.5, 1500), rng.normal(14, 0.5, 200)]
    scores = score_batch(x)[0]
    assert scores[1500:1510].max() >= 0.5
    assert scores[400:1500].max() < 0.5


def test_surprise_catches_a_noise_change_inside_the_range_and_alarms_once() -> None:
    rng = np.random.default_rng(11)
    x = 50 + rng.normal(0, 0.5, 5000)
    x[4000:] += rng.normal(0, 2.0, 1000)
    only = {"day_buckets": 0, "novelty_scale": 100.0, "range_scale": 100.0}
    fire = DEFAULT_PARAMS.fire_level
    on = score_batch(x, DefaultParams(**only))[0]
    off = score_batch(x, DefaultParams(surprise_weight=0.0, **only))[0]
    assert on[4000:4050].max() >= fire
    assert on[600:4000].max() < fire
    assert off.max() < fire
    assert (on[4000:] >= fire).sum() == 1


def slow_cycle(n: int, seed: int) -> np.ndarray:
    """A healthy cycle of 720 samples (an hour at 5 s) between 50 and 80, with a little noise."""
    rng = np.random.default_rng(seed)
    return 65.0 + 15.0 * np.cos(2 * np.pi * np.arange(n) / 720) + rng.normal(0, 0.2, n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_young_series_first_turn_is_not_news(seed: int) -> None:
    """A slow cycle turns for the first time about 430 samples in. Its novelty rate's
    maximum then rests on the hundred quiet samples since the context warm-up, and the turn
    beat it at full score (with ``context_prior`` 0, as before); the young prior holds it
    below the watch's alert level."""
    x = slow_cycle(3000, seed)
    assert score_batch(x)[0].max() < ANOMALY_ALERT_SCORE
    before = score_batch(x, DefaultParams(context_prior=0.0))[0]
    assert before[400:500].max() == 1.0


def test_once_the_young_prior_lapses_new_patterns_are_news_again() -> None:
    """A burst of new patterns in a regular series scores below the alert level 100
    samples after the context warm-up, where it looks like a young series' own first
    turns, and 1.0 once the prior has lapsed (``context_prior_span`` samples later)."""
    p = DEFAULT_PARAMS
    scores = []
    for at in (p.context_warmup + 100, p.context_warmup + p.context_prior_span):
        rng = np.random.default_rng(13)
        x = 50.0 + 0.5 * (np.arange(2000) % 50) + rng.normal(0, 0.05, 2000)
        x[at : at + 20] = rng.uniform(50.0, 74.0, 20)
        scores.append(score_batch(x)[0][at : at + 20].max())
    assert scores[0] < ANOMALY_ALERT_SCORE
    assert scores[1] == 1.0


def healthy_noise(series: int, n: int, step_s: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """Normal noise, one row a series: healthy, so every alert on it is false."""
    rng = np.random.default_rng(21)
    t = 1.7e9 + step_s * np.arange(n)
    return rng.normal(50.0, 5.0, (series, n)), np.broadcast_to(t, (series, n)).copy()


def test_healthy_noise_does_not_alert_when_the_time_of_day_signal_starts() -> None:
    """At 5 minutes a sample the time-of-day signal starts at sample 600. Its maximum then
    rests on a few samples (or none), and the next new (hour, level) pair, which healthy
    noise gives within hours, beat it at full score (with ``day_prior`` 0, as before); the
    young prior holds it below the watch's alert level."""
    x, t = healthy_noise(20, 1500)
    start = DEFAULT_PARAMS.day_warmup
    before = score_batch(x, DefaultParams(day_prior=0.0), times=t)
    alerted = (before[:, start:] >= ANOMALY_ALERT_SCORE).any(axis=1)
    assert alerted.sum() >= 10
    without_day = score_batch(x, DefaultParams(day_buckets=0), times=t)
    assert without_day[:, start:].max() < ANOMALY_ALERT_SCORE
    assert score_batch(x, times=t)[:, start:].max() < ANOMALY_ALERT_SCORE


def test_day_prior_or_its_span_at_zero_gives_the_signal_as_before() -> None:
    x, t = healthy_noise(4, 1200)
    off = score_batch(x, DefaultParams(day_prior=0.0), times=t)
    assert np.array_equal(score_batch(x, DefaultParams(day_prior_span=0.0), times=t), off)
    assert not np.array_equal(score_batch(x, times=t), off)


def hourly_cycle(n: int, at: int, run: int, step_s: float = 300.0) -> tuple[np.ndarray, np.ndarray]:
    """A daily cycle between 30 and 70 with a little noise, 5 minutes a sample, whose sample
    ``at`` is at 6 a.m., its peak. From ``at`` on, ``run`` values step up from 30: levels
    inside the range, each in its own bin and never seen at this time of day."""
    rng = np.random.default_rng(17)
    t = 1.7e9 + step_s * np.arange(n) - step_s * at + (21600.0 - 1.7e9 % 86400.0)
    x = 50.0 + 20.0 * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0.0, 0.3, n)
    x[at : at + run] = 30.0 + 4.5 * np.arange(run)
    return x, t


def test_a_young_time_of_day_signal_holds_back_one_new_pair_not_a_run() -> None:
    """While the time-of-day signal is young, one level new at this hour scores below the
    alert level (it was news before the prior); four in a row are still news."""
    at = DEFAULT_PARAMS.day_warmup + 69
    x, t = hourly_cycle(at + 100, at, 1)
    assert score_batch(x, times=t)[0][at] < ANOMALY_ALERT_SCORE
    assert score_batch(x, DefaultParams(day_prior=0.0), times=t)[0][at] == 1.0
    x, t = hourly_cycle(at + 100, at, 4)
    assert score_batch(x, times=t)[0][at : at + 4].max() >= ANOMALY_ALERT_SCORE


def test_once_the_day_prior_lapses_the_signal_scores_as_before() -> None:
    """``day_prior_span`` after the signal starts, the scores are those the signal gave
    without the prior, bit for bit."""
    p = DEFAULT_PARAMS
    lapsed = p.day_warmup + int(p.day_prior_span / 300.0) + 1
    at = lapsed + 69
    x, t = hourly_cycle(at + 100, at, 1)
    scores = score_batch(x, times=t)[0]
    before = score_batch(x, DefaultParams(day_prior=0.0), times=t)[0]
    assert not np.array_equal(scores, before)
    assert np.array_equal(scores[lapsed:], before[lapsed:])


def test_a_state_saved_before_the_day_prior_loads_with_the_signal_dated() -> None:
    """A state from before ``day_start`` loads. A time-of-day signal that has learnt a
    maximum is dated from the series' first sample, so it scores on as before, not young
    again; one that has not (not started, or nothing new since) starts its young span at
    its next ready sample, as in a new series."""
    x, t = noisy_daily(1500, 14)
    x[1300] -= 30.0
    states = []
    state = DefaultState()
    for xi, ti in zip(x[:650].tolist(), t[:650].tolist(), strict=True):
        state, _ = default_step(state, xi, ti)
        states.append(state)
    started = states[-1]
    assert started.day_start is not None
    assert started.day_max > 0.0
    saved = started.model_dump(mode="json")
    del saved["day_start"]
    loaded = DefaultState.model_validate_json(json.dumps(saved))
    assert loaded.day_start == started.t_first
    assert loaded.model_copy(update={"day_start": started.day_start}) == started
    as_before = DefaultParams(day_prior=0.0)
    outs = []
    for st, params in ((loaded, DEFAULT_PARAMS), (started, as_before)):
        scores = []
        for xi, ti in zip(x[650:].tolist(), t[650:].tolist(), strict=True):
            st, s = default_step(st, xi, ti, params)
            scores.append(s)
        outs.append(scores)
    assert outs[0] == outs[1]

    young = states[DEFAULT_PARAMS.day_warmup - 10]
    assert young.day_start is None
    saved = young.model_dump(mode="json")
    del saved["day_start"]
    assert DefaultState.model_validate(saved) == young
    quiet = started.model_dump(mode="json") | {"day_max": 0.0}
    del quiet["day_start"]
    assert DefaultState.model_validate(quiet).day_start is None


@pytest.mark.parametrize(
    ("level", "jump"), [(0.0, 1e300), (1e300, 0.0), (1e300, -1e300), (1e-300, 0.0), (0.0, 1e-300)]
)
def test_extreme_magnitudes_score_finite_and_in_range(level: float, jump: float) -> None:
    rng = np.random.default_rng(12)
    x = level * (1.0 + 0.01 * rng.random(1000))
    x[900] = jump
    scores = score_batch(x)[0]
    assert np.isfinite(scores).all()
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert scores[900] > 0.0


def test_missing_values_hold_the_state() -> None:
    x, t = noisy_daily(800, 5)
    gappy = np.insert(x, 400, [np.nan, np.nan])
    stamps = np.insert(t, 400, [np.nan, np.nan])
    a = score_batch(x, times=t)[0]
    b = score_batch(gappy, times=stamps)[0]
    assert (b[400:402] == 0.0).all()
    assert np.allclose(np.delete(b, [400, 401]), a)


def test_chunks_scored_from_the_returned_state_match_one_batch_bit_for_bit() -> None:
    x, t = noisy_daily(1500, 8)
    x[1200] += 40.0
    x[[300, 301, 700]] = np.nan
    values, times = np.stack([x, x[::-1]]), np.stack([t, t])
    whole = score_batch(values, times=times)
    state, parts = BatchState.zeros(2), []
    for start, end in [(0, 1), (1, 8), (8, 300), (300, 301), (301, 999), (999, 1500)]:
        state, scores = score_chunk(state, values[:, start:end], times=times[:, start:end])
        parts.append(scores)
    assert np.array_equal(np.concatenate(parts, axis=1), whole)
    assert whole[0, 1200] == 1.0


def test_score_chunk_leaves_the_state_it_was_given_unchanged() -> None:
    x, t = noisy_daily(1000, 9)
    mid, _ = score_chunk(BatchState.zeros(1), x[:600], times=t[:600])
    first, second = (score_chunk(mid, x[600:], times=t[600:]) for _ in range(2))
    assert np.array_equal(first[1], second[1])
    assert DefaultState.from_batch(first[0]) == DefaultState.from_batch(second[0])
    assert DefaultState.from_batch(mid) != DefaultState.from_batch(first[0])


def test_json_round_trip_mid_stream_is_exact() -> None:
    x, t = noisy_daily(1600, 6)
    x[1400] -= 30
    state = DefaultState()
    for xi, ti in zip(x[:800].tolist(), t[:800].tolist(), strict=True):
        state, _ = default_step(state, xi, ti)
    restored = DefaultState.model_validate_json(state.model_dump_json())
    assert restored == state
    outs = []
    for start in (state, restored):
        st = start
        scores = []
        for xi, ti in zip(x[800:].tolist(), t[800:].tolist(), strict=True):
            st, s = default_step(st, xi, ti)
            scores.append(s)
        outs.append(scores)
    assert outs[0] == outs[1]
    assert max(outs[0]) > 0.5


def test_state_fits_4kb() -> None:
    rng = np.random.default_rng(7)
    x = rng.random(3000) * 1e9
    t = 1.7e9 + 60.0 * np.arange(3000)
    state = DefaultState()
    for xi, ti in zip(x.tolist(), t.tolist(), strict=True):
        state, _ = default_step(state, xi, ti)
    assert len(state.model_dump_json()) <= 4096
    assert BatchState.zeros(10).nbytes_per_series() <= 4096
    assert len(json.loads(state.model_dump_json())["seen"]) > 0


def test_bitsets_load_bit_for_bit_in_each_form() -> None:
    """A sparse bitset is written as its zlib stream; one near half full, which zlib cannot
    shrink, as its bytes (4/3 characters a byte, marked ``!``); a state saved as zlib
    streams of any density before (``eJ``) loads as well."""
    rng = np.random.default_rng(4)
    half_full = BatchState.zeros(1)
    half_full.seen[0] = rng.integers(0, 256, half_full.seen.shape[1], dtype=np.uint8)
    sparse = BatchState.zeros(1)
    sparse.seen[0, ::50] = 1
    for batch, mark in ((half_full, "!"), (sparse, "eJ")):
        batch.day_seen[0, 3] = 0b1010
        state = DefaultState.from_batch(batch)
        assert state.seen.startswith(mark)
        loaded = DefaultState.model_validate_json(state.model_dump_json()).to_batch()
        assert np.array_equal(loaded.seen, batch.seen)
        assert np.array_equal(loaded.day_seen, batch.day_seen)
    assert len(DefaultState.from_batch(half_full).seen) == 1 + 4 * -(-1250 // 3)
    old = base64.b64encode(zlib.compress(half_full.seen.tobytes(), 6)).decode()
    loaded = DefaultState(seen=old).to_batch()
    assert np.array_equal(loaded.seen, half_full.seen)


def test_params_are_bounded() -> None:
    with pytest.raises(ValueError, match="levels"):
        DefaultParams(levels=40)
    with pytest.raises(ValueError, match="hold"):
        DefaultParams(hold=-1)
    with pytest.raises(ValueError, match="surprise_alpha"):
        DefaultParams(surprise_alpha=0.0)
    with pytest.raises(ValueError, match="error_span"):
        DefaultParams(error_span=0.5)
    with pytest.raises(ValueError, match="context_prior"):
        DefaultParams(context_prior=1.5)
    with pytest.raises(ValueError, match="context_prior_span"):
        DefaultParams(context_prior_span=-1)
    with pytest.raises(ValueError, match="day_prior"):
        DefaultParams(day_prior=-0.1)
    with pytest.raises(ValueError, match="day_prior_span"):
        DefaultParams(day_prior_span=-1.0)
