"""Time-series plots as self-contained SVG: panels stacked over one time axis.

People judge a detector faster by looking at where it fired than by reading scores, so
``vanguard detect --plot``, ``vanguard bench nab --plots``, ``vanguard ci report --plot`` and
``bench/bench_forecast.py --plots`` draw what they computed. The
SVG is written by hand: no plotting library to install, the output is deterministic (tests
parse it), and any browser opens it. Long series are reduced to the minimum and maximum of
each pixel column, so a single-point spike in a million rows still shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import numpy.typing as npt

__all__ = ["Panel", "series_svg"]

F64 = npt.NDArray[np.float64]

WIDTH = 960
PANEL_HEIGHT = 170
LEFT = 64
RIGHT = 16
TOP = 44
GAP = 28
BOTTOM = 30
MAX_MARKS = 2_000
"""Dots drawn per panel at most; a run that flags more says how many it left out."""
BREAK_PX = 3.0
"""Points further apart than this along x (and than 3 usual steps) are not joined."""


@dataclass(frozen=True)
class Panel:
    """One stacked panel: a line over the shared time axis, with optional dots and a level.

    ``values`` is aligned with the plot's ``times``; NaN draws nothing. ``marks`` are row
    indices drawn as dots on the line (detections, alerts). ``level`` draws a dashed
    horizontal line (a threshold). ``low`` and ``high`` fix the y range (a score's 0..1);
    by default it is the data's range, and the level's, with a margin.
    """

    label: str
    values: F64
    marks: tuple[int, ...] = ()
    level: float | None = None
    low: float | None = None
    high: float | None = None


def series_svg(
    times: npt.ArrayLike,
    panels: Sequence[Panel],
    *,
    title: str,
    spans: Sequence[tuple[int, int]] = (),
    width: int = WIDTH,
) -> str:
    """An SVG document of ``panels`` over ``times`` (seconds since the epoch, NaN: no time).

    ``spans`` are inclusive row ranges shaded across every panel (labelled windows).
    """
    stamps = np.asarray(times, dtype=np.float64)
    known = np.isfinite(stamps)
    plot_width = width - LEFT - RIGHT
    height = TOP + len(panels) * (PANEL_HEIGHT + GAP) + BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">{escape(title)}</text>',
    ]
    if not known.any():
        parts.append(f'<text x="{LEFT}" y="{TOP + 20}">no data: no row has a readable time</text>')
        parts.append("</svg>")
        return "\n".join(parts) + "\n"
    start, end = float(stamps[known].min()), float(stamps[known].max())
    span_s = end - start if end > start else 1.0

    def x_of(t: F64) -> F64:
        return np.asarray(LEFT + (t - start) / span_s * plot_width, dtype=np.float64)

    xs = x_of(stamps)
    for index, panel in enumerate(panels):
        top = TOP + index * (PANEL_HEIGHT + GAP)
        parts.extend(_panel(panel, xs, top, plot_width, spans))
    axis_y = TOP + len(panels) * (PANEL_HEIGHT + GAP) - GAP + 14
    parts.extend(_time_axis(start, end, axis_y, plot_width))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _panel(
    panel: Panel, xs: F64, top: int, plot_width: int, spans: Sequence[tuple[int, int]]
) -> list[str]:
    values = np.asarray(panel.values, dtype=np.float64)
    ok = np.isfinite(values) & np.isfinite(xs)
    low, high = _y_range(values[ok], panel)

    def y_of(v: F64) -> F64:
        return np.asarray(top + (high - v) / (high - low) * PANEL_HEIGHT, dtype=np.float64)

    parts = [f'<g class="panel" data-label={quoteattr(panel.label)}>']
    for first, last in spans:
        lo, hi = _span_x(xs, first, last)
        if lo is not None and hi is not None:
            parts.append(
                f'<rect class="span" x="{lo:.1f}" y="{top}" width="{max(hi - lo, 1.0):.1f}" '
                f'height="{PANEL_HEIGHT}" fill="#fde2c4"/>'
            )
    parts.append(
        f'<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL_HEIGHT}" '
        'fill="none" stroke="#999"/>'
    )
    parts.append(f'<text x="{LEFT + 4}" y="{top - 6}">{escape(panel.label)}</text>')
    for value in (low, (low + high) / 2, high):
        y = float(y_of(np.array([value]))[0])
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(value)}</text>'
        )
    if panel.level is not None and low <= panel.level <= high:
        y = float(y_of(np.array([panel.level]))[0])
        parts.append(
            f'<line class="level" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_width}" '
            f'y2="{y:.1f}" stroke="#c0392b" stroke-dasharray="4 3"/>'
        )
    timed = np.isfinite(xs)
    path = _line_path(xs[timed], y_of(values[timed]))
    if path:
        parts.append(
            f'<path class="series" d="{path}" fill="none" stroke="#1f4e9c" '
            'stroke-width="1.2" stroke-linecap="round"/>'
        )
    else:
        parts.append(f'<text x="{LEFT + 8}" y="{top + 20}">no values</text>')
    marks = [m for m in panel.marks if 0 <= m < len(values) and ok[m]]
    for mark in marks[:MAX_MARKS]:
        y = float(y_of(values[mark : mark + 1])[0])
        parts.append(
            f'<circle class="mark" cx="{xs[mark]:.1f}" cy="{y:.1f}" r="2.5" fill="#c0392b"/>'
        )
    if len(marks) > MAX_MARKS:
        parts.append(
            f'<text x="{LEFT + plot_width}" y="{top - 6}" text-anchor="end">'
            f"{len(marks) - MAX_MARKS:,} more marks not drawn</text>"
        )
    parts.append("</g>")
    return parts


def _y_range(values: F64, panel: Panel) -> tuple[float, float]:
    """The panel's fixed bounds where given; elsewhere the data's extreme with a 5 % margin.

    A free bound also reaches the panel's level: a threshold the data have not met yet is
    what the reader compares them with.
    """
    low, high, level = panel.low, panel.high, panel.level
    seen = len(values) > 0
    lo = low if low is not None else float(values.min()) if seen else 0.0
    hi = high if high is not None else float(values.max()) if seen else 1.0
    if level is not None:
        lo = min(lo, level) if low is None else lo
        hi = max(hi, level) if high is None else hi
    pad = (hi - lo) * 0.05
    lo, hi = (lo if low is not None else lo - pad), (hi if high is not None else hi + pad)
    if hi <= lo:
        lo, hi = lo - 1.0, hi + 1.0
    return lo, hi


def _span_x(xs: F64, first: int, last: int) -> tuple[float | None, float | None]:
    inside = xs[max(first, 0) : last + 1]
    inside = inside[np.isfinite(inside)]
    if not len(inside):
        return None, None
    return float(inside.min()), float(inside.max())


def _line_path(xs: F64, ys: F64) -> str:
    """An SVG path through the points, reduced to each pixel column's extremes.

    ``ys`` may hold NaN: a row without a value breaks the line, and so does a step in time
    wider than ``BREAK_PX`` and three times the usual step. Within a column the lowest and
    highest point are kept (the column draws as a vertical stroke, so their order does not
    show). A point alone between breaks is drawn as a short stroke, so it shows as a dot.
    """
    rows = np.flatnonzero(np.isfinite(ys))
    if not len(rows):
        return ""
    x, y = xs[rows], ys[rows]
    dx = np.diff(x)
    widest = max(BREAK_PX, 3.0 * float(np.median(dx))) if len(dx) else BREAK_PX
    breaks = np.r_[True, (np.diff(rows) > 1) | (dx > widest)]
    column = np.floor(x).astype(np.int64)
    starts = np.flatnonzero(breaks | np.r_[True, column[1:] != column[:-1]])
    tops = np.minimum.reduceat(y, starts)
    bottoms = np.maximum.reduceat(y, starts)
    single = np.diff(np.r_[starts, len(x)]) == 1
    cx = np.where(single, x[starts], column[starts] + 0.5)
    new = breaks[starts]
    lone = new & np.r_[new[1:], True]
    commands: list[str] = []
    for px, y_top, y_bottom, first, alone in zip(
        cx.tolist(), tops.tolist(), bottoms.tolist(), new.tolist(), lone.tolist(), strict=True
    ):
        commands.append(f"{'M' if first else 'L'}{px:.1f},{y_top:.1f}")
        if y_bottom - y_top >= 0.05:
            commands.append(f"L{px:.1f},{y_bottom:.1f}")
        elif alone:
            commands.append("l0.5,0")
    return " ".join(commands)


def _time_axis(start: float, end: float, y: int, plot_width: int) -> list[str]:
    ticks = 6
    span_s = max(end - start, 1.0)
    fmt = "%Y-%m-%d" if span_s >= 3 * 86400 else "%m-%d %H:%M" if span_s >= 3600 else "%H:%M:%S"
    parts = []
    for i in range(ticks):
        t = start + span_s * i / (ticks - 1)
        x = LEFT + plot_width * i / (ticks - 1)
        label = datetime.fromtimestamp(t, UTC).strftime(fmt)
        anchor = "start" if i == 0 else "end" if i == ticks - 1 else "middle"
        parts.append(f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}">{label}</text>')
    parts.append(f'<text x="{LEFT + plot_width}" y="{y + 14}" text-anchor="end">UTC</text>')
    return parts


def _number(value: float) -> str:
    magnitude = abs(value)
    if magnitude and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}" if magnitude < 10 else f"{value:,.1f}"
