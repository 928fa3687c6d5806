"""The default anomaly detector, vectorised over many series at once.

A value is surprising when it sits far from a slowly adapting baseline (level), jumps away
from the previous value (change), or when the recent mean drifts from the baseline (shift).
Each surprise is a robust z-score; the largest one becomes a raw score. Raw scores are then
judged against their own history, as Numenta's anomaly likelihood does: only a run of
surprise that is rare *for this series* scores high, so noisy series do not page all day.
After a high score the output is held down for a while, because one alert per incident is
what operators (and the NAB scoring rules) reward.

The core works on arrays of shape ``(series,)``; the single-series paths (``default_step``,
``DefaultDetector``) call the same code with one series, so they cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_PARAMS",
    "BatchState",
    "DefaultParams",
    "DefaultState",
    "default_step",
    "score_batch",
    "step_batch",
]

F64 = NDArray[np.float64]


class DefaultParams(BaseModel):
    """Parameters of the default detector, global to every series it watches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warmup: int = Field(default=30, ge=2, le=100_000)
    slow_alpha: float = Field(default=0.005, gt=0.0, lt=1.0)
    fast_alpha: float = Field(default=0.2, gt=0.0, lt=1.0)
    score_alpha: float = Field(default=0.002, gt=0.0, lt=1.0)
    short_alpha: float = Field(default=1.0, gt=0.0, le=1.0)
    fire_level: float = Field(default=0.9, gt=0.0, lt=1.0)
    hold: int = Field(default=200, ge=0, le=100_000)


DEFAULT_PARAMS = DefaultParams()

_FIELDS = ("n", "mu", "var", "prev", "dabs", "fast", "r_mu", "r_var", "r_short", "hold")


@dataclass
class BatchState:
    """Mutable per-series arrays; one element per series."""

    n: F64
    mu: F64
    var: F64
    prev: F64
    dabs: F64
    fast: F64
    r_mu: F64
    r_var: F64
    r_short: F64
    hold: F64

    @classmethod
    def zeros(cls, size: int) -> BatchState:
        return cls(*(np.zeros(size) for _ in _FIELDS))


class DefaultState(BaseModel):
    """One series' detector state as a JSON-friendly value (a few hundred bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: float = 0.0
    mu: float = 0.0
    var: float = 0.0
    prev: float = 0.0
    dabs: float = 0.0
    fast: float = 0.0
    r_mu: float = 0.0
    r_var: float = 0.0
    r_short: float = 0.0
    hold: float = 0.0

    def to_batch(self) -> BatchState:
        return BatchState(*(np.array([getattr(self, f)], dtype=np.float64) for f in _FIELDS))

    @classmethod
    def from_batch(cls, batch: BatchState, index: int = 0) -> DefaultState:
        return cls(**{f: float(getattr(batch, f)[index]) for f in _FIELDS})


_EPS = 1e-9


def step_batch(state: BatchState, x: F64, params: DefaultParams = DEFAULT_PARAMS) -> F64:
    """Learn one value per series (NaN = no sample: state held, score 0); return scores."""
    ok = np.isfinite(x)
    xv = np.where(ok, x, state.prev)
    first = state.n == 0

    sigma = np.sqrt(state.var) + _EPS
    level = np.abs(xv - state.mu) / sigma
    change = np.abs(xv - state.prev) / (state.dabs + _EPS)
    fast = state.fast + params.fast_alpha * (xv - state.fast)
    shift = np.abs(fast - state.mu) / sigma
    z = np.maximum(np.maximum(level, 0.5 * change), 2.0 * shift)
    raw = 1.0 - np.exp(-0.5 * np.square(np.minimum(z, 30.0)) / 4.0)

    r_short = state.r_short + params.short_alpha * (raw - state.r_short)
    r_sigma = np.sqrt(state.r_var) + 1e-3
    tail = (r_short - state.r_mu) / r_sigma
    likelihood = 0.5 * _erfc(tail / math.sqrt(2.0))
    excess = np.maximum(z - 3.0, 0.0)
    score = np.maximum(
        1.0 - np.exp(-0.125 * excess * excess),
        np.where(likelihood < 0.5, np.clip(-np.log10(likelihood + 1e-300) / 12.0, 0, 1), 0.0),
    )

    warm = state.n >= params.warmup
    held = state.hold > 0
    out = np.where(ok & warm & ~held, score, 0.0)
    fired = out >= params.fire_level

    a = np.maximum(params.slow_alpha, 1.0 / (state.n + 1.0))
    d = xv - state.mu
    mu = np.where(first, xv, state.mu + a * d)
    var = np.where(first, 0.0, (1.0 - a) * (state.var + a * d * d))
    dx = np.abs(xv - state.prev)
    dabs = np.where(first, 0.0, state.dabs + a * (dx - state.dabs))
    b = np.maximum(params.score_alpha, 1.0 / (state.n + 1.0))
    rd = r_short - state.r_mu
    r_mu = state.r_mu + b * rd
    r_var = (1.0 - b) * (state.r_var + b * rd * rd)

    state.mu = np.where(ok, mu, state.mu)
    state.var = np.where(ok, var, state.var)
    state.dabs = np.where(ok, dabs, state.dabs)
    state.fast = np.where(ok, np.where(first, xv, fast), state.fast)
    state.prev = np.where(ok, xv, state.prev)
    state.r_mu = np.where(ok, r_mu, state.r_mu)
    state.r_var = np.where(ok, r_var, state.r_var)
    state.r_short = np.where(ok, r_short, state.r_short)
    state.hold = np.where(fired, float(params.hold), np.maximum(state.hold - ok, 0.0))
    state.n = state.n + ok
    return out


def _erfc(x: F64) -> F64:
    """Complementary error function, vectorised (Numerical Recipes, |error| < 1.2e-7)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    r = t * np.exp(poly)
    return np.where(x >= 0, r, 2.0 - r)


def score_batch(values: F64, params: DefaultParams = DEFAULT_PARAMS) -> F64:
    """Score a ``(series, time)`` matrix causally, one column at a time (NaN = no sample)."""
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    state = BatchState.zeros(matrix.shape[0])
    out = np.zeros_like(matrix)
    for j in range(matrix.shape[1]):
        out[:, j] = step_batch(state, matrix[:, j], params)
    return out


def default_step(
    state: DefaultState, x: float, params: DefaultParams = DEFAULT_PARAMS
) -> tuple[DefaultState, float]:
    """Pure single-series step: the new state and the score of ``x``."""
    batch = state.to_batch()
    score = step_batch(batch, np.array([x], dtype=np.float64), params)
    return DefaultState.from_batch(batch), float(score[0])
