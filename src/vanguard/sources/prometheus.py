"""Prometheus as a source: scrape exposition endpoints directly, or query a server.

``scrape`` reads one ``/metrics`` endpoint (the embedded default: no Prometheus server
needed) and turns every finite sample into a ``Signal`` stamped with the caller's ``now``.
``TargetState`` + ``on_success``/``on_failure`` are the pure per-target schedule: a failing
target is retried with exponential backoff and its series are marked stale after a bounded
number of failures, so a dead endpoint is logged once and retried, never an alert storm.
``PrometheusClient`` reads a Prometheus server's HTTP API (``query``, ``query_range``,
``metadata``). What a target declares of a series' kind (its ``# TYPE`` line, or the
server's metadata API) comes back as ``Declared``. Every library error is translated to
``ScrapeError``. A URL is shown (errors, logs, a Signal's ``source``) through ``redact_text``:
the configuration refuses credentials in one, but one given another way must not leak them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Self

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from vanguard.errors import ScrapeError
from vanguard.model import EvidencePoint, Signal
from vanguard.redact import redact_text

__all__ = [
    "Declared",
    "Exposition",
    "MetadataCache",
    "PrometheusClient",
    "ScrapeSchedule",
    "Series",
    "TargetState",
    "became_stale",
    "declared_kind",
    "fetch_exposition",
    "on_failure",
    "on_success",
    "parse_exposition",
    "poll_targets",
    "promql_selector",
    "read_declared",
    "read_exposition",
    "read_server",
    "read_server_range",
    "recovered",
    "scrape",
]

log = logging.getLogger(__name__)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Kind = Literal["gauge", "counter"]

_SAMPLE_KINDS: dict[str, dict[str, Kind]] = {
    "counter": {"": "counter", "_total": "counter"},
    "gauge": {"": "gauge"},
    "histogram": {"_bucket": "counter", "_count": "counter", "_sum": "counter"},
    "summary": {"": "gauge", "_count": "counter", "_sum": "counter"},
}
"""The kind a family's type declares of its samples, by what the sample's name adds to the
family's: a summary's quantiles are gauges, its ``_count`` and ``_sum`` counters. An
``untyped`` (``unknown``) family, and a ``_created`` timestamp, declare nothing."""


def declared_kind(family_type: str, family: str, sample: str) -> Kind | None:
    """The kind the ``# TYPE`` of ``family`` declares of its sample ``sample``, if any."""
    if not sample.startswith(family):
        return None
    return _SAMPLE_KINDS.get(family_type, {}).get(sample[len(family) :])


class Declared(_Frozen):
    """What a target declares of one series' kind: ``# TYPE family type`` at ``source``."""

    metric: str
    kind: Kind
    family: str
    type: str
    source: str


@dataclass(frozen=True)
class Exposition:
    """One exposition's samples, and what its ``# TYPE`` lines declare of their kinds."""

    signals: list[Signal]
    declared: dict[str, Declared]


def parse_exposition(
    text: str,
    *,
    source: str,
    service_name: str,
    now: datetime,
    metrics: Collection[str] | None = None,
) -> list[Signal]:
    """Turn exposition text into Signals; NaN/Inf samples are dropped (not JSON numbers).

    ``metrics`` keeps only samples whose name or family name is listed. A sample's own
    timestamp wins over ``now``.
    """
    return read_exposition(
        text, source=source, service_name=service_name, now=now, metrics=metrics
    ).signals


