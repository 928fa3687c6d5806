"""The watcher's sweep: read every due service once, run the detectors, return new alerts.

``SweepActivities`` holds the ``sweep`` activity and what it remembers between sweeps (the
warnings it gave); ``Activities`` inherits it and supplies the settings, the store, the
clock and the reader of a service's metrics, which verification shares.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import JsonValue, TypeAdapter
from temporalio import activity

from vanguard.config import ServiceConfig, Settings, WatchConfig, declared_note
from vanguard.detect.watch import (
    CONFIDENCE_CAP,
    COOLDOWN_S,
    SeriesState,
    WatchRule,
    more_urgent,
    step_many,
    unalerted,
)
from vanguard.engine.heartbeat import heartbeating
from vanguard.engine.messages import SweepInput, SweepResult, WorsenedInput
from vanguard.errors import ScrapeError
from vanguard.incident import IncidentState
from vanguard.model import Alert, Severity, Signal
from vanguard.redact import redact_text
from vanguard.sources.prometheus import (
    Declared,
    ScrapeSchedule,
    TargetState,
    on_failure,
    on_success,
)
from vanguard.store import AuditLog, IncidentRepo, Store, WatchStateRepo
from vanguard.verify.series import labels_text

__all__ = [
    "WORSENED",
    "SweepActivities",
    "Watched",
    "series_key",
    "sweep_timeout",
    "watched_series",
]

log = logging.getLogger(__name__)


class SweepActivities(ABC):
    """The ``sweep`` activity, inherited by ``Activities``, which holds its clients."""

    settings: Settings
    store: Store
    clock: Callable[[], datetime]

    def __init__(self) -> None:
        self._clock_ahead: dict[str, float] = {}
        self._kinds_told: dict[tuple[str, str, str, str], Declared] = {}
        self._unmatched: set[tuple[str, str, int]] = set()
        self.sweep_budget_s: float | None = None
        self._left_out = False

    @abstractmethod
    def _read(
        self,
        service: ServiceConfig,
        metrics: Sequence[str],
        now: datetime,
        *,
        declared: dict[str, Declared] | None = None,
    ) -> list[Signal]:
        """One reading of ``metrics`` from every source of ``service``, begun at ``now``."""

    @activity.defn
    def sweep(self, inp: SweepInput) -> SweepResult:
        """Read every due service once, run the detectors, return new alerts.

        Services are read ``SWEEP_READERS`` at a time within the sweep's budget
        (``_read_due``): a stuck or slow target holds one reader, not the sweep of every
        service, and the sweep returns what it read, the slow target's backoff included,
        before Temporal gives up on it. It heartbeats throughout. An unreachable target
        backs off exponentially and its series turn stale; it is logged on the first miss
        and when it turns stale, never once per sweep.
        """
        with heartbeating():
            return self._sweep(inp)

    def _sweep(self, inp: SweepInput) -> SweepResult:
        now = self.clock()
        swept = _Sweep(states=self._load_states(inp), targets=dict(inp.scrape_state))
        due = self._due(swept.targets, now)
        readings = self._read_due(due)
        for service, target in due:
            reading = readings.get(service.name)
            if reading is not None:
                self._sweep_service(swept, inp, service, target, reading, now)
        fresh, worsened = self._without_open_incidents(list(swept.alerts.values()))
        fresh = self._without_own_downtime(
            fresh,
            {a.service_name for a in fresh} & {name for name, _, _ in swept.went_down.values()},
        )
        started = {alert.fingerprint for alert in fresh}
        swept.release_unstarted(started)
        swept.note_down_told(started)
        return self._result(inp, swept, fresh, worsened, now)

    def _sweep_service(
        self,
        swept: _Sweep,
        inp: SweepInput,
        service: ServiceConfig,
        target: _Target,
        reading: _Reading,
        now: datetime,
    ) -> None:
        """Take one service's reading into ``swept``: its next schedule, and its down alert
        if the reading failed, else its series stepped through their watch rules."""
        schedule = ScrapeSchedule(interval_s=target.interval_s)
        if reading.error is not None:
            new = on_failure(target.state, reading.at, reading.error, schedule)
            if new.consecutive_failures == 1 or new.stale != target.state.stale:
                log.warning("%s: %s", service.name, new.reason)
            swept.targets[service.name] = new.model_dump(mode="json")
            down = _down_alert(service, new, reading.at)
            if down is not None and down.fingerprint not in inp.suppressed:
                swept.alerts.setdefault(down.fingerprint, down)
                swept.went_down[down.fingerprint] = (service.name, new, reading.at)
            return
        self._note_clock(service.name, target.state.url, reading.signals, reading.at)
        self._note_kinds(inp.watcher, service, reading.declared)
        new = on_success(target.state, reading.at, schedule)
        if target.state.consecutive_failures:
            log.warning("%s: %s", service.name, new.reason)
        swept.targets[service.name] = new.model_dump(mode="json")
        self._step_series(swept, inp, service, reading.signals, now)

    def _step_series(
        self,
        swept: _Sweep,
        inp: SweepInput,
        service: ServiceConfig,
        signals: Sequence[Signal],
        now: datetime,
    ) -> None:
        """Step the series of ``signals`` that ``service`` watches; an alert of a suppressed
        series leaves its state as if it had not been raised."""
        watched = watched_series(service.name, service.watch, signals)
        for index, matched in enumerate(watched.matched):
            self._note_unmatched(inp.watcher, service, index, matched, signals)
        items = [
            (swept.states.get(key), signal, rule) for key, (signal, rule) in watched.series.items()
        ]
        for key, (before, _, _), (state, alert) in zip(
            watched.series, items, step_many(items), strict=True
        ):
            swept.states[key] = state
            swept.samples += 1
            if alert is None:
                continue
            if alert.fingerprint in inp.suppressed:
                swept.states[key] = unalerted(state, before)
                continue
            swept.alerts.setdefault(alert.fingerprint, alert)
            swept.raised_on.setdefault(alert.fingerprint, []).append((key, before))
        _forget_vanished(
            swept.states, service.name, set(watched.series), now.timestamp() - SERIES_TTL_S
        )

    def _result(
        self,
        inp: SweepInput,
        swept: _Sweep,
        fresh: Sequence[Alert],
        worsened: Sequence[WorsenedInput],
        now: datetime,
    ) -> SweepResult:
        """What the sweep returns: its series states in the result, or, for a watcher that
        keeps them in the store, saved there as the next generation."""
        if inp.generation is None:
            return SweepResult(
                states=swept.states,
                scrape_state=swept.targets,
                alerts=tuple(fresh),
                worsened=tuple(worsened),
                samples=swept.samples,
                series=len(swept.states),
            )
        generation, token = inp.generation + 1, uuid.uuid4().hex
        with self.store.session() as session:
            WatchStateRepo(session).save(
                inp.watcher,
                generation,
                token,
                _STATES.dump_json(swept.states),
                len(swept.states),
                now,
            )
        return SweepResult(
            states={},
            scrape_state=swept.targets,
            alerts=tuple(fresh),
            worsened=tuple(worsened),
            samples=swept.samples,
            generation=generation,
            token=token,
            series=len(swept.states),
        )

    def _due(
        self, targets: Mapping[str, JsonValue], now: datetime
    ) -> list[tuple[ServiceConfig, _Target]]:
        """The watched services due at ``now``, in the configuration's order, with their
        schedule (its ``url`` says where the service is read)."""
        due: list[tuple[ServiceConfig, _Target]] = []
        for service in self.settings.services:
            interval = service.interval_s
            if interval is None or not service.watch:
                continue
            raw = targets.get(service.name)
            where = (
                service.scrape.url
                if service.scrape is not None
                else service.prometheus.url
                if service.prometheus is not None
                else f"pgbouncer:{service.pgbouncer.admin_dsn if service.pgbouncer else ''}"
            )
            state = (
                TargetState.model_validate(raw).model_copy(update={"url": where})
                if isinstance(raw, dict)
                else TargetState(url=where, service_name=service.name)
            )
            if state.is_due(now):
                due.append((service, _Target(state=state, interval_s=interval)))
        return due

    def _read_due(self, due: Sequence[tuple[ServiceConfig, _Target]]) -> dict[str, _Reading]:
        """Read ``due`` services ``SWEEP_READERS`` at a time, the longest overdue first,
        until the sweep's budget (``_sweep_budget_s``) is spent.

        Read one after another with no budget, one console that stopped answering held
        the sweep of every service past its timeout, and a timed-out sweep lost every
        target's schedule, the slow one's backoff with it. Now a service not read by then
        is left out: it keeps its schedule and, being the longest overdue, comes first next
        time. One still reading past its own timeouts is a failed read, so it backs off;
        its reader is left to end on those timeouts.
        """
        if not due:
            return {}
        budget = self._sweep_budget_s()
        deadline = time.monotonic() + budget
        begun: dict[str, float] = {}
        order = sorted(due, key=lambda d: d[1].state.next_due or _LONG_AGO)
        pool = ThreadPoolExecutor(max_workers=SWEEP_READERS, thread_name_prefix="vanguard-sweep")
        try:
            futures = {
                pool.submit(self._read_one, service, target.state.url, begun): (service, target)
                for service, target in order
            }
            pending = set(futures)
            while pending and (left := deadline - time.monotonic()) > 0:
                _, pending = wait(pending, timeout=min(left, 1.0), return_when=FIRST_COMPLETED)
                if activity.in_activity():
                    activity.heartbeat(f"{len(futures) - len(pending)} of {len(futures)} read")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        readings: dict[str, _Reading] = {}
        left_out: list[str] = []
        for future, (service, target) in futures.items():
            if future.done() and not future.cancelled():
                readings[service.name] = future.result()
                continue
            began = begun.get(service.name)
            took = 0.0 if began is None else time.monotonic() - began
            if began is None or took <= _timeouts_s(service):
                left_out.append(service.name)
                continue
            readings[service.name] = _Reading(
                at=self.clock(),
                error=(
                    f"{redact_text(target.state.url)}: no answer after {took:.1f} s, past its "
                    f"timeout, when the sweep's {budget:g} s were spent"
                ),
            )
        self._note_left_out(left_out, budget)
        return readings

    def _note_left_out(self, left_out: Sequence[str], budget: float) -> None:
        """Warn when a sweep first leaves services unread, and say when none is again."""
        if not left_out:
            if self._left_out:
                log.info("sweep: every due service is read within the sweep's budget again")
            self._left_out = False
            return
        log.log(
            logging.DEBUG if self._left_out else logging.WARNING,
            "sweep: %d service(s) not read within its %g s (%s); they are read first next "
            "time. Lower the timeout_s of slow targets, lengthen interval_s (the sweep may "
            "read for 2.5 intervals, at least 15 s) or split the services across task queues",
            len(left_out),
            budget,
            ", ".join(left_out),
        )
        self._left_out = True

    def _read_one(self, service: ServiceConfig, where: str, begun: dict[str, float]) -> _Reading:
        """One service's reading for the sweep; any failure is its ``error``."""
        begun[service.name] = time.monotonic()
        declared: dict[str, Declared] = {}
        try:
            signals = self._read(
                service, [w.metric for w in service.watch], self.clock(), declared=declared
            )
        except Exception as exc:
            if not isinstance(exc, ScrapeError):
                log.exception("%s: reading the target failed unexpectedly", service.name)
                exc = ScrapeError(redact_text(f"{where}: {type(exc).__name__}: {exc}"))
            return _Reading(at=self.clock(), error=str(exc))
        return _Reading(at=self.clock(), signals=signals, declared=declared)

    def _sweep_budget_s(self) -> float:
        """How long a sweep may read: ``SWEEP_READ_SHARE`` of its start-to-close timeout,
        which leaves the rest for detection and the store. Outside Temporal,
        ``sweep_budget_s`` if set, else what the watcher would give."""
        if self.sweep_budget_s is not None:
            return self.sweep_budget_s
        timeout = activity.info().start_to_close_timeout if activity.in_activity() else None
        if timeout is None:
            intervals = [
                interval
                for s in self.settings.services
                if s.watch and (interval := s.interval_s) is not None
            ]
            timeout = sweep_timeout(min(intervals, default=0.0))
        return SWEEP_READ_SHARE * timeout.total_seconds()

    def _note_clock(
        self, service: str, where: str, signals: Sequence[Signal], now: datetime
    ) -> None:
        """Warn once when a target stamps its samples ahead of this worker's clock.

        The watch takes a sample's own time; a target whose clock runs ahead has its later
        samples skipped as out of order once its clock is put right, until our time
        catches up, and nothing else would say why its series went quiet.
        """
        ahead = max(((s.timestamp - now).total_seconds() for s in signals), default=0.0)
        if ahead <= CLOCK_AHEAD_S:
            if self._clock_ahead.pop(service, None) is not None:
                log.warning("%s: %s stamps its samples on time again", service, where)
            return
        if service not in self._clock_ahead:
            log.warning(
                "%s: %s stamps its samples %.0f s ahead of this worker's clock; once its "
                "clock is put right, its samples are skipped as out of order for as long",
                service,
                where,
                ahead,
            )
        self._clock_ahead[service] = ahead

    def _note_unmatched(
        self,
        watcher: str,
        service: ServiceConfig,
        index: int,
        matched: int,
        signals: Sequence[Signal],
    ) -> None:
        """Warn once when a watch entry matched no series in a reading that succeeded.

        A misspelt metric or label otherwise watches nothing, and the loop looks healthy.
        The warning says whether the metric was there with other labels (and which), and
        is told again only after the entry matched something in between.
        """
        key = (watcher, service.name, index)
        if matched:
            if key in self._unmatched:
                self._unmatched.discard(key)
                log.info("%s: watch[%d] matches %d series again", service.name, index, matched)
            return
        if key in self._unmatched:
            return
        self._unmatched.add(key)
        watch = service.watch[index]
        others = sorted(
            {
                ", ".join(f"{k}={v}" for k, v in sorted(signal.labels.items())) or "no labels"
                for signal in signals
                if signal.metric_type == watch.metric
            }
        )
        found = (
            f"its {len(others)} series have other labels ({'; '.join(others[:5])}"
            + ("; ..." if len(others) > 5 else "")
            + ")"
            if others
            else "the target has no series of that name"
        )
        wanted = f" with labels {dict(watch.labels)}" if watch.labels else ""
        log.warning(
            "%s: watch[%d] (%s%s) matches no series: %s; it watches nothing until it does",
            service.name,
            index,
            watch.metric,
            wanted,
            found,
        )

    def _note_kinds(
        self, watcher: str, service: ServiceConfig, declared: Mapping[str, Declared]
    ) -> None:
        """Warn once when a target declares a watched series another kind than its entry's.

        A counter watched raw reads its restarts as falls; a gauge watched as a rate hides
        its breaches; neither says so. The entry's kind is kept (``declared_note``). Told
        once per watcher, series and declaration; again if the declaration changes.
        """
        for watch in service.watch:
            said = declared.get(watch.metric)
            if said is None:
                continue
            key = (watcher, service.name, watch.metric, watch.kind)
            note = declared_note(watch, said)
            if note is None:
                if self._kinds_told.pop(key, None) is not None:
                    log.info(
                        "%s: %s now declares %s a %s",
                        service.name,
                        said.source,
                        said.metric,
                        said.kind,
                    )
                continue
            if self._kinds_told.get(key) != said:
                self._kinds_told[key] = said
                log.warning("%s: %s", service.name, note)

    def _load_states(self, inp: SweepInput) -> dict[str, SeriesState]:
        """The states the sweep starts from: its input's, or the generation it names.

        Generation 0 is the first sweep of a watcher (its input holds what an older run
        carried, or nothing); a later one that is not in the store (lost with a database
        restored from a backup) is a fresh start, logged.
        """
        if inp.generation is None or inp.generation == 0:
            return dict(inp.states)
        with self.store.session() as session:
            raw = WatchStateRepo(session).load(inp.watcher, inp.generation, inp.token)
        if raw is not None:
            return _STATES.validate_json(raw)
        log.warning(
            "watcher %s: series states of sweep %d are not in the store; detectors start afresh",
            inp.watcher,
            inp.generation,
        )
        return dict(inp.states)

    def _without_own_downtime(self, alerts: list[Alert], down: set[str]) -> list[Alert]:
        """``alerts`` without the down alerts of services an action is under way on.

        A restart takes its target down for a while; that is the acting incident's business
        (its verification reads the service again and escalates if it did not come back),
        not a page of its own. Held, not told: once the incident is closed, a target still
        down is raised by the next failed read."""
        if not down:
            return alerts
        with self.store.read_session() as session:
            busy = IncidentRepo(session).acting_on(down)
        return [a for a in alerts if not (a.metric_type == TARGET_UP and a.service_name in busy)]

    def _without_open_incidents(
        self, alerts: list[Alert]
    ) -> tuple[list[Alert], list[WorsenedInput]]:
        """Alerts whose series has no open incident (one waiting for approval included),
        and the news for incidents that wait for a person: an alert of their series more
        urgent than the one they were opened on (a forecast became a breach), not yet told.
        """
        if not alerts:
            return alerts, []
        with self.store.read_session() as session:
            busy = IncidentRepo(session).open_by_fingerprint(a.service_name for a in alerts)
            waiting = {
                a.fingerprint: (busy[a.fingerprint].incident_id, a)
                for a in alerts
                if a.fingerprint in busy
                and busy[a.fingerprint].state is IncidentState.awaiting_approval
                and more_urgent(a.attributes.get("kind"), busy[a.fingerprint].alert_kind)
            }
            told = {
                (e.incident_id, e.payload.get("kind"))
                for e in AuditLog(session).entries_of(
                    [iid for iid, _ in waiting.values()], (WORSENED,)
                )
            }
        news = [
            WorsenedInput(incident_id=iid, alert=alert)
            for iid, alert in waiting.values()
            if (iid, alert.attributes.get("kind")) not in told
        ]
        return [a for a in alerts if a.fingerprint not in busy], news


