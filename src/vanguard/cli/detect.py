"""``vanguard detect`` (score a CSV series) and ``vanguard bench nab`` (score the corpus).

``detect`` streams: it reads, scores and writes ``CHUNK_ROWS`` rows at a time and carries the
detector's state from one chunk to the next, so its memory does not grow with the file
(``--plot`` aside: it keeps 24 bytes a row). The scores go to a file beside OUTPUT that is
renamed over it once complete, so an error late in the input leaves no partial OUTPUT.

Bad rows never stop a run: a row whose value is not a finite number, whose timestamp cannot
be read, or whose timestamp is not after the previous good row's is *held*: it is written
with score 0 and the detector does not learn it. When two rows in a row, in order, are
stamped far before the previous good row, that one was stamped ahead (a clock put right, a
mistyped year): the series goes on from the second (``TimeOrder``), as the live watch does,
instead of holding every row until time caught up. A warning on stderr counts each kind,
the rows the series went on from, and the gaps in time (steps over ``GAP_RESET_FACTOR``
usual ones). A file that runs newest first
is read from its last row up, so it is scored and written oldest first. An empty file, one
without the ``timestamp,value`` header or with no row under it, and one whose rows are
mostly held as out of order, is an ``InputError``.

A timestamp that reads as a number is Unix epoch time: seconds, or milliseconds from 10¹¹
up. Anything else is read as ISO 8601, a time without a zone as UTC. So digits alone are
never a date: ``20240101`` is 20,240,101 seconds (1970-08-23; write ``2024-01-01``), and
``1701051000000`` is 27 November 2023 in milliseconds, not ``1701-05-10T00:00``.
"""

from __future__ import annotations

import csv
import itertools
import math
import shutil
import stat
import time
import uuid
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vanguard.cli.apps import app, bench_app
from vanguard.detect.default import score_batch
from vanguard.detect.registry import DEFAULT_DETECTOR, DETECTORS, SeriesScorer, score_series
from vanguard.detect.watch import (
    ANOMALY_AFTER,
    ANOMALY_ALERT_SCORE,
    CLOCK_BACK_S,
    COOLDOWN_S,
    GAP_RESET_FACTOR,
)
from vanguard.errors import InputError
from vanguard.evaluation.nab import (
    PROFILES,
    NabFile,
    Profile,
    load_corpus,
    load_profiles,
    probation_length,
    score_corpus,
)
from vanguard.plot import Panel, series_svg

__all__ = [
    "Gaps",
    "HeldRows",
    "Restarts",
    "Series",
    "SeriesReader",
    "TimeOrder",
    "bench_nab",
    "detect",
    "open_series",
    "read_series",
    "restarts_text",
    "write_scores",
]

F64 = npt.NDArray[np.float64]

CHUNK_ROWS = 8192
"""Rows read, scored and written at a time: a few MB of memory, whatever the file's length."""
SHOWN_LINES = 5
"""Line numbers a warning lists for each reason."""
PROGRESS_MIN_BYTES = 1 << 20
"""Inputs this big get a progress bar on a terminal (about 50,000 rows: 10-20 s by default)."""
MAX_MAGNITUDE = 1e100
"""Values past it are held: their squares overflow a float, so no statistic of them is."""
EPOCH_MS = 1e11
"""A numeric timestamp this large is milliseconds (1e11 seconds is the year 5138)."""
OUTPUT_HEADER = ("timestamp", "value", "anomaly_score")
BEFORE_PREVIOUS = "timestamp before the previous row"
STEP_WEIGHT = 0.1
"""Weight of each new step in the usual step, as the live watch weighs it."""
RESTARTS_TOLERATED = 20
"""A file may go back in time once in this many scored rows (clocks put right, a mistyped
stamp); more often, its rows are not in time order."""


@dataclass
class Series:
    """Rows of an input CSV as read, with the values to score (NaN where held).

    A chunk of a file (``SeriesReader.chunks``) or all of it (``read_series``); ``held``
    lists, for each reason, the lines of these rows it held.
    """

    timestamps: list[str] = field(default_factory=list)
    raw_values: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    held: dict[str, list[int]] = field(default_factory=dict)
    restarts: list[int] = field(default_factory=list)
    """Lines of the rows stamped far before the good row before them, the series went on from."""

    def hold(self, reason: str, line: int) -> None:
        self.held.setdefault(reason, []).append(line)
        self.values.append(math.nan)
        self.times.append(math.nan)

    def extend(self, more: Series) -> None:
        """Append the rows of ``more``, the chunk after these."""
        self.timestamps.extend(more.timestamps)
        self.raw_values.extend(more.raw_values)
        self.values.extend(more.values)
        self.times.extend(more.times)
        for reason, lines in more.held.items():
            self.held.setdefault(reason, []).extend(lines)
        self.restarts.extend(more.restarts)


