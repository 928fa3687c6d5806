"""The default anomaly detector: novelty and surprise, each judged against the series' own past.

Five signals, each measured against the series' own history, so one threshold fits series
of any scale or noise level:

* **range**: how far a value falls outside everything seen so far, in units of that range;
* **context**: the last ``context`` values, quantised into ``levels`` bins of the range seen
  so far, form a code; a code never seen before is a novel pattern. The rate of novel codes
  (a short moving average) scores when it beats its own past maximum. For
  ``context_prior_span`` samples after its warm-up that maximum counts as at least
  ``context_prior``: learnt over so few samples, it is beaten by a young series' own turns;
* **time of day**: the same novelty for (two-hour bucket of the day, value bin), once a
  full day has been seen (needs ``t``). Its maximum, too, counts as at least ``day_prior``
  for ``day_prior_span`` seconds after the signal starts (at ``day_start``);
* **surprise**: the error of a one-step forecast (an EWMA), relative to its usual size on a
  log scale, averaged over the last few dozen samples and compared, as a z-score, with its
  own long-run mean and spread (an anomaly likelihood). It sees what novelty cannot: a
  change inside the range and the patterns already seen, such as a second, smaller burst.
  After it fires it stays quiet until its z-score falls back below ``rearm_z``;
* **records** (weight 0 by default): level, jump and drift z-scores beating their maxima.

The score is the largest signal, in [0, 1]. After a score of ``fire_level`` or more the
output is held at 0 for ``hold`` samples: one alarm per incident is what operators and the
NAB rules reward. Everything is O(1) per sample; the state is a few floats, a small ring of
codes and two bitsets (1.3 KB by default).

The core works on arrays of shape ``(series,)``; the single-series paths (``default_step``,
``DefaultDetector``) run the same code on one series, so they cannot disagree.

>>> det = DefaultDetector()
>>> for i in range(300):
...     det.learn_one(10.0 + (i % 7) * 0.1)
>>> det.ready, det.score_one(10.3), det.score_one(25.0)
(True, 0.0, 1.0)
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_PARAMS",
    "BatchState",
    "DefaultDetector",
    "DefaultParams",
    "DefaultState",
    "default_step",
    "default_step_many",
    "score_batch",
    "score_chunk",
    "step_batch",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
U8 = NDArray[np.uint8]

_EPS = 1e-12
_TINY = 1e-300


class DefaultParams(BaseModel):
    """Parameters of the default detector, global to every series it watches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warmup: int = Field(default=50, ge=2, le=100_000)
    learn_after: int = Field(default=20, ge=1, le=100_000)
    context_warmup: int = Field(default=300, ge=1, le=1_000_000)
    context_prior: float = Field(default=0.5, ge=0.0, le=1.0)
    context_prior_span: int = Field(default=600, ge=0, le=1_000_000)
    slow_alpha: float = Field(default=0.01, gt=0.0, lt=1.0)
    fast_alpha: float = Field(default=0.2, gt=0.0, lt=1.0)
    novelty_alpha: float = Field(default=0.3, gt=0.0, le=1.0)
    levels: int = Field(default=10, ge=2, le=16)
    context: int = Field(default=4, ge=1, le=5)
    record_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    record_scale: float = Field(default=3.0, gt=0.0, le=100.0)
    range_scale: float = Field(default=0.5, gt=0.0, le=100.0)
    novelty_scale: float = Field(default=1.0, gt=0.0, le=100.0)
    day_buckets: int = Field(default=12, ge=0, le=96)
    day_alpha: float = Field(default=0.3, gt=0.0, le=1.0)
    day_warmup: int = Field(default=600, ge=1, le=1_000_000)
    day_span: float = Field(default=86400.0, ge=0.0, le=365 * 86400.0)
    day_prior: float = Field(default=0.3, ge=0.0, le=1.0)
    day_prior_span: float = Field(default=86400.0, ge=0.0, le=365 * 86400.0)
    error_alpha: float = Field(default=0.1, gt=0.0, le=1.0)
    error_span: float = Field(default=1000.0, ge=1.0, le=1e7)
    surprise_alpha: float = Field(default=0.035, gt=0.0, le=1.0)
    surprise_span: float = Field(default=2000.0, ge=1.0, le=1e7)
    surprise_warmup: int = Field(default=300, ge=1, le=1_000_000)
    surprise_z: float = Field(default=3.75, gt=0.0, le=100.0)
    surprise_scale: float = Field(default=1.6, gt=0.0, le=100.0)
    surprise_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    rearm_z: float = Field(default=0.0, ge=-100.0, le=100.0)
    fire_level: float = Field(default=0.1, gt=0.0, le=1.0)
    hold: int = Field(default=30, ge=0, le=100_000)

    @property
    def codes(self) -> int:
        return int(self.levels**self.context)

    @property
    def day_codes(self) -> int:
        return self.day_buckets * self.levels