WORSENED = "incident.worsened"
"""Audit kind: a more urgent alert of an incident's series came while it waited for a person."""

_STATES = TypeAdapter(dict[str, SeriesState])
CLOCK_AHEAD_S = 120.0
"""A target's sample time this far past the worker's clock is worth a warning."""

SERIES_TTL_S = 3600.0
"""A series its target stopped reporting this long ago is forgotten (pods come and go)."""

SWEEP_READERS = 4
"""Services a sweep reads at once."""

SWEEP_READ_SHARE = 0.5
"""The share of a sweep's start-to-close timeout it may spend reading."""

_LONG_AGO = datetime.min.replace(tzinfo=UTC)


def sweep_timeout(interval_s: float) -> timedelta:
    """The start-to-close timeout of a watcher's sweep every ``interval_s``."""
    return timedelta(seconds=max(30.0, interval_s * 5))


@dataclass(frozen=True)
class _Target:
    """A due service's schedule, and how often it is read."""

    state: TargetState
    interval_s: float


@dataclass
class _Sweep:
    """What one sweep gathers from the services it read."""

    states: dict[str, SeriesState]
    targets: dict[str, JsonValue]
    alerts: dict[str, Alert] = field(default_factory=dict)
    raised_on: dict[str, list[tuple[str, SeriesState | None]]] = field(default_factory=dict)
    """Per alert, the series that raised it, each with its state before."""
    went_down: dict[str, tuple[str, TargetState, datetime]] = field(default_factory=dict)
    """Per down alert, its service, the target's new state and when it was read."""
    samples: int = 0

    def release_unstarted(self, started: set[str]) -> None:
        """Leave the series whose alert started no incident as if it had not been raised,
        so they raise it again."""
        for fingerprint, held in self.raised_on.items():
            if fingerprint not in started:
                for key, before in held:
                    self.states[key] = unalerted(self.states[key], before)

    def note_down_told(self, started: set[str]) -> None:
        """Note on each target whose down alert started an incident when it was told."""
        for fingerprint, (name, target_state, at) in self.went_down.items():
            if fingerprint in started:
                told = target_state.model_copy(update={"down_alerted_at": at})
                self.targets[name] = told.model_dump(mode="json")


