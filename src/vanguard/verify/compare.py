"""Baseline versus after-action comparison: did the action help, hurt, or change nothing?

Readings that share a timestamp are one sample read twice (a Prometheus server answers with
its last scrape until the next): they count once, as their median. Fewer than ``min_points``
distinct samples in either window is ``inconclusive``.

Readings taken seconds apart move together (a latency is much like the one before it), so
they are worth fewer independent ones. The baseline's memory, the lag-1 autocorrelation of
its ranks about its trend, is taken as an AR(1) decay in time: it weighs each window's
effective number of readings and the correlation left across the gap between them.

The level verdict compares the medians. The change is their difference relative to the
baseline median (or to the observed median when the baseline median is zero). It must be at
least ``min_relative_change`` in size *and* significant at ``alpha``: the Hodges-Lehmann shift
against its variance (``π/3 · σ²`` over each window's effective readings, less their
covariance) under Student's t with the spread's degrees of freedom. ``σ`` is the baseline's
spread (a standard deviation of readings clipped at ``CLIP`` robust deviations, widened for
the memory that keeps a window from showing all of it), or the observed window's when
larger. Then it is ``improved`` or ``degraded`` according to ``better``. Otherwise it is
``unchanged`` (the action did not help: it is undone) only on evidence: when the shift
leans the bad way or not at all, or falls significantly short of a gain of
``min_relative_change`` (one-sided, ``short_p_value``); a shift for the better that shows
neither is ``inconclusive`` (``unproven``): a fix is not rolled back because too few
readings, or readings that move together, could not prove it. The spread is that of the
readings as they are, trend included: a baseline that drifts is a poor reference for a
level, and the test asks more of it.

The trend in each window is a Theil-Sen slope (median of pairwise slopes, robust to spikes).
A trend is *worsening* when it moves the level in the bad direction by at least
``min_relative_change`` over its window and a Mann-Kendall test, its variance widened for the
memory of the readings about the trend (Hamed and Rao), finds it significant at ``alpha``.
The slope never overturns a level verdict:

* level improved but still worsening (a leak reset to a low level that keeps rising): stays
  ``improved``; the reason and ``recurrence_hours`` say when the baseline level comes back;
* level unchanged and not significantly worse, baseline worsening, and the observed readings
  significantly better than the baseline's trend extrapolated to their time, by at least half
  of what that trend would have added since the baseline ended: ``improved`` (the trend was
  stopped before the level could move). The test allows for the line's own uncertainty; a
  slope measured over the few seconds of the observed window is never evidence;
* level unchanged and a worsening trend appears only after the action: stays ``unchanged``;
  the reason says so, so that a human can look.

A verdict the trend did not make ``improved`` is then weighed as above for ``unchanged``
against ``inconclusive``.

``holm`` corrects the verdicts of several series judged together for their number.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from vanguard.errors import InputError
from vanguard.model import EvidencePoint, Verdict, Verification

__all__ = [
    "compare",
    "holm",
    "mann_kendall_p",
    "mann_whitney_p",
    "theil_sen_slope",
    "unproven",
]

MAX_SLOPE_POINTS = 300
RHO_MAX = 0.99
"""The most memory per reading a window is credited with."""
MIN_TREND_POINTS = 5.0
"""Effective readings about its trend a baseline needs before its trend counts: fewer cannot
tell a trend from noise that wanders (its memory estimated from so few is too uncertain)."""
MAD_TO_SIGMA = 1.4826
CLIP = 4.0
"""Robust deviations (1.4826 × MAD) beyond which a reading is clipped before its spread is
taken: a spike must not make the noise look larger than it is."""
MEAN_AD_TO_SIGMA = 1.2533
MEDIAN_VARIANCE = math.pi / 2
"""A median's variance over a mean's, for normal noise (a small window's is less)."""
SHIFT_VARIANCE = math.pi / 3
"""The Hodges-Lehmann shift's variance over a difference of means', for normal noise."""
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class _Sides:
    """What is measured of the two windows: levels, trends, memory and the shift's test."""

    b_values: FloatArray
    b_hours: FloatArray
    o_values: FloatArray
    o_hours: FloatArray
    b_median: float
    o_median: float
    scale: float
    relative: float
    b_slope: float
    o_slope: float
    b_line: float
    b_resid: FloatArray
    o_resid: FloatArray
    rho: tuple[float, float]
    b_n: float
    o_n: float
    df: float
    variance: float
    informed: bool
    p_value: float

    def figures(self) -> dict[str, float]:
        """The measured figures a ``Verification`` carries."""
        return {
            "baseline_mean": float(np.mean(self.b_values)),
            "baseline_median": self.b_median,
            "observed_mean": float(np.mean(self.o_values)),
            "observed_median": self.o_median,
            "relative_change": self.relative,
            "p_value": self.p_value,
            "effect_size": _cliffs_delta(self.o_values, self.b_values),
            "baseline_autocorrelation": self.rho[0],
            "baseline_effective_points": self.b_n,
            "observed_effective_points": self.o_n,
            "baseline_slope_per_hour": self.b_slope,
            "observed_slope_per_hour": self.o_slope,
        }


def compare(
    baseline: Sequence[EvidencePoint],
    observed: Sequence[EvidencePoint],
    *,
    better: Literal["lower", "higher"],
    min_relative_change: float = 0.1,
    min_points: int = 5,
    alpha: float = 0.05,
) -> Verification:
    """Compare ``observed`` (after the action) with ``baseline`` (before); see the module."""
    _check(better, min_relative_change, min_points, alpha)
    base, b_repeats = _clean(baseline)
    obs, o_repeats = _clean(observed)
    repeats = b_repeats + o_repeats
    dropped = len(baseline) + len(observed) - len(base) - len(obs) - repeats
    figures: dict[str, float] = {
        "baseline_points": float(len(base)),
        "observed_points": float(len(obs)),
        "dropped_points": float(dropped),
        "repeated_points": float(repeats),
    }
    if len(base) < min_points or len(obs) < min_points:
        return Verification(
            verdict=Verdict.inconclusive,
            reason=(
                f"inconclusive: too few points (baseline {len(base)}, observed {len(obs)}; "
                f"need {min_points} each)"
                + (f"; {dropped} non-finite dropped" if dropped else "")
                + (f"; {repeats} repeated readings of a sample counted once" if repeats else "")
            ),
            baseline=base,
            observed=obs,
            figures=figures,
        )
    sides = _measure(base, obs)
    figures.update(sides.figures())
    worse = 1.0 if better == "lower" else -1.0
    verdict, summary = _level_verdict(sides, worse, better, min_relative_change, alpha)
    verdict, notes = _trend_verdict(sides, verdict, worse, min_relative_change, alpha, figures)
    verdict, short = _short_verdict(sides, verdict, worse, min_relative_change, alpha, figures)
    notes.extend(short)
    if dropped:
        notes.append(f"{dropped} non-finite points dropped")
    if repeats:
        notes.append(f"{repeats} repeated readings of a sample counted once")
    reason = f"{verdict.value}: {summary}" + "".join(f"; {n}" for n in notes)
    return Verification(
        verdict=verdict, reason=reason, baseline=base, observed=obs, figures=figures
    )


def _measure(base: tuple[EvidencePoint, ...], obs: tuple[EvidencePoint, ...]) -> _Sides:
    """Both windows' levels and trends, their memory, and the shift's variance and p-value."""
    start = base[0].timestamp
    b_values, b_hours = _arrays(base, start)
    o_values, o_hours = _arrays(obs, start)
    b_median = float(np.median(b_values))
    o_median = float(np.median(o_values))
    scale = abs(b_median) if b_median != 0 else abs(o_median)
    b_slope = theil_sen_slope(b_hours, b_values)
    o_slope = theil_sen_slope(o_hours, o_values)
    b_line = float(np.median(b_values - b_slope * b_hours))
    b_resid = b_values - (b_line + b_slope * b_hours)
    memory = _lag1(b_resid)
    decay = _decay(memory, _spacing(b_hours))
    b_n = 1.0 / _together(b_hours, b_hours, decay)
    o_n = 1.0 / _together(o_hours, o_hours, decay)
    b_spread = _spread(b_values) * _unshrunk(b_n)
    o_spread = max(_spread(o_values), b_spread)
    variance = SHIFT_VARIANCE * (
        b_spread**2 / b_n
        + o_spread**2 / o_n
        - 2.0 * b_spread * o_spread * _together(b_hours, o_hours, decay)
    )
    df = max(1.0, 1.0 / _together(b_hours, b_hours, 2.0 * decay) - 1.0)
    informed = len(base) > 1 or len(obs) > 1
    return _Sides(
        b_values=b_values,
        b_hours=b_hours,
        o_values=o_values,
        o_hours=o_hours,
        b_median=b_median,
        o_median=o_median,
        scale=scale,
        relative=(o_median - b_median) / scale if scale > 0 else 0.0,
        b_slope=b_slope,
        o_slope=o_slope,
        b_line=b_line,
        b_resid=b_resid,
        o_resid=o_values - o_slope * o_hours,
        rho=(memory, math.exp(-decay * _spacing(o_hours))),
        b_n=b_n,
        o_n=o_n,
        df=df,
        variance=variance,
        informed=informed,
        p_value=_t_p(_shift(o_values, b_values), variance, df, informed=informed),
    )


def _level_verdict(
    sides: _Sides, worse: float, better: str, min_relative_change: float, alpha: float
) -> tuple[Verdict, str]:
    """The medians' verdict and its summary: moved enough and significantly, or unchanged."""
    relative, p_value = sides.relative, sides.p_value
    level_moved = abs(relative) >= min_relative_change and p_value < alpha
    if level_moved:
        verdict = Verdict.improved if relative * worse < 0 else Verdict.degraded
    else:
        verdict = Verdict.unchanged
    summary = (
        f"median {_fmt(sides.b_median)} → {_fmt(sides.o_median)} ({relative:+.1%}), "
        f"p={p_value:.2g}, better is {better}"
    )
    if level_moved:
        return verdict, summary
    why = "too small" if abs(relative) < min_relative_change else "not significant"
    summary += f"; change {why} (need ≥{min_relative_change:.0%} at p<{alpha:g}"
    base_n, obs_n = len(sides.b_values), len(sides.o_values)
    if sides.b_n < 0.5 * base_n or sides.o_n < 0.5 * obs_n:
        summary += (
            f"; the readings move together: {base_n} and {obs_n} count as "
            f"{sides.b_n:.1f} and {sides.o_n:.1f}"
        )
    return verdict, summary + ")"


def _trend_verdict(
    sides: _Sides,
    verdict: Verdict,
    worse: float,
    min_relative_change: float,
    alpha: float,
    figures: dict[str, float],
) -> tuple[Verdict, list[str]]:
    """What the windows' trends add to the level's verdict (see the module), and why."""
    scale = sides.scale if sides.scale > 0 else 1.0
    b_drift = worse * sides.b_slope * _span(sides.b_hours) / scale
    o_drift = worse * sides.o_slope * _span(sides.o_hours) / scale
    b_trend_p = mann_kendall_p(sides.b_hours, sides.b_values, rho=sides.rho[0])
    o_trend_p = mann_kendall_p(sides.o_hours, sides.o_values, rho=sides.rho[1])
    figures["baseline_trend_p_value"] = b_trend_p
    figures["observed_trend_p_value"] = o_trend_p
    b_worsening = (
        b_drift >= min_relative_change and b_trend_p < alpha and sides.b_n >= MIN_TREND_POINTS
    )
    o_worsening = o_drift >= min_relative_change and o_trend_p < alpha
    if verdict is Verdict.improved and o_worsening:
        note = f"still worsening at {sides.o_slope:+.3g}/h"
        gap = sides.b_median - sides.o_median
        if sides.o_slope != 0 and gap / sides.o_slope > 0:
            hours = gap / sides.o_slope
            figures["recurrence_hours"] = hours
            note += f": back at the baseline level in ~{_duration(hours)}"
        return verdict, [note]
    if verdict is Verdict.unchanged and b_worsening:
        return _stopped_trend(sides, worse, alpha, figures)
    if verdict is Verdict.unchanged and o_worsening:
        return verdict, [f"a worsening trend began after the action: {sides.o_slope:+.3g}/h"]
    return verdict, []


def _stopped_trend(
    sides: _Sides, worse: float, alpha: float, figures: dict[str, float]
) -> tuple[Verdict, list[str]]:
    """An unchanged level after a worsening baseline: ``improved`` when the readings are
    significantly better than the baseline's trend extrapolated to their time."""
    level_worse = sides.p_value < alpha and sides.relative * worse > 0
    ahead = worse * (sides.b_line + sides.b_slope * sides.o_hours - sides.o_values)
    trend_gain = float(np.median(ahead))
    rise = worse * sides.b_slope * (float(np.mean(sides.o_hours)) - float(sides.b_hours[-1]))
    sigma = max(_spread(sides.b_resid) * _unshrunk(sides.b_n), _spread(sides.o_resid))
    spread_t = float(np.sum((sides.b_hours - np.mean(sides.b_hours)) ** 2))
    distance = float(np.mean(sides.o_hours)) - float(np.mean(sides.b_hours))
    lever = distance**2 / spread_t if spread_t > 0 else 0.0
    line_variance = sigma**2 * (1.0 / sides.b_n + len(sides.b_values) / sides.b_n * lever)
    stop_p = _t_p(
        trend_gain, MEDIAN_VARIANCE * sigma**2 / sides.o_n + line_variance, sides.df, informed=True
    )
    figures["trend_stop_p_value"] = stop_p if trend_gain > 0 else 1.0
    if not level_worse and trend_gain > 0 and stop_p < alpha and trend_gain >= 0.5 * rise:
        return Verdict.improved, [
            f"the worsening trend stopped: {_fmt(trend_gain)} better than the baseline's trend "
            f"({sides.b_slope:+.3g}/h) would be by now, p={stop_p:.2g}"
        ]
    where = f"{_fmt(abs(trend_gain))} {'better' if trend_gain >= 0 else 'worse'} than"
    return Verdict.unchanged, [
        f"the worsening trend ({sides.b_slope:+.3g}/h before the action) was not shown to "
        f"stop: the readings after it are {where} where it leads, "
        f"p={figures['trend_stop_p_value']:.2g}"
        + ("; the level is significantly worse" if level_worse else "")
    ]


def _short_verdict(
    sides: _Sides,
    verdict: Verdict,
    worse: float,
    min_relative_change: float,
    alpha: float,
    figures: dict[str, float],
) -> tuple[Verdict, list[str]]:
    """An ``unchanged`` shift for the better that is not shown to fall short of
    ``min_relative_change`` is ``inconclusive``: too little evidence to undo the action."""
    shift_gain = -worse * _shift(sides.o_values, sides.b_values)
    if verdict is not Verdict.unchanged or shift_gain <= 0:
        return verdict, []
    short_p = _short_p(
        min_relative_change * sides.scale - shift_gain,
        sides.variance,
        sides.df,
        informed=sides.informed,
    )
    figures["short_p_value"] = short_p
    if short_p < alpha:
        return verdict, []
    return Verdict.inconclusive, [
        f"nor shown to be less than {min_relative_change:.0%} better "
        f"(p={short_p:.2g}): too little evidence to undo the action"
    ]


def holm(verifications: Sequence[Verification], *, alpha: float = 0.05) -> list[Verification]:
    """``verifications`` of series judged together, each change kept only if it survives
    Holm's step-down across them.

    Each series tested at ``alpha`` alone would, among 50 unchanged series, call one or more
    of them worse about nine times in ten; Holm keeps that below ``alpha`` for the lot. The
    p-value of a change is its level's (``p_value``), or for a stopped trend its
    ``trend_stop_p_value``; a verification without one (an adapter's check), or inconclusive
    for want of readings, is left as it is and not counted (one judged but ``unproven`` is
    counted, and stays as it is). An improvement that does not survive becomes
    ``inconclusive`` (not shown, but not shown absent either: see ``unproven``), a
    degradation ``unchanged``, the reason saying why; each counted series gets its
    ``adjusted_p_value``.
    """
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
    counted = [
        (n, p)
        for n, v in enumerate(verifications)
        if (v.verdict is not Verdict.inconclusive or unproven(v)) and (p := _claim_p(v)) is not None
    ]
    out = list(verifications)
    if len(counted) < 2:
        return out
    order = sorted(counted, key=lambda item: item[1])
    running = 0.0
    for rank, (n, p) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        v = verifications[n]
        figures = {**v.figures, "adjusted_p_value": running}
        if v.verdict in (Verdict.improved, Verdict.degraded) and running >= alpha:
            _, _, rest = v.reason.partition(": ")
            now = Verdict.inconclusive if v.verdict is Verdict.improved else Verdict.unchanged
            out[n] = v.model_copy(
                update={
                    "verdict": now,
                    "reason": (
                        f"{now.value}: {rest}; {v.verdict.value} alone, but not significant "
                        f"among {len(order)} series judged together "
                        f"(Holm-adjusted p={running:.2g}, need <{alpha:g})"
                    ),
                    "figures": figures,
                }
            )
        else:
            out[n] = v.model_copy(update={"figures": figures})
    return out


def unproven(verification: Verification) -> bool:
    """Whether ``verification`` is inconclusive on the evidence weighed (a change for the
    better too large to call none, too noisy to call real), not for want of readings: such a
    series was judged, and its action is neither kept as a success nor undone on it."""
    return verification.verdict is Verdict.inconclusive and "p_value" in verification.figures


def _claim_p(verification: Verification) -> float | None:
    """The p-value a verdict rests on: a stopped trend's, else its level's."""
    figures = verification.figures
    if verification.verdict is Verdict.improved and "trend_stop_p_value" in figures:
        return figures["trend_stop_p_value"]
    return figures.get("p_value")


def mann_whitney_p(x: Sequence[float] | FloatArray, y: Sequence[float] | FloatArray) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    n1, n2 = len(xs), len(ys)
    combined = np.concatenate([xs, ys])
    u = _u_statistic(xs, ys)
    mean = n1 * n2 / 2.0
    n = n1 + n2
    _, counts = np.unique(combined, return_counts=True)
    ties = float(np.sum(counts.astype(np.float64) ** 3 - counts))
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0:
        return 1.0
    distance = max(abs(u - mean) - 0.5, 0.0)
    return float(math.erfc(distance / math.sqrt(variance) / math.sqrt(2.0)))


def mann_kendall_p(
    hours: Sequence[float] | FloatArray,
    values: Sequence[float] | FloatArray,
    *,
    rho: float = 0.0,
) -> float:
    """Two-sided p-value of the Mann-Kendall test for a monotonic trend (tie-corrected).

    ``rho``: the lag-1 autocorrelation of the readings about their trend; the variance of
    the statistic is widened as Hamed and Rao (1998) do for an AR(1) memory, since readings
    that move together make a run look like a trend.
    """
    t, v = _subsample(hours, values)
    n = len(t)
    i, j = np.triu_indices(n, k=1)
    s = float(np.sum(np.sign(v[j] - v[i]) * np.sign(t[j] - t[i])))
    _, counts = np.unique(v, return_counts=True)
    c = counts.astype(np.float64)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(c * (c - 1) * (2 * c + 5)))) / 18.0
    if variance <= 0:
        return 1.0
    if rho > 0 and n > 2:
        rho = rho ** (len(values) / n)
        k = np.arange(1, n - 2, dtype=np.float64)
        terms = (n - k) * (n - k - 1) * (n - k - 2) * rho**k
        variance *= 1.0 + 2.0 * float(np.sum(terms)) / (n * (n - 1) * (n - 2))
    distance = max(abs(s) - 1.0, 0.0)
    return float(math.erfc(distance / math.sqrt(variance) / math.sqrt(2.0)))