def read_exposition(
    text: str,
    *,
    source: str,
    service_name: str,
    now: datetime,
    metrics: Collection[str] | None = None,
) -> Exposition:
    """``parse_exposition``'s Signals, with the kind declared of each kept sample's name.

    The parser strips ``_total`` from a counter family's name (and adds it to a counter
    sample written without it); the kind is filed under the sample's name, as watched.
    """
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        raise ScrapeError(f"{source}: not Prometheus exposition text: {exc}") from exc
    wanted = None if metrics is None else frozenset(metrics)
    signals: list[Signal] = []
    declared: dict[str, Declared] = {}
    for family in families:
        for sample in family.samples:
            if wanted is not None and family.name not in wanted and sample.name not in wanted:
                continue
            if sample.name not in declared:
                kind = declared_kind(family.type, family.name, sample.name)
                if kind is not None:
                    declared[sample.name] = Declared(
                        metric=sample.name,
                        kind=kind,
                        family=family.name,
                        type=family.type,
                        source=source,
                    )
            value = float(sample.value)
            if not math.isfinite(value):
                continue
            try:
                stamp = (
                    now
                    if sample.timestamp is None
                    else datetime.fromtimestamp(float(sample.timestamp), UTC)
                )
            except (OverflowError, OSError, ValueError) as exc:
                raise ScrapeError(
                    f"{source}: sample {sample.name} has an impossible timestamp "
                    f"{sample.timestamp} (milliseconds are expected): {exc}"
                ) from exc
            signals.append(
                Signal(
                    source=source,
                    service_name=service_name,
                    metric_type=sample.name,
                    labels=dict(sample.labels),
                    timestamp=stamp,
                    value=value,
                )
            )
    return Exposition(signals=signals, declared=declared)


MAX_SCRAPE_BYTES = 64 * 1024 * 1024
"""Far above any real exposition (a large node exporter sends a few MB)."""


def scrape(
    url: str,
    *,
    service_name: str,
    now: datetime,
    client: httpx.Client,
    metrics: Collection[str] | None = None,
    timeout_s: float = 5.0,
) -> Exposition:
    """GET one exposition endpoint (``fetch_exposition``) and read it (``read_exposition``);
    any failure is a ``ScrapeError``."""
    return read_exposition(
        fetch_exposition(url, client=client, timeout_s=timeout_s),
        source=redact_text(url),
        service_name=service_name,
        now=now,
        metrics=metrics,
    )