@dataclass(frozen=True)
class _Reading:
    """One service's reading in a sweep, ended ``at``: its samples, or why it failed."""

    at: datetime
    signals: list[Signal] = field(default_factory=list)
    declared: dict[str, Declared] = field(default_factory=dict)
    error: str | None = None


def _timeouts_s(service: ServiceConfig) -> float:
    """How long reading ``service`` may take by its sources' ``timeout_s``."""
    return sum(s.timeout_s for s in (service.scrape, service.prometheus, service.pgbouncer) if s)


TARGET_UP = "vanguard_target_up"
"""The metric a target-down alert names: its service's metrics could not be read."""


def _down_alert(service: ServiceConfig, state: TargetState, at: datetime) -> Alert | None:
    """A critical alert that ``service``'s metrics cannot be read, or ``None``.

    Raised once its reads have failed ``stale_after`` times in a row (the series are
    stale) and again every ``COOLDOWN_S`` while that lasts, unless ``alert_when_down`` is
    off. A target that died (killed, out of memory, a crashed PgBouncer) otherwise just
    stops every series it had: the worst outage would raise nothing. No built-in pattern
    acts on it, so it goes to a person with the last error.
    """
    if not (service.alert_when_down and state.stale):
        return None
    told = state.down_alerted_at
    if told is not None and (at - told).total_seconds() < COOLDOWN_S:
        return None
    fp = f"{service.name}/{TARGET_UP}"
    since = (
        state.last_success.astimezone(UTC).strftime("%H:%M:%S UTC") if state.last_success else None
    )
    error = redact_text(state.last_error or "no answer")
    return Alert(
        alert_id="alert-"
        + hashlib.sha256(f"{fp}|{at.astimezone(UTC).isoformat()}".encode()).hexdigest()[:20],
        fingerprint=fp,
        source="detector:down",
        service_name=service.name,
        metric_type=TARGET_UP,
        detected_at=at,
        severity=Severity.critical,
        summary=(
            f"metrics of {service.name} cannot be read: {state.consecutive_failures} reads in "
            f"a row failed"
            + (f" (last answer at {since})" if since else " (it never answered)")
            + f", the last with {error}; its series are not watched until it answers"
        ),
        anomaly_score=1.0,
        confidence=CONFIDENCE_CAP,
        attributes={
            "kind": "down",
            "failures": state.consecutive_failures,
            "last_error": error,
            "last_success": state.last_success.isoformat() if state.last_success else None,
        },
    )


