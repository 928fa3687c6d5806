"""``vanguard replay``: what the loop would have done over a metric's history, acting on nothing.

The history comes from a Prometheus server (``--prometheus URL --since 7d``: the series the
live loop reads, each sample once at its own time, queried in chunks under Prometheus's
11,000-point limit) or from a ``timestamp,value`` CSV file (``--csv``, read as ``vanguard
detect`` reads it, one series). See ``vanguard.evaluation.replay`` for what a replay assumes.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vanguard.cli.apps import app
from vanguard.cli.automation_cmd import parse_duration
from vanguard.cli.core import ConfigOpt, console
from vanguard.cli.detect import SHOWN_LINES, read_series
from vanguard.config import ServiceConfig, WatchConfig, load_settings
from vanguard.detect.watch import fingerprint
from vanguard.diagnose.patterns import load_patterns
from vanguard.errors import ConfigError, InputError
from vanguard.evaluation.replay import Replayed, ReplayReport, replay
from vanguard.model import EvidencePoint, Signal
from vanguard.plot import Panel, series_svg
from vanguard.sources import PrometheusClient
from vanguard.sources.prometheus import read_server_range
from vanguard.verify import counter_rates

__all__ = ["prometheus_signals", "replay_command"]

MAX_POINTS_PER_QUERY = 10_000
"""Steps per range query, under Prometheus's limit of 11,000 points per series."""
MAX_ROWS = 40
"""Incidents listed in the table; ``--json`` has them all."""
MAX_PANELS = 24
"""Series ``--plot`` draws at most. Each has a panel of its own height and scale, so more
panels crowd none of them; 24 make a page of about 4,800 px and under a megabyte."""
SHOWN_LEFT_OUT = 5
"""Series the warning names when ``--plot`` leaves some out."""