@dataclass
class HeldRows:
    """How many rows of a file one reason held, and the first lines it held (for the warning)."""

    count: int = 0
    first: list[int] = field(default_factory=list)

    def add(self, line: int) -> None:
        self.count += 1
        if len(self.first) < SHOWN_LINES:
            self.first.append(line)


@dataclass
class Gaps(HeldRows):
    """Steps in time over ``GAP_RESET_FACTOR`` usual ones, where the live watch would start
    its trend afresh: how many, the first lines after one, and the longest."""

    longest_s: float = 0.0
    longest_line: int = 0

    def add_gap(self, line: int, step_s: float) -> None:
        self.add(line)
        if step_s > self.longest_s:
            self.longest_s, self.longest_line = step_s, line


@dataclass
class Restarts(HeldRows):
    """Rows stamped far before the good row before them: the series went on from each. The
    first one's previous good row is named, since that row, stamped ahead, is the cause."""

    ahead_line: int = 0
    ahead_stamp: str = ""


class TimeOrder:
    """Where each good row's time falls against the good rows before it: after the last one
    (the usual step is learnt from it, and a gap noted), equal to it, or before it (held:
    late or out of order).

    Two rows in a row, in order, each more than ``CLOCK_BACK_S`` (or ``GAP_RESET_FACTOR``
    usual steps, if fewer) before the last good one mean that one was stamped ahead (a
    clock put right, a mistyped year): the first is held, and the series goes on from the
    second (``RESTART``), as the live watch goes on from a sample stamped far back
    (``watch.step``). Holding every row until time caught up would blind the rest of the
    file. The file cannot say which is wrong from one row: a lone row far back is a late
    row, held; so it waits for the second, and each row's fate still depends only on it
    and the rows before it.
    """

    AFTER = "after"
    DUPLICATE = "duplicate timestamp"
    BEFORE = BEFORE_PREVIOUS
    RESTART = "restart"

    def __init__(self) -> None:
        self.last: float | None = None
        self.step: float | None = None
        self.gap_s: float | None = None
        """The step just taken when it was a gap in time, else ``None``."""
        self._far: float | None = None
        """The row just before, when it was held far before the last good one."""

    def place(self, epoch: float) -> str:
        """Where ``epoch`` falls; it becomes the last good time unless held."""
        self.gap_s = None
        last, far, self._far = self.last, self._far, None
        if last is not None and epoch == last:
            return self.DUPLICATE
        if last is not None and epoch < last:
            slack = (
                CLOCK_BACK_S
                if self.step is None
                else min(CLOCK_BACK_S, GAP_RESET_FACTOR * self.step)
            )
            if last - epoch <= slack:
                return self.BEFORE
            if far is None or epoch <= far:
                self._far = epoch
                return self.BEFORE
            self.last = epoch
            return self.RESTART
        if last is not None:
            step = epoch - last
            if self.step is not None and step > GAP_RESET_FACTOR * self.step:
                self.gap_s = step
            self.step = step if self.step is None else self.step + STEP_WEIGHT * (step - self.step)
        self.last = epoch
        return self.AFTER


