"""Baseline versus after-action comparison: did the action help, hurt, or change nothing?

The level verdict compares the two windows robustly. The change is the difference of the
medians relative to the baseline median (or to the observed median when the baseline median
is zero). It must be at least ``min_relative_change`` in size *and* significant under a
two-sided Mann-Whitney U test at ``alpha`` (normal approximation with tie and continuity
corrections). Then it is ``improved`` or ``degraded`` according to ``better``; otherwise
``unchanged``. Fewer than ``min_points`` finite points in either window is ``inconclusive``.

The trend in each window is a Theil-Sen slope (median of pairwise slopes, robust to spikes).
A trend is *worsening* when it moves the level in the bad direction by at least
``min_relative_change`` over its window and a Mann-Kendall test finds it significant at
``alpha`` (so noise does not pass for a trend). The slope never overturns a level verdict:

* level improved but still worsening (a leak reset to a low level that keeps rising): stays
  ``improved``; the reason and ``recurrence_hours`` say when the baseline level comes back;
* level unchanged, baseline worsening and the observed slope at most half as steep in the bad
  direction: ``improved`` (the trend was stopped before the level could move);
* level unchanged and a worsening trend appears only after the action: stays ``unchanged``;
  the reason says so, so that a human can look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from vanguard.errors import InputError
from vanguard.model import EvidencePoint, Verdict, Verification

__all__ = ["compare", "mann_kendall_p", "mann_whitney_p", "theil_sen_slope"]

MAX_SLOPE_POINTS = 300
FloatArray = NDArray[np.float64]


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
    base = _clean(baseline)
    obs = _clean(observed)
    dropped = len(baseline) + len(observed) - len(base) - len(obs)
    figures: dict[str, float] = {
        "baseline_points": float(len(base)),
        "observed_points": float(len(obs)),
        "dropped_points": float(dropped),
    }
    if len(base) < min_points or len(obs) < min_points:
        return Verification(
            verdict=Verdict.inconclusive,
            reason=(
                f"inconclusive: too few points (baseline {len(base)}, observed {len(obs)}; "
                f"need {min_points} each)" + (f"; {dropped} non-finite dropped" if dropped else "")
            ),
            baseline=base,
            observed=obs,
            figures=figures,
        )

    b_values, b_hours = _arrays(base)
    o_values, o_hours = _arrays(obs)
    b_median = float(np.median(b_values))
    o_median = float(np.median(o_values))
    scale = abs(b_median) if b_median != 0 else abs(o_median)
    relative = (o_median - b_median) / scale if scale > 0 else 0.0
    p_value = mann_whitney_p(o_values, b_values)
    b_slope = theil_sen_slope(b_hours, b_values)
    o_slope = theil_sen_slope(o_hours, o_values)
    worse = 1.0 if better == "lower" else -1.0
    figures.update(
        {
            "baseline_mean": float(np.mean(b_values)),
            "baseline_median": b_median,
            "observed_mean": float(np.mean(o_values)),
            "observed_median": o_median,
            "relative_change": relative,
            "p_value": p_value,
            "effect_size": _cliffs_delta(o_values, b_values),
            "baseline_slope_per_hour": b_slope,
            "observed_slope_per_hour": o_slope,
        }
    )

    level_moved = abs(relative) >= min_relative_change and p_value < alpha
    if level_moved:
        verdict = Verdict.improved if relative * worse < 0 else Verdict.degraded
    else:
        verdict = Verdict.unchanged
    summary = (
        f"median {_fmt(b_median)} → {_fmt(o_median)} ({relative:+.1%}), "
        f"p={p_value:.2g}, better is {better}"
    )
    if not level_moved:
        why = "too small" if abs(relative) < min_relative_change else "not significant"
        summary += f"; change {why} (need ≥{min_relative_change:.0%} at p<{alpha:g})"

    scale_for_drift = scale if scale > 0 else 1.0
    b_drift = worse * b_slope * _span(b_hours) / scale_for_drift
    o_drift = worse * o_slope * _span(o_hours) / scale_for_drift
    b_trend_p = mann_kendall_p(b_hours, b_values)
    o_trend_p = mann_kendall_p(o_hours, o_values)
    figures["baseline_trend_p_value"] = b_trend_p
    figures["observed_trend_p_value"] = o_trend_p
    b_worsening = b_drift >= min_relative_change and b_trend_p < alpha
    o_worsening = o_drift >= min_relative_change and o_trend_p < alpha
    notes: list[str] = []
    if verdict is Verdict.improved and o_worsening:
        note = f"still worsening at {o_slope:+.3g}/h"
        gap = b_median - o_median
        if o_slope != 0 and gap / o_slope > 0:
            hours = gap / o_slope
            figures["recurrence_hours"] = hours
            note += f": back at the baseline level in ~{_duration(hours)}"
        notes.append(note)
    elif verdict is Verdict.unchanged and b_worsening and worse * o_slope <= 0.5 * worse * b_slope:
        verdict = Verdict.improved
        notes.append(f"the worsening trend stopped: slope {b_slope:+.3g}/h → {o_slope:+.3g}/h")
    elif verdict is Verdict.unchanged and o_worsening and not b_worsening:
        notes.append(f"a worsening trend began after the action: {o_slope:+.3g}/h")
    if dropped:
        notes.append(f"{dropped} non-finite points dropped")

    reason = f"{verdict.value}: {summary}" + "".join(f"; {n}" for n in notes)
    return Verification(
        verdict=verdict, reason=reason, baseline=base, observed=obs, figures=figures
    )


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
    hours: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
) -> float:
    """Two-sided p-value of the Mann-Kendall test for a monotonic trend (tie-corrected)."""
    t, v = _subsample(hours, values)
    n = len(t)
    i, j = np.triu_indices(n, k=1)
    s = float(np.sum(np.sign(v[j] - v[i]) * np.sign(t[j] - t[i])))
    _, counts = np.unique(v, return_counts=True)
    c = counts.astype(np.float64)
    variance = (n * (n - 1) * (2 * n + 5) - float(np.sum(c * (c - 1) * (2 * c + 5)))) / 18.0
    if variance <= 0:
        return 1.0
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


def _clean(points: Sequence[EvidencePoint]) -> tuple[EvidencePoint, ...]:
    return tuple(sorted((p for p in points if math.isfinite(p.value)), key=lambda p: p.timestamp))


def _arrays(points: tuple[EvidencePoint, ...]) -> tuple[FloatArray, FloatArray]:
    start = points[0].timestamp
    values = np.array([p.value for p in points], dtype=np.float64)
    hours = np.array(
        [(p.timestamp - start).total_seconds() / 3600.0 for p in points], dtype=np.float64
    )
    return values, hours


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