def prometheus_signals(
    client: PrometheusClient,
    service: ServiceConfig,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[Signal]:
    """Every sample of ``service``'s watched series the live loop would have read over
    ``[start, end]``, reading every ``step``; asked in chunks of 10,000 steps.

    The series are the ones the live loop asks the server for: the service's
    ``prometheus.selector`` (and the labels every watch entry of a metric names). Each
    sample comes once, at its own time (``read_server_range``), however many steps read it.
    """
    selector = service.prometheus.selector if service.prometheus is not None else {}
    signals: list[Signal] = []
    last: dict[str, datetime] = {}
    chunk = step * MAX_POINTS_PER_QUERY
    for metric, labels in _watched(service).items():
        at = start
        while at < end:
            upto = min(at + chunk, end)
            found = read_server_range(
                client, metric, selector={**labels, **selector}, start=at, end=upto, step=step
            )
            for series in found:
                for signal in series.signals(
                    service_name=service.name, source=client.source, metric_type=metric
                ):
                    key = fingerprint(signal)
                    if last.get(key) != signal.timestamp:
                        last[key] = signal.timestamp
                        signals.append(signal)
            at = upto + step
    return signals


def _watched(service: ServiceConfig) -> dict[str, dict[str, str]]:
    """Each watched metric, with the labels every watch entry of it names (the query may
    ask for them: no series another entry watches lacks them)."""
    common: dict[str, dict[str, str]] = {}
    for watch in service.watch:
        known = common.get(watch.metric)
        common[watch.metric] = (
            dict(watch.labels)
            if known is None
            else {k: v for k, v in known.items() if watch.labels.get(k) == v}
        )
    return common


def _csv_signals(
    path: Path, service: ServiceConfig, metric: str | None, labels: str | None
) -> list[Signal]:
    watches = [w for w in service.watch if metric is None or w.metric == metric]
    if not watches:
        known = ", ".join(w.metric for w in service.watch) or "none"
        raise InputError(f"--metric {metric!r}: service {service.name} watches {known}")
    if metric is None and len({w.metric for w in watches}) > 1:
        known = ", ".join(dict.fromkeys(w.metric for w in watches))
        raise InputError(f"service {service.name} watches {known}: say which with --metric")
    chosen = watches[0].metric
    entries = ", ".join(f"{{{_labels_text(w.labels)}}}" for w in watches)
    if labels is not None:
        series_labels = _parse_labels(labels)
        if not any(series_labels.items() >= w.labels.items() for w in watches):
            raise InputError(
                f"--labels {labels!r}: no watch of {chosen} on service {service.name} takes "
                f"that series (it watches {entries})"
            )
    elif len(watches) > 1:
        example = _labels_text(watches[0].labels)
        raise InputError(
            f"service {service.name} watches {chosen} {len(watches)} times ({entries}): say "
            f"which series the file holds with --labels, e.g. --labels {example}"
        )
    else:
        series_labels = dict(watches[0].labels)
    series = read_series(path)
    err = Console(stderr=True, soft_wrap=True)
    for reason, lines in series.held.items():
        shown = ", ".join(str(n) for n in lines[:SHOWN_LINES])
        more = ", ..." if len(lines) > SHOWN_LINES else ""
        err.print(
            f"[yellow]warning[/yellow] {escape(str(path))}: {len(lines)} row(s) held "
            f"(not replayed): {escape(reason)}; line(s) {shown}{more}",
            highlight=False,
        )
    if series.restarts:
        shown = ", ".join(str(n) for n in series.restarts[:SHOWN_LINES])
        more = ", ..." if len(series.restarts) > SHOWN_LINES else ""
        err.print(
            f"[yellow]warning[/yellow] {escape(str(path))}: {len(series.restarts)} row(s) "
            "stamped far before the row before them (that row looks stamped ahead): the "
            f"series goes on from line(s) {shown}{more}, as the live watch does",
            highlight=False,
        )
    return [
        Signal(
            source=str(path),
            service_name=service.name,
            metric_type=chosen,
            labels=series_labels,
            timestamp=datetime.fromtimestamp(t, UTC),
            value=v,
        )
        for t, v in zip(series.times, series.values, strict=True)
        if math.isfinite(t) and math.isfinite(v)
    ]


def _labels_text(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _parse_labels(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` as a dict (an empty text: no labels)."""
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, equals, value = part.partition("=")
        if not equals or not name.strip():
            raise InputError(
                f"--labels {text!r}: give name=value pairs separated by commas, e.g. queue=mail"
            )
        labels[name.strip()] = value.strip()
    return labels


def _watch_of(service: ServiceConfig, signal: Signal) -> WatchConfig | None:
    """The watch entry that takes ``signal``'s series (the configuration lets no two)."""
    return next(
        (
            w
            for w in service.watch
            if w.metric == signal.metric_type and signal.labels.items() >= w.labels.items()
        ),
        None,
    )


def _plot(path: Path, report: ReplayReport, signals: list[Signal], service: ServiceConfig) -> None:
    """The watched series as the watch saw them: a counter as its per-second rate, the
    unit its threshold is in. Past ``MAX_PANELS`` series, those where an incident would
    have opened are drawn first, and a warning names the ones left out."""
    by_series: dict[str, list[Signal]] = defaultdict(list)
    watches: dict[str, WatchConfig] = {}
    for signal in signals:
        watch = _watch_of(service, signal)
        if watch is not None:
            by_series[fingerprint(signal)].append(signal)
            watches[fingerprint(signal)] = watch
    opened = {item.alert.fingerprint for item in report.incidents}
    ranked = sorted(by_series, key=lambda name: (name not in opened, name))
    names = sorted(ranked[:MAX_PANELS])
    if len(ranked) > MAX_PANELS:
        _warn_left_out(path, len(ranked), ranked[MAX_PANELS:])
    seen: dict[str, list[EvidencePoint]] = {}
    for name in names:
        points = [EvidencePoint(timestamp=s.timestamp, value=s.value) for s in by_series[name]]
        seen[name] = list(counter_rates(points)) if watches[name].rule.counter else points
    stamps = sorted({p.timestamp.timestamp() for points in seen.values() for p in points})
    row = {t: i for i, t in enumerate(stamps)}
    panels = []
    for name in names:
        values = np.full(len(stamps), np.nan)
        for point in seen[name]:
            values[row[point.timestamp.timestamp()]] = point.value
        marks = tuple(
            row[item.alert.detected_at.timestamp()]
            for item in report.incidents
            if item.alert.fingerprint == name and item.alert.detected_at.timestamp() in row
        )
        rule = watches[name].rule
        label = f"{name} (per second)" if rule.counter else name
        panels.append(Panel(label=label, values=values, marks=marks, level=rule.threshold))
    title = f"replay of {report.service}: dots where an incident would have opened"
    try:
        path.write_text(series_svg(stamps, panels, title=title), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc}") from exc


def _warn_left_out(path: Path, total: int, left: list[str]) -> None:
    shown = ", ".join(left[:SHOWN_LEFT_OUT]) + (", ..." if len(left) > SHOWN_LEFT_OUT else "")
    Console(stderr=True, soft_wrap=True).print(
        f"[yellow]warning[/yellow] {escape(str(path))}: {total} series, {MAX_PANELS} drawn "
        f"(those where an incident would have opened first), {len(left)} left out "
        f"({escape(shown)}); to plot those, replay with a copy of the configuration whose "
        "service's prometheus.selector (or watch entries' labels) names them",
        highlight=False,
    )


def _breach_in(item: Replayed) -> str:
    trend = item.alert.trend_analysis
    if item.alert.attributes.get("kind") == "breach":
        return "now"
    if trend is None or trend.predicted_breach_time is None:
        return "–"
    minutes = (trend.predicted_breach_time - item.alert.detected_at).total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _show(report: ReplayReport) -> None:
    console.print(
        f"service {report.service}: {report.points} points in {report.series} series replayed"
        f" ({report.skipped} skipped: non-finite, duplicate or out of order); "
        f"{len(report.incidents)} incident(s) would have opened"
        f" ({report.folded} later alert(s) folded into open ones)",
        highlight=False,
    )
    if not report.incidents:
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("detected (UTC)", "alert", "breach in", "pattern", "conf.", "would", "told"):
        table.add_column(name, no_wrap=True)
    table.add_column("why", overflow="fold")
    for item in report.incidents[:MAX_ROWS]:
        alert, decision = item.alert, item.decision
        failed = [v for v in decision.verdicts if not v.passed and v.gate != "dry_run"]
        table.add_row(
            f"{alert.detected_at:%Y-%m-%d %H:%M}",
            str(alert.attributes.get("kind", alert.source)),
            _breach_in(item),
            item.diagnosis.pattern_id or "none",
            f"{item.diagnosis.confidence:.2f}",
            item.verdict,
            "yes" if item.told else "held",
            failed[0].reason if failed else "every gate passed",
        )
    console.print(table)
    if len(report.incidents) > MAX_ROWS:
        console.print(
            f"… and {len(report.incidents) - MAX_ROWS} more (--json lists every one)",
            highlight=False,
        )
    tally = report.tally()
    console.print(
        f"would act {tally['act']}, ask a person {tally['ask']}, decline {tally['decline']}; "
        f"people told of {len(report.incidents) - report.held} outcome(s), "
        f"{report.held} held as repeats (notify_repeat_s)",
        highlight=False,
    )


MAX_HISTORY = timedelta(days=400)
"""Longer than any Prometheus retention a replay would read at its step."""


def _history(
    service: ServiceConfig,
    csv_file: Path | None,
    metric: str | None,
    labels: str | None,
    prometheus: str | None,
    since: str | None,
    step: str | None,
) -> list[Signal]:
    if csv_file is not None and prometheus is None:
        given = [name for name, value in (("--since", since), ("--step", step)) if value]
        if given:
            raise InputError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with "
                "--prometheus: a --csv file is replayed whole (cut it to the rows you want)"
            )
        return _csv_signals(csv_file, service, metric, labels)
    if prometheus is not None and csv_file is None:
        given = [n for n, v in (("--metric", metric), ("--labels", labels)) if v is not None]
        if given:
            raise InputError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with "
                "--csv: --prometheus replays every series the service watches"
            )
        end = datetime.now(UTC)
        resolution = (
            parse_duration(step, option="--step", maximum=timedelta(days=1), hint="")
            if step is not None
            else timedelta(seconds=max(1.0, service.interval_s or 60.0))
        )
        span = parse_duration(since or "24h", option="--since", maximum=MAX_HISTORY, hint="")
        with PrometheusClient(prometheus) as client:
            return prometheus_signals(client, service, end - span, end, resolution)
    raise InputError("give exactly one of --csv FILE and --prometheus URL")


@app.command("replay")
def replay_command(
    service: Annotated[str, typer.Option(help="the service whose watches to replay")],
    config: ConfigOpt = Path("vanguard.yaml"),
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="timestamp,value rows (one series)")
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="with --csv: which watched metric the file holds")
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            help="with --csv: the file's series' labels, k=v,... (when several watch "
            "entries share the metric)"
        ),
    ] = None,
    prometheus: Annotated[
        str | None, typer.Option(help="a Prometheus server's URL to read the history from")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="with --prometheus: how far back, e.g. 7d (default 24h)")
    ] = None,
    step: Annotated[
        str | None,
        typer.Option(
            help="with --prometheus: how often to read, as the live loop reads every interval "
            "(default: the service's)"
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="the whole report as JSON on stdout, for scripts")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option(help="write an SVG of the series with the incidents marked")
    ] = None,
) -> None:
    """What the loop would have done over a metric's history: alerts, patterns, decisions."""
    settings = load_settings(config)
    found = settings.service(service)
    if not found.watch:
        raise ConfigError(f"service {service!r} has no watch to replay", key="watch")
    signals = _history(found, csv_file, metric, labels, prometheus, since, step)
    report = replay(
        found,
        signals,
        load_patterns(settings.patterns_dirs),
        settings.policy,
        incident_s=settings.verification.baseline_s + settings.verification.window_s,
        notify_repeat_s=settings.notify_repeat_s,
    )
    if plot is not None:
        _plot(plot, report, signals, found)
    if json_out:
        summary = {"tally": report.tally(), "held": report.held}
        print(json.dumps({**report.model_dump(mode="json"), **summary}, indent=2))
        return
    _show(report)