def theil_sen_slope(
    hours: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
) -> float:
    """Median of the pairwise slopes (value per hour); 0 when time does not advance."""
    t, v = _subsample(hours, values)
    i, j = np.triu_indices(len(t), k=1)
    dt = t[j] - t[i]
    usable = dt > 0
    if not usable.any():
        return 0.0
    return float(np.median((v[j] - v[i])[usable] / dt[usable]))


def _subsample(
    hours: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
) -> tuple[FloatArray, FloatArray]:
    """At most ``MAX_SLOPE_POINTS`` evenly spread points, to bound the pairwise work."""
    t = np.asarray(hours, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if len(t) > MAX_SLOPE_POINTS:
        keep = np.unique(np.linspace(0, len(t) - 1, MAX_SLOPE_POINTS).round().astype(int))
        t, v = t[keep], v[keep]
    return t, v


def _average_ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1, dtype=np.float64)
    uniques, inverse = np.unique(values, return_inverse=True)
    sums = np.zeros(len(uniques), dtype=np.float64)
    counts = np.zeros(len(uniques), dtype=np.float64)
    np.add.at(sums, inverse, ranks)
    np.add.at(counts, inverse, 1.0)
    averaged: FloatArray = (sums / counts)[inverse]
    return averaged


def _u_statistic(x: FloatArray, y: FloatArray) -> float:
    """Pairs with x above y, ties counting one half, from the rank sum in O(n log n)."""
    ranks = _average_ranks(np.concatenate([x, y]))
    return float(ranks[: len(x)].sum()) - len(x) * (len(x) + 1) / 2.0