def _forget_vanished(
    states: dict[str, SeriesState], service: str, seen: set[str], before: float
) -> None:
    """Drop the states of ``service``'s series absent from its latest scrape and quiet
    since ``before``: every sweep reads and writes every state, so vanished series (pod
    churn) would grow it without bound."""
    prefix = f"{service}/"
    for key in [k for k in states if k.startswith(prefix) and k not in seen]:
        last = states[key].last_t
        if last is None or last < before:
            del states[key]


def series_key(service: str, signal: Signal) -> str:
    """The key a sweep keeps the state of ``signal``'s series under."""
    return f"{service}/{signal.metric_type}{{{labels_text(signal.labels)}}}"


@dataclass(frozen=True)
class Watched:
    """The series of one reading that a service's watch entries take."""

    series: dict[str, tuple[Signal, WatchRule]]
    """Each series taken, by ``series_key``, with its entry's rule: the first entry's and
    the first sample's, in the entries' order and then the reading's."""
    matched: tuple[int, ...]
    """Per entry, how many samples it matched, those an earlier entry took included."""


def watched_series(
    service: str, watch: Sequence[WatchConfig], signals: Sequence[Signal]
) -> Watched:
    """The series of ``signals`` that ``service``'s ``watch`` entries take: an entry takes
    the samples of its metric whose labels include its own.

    Pure, so that a replay of recorded series can match them as the live sweep does.
    """
    series: dict[str, tuple[Signal, WatchRule]] = {}
    matched: list[int] = []
    for entry in watch:
        taken = [
            s
            for s in signals
            if s.metric_type == entry.metric and s.labels.items() >= entry.labels.items()
        ]
        matched.append(len(taken))
        for signal in taken:
            series.setdefault(series_key(service, signal), (signal, entry.rule))
    return Watched(series=series, matched=tuple(matched))