class SeriesReader:
    """The data rows of an open ``timestamp,value`` CSV, read a chunk at a time.

    Whether a row is held depends only on the row and the last good timestamp, so a chunk
    can be scored and written before the next one is read. ``held`` tallies the rows read so
    far, by the physical line each row is on (blank lines counted); ``gaps`` the steps in
    time between good rows over ``GAP_RESET_FACTOR`` usual ones. A file that runs newest
    first (``newest_first``) is the exception: it is read whole, then from its last row up.
    """

    def __init__(
        self,
        path: Path,
        fh: TextIO,
        rows: Iterator[tuple[int, list[str]]],
        columns: tuple[int, int],
    ) -> None:
        self.path = path
        self.held: dict[str, HeldRows] = {}
        self.gaps = Gaps()
        self.restarts = Restarts()
        self.newest_first = False
        self._fh = fh
        self._rows = rows
        self._ti, self._vi = columns
        self._line = 0
        self._order = TimeOrder()
        self._last_good = (0, "")
        self._read = 0
        self._usable = 0

    def bytes_read(self) -> int:
        """How far into the file reading has got (read-ahead included), for a progress bar."""
        return self._fh.buffer.tell()

    def chunks(self, size: int) -> Iterator[Series]:
        """The rows, ``size`` at a time; a file with no row, or whose every row is held, is
        an ``InputError``.

        So is one whose rows are held as before the previous row more often than they are
        scored, or that goes back in time (``TimeOrder.RESTART``) more than once and more
        often than once in ``RESTARTS_TOLERATED`` scored rows: it is not in time order. These
        errors come before the last chunk, so a one-chunk file yields nothing first.
        """
        chunk = Series()
        for line, stamp, text in self._oldest_first():
            self._line = line
            self._read += 1
            chunk.timestamps.append(stamp)
            chunk.raw_values.append(text)
            accepted = self._accept(stamp, text)
            if isinstance(accepted, str):
                chunk.hold(accepted, self._line)
                self.held.setdefault(accepted, HeldRows()).add(self._line)
            else:
                chunk.values.append(accepted[0])
                chunk.times.append(accepted[1])
                if accepted[2]:
                    chunk.restarts.append(self._line)
            if len(chunk.timestamps) >= size:
                yield chunk
                chunk = Series()
        if not self._line:
            raise InputError(f"{self.path}: a header but no rows; nothing to score")
        if not self._usable:
            reasons = ", ".join(f"{held.count} {reason}" for reason, held in self.held.items())
            raise InputError(f"{self.path}: no usable row ({reasons}); see the accepted formats")
        backwards = self.held.get(BEFORE_PREVIOUS, HeldRows()).count
        if backwards > self._usable:
            raise InputError(
                f"{self.path}: {backwards} of {self._read} rows have a {BEFORE_PREVIOUS}: the "
                "rows are not in time order; sort them oldest first"
            )
        restarts = self.restarts.count
        if restarts > 1 and restarts * RESTARTS_TOLERATED > self._usable:
            raise InputError(
                f"{self.path}: {restarts} of {self._read} rows are stamped far before the "
                f"row before them (lines {_lines(self.restarts)}): the rows are not in time "
                "order; sort them oldest first"
            )
        if chunk.timestamps:
            yield chunk

    def _cells(self) -> Iterator[tuple[int, str, str]]:
        """Each row's line, timestamp and value, as written (stripped)."""
        ti, vi = self._ti, self._vi
        for line, row in self._rows:
            stamp = row[ti].strip() if ti < len(row) else ""
            yield line, stamp, row[vi].strip() if vi < len(row) else ""

    def _oldest_first(self) -> Iterator[tuple[int, str, str]]:
        """The rows as they come; or, when the first two different readable timestamps
        descend and more steps between readable timestamps descend than rise, every row from
        the last up (about 150 bytes a row are held to do so). A newest-first export often
        repeats its latest sample, so equal stamps at the top do not decide."""
        cells = self._cells()
        ahead: list[tuple[int, str, str]] = []
        times: list[datetime] = []
        for cell in cells:
            ahead.append(cell)
            when = _timestamp(cell[1])
            if when is not None and (not times or _naive(when) != times[0]):
                times.append(_naive(when))
                if len(times) == 2:
                    break
        if len(times) < 2 or times[1] >= times[0]:
            yield from ahead
            yield from cells
            return
        lines, stamps, texts = array("q"), [], []
        for line, stamp, text in itertools.chain(ahead, cells):
            lines.append(line)
            stamps.append(stamp)
            texts.append(text)
        down = up = 0
        last: datetime | None = None
        for when in map(_timestamp, stamps):
            if when is not None:
                now = _naive(when)
                if last is not None:
                    down, up = down + (now < last), up + (now > last)
                last = now
        self.newest_first = down > up
        order = range(len(lines) - 1, -1, -1) if self.newest_first else range(len(lines))
        for i in order:
            yield lines[i], stamps[i], texts[i]

    def _accept(self, stamp: str, text: str) -> tuple[float, float, bool] | str:
        """A good row's value, epoch time and whether the series goes on from it after a
        step back (it becomes the last good row), or why it is held."""
        when = _timestamp(stamp)
        if when is None:
            return "unreadable timestamp"
        try:
            if "_" in text or not text.isascii():
                raise ValueError(text)
            value = float(text)
        except ValueError:
            return "non-numeric value"
        if not math.isfinite(value):
            return "non-numeric value"
        if abs(value) > MAX_MAGNITUDE:
            return "value out of range"
        epoch = _epoch(when)
        placed = self._order.place(epoch)
        if placed in (TimeOrder.DUPLICATE, TimeOrder.BEFORE):
            return placed
        if self._order.gap_s is not None:
            self.gaps.add_gap(self._line, self._order.gap_s)
        restart = placed == TimeOrder.RESTART
        if restart:
            if not self.restarts.count:
                self.restarts.ahead_line, self.restarts.ahead_stamp = self._last_good
            self.restarts.add(self._line)
        self._last_good = (self._line, stamp)
        self._usable += 1
        return value, epoch, restart


