"""Commands for CI failures: ``ci explain`` and the ``bench logchunks`` benchmark."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vanguard.cli.apps import bench_app, ci_app
from vanguard.diagnose.cilog import (
    Explanation,
    ModelChoice,
    explain,
    iter_log_lines,
    read_chunks,
)
from vanguard.diagnose.linemodel import builtin_model
from vanguard.diagnose.taxonomy import Taxonomy, load_taxonomy
from vanguard.errors import InputError
from vanguard.evaluation.logchunks import (
    LogChunksRecord,
    LogScore,
    Summary,
    default_cache,
    ensure_unpacked,
    extract_features,
    load_labels,
    repository_fold,
    run_logchunks,
    summarize,
    train_models,
)

__all__ = ["FLOORS", "bench_logchunks", "explain_command", "first_lines", "render_explanation"]

FLOORS: dict[str, float] = {"hit1": 0.40, "hit5": 0.60, "f1": 0.20}
"""Loose regression floors for the LogChunks benchmark: far below the measured figures."""
MAX_SECONDS_PER_LOG = 0.5
DEFAULT_DATA = Path("../shared/datasets/logchunks")


@contextmanager
def _open_log(path: Path) -> Iterator[BinaryIO]:
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read log: {exc.strerror}") from exc
    with stream:
        yield stream


def _read(path: Path, stream: BinaryIO) -> Iterator[bytes]:
    """The chunks of an open log; a read that fails halfway is an input error, as at open."""
    try:
        yield from read_chunks(stream)
    except OSError as exc:
        raise InputError(f"{path}: cannot read log: {exc.strerror or exc}") from exc


@ci_app.command("explain")
def explain_command(
    failed: Annotated[Path, typer.Argument(help="Log of the failed job ('-' for stdin).")],
    baseline: Annotated[
        Path | None, typer.Option(help="Log of a passing run of the same job.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    taxonomy: Annotated[
        Path | None, typer.Option(help="Failure taxonomy YAML instead of the built-in one.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Lines to show at most.")] = 50,
    rules: Annotated[
        bool, typer.Option(help="Rank by the rules alone, without the shipped line model.")
    ] = False,
) -> None:
    """Explain why a CI job failed: ranked lines, category, fingerprint, retryable.

    Credentials in the lines shown (tokens, URL passwords, ``KEY=secret``) are masked."""
    if str(failed) == "-" and baseline is not None and str(baseline) == "-":
        raise InputError("standard input can be read once: give the failed log or the baseline")
    tax: Taxonomy | None = load_taxonomy(taxonomy) if taxonomy is not None else None
    model: ModelChoice = None if rules else "builtin"
    with _open_log(failed) as stream:
        lines = iter_log_lines(_read(failed, stream))
        if baseline is None:
            result = explain(lines, taxonomy=tax, model=model)
        else:
            with _open_log(baseline) as base:
                result = explain(
                    lines, iter_log_lines(_read(baseline, base)), taxonomy=tax, model=model
                )
    if result.line_count == 0:
        raise InputError(f"{failed}: empty log: there is nothing to explain")
    if not result.lines:
        raise InputError(
            f"{failed}: no line to explain: the log holds only blank lines, timestamps and "
            "CI markers: check that it is the whole log of the failed job"
        )
    shown = first_lines(result, limit).redacted()
    if as_json:
        typer.echo(shown.model_dump_json())
        return
    render_explanation(shown, Console(), report=result.answer)


def first_lines(result: Explanation, limit: int) -> Explanation:
    """The explanation cut to its ``limit`` best lines (its answer to the lines kept)."""
    shown = result.lines[:limit]
    kept = {line.number for line in shown}
    return result.model_copy(
        update={"lines": shown, "answer": tuple(n for n in result.answer if n in kept)}
    )


def render_explanation(
    result: Explanation, console: Console, *, report: Sequence[int] | None = None
) -> None:
    """A readable rendering: what kind of failure, how to heal it, and the lines.

    ``report`` is the whole best report when ``result`` was cut to fewer lines.
    """
    verdict = "retryable" if result.retryable else "not retryable"
    console.print(
        f"[bold]{escape(result.category)}[/bold] ({verdict}, heal: {result.heal.value}, "
        f"confidence {result.confidence:.0%}) fingerprint [cyan]{result.fingerprint}[/cyan]"
    )
    if result.failed_step:
        console.print(f"failed step: {escape(result.failed_step)}", highlight=False)
    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("line", justify="right", style="dim")
    table.add_column("score", justify="right")
    table.add_column("text", overflow="fold")
    for line in result.lines:
        style = "red" if line.score >= 0.5 else ""
        table.add_row(str(line.number), f"{line.score:.2f}", escape(line.text), style=style)
    console.print(table)
    whole = report if report else result.answer
    if whole:
        others = ", ".join(str(line.number) for line in result.other_candidates())
        listed = "" if len(result.answer) == len(whole) else f", {len(result.answer)} listed"
        console.print(
            f"best report: lines {whole[0]}–{whole[-1]} ({len(whole)} lines{listed})"
            + (f"; other candidates: {others}" if others else ""),
            highlight=False,
        )
    for reason in result.reasons:
        console.print(f"[dim]- {escape(reason)}[/dim]", highlight=False)


@bench_app.command("logchunks")
def bench_logchunks(
    data: Annotated[
        Path, typer.Option(help="LogChunks folder (labels.jsonl, logs.tar.gz).")
    ] = DEFAULT_DATA,
    cache: Annotated[
        Path | None, typer.Option(help="Where to unpack the logs (outside the repository).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N logs.")] = None,
    check: Annotated[bool, typer.Option(help="Fail when figures fall below loose floors.")] = True,
    folds: Annotated[
        int,
        typer.Option(
            min=0,
            help="Score each log with a line model trained on the other folds of repositories "
            "(0: the shipped model, which has seen every log: an in-sample figure).",
        ),
    ] = 5,
    rules: Annotated[bool, typer.Option(help="Rank by the rules alone, without a model.")] = False,
    merge_gap: Annotated[
        int | None,
        typer.Option(
            min=-1,
            help="Join a further candidate whose block lies within N lines of the best one "
            "(-1: never); default: the model's own setting.",
        ),
    ] = None,
    extra_ratio: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="List a further candidate only at this share of the best one's probability "
            "or more; default: the model's own setting.",
        ),
    ] = None,
) -> None:
    """Line-level precision, recall, F1, hit@1, hit@5 and time per log on LogChunks.

    By default every log is scored by a line model trained on the other folds of
    repositories, never its own: the figure to expect on repositories the model never saw.
    """
    if rules and folds:
        folds = 0
    console = Console()
    root = ensure_unpacked(data, cache if cache is not None else default_cache())
    records = load_labels(data)[:limit] if limit is not None else load_labels(data)
    chooser: ModelChoice | Callable[[LogChunksRecord], ModelChoice] = None if rules else "builtin"
    if folds and not rules:
        chooser = _out_of_fold(root, records, folds, console)
    changes: dict[str, Any] = {}
    if merge_gap is not None:
        changes["merge_gap"] = None if merge_gap < 0 else merge_gap
    if extra_ratio is not None:
        changes["extra_ratio"] = extra_ratio
    if changes and not rules:
        chooser = _ranking_with(chooser, changes)
    label = (
        "rules only"
        if rules
        else f"{folds}-fold out-of-fold"
        if folds
        else "shipped model, in-sample: it has seen every log, not a generalisation figure"
    )
    progress = Progress(
        TextColumn("[bold]logchunks"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("hit@1 {task.fields[hit1]:.3f}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    hits: list[bool] = []
    with progress:
        task = progress.add_task("logs", total=len(records), hit1=0.0)

        def done(score: LogScore) -> None:
            hits.append(score.hit1)
            progress.update(task, advance=1, hit1=sum(hits) / len(hits))

        scores = run_logchunks(data, root, records=records, on_done=done, model=chooser)
    summary = summarize(scores)
    _print_summary(summary, console, label)
    if check:
        failures = _regressions(summary)
        for failure in failures:
            console.print(f"[red]regression[/red] {failure}")
        if failures:
            raise typer.Exit(code=1)
        console.print("[green]regression check passed[/green]")


def _ranking_with(
    chooser: ModelChoice | Callable[[LogChunksRecord], ModelChoice],
    changes: Mapping[str, Any],
) -> Callable[[LogChunksRecord], ModelChoice]:
    """The same models with other ranking-time settings (``merge_gap``, ``extra_ratio``):
    the weights stay as trained."""

    def choose(record: LogChunksRecord) -> ModelChoice:
        chosen = chooser(record) if callable(chooser) else chooser
        weights = builtin_model() if chosen == "builtin" else chosen
        return dataclasses.replace(weights, **changes) if weights is not None else None

    return choose


def _out_of_fold(
    root: Path, records: list[LogChunksRecord], folds: int, console: Console
) -> Callable[[LogChunksRecord], ModelChoice]:
    """Train one line model per fold of repositories; each log gets the model of its fold."""
    with Progress(
        TextColumn("[bold]features"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        task = progress.add_task("logs", total=len(records))
        features = extract_features(root, records, lambda _f: progress.advance(task))
    models = train_models(root, records, features, folds)
    console.print(
        f"{folds} seed and extent models, each trained on the repositories outside its fold; "
        "every log is scored by a model that never saw its repository",
        highlight=False,
    )
    return lambda record: models[repository_fold(record.repo, folds)]


def _print_summary(summary: Summary, console: Console, label: str = "") -> None:
    title = f"LogChunks, {summary.logs} logs" + (f", {label}" if label else "")
    table = Table(title=title, box=None)
    for name in ("precision", "recall", "F1", "hit@1", "hit@5", "s/log (mean)", "s/log (max)"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{summary.precision:.3f}",
        f"{summary.recall:.3f}",
        f"{summary.f1:.3f}",
        f"{summary.hit1:.3f}",
        f"{summary.hit5:.3f}",
        f"{summary.mean_seconds:.3f}",
        f"{summary.max_seconds:.2f}",
    )
    console.print(table)
    console.print(
        f"F1 of the best report alone (answer, without further candidates): "
        f"{summary.answer_f1:.3f}",
        highlight=False,
    )
    shown = ", ".join(f"{name} {count}" for name, count in summary.categories.items())
    console.print(f"categories: {shown}", highlight=False)


def _regressions(summary: Summary) -> list[str]:
    found = [
        f"{name} {getattr(summary, name):.3f} < floor {floor:.2f}"
        for name, floor in FLOORS.items()
        if getattr(summary, name) < floor
    ]
    if summary.mean_seconds > MAX_SECONDS_PER_LOG:
        found.append(f"mean time per log {summary.mean_seconds:.3f}s > {MAX_SECONDS_PER_LOG}s")
    return found
