"""Verification verdicts on synthetic windows: how often noise passes for a change, and how
often a real change is found.

Every case is read as the engine reads it: a baseline (60 readings 5 s apart, or a
detector's 20 points a minute apart), a 5 min wait, then the window's 6 readings 5 s apart.

* untouched: a series no action touched, CV 10 %, AR(1) memory φ per 5 s reading. Any
  improved or degraded verdict is false.
* leak goes on: a leak the remedy did not touch (baseline rising at 30/h over 20 min, or
  8/h over 1 h, noise sd). An improved verdict is false.
* leak stopped: the remedy stopped the leak where it stood. Improved is right.
* shift: the remedy moved the level by a fraction (CV 10 %). The verdict in its direction
  is right.
* wider windows: memory 0.9 per 5 s read 15 or 30 s apart, over a longer baseline.
* veto: a fix that halved a queue, judged with 10 or 50 untouched series beside it. A
  degraded verdict is a false veto (a working fix rolled back).
* what the engine does with a working fix (unchanged or degraded roll it back,
  inconclusive escalates and leaves it in place), on the engine's windows and on short
  ones (8 readings 0.25 s apart, 10 s, 6 readings: a PgBouncer queue read under load).
* short baselines: the memory a baseline of 10, 20 or 60 independent readings is taken to
  have, and what its readings are worth.

Prints the figures, then a loose regression check (exit 1 when far off target). It uses
only ``vanguard.verify.compare`` and ``combine_verifications``, so the same script measures
an earlier version (run it with that version's ``src`` first on ``PYTHONPATH``).

    .venv/bin/python bench/bench_verify.py [--draws 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np

from regression import verdict
from vanguard.model import EvidencePoint, Verdict, Verification
from vanguard.verify import compare, unproven

try:
    from vanguard.verify import SeriesJudgement, combine_verifications
except ImportError:  # an earlier version, measured for comparison, kept them in the engine
    from vanguard.engine.activities import (  # type: ignore[attr-defined]
        SeriesJudgement,
        combine_verifications,
    )

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GAP_S = 300.0


def at(values: np.ndarray, start_s: float, step_s: float) -> list[EvidencePoint]:
    return [
        EvidencePoint(timestamp=T0 + timedelta(seconds=start_s + i * step_s), value=float(v))
        for i, v in enumerate(values)
    ]


def ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """AR(1) noise with marginal standard deviation ``sd``, started stationary."""
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    innovation = sd * math.sqrt(1 - phi * phi)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(0, innovation)
    return x


def untouched(seed: int, phi: float, shift: float = 0.0) -> Verification:
    rng = np.random.default_rng(seed)
    x = 100 + ar1(rng, 60 + 60 + 6, phi, 10)
    observed = x[120:] + 100 * shift
    return compare(at(x[:60], 0, 5), at(observed, 600, 5), better="lower")


def second_look(seed: int, phi: float, shift: float = 0.0) -> Verdict:
    """As ``untouched``, and as the engine does: six more readings, the twelve judged again,
    when the first six lean better without showing it."""
    rng = np.random.default_rng(seed)
    x = 100 + ar1(rng, 60 + 60 + 12, phi, 10)
    observed = x[120:] + 100 * shift
    baseline = at(x[:60], 0, 5)
    first = compare(baseline, at(observed[:6], 600, 5), better="lower")
    if not unproven(first):
        return first.verdict
    return compare(baseline, at(observed, 600, 5), better="lower").verdict


def spaced(seed: int, every: int, baseline_s: float, shift: float) -> Verdict:
    """Memory 0.9 per 5 s, read every ``5 * every`` s: a baseline of ``baseline_s``, the
    5 min wait, then 6 readings."""
    step = 5.0 * every
    before, wait = round(baseline_s / step), round(GAP_S / step)
    rng = np.random.default_rng(60_000 + seed)
    x = 100 + ar1(rng, (before + wait + 6) * every, 0.9, 10)[::every]
    observed = x[before + wait :] + 100 * shift
    start_s = (before + wait) * step
    return compare(at(x[:before], 0, step), at(observed, start_s, step), better="lower").verdict


def leak(seed: int, n: int, step_s: float, per_hour: float, sd: float, stops: bool) -> Verdict:
    rng = np.random.default_rng(seed)
    hours = np.arange(n) * step_s / 3600
    baseline = 75 + per_hour * hours + rng.normal(0, sd, n)
    start_s = (n - 1) * step_s + GAP_S
    after = start_s / 3600 + np.arange(6) * 5 / 3600
    level = np.full(6, hours[-1]) if stops else after
    observed = 75 + per_hour * level + rng.normal(0, sd, 6)
    return compare(at(baseline, 0, step_s), at(observed, start_s, 5), better="lower").verdict


def short(seed: int, phi: float, shift: float) -> Verdict:
    """A queue near 5 read every 0.25 s: 8 readings, 10 s, then 6 readings."""
    rng = np.random.default_rng(80_000 + seed)
    x = 5 + ar1(rng, 8 + 40 + 6, phi, 1.5)
    observed = x[48:] + 5 * shift
    return compare(
        at(x[:8], 0, 0.25), at(observed, 12, 0.25), better="lower", min_relative_change=0.2
    ).verdict


def veto(seed: int, pools: int, phi: float) -> bool:
    rng = np.random.default_rng(seed)
    fix = compare(
        at(rng.normal(100, 5, 60), 0, 5), at(rng.normal(50, 5, 6), 600, 5), better="lower"
    )
    judged = [SeriesJudgement("queue{}", fix)]
    for n in range(pools):
        x = 100 + ar1(rng, 126, phi, 10)
        judged.append(
            SeriesJudgement(
                f"wait{{pool={n}}}", compare(at(x[:60], 0, 5), at(x[120:], 600, 5), better="lower")
            )
        )
    return combine_verifications(judged).verdict is Verdict.degraded


def share(verdicts: Counter[Verdict], draws: int, which: Verdict) -> float:
    return verdicts[which] / draws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    args = parser.parse_args(argv)
    draws = args.draws
    failures: list[str] = []

    print(
        f"untouched series, {draws} draws: false improved / false degraded"
        " / escalated (inconclusive); after a second look: the same three"
    )
    false_at: dict[float, tuple[float, float]] = {}
    for phi in (0.0, 0.5, 0.9, 0.97):
        seen = Counter(untouched(seed, phi).verdict for seed in range(draws))
        up, down = share(seen, draws, Verdict.improved), share(seen, draws, Verdict.degraded)
        false_at[phi] = (up, down)
        unsure = share(seen, draws, Verdict.inconclusive)
        looked = Counter(second_look(seed, phi) for seed in range(draws))
        print(
            f"  memory {phi:<4}  {up:6.1%}  {down:6.1%}  {unsure:6.1%};"
            f"  {share(looked, draws, Verdict.improved):6.1%}"
            f"  {share(looked, draws, Verdict.degraded):6.1%}"
            f"  {share(looked, draws, Verdict.inconclusive):6.1%}"
        )

    few = max(draws // 5, 50)
    print(f"leak the remedy did not touch, {few} draws: false improved")
    worst_leak = 0.0
    for n, per_hour in ((20, 30.0), (60, 8.0)):
        for sd in (0.1, 0.5, 1.0):
            seen = Counter(leak(s, n, 60, per_hour, sd, stops=False) for s in range(few))
            wrong = share(seen, few, Verdict.improved)
            worst_leak = max(worst_leak, wrong)
            print(f"  {n} min at {per_hour:g}/h, sd {sd:<3}  {wrong:6.1%}")
    print(f"leak the remedy stopped, {few} draws: improved")
    for sd in (0.1, 0.5, 1.0):
        seen = Counter(leak(10_000 + s, 20, 60, 30.0, sd, stops=True) for s in range(few))
        print(f"  20 min at 30/h, sd {sd:<3}  {share(seen, few, Verdict.improved):6.1%}")

    print(f"a real change, {few} draws: found in its direction")
    found: dict[tuple[float, float], float] = {}
    for phi, shift in ((0.0, -0.15), (0.0, 0.3), (0.9, -0.3), (0.9, 0.3), (0.9, 1.0)):
        seen = Counter(untouched(30_000 + s, phi, shift).verdict for s in range(few))
        right = Verdict.improved if shift < 0 else Verdict.degraded
        found[(phi, shift)] = share(seen, few, right)
        print(f"  memory {phi:<4} shift {shift:+.0%}  {found[(phi, shift)]:6.1%}")

    print(f"memory 0.9, wider windows, {few} draws: false improved / degraded, +30 % found")
    for every, baseline_s in ((1, 300.0), (3, 900.0), (6, 1800.0)):
        still = Counter(spaced(s, every, baseline_s, 0.0) for s in range(few))
        moved = Counter(spaced(s, every, baseline_s, 0.3) for s in range(few))
        up, down = share(still, few, Verdict.improved), share(still, few, Verdict.degraded)
        print(
            f"  every {5 * every:>2} s, baseline {baseline_s:4.0f} s  {up:6.1%}  {down:6.1%}"
            f"  {share(moved, few, Verdict.degraded):6.1%}"
        )

    rounds = max(draws // 10, 20)
    print(f"a working fix beside untouched series, {rounds} draws: false veto")
    vetoes: dict[tuple[int, float], float] = {}
    for pools in (10, 50):
        for phi in (0.0, 0.9):
            vetoes[(pools, phi)] = sum(veto(s, pools, phi) for s in range(rounds)) / rounds
            print(f"  {pools} series, memory {phi:<4}  {vetoes[(pools, phi)]:6.1%}")

    print(f"what becomes of the action, {few} draws: rolled back / escalated / resolved")
    undone: dict[tuple[str, float, float], float] = {}
    for name, judge in (
        ("engine windows", lambda s, phi, shift: untouched(40_000 + s, phi, shift).verdict),
        ("second look   ", lambda s, phi, shift: second_look(40_000 + s, phi, shift)),
        ("short windows ", short),
    ):
        for phi, shift in ((0.0, -0.3), (0.9, -0.3), (0.6, -0.8), (0.9, -0.8), (0.0, 0.3)):
            seen = Counter(judge(s, phi, shift) for s in range(few))
            back = share(seen, few, Verdict.unchanged) + share(seen, few, Verdict.degraded)
            undone[(name, phi, shift)] = back
            print(
                f"  {name} memory {phi:<4} shift {shift:+.0%}  {back:6.1%}"
                f"  {share(seen, few, Verdict.inconclusive):6.1%}"
                f"  {share(seen, few, Verdict.improved):6.1%}"
            )

    decisive = {k: v for k, v in undone.items() if k[0] != "short windows " or k[1] < 0.9}
    fixes = {k: v for k, v in decisive.items() if k[2] < 0}
    if max(fixes.values()) > 0.1:
        failures.append(f"working fixes rolled back above 10 %: {fixes}")
    harm = {k: v for k, v in undone.items() if k[2] > 0}
    if min(harm.values()) < 0.9:
        failures.append(f"remedies that made it 30 % worse left in place above 10 %: {harm}")
    print(f"short baselines, independent readings, {few} draws: memory taken, readings worth")
    for n in (10, 20, 60):
        taken = [
            compare(
                at(np.random.default_rng(90_000 + s).normal(100, 10, n), 0, 5),
                at(np.random.default_rng(95_000 + s).normal(100, 10, 6), 600, 5),
                better="lower",
            ).figures
            for s in range(few)
        ]
        memory = float(np.median([f["baseline_autocorrelation"] for f in taken]))
        worth = [f["baseline_effective_points"] for f in taken]
        print(
            f"  {n:>2} readings  median memory {memory:.2f}, worth {np.median(worth):.1f}"
            f" (one draw in ten: {np.percentile(worth, 10):.1f} or fewer)"
        )

    if max(false_at[0.9]) > 0.08:
        failures.append(f"memory 0.9: false verdicts {false_at[0.9]} above 8 %")
    if max(false_at[0.0]) > 0.05:
        failures.append(f"independent readings: false verdicts {false_at[0.0]} above 5 %")
    if worst_leak > 0.05:
        failures.append(f"a leak that goes on read improved in {worst_leak:.1%}, above 5 %")
    if found[(0.0, 0.3)] < 0.9 or found[(0.9, 1.0)] < 0.9:
        failures.append(f"real degradations found too rarely: {found}")
    if vetoes[(50, 0.0)] > 0.1:
        failures.append(f"false vetoes among 50 series: {vetoes[(50, 0.0)]:.1%}, above 10 %")
    return verdict(failures)


if __name__ == "__main__":
    sys.exit(main())