@contextmanager
def open_series(path: Path) -> Iterator[SeriesReader]:
    """``path`` open at its first data row; an unreadable, empty or headerless file is an error."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    with fh:
        rows = _csv_rows(path, fh)
        first = next(rows, None)
        if first is None:
            raise InputError(f"{path}: empty file; expected a header 'timestamp,value' and rows")
        line, header = first
        names = [cell.strip().lower() for cell in header]
        if "timestamp" not in names or "value" not in names:
            got = ",".join(header)[:80]
            raise InputError(
                f"{path}: line {line}: expected a header 'timestamp,value', got {got!r}"
            )
        yield SeriesReader(path, fh, rows, (names.index("timestamp"), names.index("value")))


def _csv_rows(path: Path, fh: TextIO) -> Iterator[tuple[int, list[str]]]:
    """The rows of a CSV file with the line each is on, blank lines left out (a row of
    empty cells, ``,``, is a row: held, not lost); a malformed or undecodable row is an
    ``InputError``."""
    reader = csv.reader(fh)
    start = 1
    try:
        for row in reader:
            if any("\n" in cell or "\r" in cell for cell in row):
                raise InputError(
                    f"{path}: line {start}: a quoted field runs across lines (a quote "
                    "left open?); the rows after it would be lost"
                )
            if len(row) > 1 or any(cell.strip() for cell in row):
                yield reader.line_num, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def read_series(path: Path) -> Series:
    """A whole ``timestamp,value`` file in memory, bad rows held (``vanguard detect`` streams)."""
    whole = Series()
    with open_series(path) as reader:
        for chunk in reader.chunks(CHUNK_ROWS):
            whole.extend(chunk)
    return whole


def _timestamp(stamp: str) -> datetime | None:
    """Unix epoch seconds (milliseconds from ``EPOCH_MS``) if ``stamp`` is a number, else ISO 8601.

    The number is tried first: ``fromisoformat`` also reads some runs of digits, such as
    ``19700101`` or the epoch milliseconds ``1701051000000``, as dates.
    """
    try:
        number = float(stamp)
    except ValueError:
        try:
            return datetime.fromisoformat(stamp)
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


def write_scores(out: TextIO, series: Series, scores: F64) -> None:
    """Write a ``timestamp,value,anomaly_score`` row for each row of ``series``."""
    csv.writer(out, lineterminator="\n").writerows(
        [stamp, text, f"{min(max(score, 0.0), 1.0):.6f}"]
        for stamp, text, score in zip(
            series.timestamps, series.raw_values, scores.tolist(), strict=True
        )
    )


@contextmanager
def _replacing(path: Path) -> Iterator[TextIO]:
    """A new file that replaces ``path`` only when the block completes; else it is removed.

    Any ``OSError`` in the block is a failure to write (reading errors are ``InputError``s
    by then). A symlink's target is replaced; a pipe or device (``/dev/null``, ``/dev/stdout``)
    is written directly, since it cannot be renamed over. Which it is, is asked of ``path``
    itself: resolved, ``/dev/stdout`` on a pipe names ``/proc/PID/fd/pipe:[N]``, which is no
    path at all.
    """
    target = path.resolve()
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        if _there_but_not_a_file(path):
            with path.open("w", newline="") as fh:
                yield fh
            return
        with temp.open("x", newline="") as fh:
            yield fh
        if target.exists():
            shutil.copymode(target, temp)
        temp.replace(target)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc}") from exc
    finally:
        temp.unlink(missing_ok=True)


def _there_but_not_a_file(path: Path) -> bool:
    """``path``, its links followed, exists and is not a regular file (a pipe, a device)."""
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


@contextmanager
def _progress(err: Console, total: int, done: Callable[[], int]) -> Iterator[Callable[[], None]]:
    """A bar of bytes read, on a terminal and for a big input only; yields its refresh."""
    if not err.is_interactive or total < PROGRESS_MIN_BYTES:
        yield lambda: None
        return
    with Progress(
        TextColumn("detect"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("detect", total=total)
        yield lambda: bar.update(task, completed=min(done(), total))


@dataclass
class _PlotRows:
    """What ``--plot`` needs of every row, 24 bytes each: kept only when a plot is asked for."""

    times: list[F64] = field(default_factory=list)
    values: list[F64] = field(default_factory=list)
    scores: list[F64] = field(default_factory=list)

    def add(self, times: F64, values: F64, scores: F64) -> None:
        self.times.append(times)
        self.values.append(values)
        self.scores.append(scores)


def _joined(parts: list[F64]) -> F64:
    return np.concatenate([np.empty(0), *parts])


@app.command()
def detect(
    input_csv: Annotated[Path, typer.Argument(help="CSV with columns timestamp,value.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the scores.")],
    detector: Annotated[
        str, typer.Option(help=f"Detector: {', '.join(sorted(DETECTORS))}.")
    ] = DEFAULT_DETECTOR,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also draw the series and its scores to this SVG file (keeps 24 bytes a row "
            "in memory until it is drawn)."
        ),
    ] = None,
) -> None:
    """Score a series causally in one pass: timestamp,value,anomaly_score in [0, 1].

    The input is read, scored and written a chunk at a time: memory does not grow with it.
    """
    if detector not in DETECTORS:
        raise InputError(f"unknown detector {detector!r} (known: {', '.join(sorted(DETECTORS))})")
    err = Console(stderr=True, soft_wrap=True)
    scorer = SeriesScorer(detector)
    kept = _PlotRows() if plot is not None else None
    with open_series(input_csv) as reader:
        size = input_csv.stat().st_size if input_csv.is_file() else 0
        with _progress(err, size, reader.bytes_read) as advance, _replacing(output) as out:
            csv.writer(out, lineterminator="\n").writerow(OUTPUT_HEADER)
            for chunk in reader.chunks(CHUNK_ROWS):
                values = np.asarray(chunk.values, dtype=np.float64)
                times = np.asarray(chunk.times, dtype=np.float64)
                scores = scorer.score(values, times)
                write_scores(out, chunk, scores)
                if kept is not None:
                    kept.add(times, values, scores)
                advance()
            if plot is not None and kept is not None:
                _plot_run(plot, kept, reader, f"{input_csv.name}: detector {detector}")
    if reader.newest_first:
        err.print(
            f"[yellow]warning[/yellow] {input_csv}: the rows run newest first: read from the "
            "last row up, so they are scored and written oldest first",
            highlight=False,
        )
    for reason, held in reader.held.items():
        err.print(
            f"[yellow]warning[/yellow] {input_csv}: {held.count} row(s) held "
            f"(score 0, not learned): {reason}; line(s) {_lines(held)}",
            highlight=False,
        )
    if (restarts := reader.restarts).count:
        err.print(
            f"[yellow]warning[/yellow] {input_csv}: {restarts_text(restarts)}", highlight=False
        )
    if (gaps := reader.gaps).count:
        err.print(
            f"[yellow]warning[/yellow] {input_csv}: {gaps.count} gap(s) in time over "
            f"{GAP_RESET_FACTOR:g} times the usual step, the longest {_duration(gaps.longest_s)} "
            f"before line {gaps.longest_line} (scored as if the rows met); line(s) "
            f"{_lines(gaps)}",
            highlight=False,
        )


def restarts_text(restarts: Restarts) -> str:
    """What a warning says of the rows the series went on from after a step back in time."""
    return (
        f"{restarts.count} row(s) stamped far before the row before them: line "
        f"{restarts.ahead_line} ({restarts.ahead_stamp}) looks stamped ahead, so the series "
        f"goes on from line(s) {_lines(restarts)} (scored and learnt, as the live watch does)"
    )


def _lines(held: HeldRows) -> str:
    """The first lines a warning lists, and ``...`` when there are more."""
    return ", ".join(str(n) for n in held.first) + (", ..." if held.count > SHOWN_LINES else "")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _plot_run(plot: Path, kept: _PlotRows, reader: SeriesReader, title: str) -> None:
    """Draw ``--plot`` while OUTPUT is still unreplaced, so failing to write it leaves
    OUTPUT as it was."""
    scores = _joined(kept.scores)
    held_rows = sum(held.count for held in reader.held.values())
    title += f", {len(scores):,} rows" + (f", {held_rows:,} held" if held_rows else "")
    _write_plot(plot, _joined(kept.times), _joined(kept.values), scores, title)


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
    """NaN where ``vanguard detect`` would hold a row for its time (``TimeOrder``)."""
    order = TimeOrder()
    kept = [order.place(t) in (TimeOrder.AFTER, TimeOrder.RESTART) for t in times.tolist()]
    return np.where(np.array(kept, dtype=bool), values, np.nan)


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
    levels: Annotated[
        str | None,
        typer.Option(
            metavar="L1,L2,...",
            help="Also score these alert levels (in (0, 1], comma-separated) as the watch "
            f"would alert at them; its default, {ANOMALY_ALERT_SCORE:g}, is always scored.",
        ),
    ] = None,
) -> None:
    """Score a detector on a NAB corpus: three profiles and throughput.

    The profiles are scored twice: at the threshold NAB's rules optimise over the corpus,
    and at the anomaly alert level the live watch uses (``--levels`` adds others), where
    the watch raises at most one alert a series per cooldown. The default detector runs
    its batch path over all files at once; others run file by file.
    """
    if detector not in DETECTORS:
        raise InputError(f"unknown detector {detector!r} (known: {', '.join(sorted(DETECTORS))})")
    alert_levels = _alert_levels(levels)
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
    console.print(_levels_table(files, per_file, profiles, alert_levels))
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


def _alert_levels(text: str | None) -> tuple[float, ...]:
    """``--levels`` read, with the watch's default level added, in rising order."""
    chosen = {ANOMALY_ALERT_SCORE}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            level = float(part)
        except ValueError:
            level = math.nan
        if not 0.0 < level <= 1.0:
            raise InputError(
                f"--levels: {part.strip()!r} is not a level in (0, 1]; give e.g. 0.1,0.5"
            )
        chosen.add(level)
    return tuple(sorted(chosen))