def _cliffs_delta(x: FloatArray, y: FloatArray) -> float:
    """P(x > y) - P(x < y): +1 when every observed point is above every baseline point."""
    pairs = len(x) * len(y)
    return 2.0 * _u_statistic(x, y) / pairs - 1.0


def _clean(points: Sequence[EvidencePoint]) -> tuple[tuple[EvidencePoint, ...], int]:
    """The finite points in time order, one per timestamp (the median of its readings), and
    how many readings repeated a timestamp already taken."""
    by_time: dict[datetime, list[float]] = {}
    for p in points:
        if math.isfinite(p.value):
            by_time.setdefault(p.timestamp, []).append(p.value)
    kept = [
        EvidencePoint(timestamp=stamp, value=statistics.median(values))
        for stamp, values in by_time.items()
    ]
    repeats = sum(len(values) - 1 for values in by_time.values())
    return tuple(sorted(kept, key=lambda p: p.timestamp)), repeats


def _arrays(points: tuple[EvidencePoint, ...], start: datetime) -> tuple[FloatArray, FloatArray]:
    """Values, and hours since ``start``."""
    values = np.array([p.value for p in points], dtype=np.float64)
    hours = np.array(
        [(p.timestamp - start).total_seconds() / 3600.0 for p in points], dtype=np.float64
    )
    return values, hours


