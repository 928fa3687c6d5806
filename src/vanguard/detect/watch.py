"""Per-series watch: one pure step per scraped sample, returning an ``Alert`` when warranted.

The loop calls ``step_many`` once per sweep (``step`` for one sample) and keeps each
returned ``SeriesState`` durably (in the store, between sweeps), so the state is a small
JSON-serialisable value, never an object with hidden fields. Three reasons to alert, in
rising order of urgency: the default anomaly detector is surprised (``anomaly``), the
trend (least squares: a fast decayed fit and staggered segment fits) crosses ``threshold``
within ``horizon_s`` and within ``REACH`` times the span of the fit, with enough confidence
and precision (``forecast``), or the value already breaches (``breach``). An alert of one
kind is not repeated within ``COOLDOWN_S``; a more urgent kind is raised at once. A counter
(``WatchRule.counter``) is watched as its per-second rate; a reset re-primes it instead of
reading as a fall.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from vanguard.detect.default import DefaultState, default_step_many
from vanguard.model import Alert, EvidencePoint, Severity, Signal, TrendAnalysis

__all__ = [
    "ANOMALY_AFTER",
    "ANOMALY_ALERT_SCORE",
    "COOLDOWN_S",
    "MAX_POINTS",
    "AlertKind",
    "SeriesState",
    "WatchRule",
    "fingerprint",
    "more_urgent",
    "step",
    "step_many",
    "unalerted",
]

MAX_POINTS = 20
COOLDOWN_S = 900.0
Z_CAP = 10.0
"""|z| given to any departure from a perfectly flat history."""
MEAN_AD_TO_SIGMA = 1.2533
ANOMALY_ALERT_SCORE = 0.5
"""Default ``WatchRule.anomaly_level``. A lower level finds more NAB windows, but false
alerts on healthy series sampled every few seconds rise faster (docs/detection.md, "The
watch's anomaly alert level")."""
ANOMALY_AFTER = 200
"""Default ``WatchRule.anomaly_after``: the sample count from which a series' anomalies are
alerted. A young series' range and error statistics rest on too few samples, and healthy
noise surprises them (docs/detection.md, "Young series")."""
GAP_RESET_FACTOR = 20.0
EMA_ALPHA = 0.2
CONFIDENCE_CAP = 0.99
FAST_WINDOW = 10.0
SEGMENTS = 4
SEGMENT_EVERY = 15
SEGMENT_MIN = 10.0
SWITCH_SE = 2.0
MARGIN_SE = 2.5
PRECISION = 0.05
URGENT_PRECISION = 0.10
URGENT_FRACTION = 0.8
NOISE_WINDOW = 100.0
NOISE_CAP = 9.0
REACH = 3.0
"""A forecast looks at most this many times as far ahead as its fit reaches back."""
COARSE_LAG = 8
COARSE_WINDOW = 300.0
COARSE_MIN = 20
RHO_CAP = 0.98

AlertKind = Literal["anomaly", "forecast", "breach"]
_URGENCY: dict[str, int] = {"anomaly": 1, "forecast": 2, "breach": 3}


def more_urgent(kind: object, than: object) -> bool:
    """Whether alert kind ``kind`` is more urgent than ``than`` (anomaly < forecast <
    breach); anything that is not a watch's alert kind is neither."""
    if not isinstance(kind, str) or not isinstance(than, str):
        return False
    if kind not in _URGENCY or than not in _URGENCY:
        return False
    return _URGENCY[kind] > _URGENCY[than]


class WatchRule(BaseModel):
    """What to watch for on one series: a breach level and direction, and alerting bounds.

    ``counter``: the series only grows (Prometheus' ``*_total``), so its raw value trends up
    for ever and a restart drops it to 0; the watch works on its per-second rate instead,
    and ``threshold`` is a rate too.

    ``anomaly_level``: the detector score from which an ``anomaly`` alert is raised. Lower
    finds more incidents and pages more often; ``min_confidence`` applies to forecasts only.

    ``anomaly_after``: the series' sample count from which an ``anomaly`` alert may be
    raised; a surprise sooner is learnt, not alerted. Breaches are raised from the first
    sample, and forecasts wait for ``warmup`` only.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float | None = Field(default=None, ge=-1e18, le=1e18, allow_inf_nan=False)
    direction: Literal["up", "down"] = "up"
    horizon_s: float = Field(default=3 * 3600, gt=0, le=30 * 86400)
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    warmup: int = Field(default=10, ge=3, le=10_000)
    counter: bool = False
    anomaly_level: float = Field(default=ANOMALY_ALERT_SCORE, gt=0.0, le=1.0)
    anomaly_after: int = Field(default=ANOMALY_AFTER, ge=0, le=10_000)


_SUMS = ("s0", "s1", "s2", "sy", "sty", "syy")
"""A fit's sums in the order its JSON packs them."""


class Regression(BaseModel):
    """Exponentially decayed least-squares sums, time and value relative to the newest point."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    s0: float = 0.0
    s1: float = 0.0
    s2: float = 0.0
    sy: float = 0.0
    sty: float = 0.0
    syy: float = 0.0

    @model_serializer(when_used="json")
    def _as_text(self) -> str:
        """In JSON, the six sums packed as ``_pack_floats`` packs them, in order."""
        return _pack_floats(tuple(getattr(self, name) for name in _SUMS))

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        """Packed sums read back; an object of named sums (a state saved before) as it is."""
        if isinstance(data, str):
            sums = _unpack_floats(data)
            if len(sums) != len(_SUMS):
                raise ValueError(f"a trend fit packs {len(_SUMS)} sums, not {len(sums)}")
            return dict(zip(_SUMS, sums, strict=True))
        return data


class SeriesState(BaseModel):
    """Everything ``step`` remembers about one series: at most 3.6 KB as JSON, whatever its
    numbers (3.4 KB the largest measured)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = 0
    skipped: int = 0
    last_t: float | None = None
    dt_ema: float | None = None
    ema: float = 0.0
    noise: float | None = None
    fine: float | None = None
    """Noise variance at lag 1 over ``COARSE_WINDOW`` samples; with ``coarse`` (at lag
    ``COARSE_LAG``) it measures how much the noise is serially correlated."""
    coarse: float | None = None
    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    fast: Regression = Field(default_factory=lambda: Regression())
    segments: tuple[Regression, ...] = ()
    detector: DefaultState = Field(default_factory=DefaultState)
    last_alert_t: float | None = None
    last_alert_kind: AlertKind | None = None
    last_raw: float | None = None
    """A counter's last accepted value, whose increase gives the next rate; None for a gauge."""
    folded_t: float | None = None
    """The time of the last point folded into the fits, when ``last_t`` moved on without
    one (a counter's reset primes the next rate); ``None``: ``last_t``."""

    @model_validator(mode="before")
    @classmethod
    def _drop_retired_fits(cls, data: Any) -> Any:
        """A state saved before the segment fits still loads: its ``slow`` fit is dropped."""
        if isinstance(data, dict) and "slow" in data:
            return {k: v for k, v in data.items() if k != "slow"}
        return data

    @field_serializer("times", "values", when_used="json")
    def _floats_as_text(self, floats: tuple[float, ...]) -> str:
        """In JSON, the window's times and values packed as ``_pack_floats`` packs them."""
        return _pack_floats(floats)

    @field_validator("times", "values", mode="before")
    @classmethod
    def _floats_from_text(cls, data: Any) -> Any:
        """Packed floats read back; a list of numbers (a state saved before) as it is."""
        return _unpack_floats(data) if isinstance(data, str) else data


def _pack_floats(floats: tuple[float, ...]) -> str:
    """Floats as base64 of their little-endian float64 bytes: 10.7 characters each, the
    same floats bit for bit. Written out they take up to 24 (an epoch time 17, a rate in
    small units 21), and the state of a series is mostly such numbers."""
    return base64.b64encode(struct.pack(f"<{len(floats)}d", *floats)).decode()


def _unpack_floats(text: str) -> tuple[float, ...]:
    """The floats of ``_pack_floats``' text."""
    data = base64.b64decode(text, validate=True)
    if len(data) % 8:
        raise ValueError(f"{len(data)} bytes of packed floats is not a whole number of floats")
    return struct.unpack(f"<{len(data) // 8}d", data)


def fingerprint(signal: Signal) -> str:
    """Stable identity of a series: ``service/metric{k=v,...}`` with labels sorted."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(signal.labels.items()))
    return f"{signal.service_name}/{signal.metric_type}" + (f"{{{labels}}}" if labels else "")


MAX_MAGNITUDE = 1e100
"""Values past it are skipped, as ``vanguard detect`` holds them."""
CLOCK_BACK_S = 300.0
"""A sample stamped this long (or ``GAP_RESET_FACTOR`` usual steps, if fewer) before the
last accepted one means the clock moved back, not that a sample came late."""


def step(
    state: SeriesState | None, signal: Signal, rule: WatchRule
) -> tuple[SeriesState, Alert | None]:
    """Fold one sample into the series state; return the new state and an alert or ``None``.

    Samples with a non-finite value or one past ``MAX_MAGNITUDE`` (exporters use the
    largest float as "unset"; its square overflows every statistic, and a state of NaN
    cannot even be stored), or a timestamp not after the last accepted one (duplicates,
    out of order), are skipped: only ``skipped`` changes. So is a counter below zero. A
    timestamp far before the last one (``CLOCK_BACK_S``) is not skipped: the last one was
    stamped ahead (a clock put right), and skipping until time caught up would blind the
    series, breaches included. The series goes on from it, its recent window and fits
    started afresh (a counter primes), the rest kept.

    A value beyond ``threshold`` is a breach from the first sample on; ``warmup`` holds
    back only forecasts and anomalies, which need history, and ``anomaly_after`` holds
    back anomalies longer (a young series' surprise is mostly its own short history).

    For a counter the value stepped is the per-second increase since the last accepted
    sample; its first sample only primes the state, and so does the first after a reset
    (a drop: the process restarted). The rate across a reset is unknown: Prometheus' rule
    (the increase is the new value, from 0) is low by whatever was counted between the
    last sample and the restart, and a low rate is an anomaly, a breach of a ``down``
    threshold and a bend in the trend. A remedy that restarts the service makes the reset
    itself. A state kept for the other kind (the rule changed) starts afresh: raw values
    and rates are no history for each other.
    """
    return step_many([(state, signal, rule)])[0]


def step_many(
    items: Sequence[tuple[SeriesState | None, Signal, WatchRule]],
) -> list[tuple[SeriesState, Alert | None]]:
    """``step`` for one sample of each of many series, the anomaly detector vectorised
    across them (a sweep's samples); each result equals that series' own ``step``."""
    results: list[tuple[SeriesState, Alert | None] | None] = []
    accepted: list[tuple[int, _Accepted]] = []
    for i, (state, signal, rule) in enumerate(items):
        taken = _accept(state if state is not None else SeriesState(), signal, rule)
        if isinstance(taken, SeriesState):
            results.append((taken, None))
        else:
            results.append(None)
            accepted.append((i, taken))
    detectors, anomalies = default_step_many(
        [a.state.detector for _, a in accepted],
        [a.x for _, a in accepted],
        [items[i][1].timestamp.timestamp() for i, _ in accepted],
    )
    for (i, a), detector, anomaly in zip(accepted, detectors, anomalies, strict=True):
        _, signal, rule = items[i]
        results[i] = _fold(a.state, signal, rule, a.x, detector, anomaly)
    return [r for r in results if r is not None]


def unalerted(state: SeriesState, before: SeriesState | None) -> SeriesState:
    """``state`` as if its alert had not been raised: a dropped alert (its series is
    suppressed after a remedy, or has an open incident) must not start the cooldown, or a
    breach that follows would stay silent for it."""
    return state.model_copy(
        update={
            "last_alert_t": before.last_alert_t if before else None,
            "last_alert_kind": before.last_alert_kind if before else None,
        }
    )


class _Accepted(NamedTuple):
    """A sample to fold: the state it goes into and the value stepped (a counter's rate)."""

    state: SeriesState
    x: float


def _accept(st: SeriesState, signal: Signal, rule: WatchRule) -> SeriesState | _Accepted:
    """The sample to fold, or the new state when it ends here (skipped, a counter primed)."""
    t = signal.timestamp.timestamp()
    raw = signal.value
    if not _usable(raw, rule):
        return _skipped(st)
    if st.last_t is not None and t <= st.last_t:
        if st.last_t - t <= _clock_slack(st):
            return _skipped(st)
        st = _reanchored(st, t)
        if rule.counter and st.last_raw is not None:
            return st.model_copy(update={"last_t": t, "last_raw": raw})
    if not rule.counter:
        return _Accepted(st if st.last_raw is None else _fresh(st), raw)
    if st.last_raw is None or st.last_t is None:
        return _fresh(st).model_copy(update={"last_t": t, "last_raw": raw})
    if raw < st.last_raw:
        folded = st.folded_t if st.folded_t is not None else st.last_t
        return st.model_copy(update={"last_t": t, "last_raw": raw, "folded_t": folded})
    rate = (raw - st.last_raw) / (t - st.last_t)
    if rate > MAX_MAGNITUDE:
        return _skipped(st)
    return _Accepted(st, rate)


def _fold(
    st: SeriesState,
    signal: Signal,
    rule: WatchRule,
    x: float,
    detector: DefaultState,
    anomaly: float,
) -> tuple[SeriesState, Alert | None]:
    """An accepted sample folded into the state as ``x``, its anomaly score already computed."""
    t = signal.timestamp.timestamp()
    times, values, fast = st.times, st.values, st.fast
    segments = st.segments or (Regression(),) * SEGMENTS
    dt_ema = st.dt_ema
    dt = 0.0
    before = st.folded_t if st.folded_t is not None else st.last_t
    if before is not None:
        dt = t - before
        if dt_ema is not None and dt > GAP_RESET_FACTOR * dt_ema:
            times, values, fast = (), (), Regression()
            segments = (Regression(),) * SEGMENTS
        dt_ema = dt if dt_ema is None else dt_ema + 0.1 * (dt - dt_ema)
    dy = x - values[-1] if values else 0.0
    fast = _regress(fast, dt, dy, FAST_WINDOW)
    segments = _restart(tuple(_regress(g, dt, dy, math.inf) for g in segments), st.n)

    noise = _noise(st.noise, times, values, t, x, st.n)
    fine = _noise(st.fine, times, values, t, x, st.n, window=COARSE_WINDOW)
    coarse = _noise(st.coarse, times, values, t, x, st.n, COARSE_LAG, COARSE_WINDOW)
    baseline, spread = _median_mad(values)
    zscore = _robust_z(x, baseline, spread, values)

    times = (*times, t)[-MAX_POINTS:]
    values = (*values, x)[-MAX_POINTS:]
    ema = x if st.n == 0 else st.ema + EMA_ALPHA * (x - st.ema)
    n = st.n + 1
    new = st.model_copy(
        update={
            "n": n,
            "last_t": t,
            "dt_ema": dt_ema,
            "ema": ema,
            "noise": noise,
            "fine": fine,
            "coarse": coarse,
            "times": times,
            "values": values,
            "fast": fast,
            "segments": segments,
            "detector": detector,
            "last_raw": signal.value if rule.counter else None,
            "folded_t": None,
        }
    )
    warm = n >= rule.warmup
    if not warm and not (rule.threshold is not None and _beyond(x, rule.threshold, rule.direction)):
        return new, None

    line = _trend((fast, *(g for g in segments if g.s0 >= SEGMENT_MIN)))
    slope = line.slope
    serial = _serial(fine, coarse, n)
    breach_at, breach_conf = _forecast(t, x, line, noise, rule, serial) if warm else (None, 0.0)
    trend = TrendAnalysis(
        current=x,
        ema=ema,
        slope_per_hour=slope * 3600.0,
        zscore=zscore,
        threshold=rule.threshold,
        predicted_breach_time=(
            datetime.fromtimestamp(breach_at, UTC) if breach_at is not None else None
        ),
        breach_confidence=breach_conf,
        per_second=rule.counter,
    )
    surprise = anomaly if warm and n >= rule.anomaly_after else 0.0
    kind, confidence = _classify(x, surprise, breach_at, breach_conf, rule)
    if kind is None or not _due(st, kind, t):
        return new, None
    if kind == "breach":
        trend = trend.model_copy(
            update={
                "predicted_breach_time": datetime.fromtimestamp(t, UTC),
                "breach_confidence": CONFIDENCE_CAP,
            }
        )
    new = new.model_copy(update={"last_alert_t": t, "last_alert_kind": kind})
    return new, _alert(signal, kind, confidence, anomaly, trend, baseline, times, values)


def _usable(x: float, rule: WatchRule) -> bool:
    return math.isfinite(x) and abs(x) <= MAX_MAGNITUDE and not (rule.counter and x < 0.0)


def _skipped(st: SeriesState) -> SeriesState:
    return st.model_copy(update={"skipped": st.skipped + 1})


def _clock_slack(st: SeriesState) -> float:
    """How far before the last accepted sample a sample may be stamped and still be only
    late (skipped): ``CLOCK_BACK_S``, or ``GAP_RESET_FACTOR`` usual steps if fewer."""
    if st.dt_ema is None:
        return CLOCK_BACK_S
    return min(CLOCK_BACK_S, GAP_RESET_FACTOR * st.dt_ema)


def _reanchored(st: SeriesState, t: float) -> SeriesState:
    """The state going on from ``t`` after the clock moved back: the recent window and the
    fits, stamped ahead of ``t``, start afresh; the noise levels, the detector and the
    count are kept, and the last alert's cooldown runs from ``t`` at the latest."""
    return st.model_copy(
        update={
            "last_t": None,
            "folded_t": None,
            "times": (),
            "values": (),
            "fast": Regression(),
            "segments": (),
            "last_alert_t": None if st.last_alert_t is None else min(st.last_alert_t, t),
        }
    )


def _fresh(st: SeriesState) -> SeriesState:
    """An empty history that keeps the skip count and the cooldown of the last alert."""
    return SeriesState(
        skipped=st.skipped, last_alert_t=st.last_alert_t, last_alert_kind=st.last_alert_kind
    )


def _classify(
    x: float,
    anomaly: float,
    breach_at: float | None,
    breach_conf: float,
    rule: WatchRule,
) -> tuple[AlertKind | None, float]:
    if rule.threshold is not None and _beyond(x, rule.threshold, rule.direction):
        return "breach", CONFIDENCE_CAP
    if breach_at is not None and breach_conf >= rule.min_confidence:
        return "forecast", breach_conf
    if anomaly >= rule.anomaly_level:
        return "anomaly", anomaly
    return None, 0.0


def _due(st: SeriesState, kind: AlertKind, t: float) -> bool:
    if st.last_alert_t is None or st.last_alert_kind is None:
        return True
    if more_urgent(kind, st.last_alert_kind):
        return True
    return t - st.last_alert_t >= COOLDOWN_S


def _beyond(x: float, threshold: float, direction: Literal["up", "down"]) -> bool:
    return x >= threshold if direction == "up" else x <= threshold


def _robust_z(x: float, baseline: float | None, spread: float, values: tuple[float, ...]) -> float:
    """Robust z-score of ``x``; a flat history (MAD 0) still ranks a departure from it.

    An idle queue sits at 0 most of the time, so its MAD is 0: the mean absolute
    deviation takes over, and if the history is perfectly flat any departure scores
    ``Z_CAP`` (the value was never seen to move at all).
    """
    if baseline is None or len(values) < 3:
        return 0.0
    if spread == 0.0:
        spread = MEAN_AD_TO_SIGMA * sum(abs(v - baseline) for v in values) / len(values)
    if spread == 0.0:
        return 0.0 if x == baseline else math.copysign(Z_CAP, x - baseline)
    return (x - baseline) / spread


def _median_mad(values: tuple[float, ...]) -> tuple[float | None, float]:
    """Median and MAD scaled to a normal sigma (0 when fewer than 3 points)."""
    if len(values) < 3:
        return (values[-1] if values else None), 0.0
    ordered = sorted(values)
    med = _median(ordered)
    mad = _median(sorted(abs(v - med) for v in values))
    return med, 1.4826 * mad


def _median(ordered: list[float]) -> float:
    k = len(ordered)
    mid = k // 2
    return ordered[mid] if k % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])


def _noise(
    noise: float | None,
    times: tuple[float, ...],
    values: tuple[float, ...],
    t: float,
    x: float,
    seen: int,
    lag: int = 1,
    window: float = NOISE_WINDOW,
) -> float | None:
    """Running variance of the series' noise, from how far each point misses the straight
    line through the points ``lag`` and ``2 * lag`` before it (a curvature residual, blind
    to any linear trend).

    A trend fit's own residual variance rests on its few points and is low by chance as
    often as its slope is steep by chance; averaged over ``window`` points this one is
    steadier, and the precision test and the confidence use whichever is larger. Until
    ``window`` misses were seen it is the plain mean (an average started from one squared
    miss would swing with it), and one miss counts at most ``NOISE_CAP`` times the current
    level, so a single spike does not hold forecasts back for a hundred samples. Noise
    independent from sample to sample gives the same variance at every lag.
    """
    if len(values) < 2 * lag:
        return noise
    t1, v1, t2, v2 = times[-lag], values[-lag], times[-2 * lag], values[-2 * lag]
    k = (t - t1) / (t1 - t2)
    miss = x - v1 - k * (v1 - v2)
    q = miss * miss / (1.0 + (1.0 + k) ** 2 + k * k)
    if noise is None:
        return q
    if noise > 0.0:
        q = min(q, NOISE_CAP * noise)
    return noise + (q - noise) / min(max(seen - 2 * lag + 1, 1), window)


def _serial(fine: float | None, coarse: float | None, seen: int) -> float:
    """How much serial correlation of the noise widens a fitted slope's variance.

    Least squares takes the residuals for independent, but a metric scraped every few
    seconds wanders: a minute of a random walk or of an oscillation's rise is a clean line
    whose slope is far less certain than its residuals say. Independent noise misses the
    line through two earlier points by the same variance at lag 1 and at ``COARSE_LAG``;
    correlated noise misses it by more the further back the points are. The ratio, read as
    an AR(1) process's lag-1 correlation ρ (``_coarse_ratio``), gives the factor
    ``(1 + ρ) / (1 − ρ)`` by which such noise inflates the variance of a slope fitted over
    many points. 1 until ``COARSE_MIN`` coarse misses were seen.
    """
    if fine is None or coarse is None or fine <= 0.0 or seen - 2 * COARSE_LAG < COARSE_MIN:
        return 1.0
    ratio = coarse / fine
    if ratio <= 1.0:
        return 1.0
    lo, hi = 0.0, RHO_CAP
    if ratio < _coarse_ratio(hi):
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _coarse_ratio(mid) < ratio else (lo, mid)
    rho = hi
    return (1.0 + rho) / (1.0 - rho)


def _coarse_ratio(rho: float) -> float:
    """Noise variance at lag ``COARSE_LAG`` over that at lag 1 for an AR(1) process with
    lag-1 correlation ``rho`` (1 at 0, rising towards ``COARSE_LAG`` as ``rho`` nears 1)."""
    far = rho**COARSE_LAG
    return (3.0 - 4.0 * far + far * far) / (3.0 - 4.0 * rho + rho * rho)


def _restart(segments: tuple[Regression, ...], n: int) -> tuple[Regression, ...]:
    """Every ``SEGMENT_EVERY`` samples the oldest segment fit restarts at the newest point.

    Undecayed fits started at staggered times: whenever a trend changes, one of them
    began on the new trend less than ``SEGMENT_EVERY`` samples after the change, so it
    measures the new slope without the bias of the points before it.
    """
    if n % SEGMENT_EVERY:
        return segments
    k = (n // SEGMENT_EVERY) % len(segments)
    return (*segments[:k], Regression(s0=1.0), *segments[k + 1 :])


class _Line(NamedTuple):
    """A least-squares line: slope (per second) with its standard error, level at the newest
    point, residual variance, and the fit's weight, mean time and sum of squared time
    deviations (times relative to the newest point), which give its spread ahead."""

    slope: float
    slope_se: float
    level: float
    sigma2: float = math.inf
    n: float = 0.0
    tm: float = 0.0
    sxx: float = math.inf

    def spread(self, ahead: float) -> float:
        """Standard error of the line's value ``ahead`` seconds after the newest point."""
        return math.sqrt(self.sigma2 * (1.0 / self.n + (ahead - self.tm) ** 2 / self.sxx))

    @property
    def reach(self) -> float:
        """How far back the fit reaches, in seconds: twice its mean time before the newest
        point (its first point, for an undecayed fit of evenly spaced points)."""
        return -2.0 * self.tm


_NO_LINE = _Line(0.0, math.inf, 0.0)


def _trend(fits: tuple[Regression, ...]) -> _Line:
    """The longest fit whose slope agrees with every shorter one (Lepski's rule).

    Fits that reach back past a change in trend are biased; a fit is trusted only while
    its slope stays within ``SWITCH_SE`` joint standard errors of each shorter fit, so the
    estimate uses as many points as lie on the current trend, and no more.
    """
    chosen: list[_Line] = []
    for fit in sorted(fits, key=lambda f: f.s0):
        line = _slope(fit)
        if not math.isfinite(line.slope_se):
            continue
        if any(
            abs(line.slope - c.slope) > SWITCH_SE * math.hypot(line.slope_se, c.slope_se)
            for c in chosen
        ):
            break
        chosen.append(line)
    return chosen[-1] if chosen else _NO_LINE


def _regress(reg: Regression, dt: float, dy: float, window: float) -> Regression:
    """Fold a point into the decayed least-squares sums, re-centred on the newest point.

    ``window`` is the effective number of points; ``math.inf`` keeps every point.
    """
    lam = 1.0 - 1.0 / window
    s0, s1, s2 = reg.s0, reg.s1 - dt * reg.s0, reg.s2 - 2 * dt * reg.s1 + dt * dt * reg.s0
    sy = reg.sy - dy * reg.s0
    sty = reg.sty - dt * reg.sy - dy * s1
    syy = reg.syy - 2 * dy * reg.sy + dy * dy * reg.s0
    return Regression(
        s0=lam * s0 + 1.0,
        s1=lam * s1,
        s2=lam * s2,
        sy=lam * sy,
        sty=lam * sty,
        syy=lam * syy,
    )


def _slope(reg: Regression) -> _Line:
    """The least-squares line of a fit: slope (per second), its standard error, level."""
    if reg.s0 < 3.0:
        return _NO_LINE
    tm, ym = reg.s1 / reg.s0, reg.sy / reg.s0
    sxx = reg.s2 - reg.s0 * tm * tm
    if sxx <= 0.0:
        return _NO_LINE
    sxy = reg.sty - reg.s0 * tm * ym
    syy = reg.syy - reg.s0 * ym * ym
    b = sxy / sxx
    sigma2 = max(syy - b * sxy, 0.0) / (reg.s0 - 2.0)
    return _Line(b, math.sqrt(sigma2 / sxx), ym - b * tm, sigma2, reg.s0, tm, sxx)


def _forecast(
    t: float, x: float, line: _Line, noise: float | None, rule: WatchRule, serial: float = 1.0
) -> tuple[float | None, float]:
    """Predicted breach time (epoch s) within the horizon and the confidence it happens.

    The fitted line must cross ``threshold`` within ``horizon_s`` and within ``REACH``
    times the time its fit reaches back (a line through two minutes of data says nothing
    about the next three hours: a wander or an oscillation rises as straight as a leak
    for that long), and be known well enough to time the crossing (``_precise``). The
    confidence is ``Φ((b - gap/horizon)/se - MARGIN_SE)``: how far the slope exceeds the
    least slope that breaches within the horizon, in standard errors, beyond a margin that
    keeps noise quiet. When the running noise level exceeds the fit's residual variance,
    both the precision test and ``se`` use it: a fit that looked quieter than the series
    is, by chance, claims neither a better-known line nor a surer slope. Both also widen
    by ``serial``, the noise's serial correlation (``_serial``).
    """
    if rule.threshold is None or not math.isfinite(line.slope_se):
        return None, 0.0
    sign = 1.0 if rule.direction == "up" else -1.0
    gap = sign * (rule.threshold - (x + line.level))
    rate = sign * line.slope
    if gap <= 0.0 or rate <= 0.0:
        return None, 0.0
    eta = gap / rate
    if eta > rule.horizon_s or eta > REACH * line.reach:
        return None, 0.0
    sigma2 = max(line.sigma2, noise if noise is not None else 0.0) * serial
    line = line._replace(sigma2=sigma2, slope_se=math.sqrt(sigma2 / line.sxx))
    mean_gap = abs(rule.threshold - (x + line.level + line.slope * line.tm))
    if not _precise(line, mean_gap, eta, rule.horizon_s):
        return None, 0.0
    excess = rate - gap / rule.horizon_s
    if line.slope_se <= 1e-12 * abs(line.slope):
        conf = CONFIDENCE_CAP
    else:
        conf = min(CONFIDENCE_CAP, _phi(excess / line.slope_se - MARGIN_SE))
    return t + eta, conf


def _precise(line: _Line, mean_gap: float, eta: float, horizon_s: float) -> bool:
    """Whether the line is known well enough to time a breach ``eta`` seconds ahead.

    The test is the standard error of the line's value at the horizon (or at twice
    ``eta`` when that is sooner), as a fraction of ``mean_gap``, the distance from the
    threshold to the fit's mean level: ``PRECISION`` at most, or ``URGENT_PRECISION``
    once the breach is within ``URGENT_FRACTION`` of the horizon, when waiting for more
    points would cost lead time. Neither the spread nor the mean level depends on the
    fitted slope, so a slope that noise made steeper does not pass the test sooner;
    gating on the slope's own relative error did, and its first alerts came early, with
    early breach times.
    """
    spread = line.spread(min(horizon_s, 2.0 * eta))
    if spread <= PRECISION * mean_gap:
        return True
    return eta <= URGENT_FRACTION * horizon_s and spread <= URGENT_PRECISION * mean_gap


def _phi(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _alert(
    signal: Signal,
    kind: AlertKind,
    confidence: float,
    anomaly: float,
    trend: TrendAnalysis,
    baseline: float | None,
    times: tuple[float, ...],
    values: tuple[float, ...],
) -> Alert:
    fp = fingerprint(signal)
    stamp = signal.timestamp.astimezone(UTC).isoformat()
    digest = hashlib.sha256(f"{fp}|{stamp}".encode()).hexdigest()[:20]
    severity = {
        "breach": Severity.critical,
        "forecast": Severity.warning,
        "anomaly": Severity.warning,
    }[kind]
    return Alert(
        alert_id=f"alert-{digest}",
        fingerprint=fp,
        source=f"detector:{kind}",
        service_name=signal.service_name,
        metric_type=signal.metric_type,
        labels=dict(signal.labels),
        detected_at=signal.timestamp,
        severity=severity,
        summary=_summary(kind, trend, anomaly, signal.timestamp, signal.metric_type),
        anomaly_score=anomaly,
        confidence=confidence,
        trend_analysis=trend,
        baseline=baseline,
        evidence=tuple(
            EvidencePoint(timestamp=datetime.fromtimestamp(ti, UTC), value=vi)
            for ti, vi in zip(times, values, strict=True)
        ),
        attributes={"kind": kind},
    )


def _summary(
    kind: AlertKind, trend: TrendAnalysis, anomaly: float, now: datetime, metric: str = ""
) -> str:
    """``current 78, +5.2/h, z 2.8σ, predicted breach T+2.5 h, 87 % confidence``; a
    counter's in its rate (``current 12/s, +3/s per h, ...``)."""
    parts = [trend.headline(metric)]
    if kind == "breach" and trend.threshold is not None:
        parts.append(f"threshold {trend.amount(trend.threshold, metric)} breached")
    elif trend.predicted_breach_time is not None:
        parts.append(f"predicted breach T+{_duration(trend.predicted_breach_time - now)}")
        parts.append(f"{trend.breach_confidence:.0%} confidence")
    if kind == "anomaly":
        parts.append(f"anomaly score {anomaly:.2f}")
    return ", ".join(parts)


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"
