"""A verdict that leans better without showing it is judged again on more readings before
the action is left in place for a person."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.unit.engine.test_verify_baseline import PATTERN, Fix, _alert, latency, through_verify
from vanguard.act.base import MemoryLedger
from vanguard.config import (
    PrometheusSource,
    ScrapeConfig,
    ServiceConfig,
    Settings,
    VerificationConfig,
)
from vanguard.decide import PolicyConfig
from vanguard.engine.activities import Activities
from vanguard.model import Signal, Verdict, Verification
from vanguard.store import Store
from vanguard.verify import settle, unproven

SAMPLES = 6
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)
BEFORE = list(1.0 + 0.2 * np.random.default_rng(7).standard_normal(40))
"""The alert's evidence: the latency the remedy is judged against, noisy."""
LEANING = [0.95, 0.7, 1.1, 0.6, 0.9, 0.8]
"""Six readings a little lower than before: too few, too noisy to show a change or its lack."""


def _activities(
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    after: Iterator[float],
    services: Sequence[ServiceConfig] = (),
) -> Activities:
    """Activities whose service reads ``BEFORE`` (40 readings) until the remedy is applied,
    then ``after``."""
    settings = Settings(
        data_dir=Path("."),
        services=tuple(services)
        or (ServiceConfig(name="api", type="web", scrape=ScrapeConfig(url="http://x")),),
        policy=PolicyConfig(min_confidence=0.5),
        verification=VerificationConfig(baseline_s=8, sample_interval_s=0.2),
    )
    service = {"latency": 1.0}
    adapter = Fix(service)
    ticks = itertools.count()
    acts = Activities(
        settings,
        store,
        [PATTERN],
        {adapter.kind: adapter},
        MemoryLedger(),
        [],
        verify_samples=SAMPLES,
        clock=lambda: T0 + timedelta(seconds=0.2 * next(ticks)),
    )
    before = iter(BEFORE)

    def read(service_: ServiceConfig, metrics: Sequence[str], now: datetime) -> list[Signal]:
        return latency(next(before) if service["latency"] == 1.0 else next(after), now)

    monkeypatch.setattr(acts, "_read", read)
    return acts


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock moves 0.2 s a reading; nothing needs to wait for it."""
    monkeypatch.setattr("vanguard.engine.activities.time.sleep", lambda _s: None)


def _verify(
    store: Store, monkeypatch: pytest.MonkeyPatch, after: Sequence[float]
) -> tuple[Verification, int]:
    """The remedy judged on ``after``, its baseline read before it; and how many of
    ``after`` were read."""
    read = 0

    def counted() -> Iterator[float]:
        nonlocal read
        for value in after:
            read += 1
            yield value

    acts = _activities(store, monkeypatch, counted())
    verification = through_verify(acts, _alert("anomaly", BEFORE))
    return verification, read


def test_still_unproven_after_a_second_look_is_left_for_a_person(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    verification, read = _verify(store, monkeypatch, [*LEANING, *LEANING])
    assert read == 2 * SAMPLES
    assert unproven(verification), verification.reason
    assert "judged again on 6 more readings" in verification.reason
    assert settle(verification, undo_possible=True).next_step == "escalate"


def test_a_second_look_settles_a_fix_the_first_readings_could_not_show(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    verification, read = _verify(store, monkeypatch, [*LEANING, 0.2, 0.25, 0.15, 0.2, 0.3, 0.2])
    assert read == 2 * SAMPLES
    assert verification.verdict is Verdict.improved, verification.reason
    assert len(verification.observed) == 2 * SAMPLES
    assert "judged again on 6 more readings" in verification.reason
    assert verification.figures["second_look"] == 1.0


def test_a_second_look_can_show_a_remedy_did_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    flat = list(1.0 + 0.02 * np.random.default_rng(3).standard_normal(SAMPLES))
    verification, read = _verify(store, monkeypatch, [*LEANING, *flat])
    assert read == 2 * SAMPLES
    assert verification.verdict is not Verdict.improved, verification.reason


def test_decisive_readings_get_no_second_look(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    verification, read = _verify(store, monkeypatch, [0.2] * (2 * SAMPLES))
    assert verification.verdict is Verdict.improved
    assert read == SAMPLES
    assert "second_look" not in verification.figures


def test_an_action_is_unsettled_through_the_second_look_at_the_slowest_interval(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Prometheus server read every minute: twelve readings a minute apart, not six
    readings ``sample_interval_s`` apart, may follow the window."""
    slow = ServiceConfig(
        name="db",
        type="pg",
        prometheus=PrometheusSource(url="http://prometheus:9090", interval_s=60),
    )
    acts = _activities(store, monkeypatch, iter(()), [slow])
    window = acts.settings.verification.window_s
    assert acts._unsettled_hold >= acts._in_flight_hold + timedelta(seconds=window + 12 * 60)