def _watch_alerts(
    scores: F64, times: F64, level: float, values: F64 | None = None, after: int = ANOMALY_AFTER
) -> F64:
    """1 where the watch would raise an anomaly alert at ``level``, 0 elsewhere: the score
    reaches it, the series has had ``after`` samples (NaN ``values`` are held rows, not
    samples), and its last alert was ``COOLDOWN_S`` or more before."""
    alerts = np.zeros(len(scores))
    seen = np.cumsum(np.isfinite(values)) if values is not None else np.arange(1, len(scores) + 1)
    last = -math.inf
    for row in np.flatnonzero((scores >= level) & (seen >= after)):
        if times[row] - last >= COOLDOWN_S:
            alerts[row] = 1.0
            last = float(times[row])
    return alerts


def _levels_table(
    files: list[NabFile],
    per_file: list[F64],
    profiles: tuple[Profile, ...],
    levels: tuple[float, ...],
) -> Table:
    """Each profile's score at each alert level, with the windows found and the false
    positives (the same under every profile), per 10k scored points and per scored day."""
    points = sum(len(f.values) - probation_length(len(f.values)) for f in files)
    days = sum(
        (f.times[-1] - f.times[probation_length(len(f.values))]) / 86_400.0
        for f in files
        if len(f.times)
    )
    table = Table(
        title=f"At alert levels, as the watch alerts (from a series' {ANOMALY_AFTER}th sample, "
        f"at most once per {COOLDOWN_S / 60:g} min); its default level is {ANOMALY_ALERT_SCORE:g}"
    )
    for column in ("level", *(p.name for p in profiles), "windows detected", "false positives"):
        table.add_column(column)
    table.add_column("FPs per 10k points")
    table.add_column("FPs per file-day")
    for level in levels:
        alerts = [
            _watch_alerts(s, f.times, level, _held_like_detect(f.values, f.times))
            for s, f in zip(per_file, files, strict=True)
        ]
        results = [score_corpus(files, alerts, profile, threshold=1.0) for profile in profiles]
        first = results[0]
        table.add_row(
            f"{level:g}" + (" (watch)" if level == ANOMALY_ALERT_SCORE else ""),
            *(f"{r.normalized:.1f}" for r in results),
            f"{first.detected_windows}/{first.windows}",
            str(first.false_positives),
            f"{1e4 * first.false_positives / max(points, 1):.2f}",
            f"{first.false_positives / days:.3f}" if days > 0 else "-",
        )
    return table


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