def _lag1(residuals: FloatArray) -> float:
    """How much each of ``residuals`` (readings about their fitted line) is like the one
    before: the lag-1 autocorrelation of their ranks, taken high.

    The estimate runs low, the more so the longer the memory: under AR(1) noise by about
    ``(2 + 7.7ρ)/n``, as measured by simulation for 20 and 60 readings; from 10 readings on
    that is added back. It is then taken half a standard error high (``+ ½ sqrt((1 - ρ²)/n)``:
    too little memory is what makes a test too eager; half, by simulation, keeps the false
    verdicts near ``alpha`` for memories up to 0.9 without giving up much power on
    independent readings), and kept below ``exp(-3/n)`` (and ``RHO_MAX``): a memory longer
    than a third of the window cannot be told from the window's own trend, and crediting it
    would make any change, however large, look like a wander.
    """
    n = len(residuals)
    if n < 4:
        return 0.0
    centred = _average_ranks(residuals) - (n + 1) / 2.0
    total = float(np.sum(centred**2))
    if total == 0:
        return 0.0
    rho = float(np.sum(centred[:-1] * centred[1:])) / total
    if n >= 10:
        rho = (n * rho + 2.0) / (n - 7.7)
    rho = min(max(rho, 0.0), 1.0)
    return min(rho + 0.5 * math.sqrt((1.0 - rho * rho) / n), math.exp(-3.0 / n), RHO_MAX)


