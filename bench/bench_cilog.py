"""CI failure-line extraction on LogChunks: precision, recall, F1, hit@1, hit@5, time per log.

Prints the figures, then a loose regression check (exit 1 when a figure falls far below what
was measured, or a log takes more than 0.5 s on average). The logs are unpacked once into
``~/.cache/vanguard/logchunks`` (or ``--cache``), never into the repository.

    .venv/bin/python bench/bench_cilog.py [--data ../shared/datasets/logchunks] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import typer

from vanguard.cli.ci import DEFAULT_DATA, bench_logchunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    try:
        bench_logchunks(data=args.data, cache=args.cache, limit=args.limit, check=True)
    except typer.Exit as stop:
        return int(stop.exit_code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