DEFAULT_PARAMS = DefaultParams()


@dataclass
class BatchState:
    """Mutable per-series arrays (first axis = series)."""

    n: F64
    prev: F64
    lo: F64
    hi: F64
    mu: F64
    var: F64
    dabs: F64
    fast: F64
    rec_max: F64
    ring: I64
    seen: U8
    nov: F64
    nov_max: F64
    t_first: F64
    day_seen: U8
    day_nov: F64
    day_max: F64
    day_start: F64
    pred: F64
    err: F64
    sur: F64
    sur_mu: F64
    sur_var: F64
    armed: F64
    hold: F64

    @classmethod
    def zeros(cls, size: int, params: DefaultParams = DEFAULT_PARAMS) -> BatchState:
        z = np.zeros(size)
        return cls(
            n=z.copy(),
            prev=z.copy(),
            lo=np.full(size, np.inf),
            hi=np.full(size, -np.inf),
            mu=z.copy(),
            var=z.copy(),
            dabs=z.copy(),
            fast=z.copy(),
            rec_max=np.zeros((3, size)),
            ring=np.zeros((max(params.context - 1, 1), size), dtype=np.int64),
            seen=np.zeros((size, (params.codes + 7) // 8), dtype=np.uint8),
            nov=z.copy(),
            nov_max=z.copy(),
            t_first=np.full(size, np.nan),
            day_seen=np.zeros((size, (params.day_codes + 7) // 8), dtype=np.uint8),
            day_nov=z.copy(),
            day_max=z.copy(),
            day_start=np.full(size, np.nan),
            pred=z.copy(),
            err=z.copy(),
            sur=z.copy(),
            sur_mu=z.copy(),
            sur_var=z.copy(),
            armed=np.ones(size),
            hold=z.copy(),
        )

    def copy(self) -> BatchState:
        """An independent copy: stepping it leaves this state as it was."""
        return replace(self, **{f.name: getattr(self, f.name).copy() for f in fields(self)})

    def nbytes_per_series(self) -> int:
        total = sum(int(getattr(self, f.name).nbytes) for f in fields(self))
        return total // max(len(self.n), 1)


class DefaultState(BaseModel):
    """One series' detector state as a JSON value (0.3–2.4 KB with the default parameters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: float = 0.0
    prev: float = 0.0
    lo: float | None = None
    hi: float | None = None
    mu: float = 0.0
    var: float = 0.0
    dabs: float = 0.0
    fast: float = 0.0
    rec_max: tuple[float, float, float] = (0.0, 0.0, 0.0)
    ring: tuple[int, ...] = ()
    seen: str = ""
    nov: float = 0.0
    nov_max: float = 0.0
    t_first: float | None = None
    day_seen: str = ""
    day_nov: float = 0.0
    day_max: float = 0.0
    day_start: float | None = None
    """When the time-of-day signal started (epoch seconds), which its young prior reads."""
    pred: float = 0.0
    err: float = 0.0
    sur: float = 0.0
    sur_mu: float = 0.0
    sur_var: float = 0.0
    armed: float = 1.0
    hold: float = 0.0

    @model_validator(mode="before")
    @classmethod
    def _date_a_started_day_signal(cls, data: Any) -> Any:
        """A state saved before ``day_start`` still loads. If its time-of-day signal has
        learnt a maximum, the signal is dated from the series' first sample (``t_first``), so
        it is old and keeps scoring as before; otherwise its age counts from its next ready
        sample, as in a new series."""
        if isinstance(data, dict) and "day_start" not in data and data.get("day_max"):
            return {**data, "day_start": data.get("t_first")}
        return data

    def to_batch(self, params: DefaultParams = DEFAULT_PARAMS) -> BatchState:
        return DefaultState.stack((self,), params)

    @staticmethod
    def stack(states: Sequence[DefaultState], params: DefaultParams = DEFAULT_PARAMS) -> BatchState:
        """The batch state of ``states``, one column each, in order."""
        batch = BatchState.zeros(len(states), params)
        for i, st in enumerate(states):
            batch.n[i], batch.prev[i] = st.n, st.prev
            batch.lo[i] = np.inf if st.lo is None else st.lo
            batch.hi[i] = -np.inf if st.hi is None else st.hi
            batch.mu[i], batch.var[i], batch.dabs[i], batch.fast[i] = (
                st.mu,
                st.var,
                st.dabs,
                st.fast,
            )
            batch.rec_max[:, i] = st.rec_max
            if st.ring:
                batch.ring[:, i] = st.ring
            _unpack(st.seen, batch.seen[i])
            _unpack(st.day_seen, batch.day_seen[i])
            batch.nov[i], batch.nov_max[i], batch.hold[i] = st.nov, st.nov_max, st.hold
            batch.day_nov[i], batch.day_max[i] = st.day_nov, st.day_max
            batch.day_start[i] = np.nan if st.day_start is None else st.day_start
            batch.pred[i], batch.err[i], batch.sur[i] = st.pred, st.err, st.sur
            batch.sur_mu[i], batch.sur_var[i], batch.armed[i] = st.sur_mu, st.sur_var, st.armed
            batch.t_first[i] = np.nan if st.t_first is None else st.t_first
        return batch

    @classmethod
    def from_batch(cls, batch: BatchState, index: int = 0) -> DefaultState:
        lo, hi = float(batch.lo[index]), float(batch.hi[index])
        rec = batch.rec_max[:, index]
        return cls(
            n=float(batch.n[index]),
            prev=float(batch.prev[index]),
            lo=lo if np.isfinite(lo) else None,
            hi=hi if np.isfinite(hi) else None,
            mu=float(batch.mu[index]),
            var=float(batch.var[index]),
            dabs=float(batch.dabs[index]),
            fast=float(batch.fast[index]),
            rec_max=(float(rec[0]), float(rec[1]), float(rec[2])),
            ring=tuple(int(v) for v in batch.ring[:, index]),
            seen=_pack(batch.seen[index]),
            nov=float(batch.nov[index]),
            nov_max=float(batch.nov_max[index]),
            t_first=float(batch.t_first[index]) if np.isfinite(batch.t_first[index]) else None,
            day_seen=_pack(batch.day_seen[index]),
            day_nov=float(batch.day_nov[index]),
            day_max=float(batch.day_max[index]),
            day_start=(
                float(batch.day_start[index]) if np.isfinite(batch.day_start[index]) else None
            ),
            pred=float(batch.pred[index]),
            err=float(batch.err[index]),
            sur=float(batch.sur[index]),
            sur_mu=float(batch.sur_mu[index]),
            sur_var=float(batch.sur_var[index]),
            armed=float(batch.armed[index]),
            hold=float(batch.hold[index]),
        )


_RAW = "!"
"""Marks a bitset's text as its bytes; base64 has no ``!``, so unmarked text is a zlib stream."""


def _pack(bits: U8) -> str:
    """A bitset as text: ``""`` when empty, else base64 of its zlib stream, or ``!`` and
    base64 of its bytes when that is shorter. A sparse set shrinks to a few dozen bytes;
    one near half full, which zlib cannot shrink, takes its bytes' 4/3."""
    if not bits.any():
        return ""
    raw = bits.tobytes()
    packed = zlib.compress(raw, 6)
    if len(packed) < len(raw):
        return base64.b64encode(packed).decode()
    return _RAW + base64.b64encode(raw).decode()


def _unpack(text: str, into: U8) -> None:
    """Fill one series' bitset row ``into`` from ``_pack``'s text."""
    if not text:
        return
    if text[0] == _RAW:
        data = base64.b64decode(text[1:], validate=True)
    else:
        data = zlib.decompress(base64.b64decode(text, validate=True))
    raw = np.frombuffer(data, dtype=np.uint8)
    into[: len(raw)] = raw[: into.shape[0]]


def step_batch(
    state: BatchState,
    x: F64,
    params: DefaultParams = DEFAULT_PARAMS,
    t: F64 | None = None,
) -> F64:
    """Score one value per series, then learn it (NaN = no sample: state held, score 0).

    ``t`` (epoch seconds, NaN where unknown) feeds the time-of-day context. Values near the
    float limits overflow in ratios and squares; scores are clipped and branches chosen
    with ``np.where``, so those overflows are silenced rather than raised (a test pins that
    scores stay finite).
    """
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _step(state, x, params, t)


def _step(state: BatchState, x: F64, params: DefaultParams, t: F64 | None) -> F64:
    ok = np.isfinite(x)
    xv = np.where(ok, x, state.prev)
    first = state.n == 0
    rows = np.arange(len(xv))

    hi = np.maximum(state.hi, xv)
    lo = np.minimum(state.lo, xv)
    span = np.where(np.isfinite(state.hi - state.lo), state.hi - state.lo, 0.0)
    outside = np.maximum(xv - state.hi, state.lo - xv)
    range_score = np.clip(
        np.where(first, 0.0, outside) / (np.maximum(span, _EPS) * params.range_scale), 0.0, 1.0
    )

    sigma = np.sqrt(state.var) + _EPS
    fast = np.where(first, xv, state.fast + params.fast_alpha * (xv - state.fast))
    feats = np.stack(
        [
            np.abs(xv - state.mu) / sigma,
            np.abs(xv - state.prev) / (state.dabs + _EPS),
            np.abs(fast - state.mu) / sigma,
        ]
    )
    ratio = feats / np.maximum(state.rec_max, _EPS)
    rec_ready = state.n >= params.learn_after
    record_score = np.where(
        rec_ready,
        np.max(np.clip((ratio - 1.0) / params.record_scale, 0.0, 1.0), axis=0),
        0.0,
    )

    width = np.maximum(hi - lo, _EPS)
    q = np.clip(((xv - lo) / width * params.levels).astype(np.int64), 0, params.levels - 1)
    code = q.copy()
    for k in range(params.context - 1):
        code = code * params.levels + state.ring[k]
    byte, bit = code >> 3, (code & 7).astype(np.uint8)
    novel = ((state.seen[rows, byte] >> bit) & 1) == 0
    nov = state.nov + params.novelty_alpha * (novel - state.nov)
    ctx_ready = state.n >= params.context_warmup
    young = state.n < params.context_warmup + params.context_prior_span
    nov_known = np.maximum(
        np.maximum(state.nov_max, np.where(young, params.context_prior, 0.0)), 1e-3
    )
    context_score = np.where(
        state.n >= params.context_warmup + params.learn_after,
        np.clip((nov / nov_known - 1.0) / params.novelty_scale, 0.0, 1.0),
        0.0,
    )

    score = np.maximum(np.maximum(range_score, params.record_weight * record_score), context_score)
    day_ok = np.zeros(len(xv), dtype=bool)
    if params.day_buckets and t is not None:
        day_ok = ok & np.isfinite(t)
        tt = np.where(day_ok, t, 0.0)
        bucket = ((tt % 86400.0) * (params.day_buckets / 86400.0)).astype(np.int64)
        day_code = np.clip(bucket, 0, params.day_buckets - 1) * params.levels + q
        day_byte, day_bit = day_code >> 3, (day_code & 7).astype(np.uint8)
        day_novel = ((state.day_seen[rows, day_byte] >> day_bit) & 1) == 0
        day_nov = state.day_nov + params.day_alpha * (day_novel - state.day_nov)
        state.t_first = np.where(day_ok & np.isnan(state.t_first), tt, state.t_first)
        covered = tt - state.t_first >= params.day_span
        day_ready = day_ok & (state.n >= params.day_warmup) & covered
        state.day_start = np.where(day_ready & np.isnan(state.day_start), tt, state.day_start)
        day_young = day_ready & (tt - state.day_start < params.day_prior_span)
        day_known = np.maximum(
            np.maximum(state.day_max, np.where(day_young, params.day_prior, 0.0)), 1e-3
        )
        day_score = np.where(
            day_ready & (state.n >= params.day_warmup + params.learn_after),
            np.clip((day_nov / day_known - 1.0) / params.novelty_scale, 0.0, 1.0),
            0.0,
        )
        score = np.maximum(score, day_score)
        if day_ok.any():
            idx = rows[day_ok]
            state.day_seen[idx, day_byte[day_ok]] |= (np.uint8(1) << day_bit[day_ok]).astype(
                np.uint8
            )
        state.day_max = np.where(day_ready, np.maximum(state.day_max, day_nov), state.day_max)
        state.day_nov = np.where(day_ok, day_nov, state.day_nov)
    prior = np.where(first, xv, state.pred)
    error = np.abs(xv - prior)
    floor = 1e-9 * np.maximum(np.abs(xv), np.abs(prior)) + _TINY
    surprise = np.log1p(error / np.maximum(state.err, floor))
    sur = np.where(first, surprise, state.sur + params.surprise_alpha * (surprise - state.sur))
    sur_z = (sur - state.sur_mu) / (np.sqrt(state.sur_var) + _EPS)
    sur_ready = state.n >= params.surprise_warmup
    surprise_score = np.where(
        sur_ready & (state.armed > 0),
        params.surprise_weight
        * np.clip((sur_z - params.surprise_z) / params.surprise_scale, 0.0, 1.0),
        0.0,
    )
    score = np.maximum(score, surprise_score)
    out = np.where(ok & (state.n >= params.warmup) & (state.hold <= 0), score, 0.0)

    a = np.maximum(params.slow_alpha, 1.0 / (state.n + 1.0))
    d = xv - state.mu
    learn = ok
    state.mu = np.where(learn, np.where(first, xv, state.mu + a * d), state.mu)
    state.var = np.where(
        learn, np.where(first, 0.0, (1.0 - a) * (state.var + a * d * d)), state.var
    )
    dabs = state.dabs + a * (np.abs(xv - state.prev) - state.dabs)
    state.dabs = np.where(learn, np.where(first, 0.0, dabs), state.dabs)
    state.rec_max = np.where(learn & rec_ready, np.maximum(state.rec_max, feats), state.rec_max)
    state.fast = np.where(learn, fast, state.fast)
    if learn.any():
        idx = rows[learn]
        state.seen[idx, byte[learn]] |= (np.uint8(1) << bit[learn]).astype(np.uint8)
    state.nov_max = np.where(learn & ctx_ready, np.maximum(state.nov_max, nov), state.nov_max)
    state.nov = np.where(learn, nov, state.nov)
    if params.context > 1:
        shifted = np.concatenate([q[None, :], state.ring[:-1]])
        state.ring = np.where(learn, shifted, state.ring)
    state.prev = np.where(learn, xv, state.prev)
    state.hi = np.where(learn, hi, state.hi)
    state.lo = np.where(learn, lo, state.lo)
    state.pred = np.where(
        learn, np.where(first, xv, state.pred + params.error_alpha * (xv - state.pred)), state.pred
    )
    e_rate = np.maximum(1.0 / params.error_span, 1.0 / (state.n + 1.0))
    state.err = np.where(learn, state.err + e_rate * (error - state.err), state.err)
    s_rate = np.maximum(1.0 / params.surprise_span, 1.0 / (state.n + 1.0))
    ds = sur - state.sur_mu
    state.sur_mu = np.where(learn, state.sur_mu + s_rate * ds, state.sur_mu)
    state.sur_var = np.where(
        learn, (1.0 - s_rate) * (state.sur_var + s_rate * ds * ds), state.sur_var
    )
    state.sur = np.where(learn, sur, state.sur)
    fired = out >= params.fire_level
    state.armed = np.where(
        fired & (surprise_score > 0),
        0.0,
        np.where(learn & (sur_z < params.rearm_z), 1.0, state.armed),
    )
    state.hold = np.where(fired, float(params.hold), np.maximum(state.hold - learn, 0.0))
    state.n = state.n + learn
    return out


def score_batch(
    values: F64,
    params: DefaultParams = DEFAULT_PARAMS,
    times: F64 | None = None,
    progress: Callable[[int], None] | None = None,
) -> F64:
    """Score a ``(series, time)`` matrix causally, column by column (NaN = no sample).

    ``times`` (same shape, epoch seconds) enables the time-of-day context.
    """
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    start = BatchState.zeros(matrix.shape[0], params)
    return score_chunk(start, matrix, params, times, progress)[1]


def score_chunk(
    state: BatchState,
    values: F64,
    params: DefaultParams = DEFAULT_PARAMS,
    times: F64 | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[BatchState, F64]:
    """Score the next columns of a ``(series, time)`` matrix after ``state``: (state after, scores).

    ``state`` is left as it was. Columns scored chunk by chunk, each chunk starting from the
    state the previous one returned, get the scores ``score_batch`` gives them all at once,
    bit for bit, so a series too long for memory can be scored in pieces.
    """
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    stamps = None if times is None else np.atleast_2d(np.asarray(times, dtype=np.float64))
    after = state.copy()
    out = np.zeros_like(matrix)
    for j in range(matrix.shape[1]):
        out[:, j] = step_batch(
            after, matrix[:, j], params, None if stamps is None else stamps[:, j]
        )
        if progress is not None and (j % 1024 == 1023 or j == matrix.shape[1] - 1):
            progress(j + 1)
    return after, out


def default_step(
    state: DefaultState, x: float, t: float | None = None, params: DefaultParams = DEFAULT_PARAMS
) -> tuple[DefaultState, float]:
    """Pure single-series step: the new state and the score of ``x`` observed at ``t``."""
    batch = state.to_batch(params)
    score = step_batch(batch, np.array([x]), params, None if t is None else np.array([t]))
    return DefaultState.from_batch(batch), float(score[0])


def default_step_many(
    states: Sequence[DefaultState],
    xs: Sequence[float],
    ts: Sequence[float],
    params: DefaultParams = DEFAULT_PARAMS,
) -> tuple[list[DefaultState], list[float]]:
    """``default_step`` for many series in one vectorised step (a sweep's samples): the
    same arithmetic on a column each, so each result equals its single-series step."""
    if not states:
        return [], []
    batch = DefaultState.stack(states, params)
    scores = step_batch(
        batch, np.asarray(xs, dtype=np.float64), params, np.asarray(ts, dtype=np.float64)
    )
    return [DefaultState.from_batch(batch, i) for i in range(len(states))], scores.tolist()


class DefaultDetector:
    """The default detector for one series, with the river-style ``learn_one``/``score_one``."""

    def __init__(self, params: DefaultParams = DEFAULT_PARAMS) -> None:
        self.params = params
        self._state = BatchState.zeros(1, params)

    @property
    def ready(self) -> bool:
        return bool(self._state.n[0] >= self.params.warmup)

    def learn_one(self, x: float, t: float | None = None) -> None:
        step_batch(self._state, np.array([x]), self.params, None if t is None else np.array([t]))

    def score_one(self, x: float, t: float | None = None) -> float:
        trial = self._state.copy()
        stamp = None if t is None else np.array([t])
        return float(step_batch(trial, np.array([x]), self.params, stamp)[0])