def _decay(rho: float, step: float) -> float:
    """The baseline's memory ``rho`` per reading ``step`` hours apart, as a decay per hour:
    readings ``h`` hours apart are correlated ``exp(-decay·h)`` (AR(1) memory in time, so
    windows read at other spacings and the gap between them are weighed alike)."""
    if rho <= 0 or step <= 0:
        return math.inf
    return -math.log(rho) / step


def _together(a: FloatArray, b: FloatArray, decay: float) -> float:
    """The mean correlation between readings at hours ``a`` and at hours ``b``. Within one
    window it is ``1/n_effective``: how many independent readings the window is worth."""
    apart = np.abs(np.subtract.outer(a, b))
    if math.isinf(decay):
        return float(np.mean(apart == 0))
    return float(np.mean(np.exp(-decay * apart)))


def _spacing(hours: FloatArray) -> float:
    """The median time between consecutive readings (0 for one reading)."""
    return float(np.median(np.diff(hours))) if len(hours) > 1 else 0.0


def _shift(x: FloatArray, y: FloatArray) -> float:
    """The Hodges-Lehmann shift of ``x`` from ``y``: the median of their pairwise differences
    (as efficient as a difference of means for normal noise, and unmoved by a spike)."""
    return float(np.median(np.subtract.outer(x, y)))


