"""``replay``: the loop's own steps over recorded points, deciding without acting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np

from vanguard.config import ScrapeConfig, ServiceConfig, WatchConfig
from vanguard.decide import PolicyConfig
from vanguard.detect.watch import WatchRule
from vanguard.diagnose.patterns import load_patterns
from vanguard.engine.messages import RemediationInput
from vanguard.evaluation.replay import replay
from vanguard.model import Signal

T0 = datetime(2026, 12, 1, tzinfo=UTC)
MIB = 2**20
METRIC = "process_resident_memory_bytes"


def _service(labels: dict[str, str] | None = None) -> ServiceConfig:
    return ServiceConfig(
        name="web",
        type="python-web",
        scrape=ScrapeConfig(url="http://127.0.0.1:9/metrics", metrics=(METRIC,), interval_s=60),
        watch=(
            WatchConfig(
                metric=METRIC,
                labels=labels or {},
                rule=WatchRule(threshold=400 * MIB, horizon_s=7200, min_confidence=0.6),
            ),
        ),
    )


def _signals(values: np.ndarray, labels: dict[str, str] | None = None) -> list[Signal]:
    return [
        Signal(
            source="test",
            service_name="web",
            metric_type=METRIC,
            labels=labels or {},
            timestamp=T0 + timedelta(minutes=i),
            value=float(v),
        )
        for i, v in enumerate(values)
    ]


def _leak(days: int, seed: int = 3) -> np.ndarray:
    """200 MiB, then 0.6 MiB a minute for the last 6 of every 8 hours, then back down."""
    rng = np.random.default_rng(seed)
    minute = np.arange(days * 1440) % 480
    growth = np.clip(minute - 120, 0, None) * 0.6 * MIB
    return 200 * MIB + growth + rng.normal(0, 2 * MIB, minute.size)


def test_a_quiet_series_opens_nothing() -> None:
    flat = 200 * MIB + np.random.default_rng(0).normal(0, 2 * MIB, 1440)
    report = replay(_service(), _signals(flat), load_patterns(), PolicyConfig(), incident_s=300)
    assert report.points == 1440
    assert report.series == 1
    assert report.incidents == ()


def test_a_leak_is_forecast_matched_and_decided_under_the_daily_limit() -> None:
    policy = PolicyConfig(max_actions_per_service_per_day=2)
    report = replay(_service(), _signals(_leak(2)), load_patterns(), policy, incident_s=300)
    first = report.incidents[0]
    assert first.alert.attributes["kind"] == "forecast"
    assert first.diagnosis.pattern_id == "memory_leak_gradual"
    assert first.alert.detected_at < T0 + timedelta(hours=8), "well before the 400 MiB breach"
    acts = [i for i in report.incidents if i.verdict == "act"]
    assert acts
    for i, act in enumerate(acts):
        window = [
            a
            for a in acts[: i + 1]
            if act.alert.detected_at - a.alert.detected_at < timedelta(days=1)
        ]
        assert len(window) <= 2, "never more acts in 24 h than the policy allows"
    limited = [
        i
        for i in report.incidents
        if i.verdict == "decline"
        and any(v.gate == "rate_limit" and not v.passed for v in i.decision.verdicts)
    ]
    assert limited, "the leak outlasts two actions a day"
    tally = report.tally()
    assert sum(tally.values()) == len(report.incidents)


def test_alerts_of_a_busy_series_fold_into_its_incident() -> None:
    leak = _signals(_leak(1))
    short = replay(_service(), leak, load_patterns(), PolicyConfig(), incident_s=60)
    long = replay(_service(), leak, load_patterns(), PolicyConfig(), incident_s=6 * 3600)
    assert len(long.incidents) < len(short.incidents)
    assert long.folded > 0


def test_only_the_watched_labels_are_replayed() -> None:
    mine = _signals(_leak(1), {"instance": "a"})
    other = _signals(_leak(1, seed=4), {"instance": "b"})
    report = replay(
        _service({"instance": "a"}), mine + other, load_patterns(), PolicyConfig(), incident_s=300
    )
    assert report.points == len(mine)
    assert {i.alert.labels["instance"] for i in report.incidents} == {"a"}


def test_repeated_declines_are_told_once_per_window() -> None:
    policy = PolicyConfig(max_actions_per_service_per_day=2)
    signals, patterns = _signals(_leak(2)), load_patterns()
    every = replay(_service(), signals, patterns, policy, incident_s=300)
    held = replay(_service(), signals, patterns, policy, incident_s=300, notify_repeat_s=4 * 3600)
    assert [i.decision for i in held.incidents] == [i.decision for i in every.incidents]
    assert every.held == 0
    assert held.held > 0
    told: dict[str, datetime] = {}
    for item in held.incidents:
        if item.verdict != "decline":
            assert item.told, "acts and requests for a person are always told"
            continue
        refused = ",".join(sorted(v.gate for v in item.decision.verdicts if not v.passed))
        last = told.get(refused)
        within = last is not None and item.alert.detected_at - last <= timedelta(hours=4)
        assert item.told is not within
        if item.told:
            told[refused] = item.alert.detected_at


def test_a_second_series_waits_while_the_first_ones_action_is_verified() -> None:
    """Two instances leak together: the live loop declines a second restart while the
    first is being verified, so replay must too (it counted only finished actions)."""
    both = _signals(_leak(1), {"instance": "a"}) + _signals(_leak(1, seed=4), {"instance": "b"})
    window = timedelta(hours=1)
    report = replay(
        _service(),
        both,
        load_patterns(),
        PolicyConfig(max_actions_per_service_per_day=20, max_actions_per_service_per_week=50),
        incident_s=window.total_seconds(),
    )
    acts = [i.alert.detected_at for i in report.incidents if i.verdict == "act"]
    assert acts
    assert all(b - a >= window for a, b in pairwise(acts))
    waited = [
        i
        for i in report.incidents
        if any(v.gate == "cooldown" and not v.passed for v in i.decision.verdicts)
    ]
    assert waited, "the other instance's alert came while an action was being verified"


def _queue(values: list[float], labels: dict[str, str] | None = None) -> list[Signal]:
    return [
        Signal(
            source="test",
            service_name="web",
            metric_type="queue_depth",
            labels=labels or {},
            timestamp=T0 + timedelta(seconds=10 * i),
            value=v,
        )
        for i, v in enumerate(values)
    ]


def test_a_breach_folded_into_an_open_incident_opens_its_own_when_that_one_ends() -> None:
    """The live sweep drops an alert of a series with an open incident without starting the
    cooldown, so a breach that outlasts the incident is raised again and opens one; replay
    kept the folded breach's cooldown and missed it."""
    rng = np.random.default_rng(1)
    values = [
        *(50 + rng.normal(0, 1, 800)),
        *[90.0] * 6,
        *[120.0] * 66,
        *(50 + rng.normal(0, 1, 200)),
    ]
    service = ServiceConfig(
        name="web",
        scrape=ScrapeConfig(url="http://127.0.0.1:9/metrics", interval_s=10),
        watch=(WatchConfig(metric="queue_depth", rule=WatchRule(threshold=100)),),
    )
    incident = timedelta(seconds=600)
    report = replay(
        service,
        _queue(values),
        load_patterns(),
        PolicyConfig(),
        incident_s=incident.total_seconds(),
    )
    first, second = report.incidents
    assert first.alert.attributes["kind"] == "anomaly"
    assert first.folded == 1, "the breach while it was open"
    assert second.alert.attributes["kind"] == "breach"
    assert first.alert.detected_at + incident <= second.alert.detected_at
    assert second.alert.detected_at - first.alert.detected_at < incident + timedelta(seconds=20)


def test_a_request_for_approval_keeps_its_series_busy_until_the_wait_ends() -> None:
    """Live, an incident waiting for a person is open (its series' alerts fold into it)
    until the answer or the approval timeout; nobody answers in a replay."""
    rng = np.random.default_rng(0)
    minutes = np.arange(6 * 60)
    values = 200 * MIB + np.clip(minutes - 60, 0, None) * MIB + rng.normal(0, MIB, minutes.size)
    policy = PolicyConfig(require_approval_for=["supervisor.restart"])
    args = (_service(), _signals(values), load_patterns(), policy)
    report = replay(*args, incident_s=600)
    asks = [i.alert.detected_at for i in report.incidents if i.verdict == "ask"]
    wait = timedelta(seconds=RemediationInput.model_fields["approval_timeout_s"].default)
    assert len(asks) >= 2
    assert all(b - a >= wait for a, b in pairwise(asks)), "the live loop waits an hour"
    sooner = replay(*args, incident_s=600, approval_s=600)
    assert len([i for i in sooner.incidents if i.verdict == "ask"]) > len(asks)
