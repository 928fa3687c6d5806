"""``vanguard detect`` (score a CSV series) and ``vanguard bench nab`` (score the corpus).

Bad rows never stop a run: a row whose value is not a finite number, whose timestamp cannot
be read, or whose timestamp is not after the previous good row's is *held*: it is written
with score 0 and the detector does not learn it. A warning on stderr counts each kind.
An empty file or one without the ``timestamp,value`` header is an ``InputError``.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from vanguard.cli.apps import app, bench_app
from vanguard.detect.default import score_batch
from vanguard.detect.registry import DEFAULT_DETECTOR, DETECTORS, score_series
from vanguard.detect.watch import ANOMALY_ALERT_SCORE
from vanguard.errors import InputError
from vanguard.evaluation.nab import PROFILES, NabFile, load_corpus, load_profiles, score_corpus
from vanguard.plot import Panel, series_svg

__all__ = ["Series", "bench_nab", "detect", "read_series", "write_scores"]


@dataclass
class Series:
    """The rows of an input CSV as read, with the values to score (NaN where held)."""

    timestamps: list[str] = field(default_factory=list)
    raw_values: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    held: dict[str, list[int]] = field(default_factory=dict)

    def hold(self, reason: str, line: int) -> None:
        self.held.setdefault(reason, []).append(line)
        self.values.append(math.nan)
        self.times.append(math.nan)


def read_series(path: Path) -> Series:
    """Read ``timestamp,value`` rows; bad rows are held, a missing header is an error."""
    rows: list[list[str]] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            start = 1
            try:
                for row in reader:
                    if any("\n" in cell or "\r" in cell for cell in row):
                        raise InputError(
                            f"{path}: line {start}: a quoted field runs across lines (a quote "
                            "left open?); the rows after it would be lost"
                        )
                    rows.append(row)
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise InputError(f"{path}: line {reader.line_num}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError(f"{path}: empty file; expected a header 'timestamp,value' and rows")
    header = [cell.strip().lower() for cell in rows[0]]
    if "timestamp" not in header or "value" not in header:
        got = ",".join(rows[0])[:80]
        raise InputError(f"{path}: line 1: expected a header 'timestamp,value', got {got!r}")
    ti, vi = header.index("timestamp"), header.index("value")
    series = Series()
    last: datetime | None = None
    for line, row in enumerate(rows[1:], start=2):
        stamp = row[ti].strip() if ti < len(row) else ""
        text = row[vi].strip() if vi < len(row) else ""
        series.timestamps.append(stamp)
        series.raw_values.append(text)
        when = _timestamp(stamp)
        if when is None:
            series.hold("unreadable timestamp", line)
            continue
        try:
            if "_" in text or not text.isascii():
                raise ValueError(text)
            value = float(text)
        except ValueError:
            series.hold("non-numeric value", line)
            continue
        if not math.isfinite(value):
            series.hold("non-numeric value", line)
            continue
        if abs(value) > MAX_MAGNITUDE:
            series.hold("value out of range", line)
            continue
        if last is not None and _naive(when) == _naive(last):
            series.hold("duplicate timestamp", line)
            continue
        if last is not None and _naive(when) < _naive(last):
            series.hold("timestamp before the previous row", line)
            continue
        last = when
        series.values.append(value)
        series.times.append(_epoch(when))
    if series.timestamps and not any(math.isfinite(t) for t in series.times):
        reasons = ", ".join(f"{len(lines)} {reason}" for reason, lines in series.held.items())
        raise InputError(f"{path}: no usable row ({reasons}); see the accepted formats")
    return series


MAX_MAGNITUDE = 1e100
"""Values past it are held: their squares overflow a float, so no statistic of them is."""
EPOCH_MS = 1e11
"""A numeric timestamp this large is milliseconds (1e11 seconds is the year 5138)."""


def _timestamp(stamp: str) -> datetime | None:
    """ISO 8601 (a time without a zone is UTC), or Unix epoch seconds or milliseconds."""
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        pass
    try:
        number = float(stamp)
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    try:
        return datetime.fromtimestamp(number / 1000 if number >= EPOCH_MS else number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _naive(when: datetime) -> datetime:
    """Compare times without zones as UTC, the way ``_epoch`` reads them."""
    return when if when.tzinfo is None else when.astimezone(UTC).replace(tzinfo=None)


def _epoch(when: datetime) -> float:
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def write_scores(path: Path, series: Series, scores: np.ndarray) -> None:
    """Write ``timestamp,value,anomaly_score``, one row per input row."""
    try:
        with path.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["timestamp", "value", "anomaly_score"])
            for stamp, text, score in zip(
                series.timestamps, series.raw_values, scores.tolist(), strict=True
            ):
                out.writerow([stamp, text, f"{min(max(score, 0.0), 1.0):.6f}"])
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc}") from exc


@app.command()
def detect(
    input_csv: Annotated[Path, typer.Argument(help="CSV with columns timestamp,value.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the scores.")],
    detector: Annotated[
        str, typer.Option(help=f"Detector: {', '.join(sorted(DETECTORS))}.")
    ] = DEFAULT_DETECTOR,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also draw the series and its scores to this SVG file."),
    ] = None,
) -> None:
    """Score a series causally in one pass: timestamp,value,anomaly_score in [0, 1]."""
    if detector not in DETECTORS:
        raise InputError(f"unknown detector {detector!r} (known: {', '.join(sorted(DETECTORS))})")
    series = read_series(input_csv)
    err = Console(stderr=True, soft_wrap=True)
    for reason, lines in series.held.items():
        shown = ", ".join(str(n) for n in lines[:5]) + (", ..." if len(lines) > 5 else "")
        err.print(
            f"[yellow]warning[/yellow] {input_csv}: {len(lines)} row(s) held "
            f"(score 0, not learned): {reason}; line(s) {shown}",
            highlight=False,
        )
    scores = score_series(
        detector,
        np.asarray(series.values, dtype=np.float64),
        np.asarray(series.times, dtype=np.float64),
    )
    write_scores(output, series, scores)
    if plot is not None:
        held = sum(len(lines) for lines in series.held.values())
        title = f"{input_csv.name}: detector {detector}, {len(scores):,} rows" + (
            f", {held:,} held" if held else ""
        )
        _write_plot(plot, np.asarray(series.times), np.asarray(series.values), scores, title)


def _write_plot(
    path: Path,
    times: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    title: str,
    *,
    level: float = ANOMALY_ALERT_SCORE,
    spans: tuple[tuple[int, int], ...] = (),
) -> None:
    """The series with a dot where the score reaches ``level``, and the score below it."""
    flagged = tuple(np.flatnonzero(scores >= level).tolist())
    panels = [
        Panel("value (dots: score at or above the line below)", values, marks=flagged),
        Panel("anomaly score", scores, level=level, low=0.0, high=1.0),
    ]
    try:
        path.write_text(series_svg(times, panels, title=title, spans=spans))
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc}") from exc


def _held_like_detect(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """NaN where ``vanguard detect`` would hold a row: time not after every earlier row."""
    before = np.maximum.accumulate(np.r_[-np.inf, times[:-1]])
    return np.where(times > before, values, np.nan)


BATCH_SERIES = 2_000
BATCH_STEPS = 2_000


def _batch_throughput(
    matrix: npt.NDArray[np.float64], times: npt.NDArray[np.float64]
) -> tuple[int, int, float]:
    """Score the corpus's first rows tiled into a batch of ``BATCH_SERIES`` series.

    ``bench nab`` itself runs 43 series at once, where the fixed per-step cost of the batch
    path dominates; this is the same detector on the same data in the batch size the
    product uses for volume. Returns (series, steps, seconds).
    """
    steps = min(BATCH_STEPS, matrix.shape[1])
    copies = -(-BATCH_SERIES // matrix.shape[0])
    values = np.tile(matrix[:, :steps], (copies, 1))
    stamps = np.tile(times[:, :steps], (copies, 1))
    started = time.perf_counter()
    score_batch(values, times=stamps)
    return values.shape[0], steps, max(time.perf_counter() - started, 1e-9)


@bench_app.command("nab")
def bench_nab(
    data: Annotated[Path, typer.Option(help="NAB corpus root.")] = Path("../shared/datasets/nab"),
    detector: Annotated[
        str, typer.Option(help=f"Detector: {', '.join(sorted(DETECTORS))}.")
    ] = DEFAULT_DETECTOR,
    plots: Annotated[
        Path | None,
        typer.Option(
            help="Also draw every file to an SVG in this directory: labelled windows shaded, "
            "dots where the score reaches the standard profile's threshold."
        ),
    ] = None,
) -> None:
    """Score a detector on a NAB corpus: three profiles and throughput.

    The default detector runs its batch path over all files at once; others run file by file.
    """
    if detector not in DETECTORS:
        raise InputError(f"unknown detector {detector!r} (known: {', '.join(sorted(DETECTORS))})")
    files = load_corpus(data)
    if not files:
        raise InputError(f"{data}: no files in labels/combined_windows.json")
    profiles_path = data / "config" / "profiles.json"
    profiles = load_profiles(profiles_path) if profiles_path.exists() else PROFILES
    length = max(len(f.values) for f in files)
    matrix = np.full((len(files), length), np.nan)
    times = np.full((len(files), length), np.nan)
    for i, nab in enumerate(files):
        matrix[i, : len(nab.values)] = _held_like_detect(nab.values, nab.times)
        times[i, : len(nab.times)] = nab.times
    total = sum(len(f.values) for f in files)
    console = Console()
    with Progress(
        TextColumn("detect"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        started = time.perf_counter()
        if detector == DEFAULT_DETECTOR:
            task = progress.add_task("detect", total=length)
            scores = score_batch(
                matrix, times=times, progress=lambda done: progress.update(task, completed=done)
            )
            per_file = [scores[i, : len(f.values)] for i, f in enumerate(files)]
        else:
            task = progress.add_task("detect", total=len(files))
            per_file = []
            for i, nab in enumerate(files):
                rows = len(nab.values)
                per_file.append(score_series(detector, matrix[i, :rows], times[i, :rows]))
                progress.update(task, completed=i + 1)
        elapsed = time.perf_counter() - started

    table = Table(title=f"NAB, detector {detector}: {len(files)} files, {total:,} rows, {data}")
    for column in ("profile", "score", "threshold", "windows detected", "false positives"):
        table.add_column(column)
    thresholds: dict[str, float] = {}
    for profile in profiles:
        result = score_corpus(files, per_file, profile)
        thresholds[profile.name] = result.threshold
        table.add_row(
            profile.name,
            f"{result.normalized:.1f}",
            f"{result.threshold:.4f}",
            f"{result.detected_windows}/{result.windows}",
            str(result.false_positives),
        )
    console.print(table)
    console.print(
        f"throughput: {total / elapsed:,.0f} points/s "
        f"({elapsed:.2f} s, one core, {len(files)} series)"
    )
    if detector == DEFAULT_DETECTOR:
        wide, steps, seconds = _batch_throughput(matrix, times)
        console.print(
            f"batch mode: {wide * steps / seconds:,.0f} points/s "
            f"({wide:,} series x {steps:,} steps: the corpus's first {steps:,} rows, tiled; "
            "per-step overhead is shared by every series of a batch)"
        )
    if plots is not None:
        drawn = "standard" if "standard" in thresholds else next(iter(thresholds))
        written = _write_nab_plots(plots, files, per_file, detector, drawn, thresholds[drawn])
        console.print(f"plots: {written} SVG files in {plots}")


def _write_nab_plots(
    directory: Path,
    files: list[NabFile],
    per_file: list[npt.NDArray[np.float64]],
    detector: str,
    profile: str,
    level: float,
) -> int:
    """One SVG per corpus file, named after its path with ``/`` as ``__``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{directory}: cannot create: {exc}") from exc
    for nab, scores in zip(files, per_file, strict=True):
        name = nab.name.removesuffix(".csv").replace("/", "__") + ".svg"
        title = f"{nab.name}: detector {detector}, threshold {level:.4f} ({profile} profile)"
        _write_plot(
            directory / name, nab.times, nab.values, scores, title, level=level, spans=nab.windows
        )
    return len(files)