def _unshrunk(effective: float) -> float:
    """What a window's spread about its own middle is multiplied by to estimate the spread
    of the readings: readings that move together spread less within a window than over
    time, by ``1 - 1/n_effective`` in variance. One effective point says nothing of it."""
    if effective <= 1.0:
        return math.inf if effective < 1.0 else 1.0
    return math.sqrt(effective / (effective - 1.0))


def _spread(values: FloatArray) -> float:
    """A standard deviation that a spike does not inflate: of the values clipped to ``CLIP``
    robust deviations about their median (as efficient as a plain one for normal noise, so
    its degrees of freedom are the readings'); the mean absolute deviation's when most
    values are equal (an idle queue at 0); 0 for one value or all equal."""
    if len(values) < 2:
        return 0.0
    middle = float(np.median(values))
    deviations = np.abs(values - middle)
    mad = float(np.median(deviations))
    if mad == 0:
        return MEAN_AD_TO_SIGMA * float(np.mean(deviations))
    bound = CLIP * MAD_TO_SIGMA * mad
    return float(np.std(np.clip(values, middle - bound, middle + bound), ddof=1))


def _student_p(t: float, df: float) -> float:
    """Two-sided p-value of Student's t with ``df`` degrees of freedom (any positive real):
    the regularized incomplete beta ``I_{df/(df+t²)}(df/2, 1/2)``."""
    if not math.isfinite(t):
        return 0.0
    return _incomplete_beta(df / (df + t * t), df / 2.0, 0.5)