def fetch_exposition(url: str, *, client: httpx.Client, timeout_s: float = 5.0) -> str:
    """The text of one exposition endpoint; any failure is a ``ScrapeError``.

    The body must arrive within ``timeout_s`` of the request, not per read (a target
    dripping one byte a second held a 2 s scrape for a minute); connecting and the first
    byte have ``timeout_s`` each, so about three times it at worst. The body is refused past
    ``MAX_SCRAPE_BYTES``: one bad target must not stall or starve the sweep of every other.
    """
    deadline = time.monotonic() + timeout_s
    source = redact_text(url)
    body = bytearray()
    try:
        with client.stream(
            "GET", url, timeout=timeout_s, headers={"Accept": "text/plain;version=0.0.4"}
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > MAX_SCRAPE_BYTES:
                    raise ScrapeError(f"{source}: body larger than {MAX_SCRAPE_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise ScrapeError(f"{source}: no whole answer within {timeout_s:g} s")
            encoding = response.encoding or "utf-8"
    except httpx.HTTPStatusError as exc:
        raise ScrapeError(f"{source}: HTTP {exc.response.status_code}") from exc
    except httpx.HTTPError as exc:
        raise ScrapeError(redact_text(f"{source}: {type(exc).__name__}: {exc}")) from exc
    return body.decode(encoding, errors="replace")


class ScrapeSchedule(_Frozen):
    """How often to scrape and how to back off; every knob is bounded."""

    interval_s: float = Field(default=15.0, ge=0.1, le=3600.0)
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_backoff_s: float = Field(default=300.0, ge=0.1, le=3600.0)
    stale_after: int = Field(default=3, ge=1, le=100)

    def delay_s(self, failures: int) -> float:
        """Wait before the next attempt after ``failures`` consecutive failures."""
        if failures <= 0:
            return self.interval_s
        backoff = self.interval_s * self.backoff_factor ** min(failures, 64)
        return max(self.interval_s, min(self.max_backoff_s, backoff))


class TargetState(_Frozen):
    """What the scheduler knows about one target; JSON-serialisable, replaced on each attempt."""

    url: str
    service_name: str
    next_due: AwareDatetime | None = None
    consecutive_failures: int = Field(default=0, ge=0)
    last_success: AwareDatetime | None = None
    last_error: str | None = None
    stale: bool = False
    reason: str = "never scraped"
    down_alerted_at: AwareDatetime | None = None
    """When an alert last said the target stopped answering; cleared when it answers."""

    def is_due(self, now: datetime) -> bool:
        return self.next_due is None or now >= self.next_due


def on_success(state: TargetState, now: datetime, schedule: ScrapeSchedule) -> TargetState:
    """The target answered: normal interval again, fresh series."""
    reason = (
        "scraped"
        if not state.consecutive_failures
        else (f"scraped again after {state.consecutive_failures} failure(s)")
    )
    return state.model_copy(
        update={
            "next_due": now + timedelta(seconds=schedule.interval_s),
            "consecutive_failures": 0,
            "last_success": now,
            "last_error": None,
            "stale": False,
            "reason": reason,
            "down_alerted_at": None,
        }
    )


def on_failure(
    state: TargetState, now: datetime, error: str, schedule: ScrapeSchedule
) -> TargetState:
    """The target failed: back off exponentially; stale after ``stale_after`` in a row."""
    failures = state.consecutive_failures + 1
    delay = schedule.delay_s(failures)
    stale = failures >= schedule.stale_after
    reason = f"scrape failed ({failures} in a row): {error}; retry in {delay:g} s"
    if stale:
        reason += "; series stale"
    return state.model_copy(
        update={
            "next_due": now + timedelta(seconds=delay),
            "consecutive_failures": failures,
            "last_error": error,
            "stale": stale,
            "reason": reason,
        }
    )


def became_stale(old: TargetState, new: TargetState) -> bool:
    return new.stale and not old.stale


def recovered(old: TargetState, new: TargetState) -> bool:
    return old.consecutive_failures > 0 and new.consecutive_failures == 0


def poll_targets(
    states: Mapping[str, TargetState],
    *,
    now: datetime,
    client: httpx.Client,
    schedule: ScrapeSchedule,
    metrics: Collection[str] | None = None,
) -> tuple[list[Signal], dict[str, TargetState]]:
    """Scrape every due target once; return the signals and the next states.

    A failure is logged at WARNING on the first miss, when the target turns stale and when it
    recovers; repeated misses in between only at DEBUG.
    """
    signals: list[Signal] = []
    updated: dict[str, TargetState] = dict(states)
    for key, state in states.items():
        if not state.is_due(now):
            continue
        try:
            got = scrape(
                state.url,
                service_name=state.service_name,
                now=now,
                client=client,
                metrics=metrics,
                timeout_s=min(schedule.interval_s, 10.0),
            )
        except ScrapeError as exc:
            new = on_failure(state, now, str(exc), schedule)
            first = new.consecutive_failures == 1
            level = logging.WARNING if first or became_stale(state, new) else logging.DEBUG
            log.log(level, "%s: %s", redact_text(state.url), new.reason)
        else:
            new = on_success(state, now, schedule)
            if recovered(state, new):
                log.warning("%s: %s", redact_text(state.url), new.reason)
            signals.extend(got.signals)
        updated[key] = new
    return signals, updated


class Series(_Frozen):
    """One time series returned by the query API."""

    metric: dict[str, str]
    points: tuple[EvidencePoint, ...]

    @property
    def name(self) -> str:
        return self.metric.get("__name__", "")

    @property
    def labels(self) -> dict[str, str]:
        return {k: v for k, v in self.metric.items() if k != "__name__"}

    def signals(self, *, service_name: str, source: str, metric_type: str = "") -> list[Signal]:
        """The points as Signals (for detectors); NaN/Inf points are dropped."""
        name = metric_type or self.name
        return [
            Signal(
                source=source,
                service_name=service_name,
                metric_type=name,
                labels=self.labels,
                timestamp=p.timestamp,
                value=p.value,
            )
            for p in self.points
            if math.isfinite(p.value)
        ]


def _point(pair: Any) -> EvidencePoint:
    stamp, value = pair
    return EvidencePoint(timestamp=datetime.fromtimestamp(float(stamp), UTC), value=float(value))


class PrometheusClient:
    """Synchronous reader of a Prometheus server's HTTP API (``/api/v1``).

    ``source`` is ``base_url`` as it may be shown: in errors, logs and Signals. Each
    answer must arrive whole within ``timeout_s`` of its request, and the requests made
    inside ``budget()`` share one deadline: httpx's timeouts are per operation, so a
    server that drips its answer, or a read of many queries, was never cut off.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.source = redact_text(self.base_url)
        self.timeout_s = timeout_s
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, transport=transport)
        self._deadline: tuple[float, float] | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def budget(self, seconds: float | None = None) -> Iterator[None]:
        """Every request in the block must be answered within ``seconds`` (``timeout_s``
        by default) from now, and within any budget around it."""
        seconds = self.timeout_s if seconds is None else seconds
        outer = self._deadline
        ends = (time.monotonic() + seconds, seconds)
        self._deadline = ends if outer is None else min(outer, ends)
        try:
            yield
        finally:
            self._deadline = outer

    def _get(self, path: str, params: dict[str, str]) -> Any:
        where = f"{self.source}{path}"
        deadline, seconds = min(
            (time.monotonic() + self.timeout_s, self.timeout_s), self._deadline or (math.inf, 0.0)
        )
        late = f"{where}: no whole answer within {seconds:g} s"
        left = deadline - time.monotonic()
        if left <= 0:
            raise ScrapeError(late)
        body = bytearray()
        try:
            with self._http.stream("GET", path, params=params, timeout=left) as response:
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if time.monotonic() > deadline:
                        raise ScrapeError(late)
        except httpx.TimeoutException as exc:
            raise ScrapeError(redact_text(f"{late} ({type(exc).__name__})")) from exc
        except httpx.HTTPError as exc:
            raise ScrapeError(redact_text(f"{where}: {type(exc).__name__}: {exc}")) from exc
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise ScrapeError(f"{where}: HTTP {response.status_code}, not JSON") from exc
        if not isinstance(answer, dict) or answer.get("status") != "success":
            error = answer.get("error", answer) if isinstance(answer, dict) else answer
            raise ScrapeError(redact_text(f"{where}: HTTP {response.status_code}: {error}"))
        _note_warnings(self.source, answer.get("warnings"))
        return answer["data"]

    def query_range(
        self, query: str, start: datetime, end: datetime, step: timedelta | float
    ) -> list[Series]:
        """Evaluate ``query`` over ``[start, end]`` every ``step``; one ``Series`` per label set."""
        step_s = step.total_seconds() if isinstance(step, timedelta) else float(step)
        data = self._get(
            "/api/v1/query_range",
            {
                "query": query,
                "start": f"{start.timestamp():.3f}",
                "end": f"{end.timestamp():.3f}",
                "step": f"{step_s:g}",
            },
        )
        return self._series(data, "matrix")

    def query(self, query: str, at: datetime) -> list[Series]:
        """Evaluate an instant ``query`` at ``at``; each series holds one point."""
        data = self._get("/api/v1/query", {"query": query, "time": f"{at.timestamp():.3f}"})
        return self._series(data, "vector")

    def metadata(self, family: str) -> list[str]:
        """The types the server's targets declare of ``family`` (``/api/v1/metadata``).

        One per distinct declaration (targets that agree give one); none for a family no
        target declares.
        """
        data = self._get("/api/v1/metadata", {"metric": family})
        try:
            return [str(entry["type"]) for entry in data.get(family, [])]
        except (AttributeError, KeyError, TypeError) as exc:
            raise ScrapeError(f"{self.source}: malformed metadata: {exc}") from exc

    def _series(self, data: Any, expected: str) -> list[Series]:
        try:
            kind = data["resultType"]
            if kind == "scalar":
                return [Series(metric={}, points=(_point(data["result"]),))]
            if kind != expected:
                raise ScrapeError(f"{self.source}: expected a {expected}, got a {kind}")
            if kind == "matrix":
                return [
                    Series(metric=r["metric"], points=tuple(_point(v) for v in r["values"]))
                    for r in data["result"]
                ]
            return [
                Series(metric=r["metric"], points=(_point(r["value"]),)) for r in data["result"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ScrapeError(f"{self.source}: malformed query result: {exc}") from exc


_WARNED: set[tuple[str, str]] = set()
_MAX_WARNED = 1000


def _note_warnings(source: str, warnings: object) -> None:
    """Log each warning a server gives with an answer once per process.

    A federated or long-term store (Thanos, Cortex, Mimir) answers a query some of whose
    stores failed with what the others had and a warning: the answer is taken, and the
    warning said, or missing series would look like a quiet service."""
    if not isinstance(warnings, list):
        return
    for warning in warnings:
        key = (source, str(warning)[:500])
        if key in _WARNED:
            continue
        if len(_WARNED) < _MAX_WARNED:
            _WARNED.add(key)
        log.warning("%s answered with a warning (the answer may be partial): %s", *key)


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def promql_selector(metric: str, labels: Mapping[str, str] | None = None) -> str:
    """``metric{k="v",...}`` with label values escaped; a name PromQL cannot take is an error.

    Values are quoted as PromQL strings (backslash, double quote and newline escaped), so a
    label value from a config file cannot change the query.
    """
    if not _METRIC_NAME.fullmatch(metric):
        raise ScrapeError(f"{metric!r} is not a Prometheus metric name")
    parts = []
    for name, value in sorted((labels or {}).items()):
        if not _LABEL_NAME.fullmatch(name):
            raise ScrapeError(f"{name!r} is not a Prometheus label name")
        quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{name}="{quoted}"')
    return f"{metric}{{{','.join(parts)}}}"


def read_server(
    client: PrometheusClient,
    metrics: Collection[str],
    *,
    selector: Mapping[str, str],
    service_name: str,
    now: datetime,
) -> list[Signal]:
    """The latest sample of each of ``metrics`` (restricted by ``selector``) from a server.

    An instant query answers with the latest sample within Prometheus's look-back, stamped
    with the evaluation time; read at every interval, one sample would reach the detector
    several times as distinct points. ``timestamp(...)`` gives each series' sample time,
    and the signal carries it, so a repeat is skipped as a duplicate. Value and time come
    from one query (``_VALUE_AND_TIME``): asked apart, a sample ingested between the two
    answers took the time of the one before it. Nothing comes back for a series gone
    stale. Its queries, one a metric, share one ``client.budget()``: a server that
    answered each just in time held the read for that many ``timeout_s``. Any failure is
    a ``ScrapeError``.
    """
    signals: list[Signal] = []
    with client.budget():
        for metric in metrics:
            wanted = promql_selector(metric, selector)
            answer = client.query(_VALUE_AND_TIME.format(wanted=wanted, part=_PART), now)
            for series in _at_sample_times(answer):
                signals += series.signals(
                    service_name=service_name, source=client.source, metric_type=metric
                )
    return signals


_PART = "vanguard_part"
"""The label that tells a series' value from its sample time in ``_VALUE_AND_TIME``."""

_VALUE_AND_TIME = (
    'label_replace(timestamp({wanted}), "{part}", "time", "", "") '
    'or label_replace({wanted}, "{part}", "value", "", "")'
)
"""Each series of ``wanted`` twice in one answer: its sample time and its value."""


def read_server_range(
    client: PrometheusClient,
    metric: str,
    *,
    selector: Mapping[str, str],
    start: datetime,
    end: datetime,
    step: timedelta,
) -> list[Series]:
    """What ``read_server`` would have read of ``metric`` at every ``step`` in ``[start, end]``.

    A range query answers each step with the latest sample then, stamped with the step's
    time, so a sample read at several steps would reach the watch as several points (a
    steady counter's rate read as 0, 0, then three times itself). As in ``read_server``,
    the same answer's ``timestamp(...)`` gives each point its sample's own time: a sample
    read again carries the same time, and the watch skips it as a duplicate.
    """
    wanted = promql_selector(metric, selector)
    query = _VALUE_AND_TIME.format(wanted=wanted, part=_PART)
    return _at_sample_times(client.query_range(query, start, end, step))


def _at_sample_times(answer: list[Series]) -> list[Series]:
    """The value series of a ``_VALUE_AND_TIME`` answer, each point moved to its sample's
    time (the time series' point of the same labels and evaluation time); a point with none
    keeps its own."""
    values: list[Series] = []
    sampled: dict[tuple[tuple[tuple[str, str], ...], datetime], float] = {}
    for series in answer:
        part = series.metric.get(_PART)
        own = series.model_copy(
            update={"metric": {k: v for k, v in series.metric.items() if k != _PART}}
        )
        if part == "time":
            for point in own.points:
                sampled[_label_key(own.labels), point.timestamp] = point.value
        elif part == "value":
            values.append(own)
    moved: list[Series] = []
    for series in values:
        key = _label_key(series.labels)
        points = []
        for point in series.points:
            at = sampled.get((key, point.timestamp))
            if at is not None and math.isfinite(at):
                point = point.model_copy(update={"timestamp": datetime.fromtimestamp(at, UTC)})
            points.append(point)
        moved.append(series.model_copy(update={"points": tuple(points)}))
    return moved


def _label_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


_FAMILY_ENDINGS = ("_total", "_bucket", "_count", "_sum")


def read_declared(client: PrometheusClient, metric: str) -> Declared | None:
    """What the server's targets declare of ``metric``'s kind, or ``None`` if nothing.

    The metadata API files a type under the family's name as the target wrote it:
    ``req_total`` for a counter scraped as text, ``req`` as OpenMetrics, ``lat_seconds``
    for a histogram's ``lat_seconds_bucket``. So the name is asked, then the name without
    its ending. Targets that declare different kinds declare nothing.
    """
    stems = [metric.removesuffix(end) for end in _FAMILY_ENDINGS if metric.endswith(end)]
    for family in (metric, *stems):
        types = sorted(set(client.metadata(family)))
        if not types:
            continue
        kinds = {declared_kind(t, family, metric) for t in types}
        kind = kinds.pop() if len(kinds) == 1 else None
        if kind is None:
            return None
        return Declared(
            metric=metric, kind=kind, family=family, type="/".join(types), source=client.source
        )
    return None


class MetadataCache:
    """What servers declare of metrics' kinds, asked once per ``refresh_s`` per server and
    metric.

    Types seldom change (a deploy may change one); the watch reads a server every few
    seconds and must not ask its metadata each time. A failed call is remembered as nothing
    declared for as long, logged once per refresh, and never raised: the kinds are advice.
    """

    def __init__(self, refresh_s: float = 600.0) -> None:
        self.refresh_s = refresh_s
        self._known: dict[tuple[str, str], tuple[datetime, Declared | None]] = {}

    def read(
        self, client: PrometheusClient, metrics: Collection[str], now: datetime
    ) -> dict[str, Declared]:
        """What ``client``'s server declares of each of ``metrics``, as far as it is known."""
        found: dict[str, Declared] = {}
        failed = False
        for metric in metrics:
            key = (client.base_url, metric)
            held = self._known.get(key)
            if held is None or not 0 <= (now - held[0]).total_seconds() < self.refresh_s:
                declared = None
                if not failed:
                    try:
                        declared = read_declared(client, metric)
                    except ScrapeError as exc:
                        failed = True
                        log.info(
                            "%s: the declared kinds of its metrics are unknown (%s); "
                            "asked again in %g s",
                            client.source,
                            exc,
                            self.refresh_s,
                        )
                held = (now, declared)
                self._known[key] = held
            if held[1] is not None:
                found[metric] = held[1]
        return found
