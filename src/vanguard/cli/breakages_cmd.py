"""``vanguard bench breakages``: zero-shot on CiDiff's Jenkins and GitHub Actions breakages.

Prints precision, recall, F1 (of every listed line and of the best report alone), hit@1,
hit@5 and time per log, for the failed log alone and with its passing run as
``--baseline``, over all breakages and per CI system; then a loose regression check. See
``vanguard.evaluation.breakages`` for the data and how context lines are scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from vanguard.cli.apps import bench_app
from vanguard.evaluation.breakages import Breakage, load_breakages, run_breakages
from vanguard.evaluation.logchunks import LogScore, Summary, summarize

__all__ = ["FLOORS", "bench_breakages"]

DEFAULT_DATA = Path.home() / ".cache" / "vanguard" / "cidiff"
FLOORS: dict[str, float] = {"hit1": 0.40, "hit5": 0.70, "f1": 0.25}
"""Loose floors, with the baseline: far below the figures measured (docs/ci-failures.md)."""


def _row(table: Table, label: str, summary: Summary) -> None:
    table.add_row(
        label,
        str(summary.logs),
        f"{summary.precision:.3f}",
        f"{summary.recall:.3f}",
        f"{summary.f1:.3f}",
        f"{summary.answer_f1:.3f}",
        f"{summary.hit1:.3f}",
        f"{summary.hit5:.3f}",
        f"{summary.mean_seconds:.3f}",
    )


@bench_app.command("breakages")
def bench_breakages(
    data: Annotated[
        Path,
        typer.Option(
            help="a clone of https://github.com/labri-progress/cidiff (or its data/breakages)"
        ),
    ] = DEFAULT_DATA,
    rules: Annotated[bool, typer.Option(help="Rank by the rules alone, without a model.")] = False,
    check: Annotated[bool, typer.Option(help="Fail when figures fall below loose floors.")] = True,
) -> None:
    """Zero-shot scores on failed Jenkins and GitHub Actions logs, with and without baseline."""
    console = Console()
    cases = load_breakages(data)
    systems = sorted({case.system for case in cases})
    table = Table(title=f"CiDiff breakages, {len(cases)} logs, zero-shot", box=None)
    for name in ("", "logs", "precision", "recall", "F1", "answer F1", "hit@1", "hit@5", "s/log"):
        table.add_column(name, justify="left" if not name else "right")
    with_baseline: Summary | None = None
    for baseline in (False, True):
        scores = _run(cases, baseline=baseline, rules=rules, console=console)
        mode = "with baseline" if baseline else "failed log"
        overall = summarize(scores)
        _row(table, mode, overall)
        by_name = {score.id: score for score in scores}
        for system in systems:
            mine = [by_name[c.name] for c in cases if c.system == system]
            _row(table, f"  {system}", summarize(mine))
        if baseline:
            with_baseline = overall
    console.print(table)
    console.print(
        "gold: the labelled error lines; a labelled context line counts neither way",
        highlight=False,
    )
    if check and with_baseline is not None:
        failures = [
            f"{name} {getattr(with_baseline, name):.3f} < floor {floor:.2f}"
            for name, floor in FLOORS.items()
            if getattr(with_baseline, name) < floor
        ]
        for failure in failures:
            console.print(f"[red]regression[/red] {failure}")
        if failures:
            raise typer.Exit(code=1)
        console.print("[green]regression check passed[/green]")


def _run(cases: list[Breakage], *, baseline: bool, rules: bool, console: Console) -> list[LogScore]:
    with Progress(
        TextColumn("[bold]breakages" + (" + baseline" if baseline else "")),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("logs", total=len(cases))
        return run_breakages(
            cases,
            baseline=baseline,
            model=None if rules else "builtin",
            on_done=lambda _score: progress.advance(task),
        )