def _incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)`` by its continued fraction
    (modified Lentz), taken from whichever end converges."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x > (a + 1.0) / (a + b + 2.0):
        return 1.0 - _incomplete_beta(1.0 - x, b, a)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < 1e-12:
            break
    return front * result / a


def _t_p(difference: float, variance: float, df: float, *, informed: bool) -> float:
    """Two-sided p-value of ``difference`` for an estimated ``variance`` with ``df`` degrees
    of freedom (Student's t). With no spread at all, any difference is significant if a
    window had more than one reading to show the stillness (``informed``), and none is
    otherwise."""
    if variance <= 0:
        return 0.0 if difference != 0 and informed else 1.0
    return _student_p(abs(difference) / math.sqrt(variance), df)


def _short_p(gap: float, variance: float, df: float, *, informed: bool) -> float:
    """One-sided p-value that a gain falls short of its target: ``gap`` is the target less
    the estimated gain, of estimated ``variance`` (Student's t). With no spread, any shortfall
    is shown if a window had more than one reading (``informed``)."""
    if variance <= 0:
        return 0.0 if gap > 0 and informed else 1.0
    t = gap / math.sqrt(variance)
    tail = _student_p(t, df) / 2.0
    return tail if t > 0 else 1.0 - tail


def _span(hours: FloatArray) -> float:
    return float(hours[-1] - hours[0])


def _duration(hours: float) -> str:
    """A human span: seconds, minutes or hours, whichever reads best."""
    seconds = hours * 3600
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{hours:.1f} h"


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _check(better: str, min_relative_change: float, min_points: int, alpha: float) -> None:
    if better not in ("lower", "higher"):
        raise InputError(f"better must be 'lower' or 'higher', got {better!r}")
    if not (math.isfinite(min_relative_change) and min_relative_change >= 0):
        raise InputError(f"min_relative_change must be >= 0, got {min_relative_change!r}")
    if min_points < 1:
        raise InputError(f"min_points must be at least 1, got {min_points}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha!r}")
