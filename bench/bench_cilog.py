"""CI failure-line extraction on LogChunks: precision, recall, F1, hit@1, hit@5, time per log.

Prints the figures, then a loose regression check (exit 1 when a figure falls far below what
was measured, or a log takes more than 0.5 s on average). The logs are unpacked once into
``~/.cache/vanguard/logchunks`` (or ``--cache``), never into the repository.

    .venv/bin/python bench/bench_cilog.py [--data ../shared/datasets/logchunks] [--limit N]
    .venv/bin/python bench/bench_cilog.py --folds 0   # the shipped model: in-sample figures
    .venv/bin/python bench/bench_cilog.py --rules     # the rules alone, without the model
    .venv/bin/python bench/bench_cilog.py --split     # figures per half of the repositories

By default (``--folds 5``) one model is trained per fold of repositories and each log is
scored by the model that never saw its repository: the honest figures. ``--folds 0`` uses
the shipped model, which was trained on all these logs: its figures are in-sample.
``--split`` prints the figures on each half of a split by repository (``repository_half``):
rules were developed looking at half 0 only, so half 1 tells generalisation from fitting.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import typer

from vanguard.cli.ci import DEFAULT_DATA, bench_logchunks
from vanguard.diagnose.cilog import ModelChoice
from vanguard.evaluation.logchunks import (
    default_cache,
    load_labels,
    repository_half,
    run_logchunks,
    summarize,
)


def print_split(data: Path, cache: Path | None, *, rules: bool) -> None:
    """Explain every log once and print the figures per half of the repositories."""
    records = load_labels(data)
    model: ModelChoice = None if rules else "builtin"
    root = cache or default_cache()
    scores = {s.id: s for s in run_logchunks(data, root, records=records, model=model)}
    for half in (0, 1):
        chosen = [scores[r.id] for r in records if repository_half(r.repo) == half]
        m = summarize(chosen)
        print(
            f"half {half}: {m.logs} logs  precision {m.precision:.3f}  recall {m.recall:.3f}  "
            f"F1 {m.f1:.3f}  hit@1 {m.hit1:.3f}  hit@5 {m.hit5:.3f}  "
            f"s/log {m.mean_seconds:.3f} (max {m.max_seconds:.2f})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--split", action="store_true", help="figures per half of repositories")
    parser.add_argument("--folds", type=int, default=5, help="out-of-fold with N folds")
    parser.add_argument("--rules", action="store_true", help="rank by the rules alone")
    args = parser.parse_args()
    if args.split:
        print_split(args.data, args.cache, rules=args.rules)
        return 0
    try:
        bench_logchunks(
            data=args.data,
            cache=args.cache,
            limit=args.limit,
            check=True,
            folds=args.folds,
            rules=args.rules,
        )
    except typer.Exit as stop:
        return int(stop.exit_code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
