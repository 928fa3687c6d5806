"""A verify entry that matches several series of a real endpoint judges each of them.

The endpoint reports the wait time per pool. A pattern's ``verify`` names the metric but not
the ``pool`` label, so the entry matches both pools' series. Each is compared with its own
baseline and named in the evidence: a remedy that shortens one pool's wait while another's
grows did not help, whichever pool the endpoint happens to list first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import JsonValue

from tests.integration.engine.gauge_action import GaugeAction, Gauges
from tests.servers.exporter import Exporter
from vanguard.act.base import MemoryLedger
from vanguard.config import (
    ScrapeConfig,
    ServiceConfig,
    Settings,
    VerificationConfig,
    VerifyMetric,
)
from vanguard.decide import PolicyConfig
from vanguard.diagnose.operators import Operator
from vanguard.diagnose.patterns import Condition, Pattern, PatternRemedy, PatternVerify
from vanguard.engine.activities import BASELINE, Activities
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput, VerifyInput
from vanguard.model import (
    Alert,
    Verdict,
    Verification,
)
from vanguard.store import AuditLog, IncidentRepo, open_store
from vanguard.verify import settle

pytestmark = pytest.mark.integration


class Drain(GaugeAction):
    """``svc.drain``: changes what the endpoint reports as ``effect`` says."""

    kind: ClassVar[str] = "svc.drain"


def _pattern(*verify: PatternVerify, metric: str = "queue") -> Pattern:
    return Pattern(
        id="svc_queue",
        description="the queue grows",
        service_types=("svc",),
        metric=metric,
        signature=(Condition(field="confidence", op=Operator.gte, value=0.5),),
        remedy=PatternRemedy(action="svc.drain"),
        rollback_safe=True,
        prior_confidence=0.9,
        verify=verify,
    )


@pytest.fixture
def exporter() -> Iterator[tuple[Exporter, Gauges]]:
    with Exporter() as exp:
        gauges = {
            "queue": exp.gauge("queue", "Waiting requests."),
            "wait": exp.gauge("wait_seconds", "Longest wait per pool.", ("pool",)),
        }
        gauges["queue"].set(10)
        gauges["wait"].labels(pool="a").set(0.8)
        gauges["wait"].labels(pool="b").set(0.8)
        yield exp, gauges


def _run(
    exp: Exporter,
    gauges: Gauges,
    tmp_path: Path,
    pattern: Pattern,
    drain: Drain,
    *,
    recorded: JsonValue = None,
    audit: list[JsonValue] | None = None,
    alerting: tuple[str, dict[str, str]] = ("queue", {}),
    service_verify: tuple[VerifyMetric, ...] = (),
) -> Verification:
    """Open, diagnose, decide, record the baseline (or store ``recorded`` as it), act, verify.

    ``audit`` collects the incident's audit payloads, as stored (redacted); ``alerting`` is
    the alert's metric and labels; ``service_verify`` the service's own ``verify`` list.
    """
    settings = Settings(
        data_dir=tmp_path,
        services=(
            ServiceConfig(
                name="svc",
                type="svc",
                scrape=ScrapeConfig(url=exp.url),
                verify=service_verify,
            ),
        ),
        policy=PolicyConfig(min_confidence=0.5),
        verification=VerificationConfig(baseline_s=1, sample_interval_s=0.2),
    )
    store = open_store(f"sqlite:///{tmp_path / 'v.db'}")
    acts = Activities(settings, store, [pattern], {drain.kind: drain}, MemoryLedger(), [])
    alert = Alert(
        alert_id="a-1",
        fingerprint=f"svc/{alerting[0]}",
        source="alertmanager",
        service_name="svc",
        metric_type=alerting[0],
        labels=alerting[1],
        detected_at=datetime.now(UTC),
        summary="queue 10",
        anomaly_score=1.0,
        confidence=1.0,
    )
    try:
        acts.open_incident(OpenInput(incident_id="inc-1", alert=alert))
        diagnosis = acts.diagnose(DiagnoseInput(incident_id="inc-1", alert=alert))
        acts.decide(DecideInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis))
        apply = ApplyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis)
        if recorded is None:
            acts.record_baseline(apply)
        else:
            with store.session() as session:
                AuditLog(session).append(
                    incident_id="inc-1",
                    kind=BASELINE,
                    payload={"windows": recorded},
                    at=datetime.now(UTC),
                )
        action = acts.apply_action(apply)
        verification = acts.verify(
            VerifyInput(incident_id="inc-1", alert=alert, diagnosis=diagnosis, action=action)
        )
        with store.session() as session:
            record = IncidentRepo(session).get_record("inc-1")
            if audit is not None:
                audit.extend(e.payload for e in AuditLog(session).entries("inc-1"))
    finally:
        store.close()
    assert record is not None
    assert record.verification == verification
    return verification


def _pool_b(after: float | None) -> Callable[[Gauges], None]:
    """The queue and pool a's wait fall; pool b's wait becomes ``after`` (None: gone)."""

    def effect(gauges: Gauges) -> None:
        gauges["queue"].set(2)
        gauges["wait"].labels(pool="a").set(0.05)
        if after is None:
            gauges["wait"].remove("b")
        else:
            gauges["wait"].labels(pool="b").set(after)

    return effect


POOL_B_OUTCOMES = [
    (0.8, Verdict.improved, "resolve"),
    (3.0, Verdict.degraded, "roll_back"),
    (None, Verdict.inconclusive, "escalate"),
]
"""Pool b's wait after the action (None: its series vanished), the verdict and next step."""


@pytest.mark.parametrize(("b_after", "verdict", "next_step"), POOL_B_OUTCOMES)
def test_a_vetoing_entry_without_labels_judges_every_pool(
    exporter: tuple[Exporter, Gauges],
    tmp_path: Path,
    b_after: float | None,
    verdict: Verdict,
    next_step: str,
) -> None:
    """The queue decides; the wait of any pool that got worse vetoes, and each pool is named.

    A pool whose series vanished after the action may have been broken by it: inconclusive,
    so the change stays in place and a human looks, never counted as a success.
    """
    exp, gauges = exporter
    pattern = _pattern(PatternVerify(), PatternVerify(metric="wait_seconds"))
    verification = _run(exp, gauges, tmp_path, pattern, Drain(gauges, _pool_b(b_after)))

    assert verification.verdict is verdict, verification.reason
    assert settle(verification, undo_possible=True).next_step == next_step
    assert {p.value for p in verification.observed} == {2.0}
    assert verification.figures["wait_seconds{pool=a}:observed_median"] == 0.05
    assert "wait_seconds{pool=a}: improved" in verification.reason
    if b_after is None:
        assert verification.figures["wait_seconds{pool=b}:observed_points"] == 0
        assert verification.reason.startswith(
            "inconclusive: wait_seconds{pool=b} could not be judged"
        )
    else:
        assert verification.figures["wait_seconds{pool=b}:observed_median"] == b_after
    if verdict is Verdict.degraded:
        assert verification.reason.startswith("degraded: wait_seconds{pool=b} got worse")


@pytest.mark.parametrize(
    ("c_after", "verdict", "text"),
    [
        (0.5, Verdict.improved, "wait_seconds{pool=c}: not counted, too few points before"),
        (5.0, Verdict.inconclusive, "inconclusive: wait_seconds{pool=c} could not be judged"),
    ],
    ids=["no-worse-than-the-others", "worse-than-every-other"],
)
def test_a_pool_that_appears_after_the_action_counts_only_when_it_looks_worse(
    exporter: tuple[Exporter, Gauges],
    tmp_path: Path,
    c_after: float,
    verdict: Verdict,
    text: str,
) -> None:
    """A new pool has no baseline: like the others it is named, not counted; worse, it stops.

    A series that appears worse than every series known before the action (errors of a
    new kind) may be the remedy's doing, so the remedy is not counted as a success.
    """
    exp, gauges = exporter

    def effect(g: Gauges) -> None:
        _pool_b(0.8)(g)
        g["wait"].labels(pool="c").set(c_after)

    pattern = _pattern(PatternVerify(), PatternVerify(metric="wait_seconds"))
    verification = _run(exp, gauges, tmp_path, pattern, Drain(gauges, effect))

    assert verification.verdict is verdict, verification.reason
    assert text in verification.reason


@pytest.mark.parametrize(("b_after", "verdict", "next_step"), POOL_B_OUTCOMES)
def test_a_deciding_entry_without_labels_judges_every_pool(
    exporter: tuple[Exporter, Gauges],
    tmp_path: Path,
    b_after: float | None,
    verdict: Verdict,
    next_step: str,
) -> None:
    """Another metric decides: better in one pool and no worse in any is an improvement.

    A pool that vanished after the action cannot be judged, so the whole is inconclusive:
    the change stays in place and a human looks, neither rolled back nor counted a success.
    """
    exp, gauges = exporter
    pattern = _pattern(PatternVerify(metric="wait_seconds"))
    verification = _run(exp, gauges, tmp_path, pattern, Drain(gauges, _pool_b(b_after)))

    assert verification.verdict is verdict, verification.reason
    assert verification.figures["wait_seconds{pool=a}:observed_median"] == 0.05
    assert "wait_seconds{pool=a}: improved" in verification.reason
    assert "wait_seconds{pool=b}: " in verification.reason
    worst = verification.figures  # pool b's, the worst deciding series, shown unprefixed
    if b_after is None:
        assert worst["observed_points"] == 0
    else:
        assert worst["observed_median"] == b_after
    assert settle(verification, undo_possible=True).next_step == next_step
    if b_after is None:
        assert verification.figures["wait_seconds{pool=b}:observed_points"] == 0


def test_a_label_value_that_looks_like_a_secret_keeps_its_baseline(
    exporter: tuple[Exporter, Gauges], tmp_path: Path
) -> None:
    """The audit trail redacts values under secret-looking keys; no label value is a key."""
    exp, gauges = exporter
    gauges["wait"].labels(pool="token_rw").set(0.8)

    def effect(g: Gauges) -> None:
        _pool_b(0.8)(g)
        g["wait"].labels(pool="token_rw").set(0.05)

    pattern = _pattern(PatternVerify(metric="wait_seconds"))
    audit: list[JsonValue] = []
    verification = _run(exp, gauges, tmp_path, pattern, Drain(gauges, effect), audit=audit)

    assert verification.verdict is Verdict.improved, verification.reason
    assert "wait_seconds{pool=token_rw}: improved" in verification.reason
    name = "wait_seconds{pool=token_rw}:observed_median"
    stored = [
        {str(pair[0]): pair[1] for pair in figures if isinstance(pair, list)}
        for p in audit
        if isinstance(p, dict) and isinstance(figures := p.get("figures"), list)
    ]
    assert stored
    assert stored[-1][name] == verification.figures[name] == 0.05


@pytest.mark.parametrize(
    "recorded",
    [
        {"wait_seconds{}": [["2026-03-01T09:00:00+00:00", 0.8]] * 6},
        {"wait_seconds{}": {"pool=a": [["2026-03-01T09:00:00+00:00", 0.8]] * 6}},
    ],
    ids=["one-window-per-entry", "keyed-by-labels"],
)
def test_a_baseline_recorded_by_an_earlier_version_escalates(
    exporter: tuple[Exporter, Gauges], tmp_path: Path, recorded: JsonValue
) -> None:
    """Its series cannot be matched to those read now: never guessed, the change stays."""
    exp, gauges = exporter
    pattern = _pattern(PatternVerify(metric="wait_seconds"))
    verification = _run(
        exp, gauges, tmp_path, pattern, Drain(gauges, _pool_b(0.8)), recorded=recorded
    )

    assert verification.verdict is Verdict.inconclusive
    assert "baseline recorded by an earlier version" in verification.reason
    assert settle(verification, undo_possible=True).next_step == "escalate"


def test_a_series_two_entries_match_is_named_apart(
    exporter: tuple[Exporter, Gauges], tmp_path: Path
) -> None:
    """One entry names pool a, the next every pool: pool a's figures appear under both."""
    exp, gauges = exporter
    pattern = _pattern(
        PatternVerify(metric="wait_seconds", labels={"pool": "a"}),
        PatternVerify(metric="wait_seconds", better="higher"),
    )
    verification = _run(exp, gauges, tmp_path, pattern, Drain(gauges, _pool_b(0.8)))

    assert verification.figures["observed_median"] == 0.05
    assert verification.figures["wait_seconds{pool=a}#2:observed_median"] == 0.05
    assert verification.verdict is Verdict.degraded, verification.reason
    assert verification.reason.startswith("degraded: wait_seconds{pool=a}#2 got worse")


@pytest.mark.parametrize(
    ("a_after", "verdict", "next_step"),
    [(0.8, Verdict.unchanged, "roll_back"), (0.05, Verdict.improved, "resolve")],
    ids=["alerting-pool-unchanged", "alerting-pool-improved"],
)
def test_the_alerting_pool_must_itself_improve(
    exporter: tuple[Exporter, Gauges],
    tmp_path: Path,
    a_after: float,
    verdict: Verdict,
    next_step: str,
) -> None:
    """Pool a alerted (its alert also carries a routing label the series lack); the service
    verifies by every pool's wait, and pool b improving does not end pool a's alert."""
    exp, gauges = exporter

    def effect(g: Gauges) -> None:
        g["wait"].labels(pool="a").set(a_after)
        g["wait"].labels(pool="b").set(0.05)

    verification = _run(
        exp,
        gauges,
        tmp_path,
        _pattern(PatternVerify(), metric="wait_seconds"),
        Drain(gauges, effect),
        alerting=("wait_seconds", {"pool": "a", "team": "db"}),
        service_verify=(VerifyMetric(metric="wait_seconds"),),
    )

    assert verification.verdict is verdict, verification.reason
    assert settle(verification, undo_possible=True).next_step == next_step


def test_an_entry_matching_too_many_pools_stores_a_bounded_baseline(
    exporter: tuple[Exporter, Gauges], tmp_path: Path
) -> None:
    """Sixty pools: the audit keeps 51 of them (enough to know there are too many)."""
    exp, gauges = exporter
    for n in range(58):
        gauges["wait"].labels(pool=f"p{n:02d}").set(0.8)
    audit: list[JsonValue] = []
    pattern = _pattern(PatternVerify(metric="wait_seconds"))
    verification = _run(exp, gauges, tmp_path, pattern, Drain(gauges, _pool_b(0.05)), audit=audit)

    assert verification.verdict is Verdict.inconclusive
    assert "matches 60 series, more than 50" in verification.reason
    (baseline,) = [
        windows
        for p in audit
        if isinstance(p, dict) and isinstance(windows := p.get("windows"), list)
    ]
    entries = [w["entry"] for w in baseline if isinstance(w, dict)]
    assert entries.count(max(entries, key=entries.count)) == 51


@pytest.mark.parametrize(
    ("alerting", "judged"),
    [
        (("wait_seconds", {"pool": "a", "team": "db"}), "wait_seconds{pool=a}"),
        (("queue", {"team": "db"}), "queue{}"),
    ],
    ids=["per-pool-series", "single-series"],
)
def test_an_alerts_rule_labels_do_not_hide_its_own_series(
    exporter: tuple[Exporter, Gauges],
    tmp_path: Path,
    alerting: tuple[str, dict[str, str]],
    judged: str,
) -> None:
    """Alertmanager alerts carry their rule's labels (``team``), which the series lack."""
    exp, gauges = exporter

    def effect(g: Gauges) -> None:
        g["queue"].set(2)
        g["wait"].labels(pool="a").set(0.05)

    verification = _run(
        exp,
        gauges,
        tmp_path,
        _pattern(PatternVerify(), metric=alerting[0]),
        Drain(gauges, effect),
        alerting=alerting,
    )

    assert verification.verdict is Verdict.improved, verification.reason
    assert verification.reason.startswith(f"improved ({judged}: improved: ")
    assert "pool=b" not in verification.reason
    assert settle(verification, undo_possible=True).next_step == "resolve"


def test_an_alert_whose_labels_tell_no_pool_apart_is_not_resolved_by_another_pool(
    exporter: tuple[Exporter, Gauges], tmp_path: Path
) -> None:
    """The series carry only ``pool``; the alert names none: no guess between the pools."""
    exp, gauges = exporter

    def effect(g: Gauges) -> None:
        g["wait"].labels(pool="b").set(0.05)

    verification = _run(
        exp,
        gauges,
        tmp_path,
        _pattern(PatternVerify(), metric="wait_seconds"),
        Drain(gauges, effect),
        alerting=("wait_seconds", {"database": "x", "team": "db"}),
    )

    assert verification.verdict is Verdict.inconclusive, verification.reason
    assert settle(verification, undo_possible=True).next_step == "escalate"


def test_an_alerting_pool_missing_from_the_reads_is_not_resolved_by_another_pool(
    exporter: tuple[Exporter, Gauges], tmp_path: Path
) -> None:
    """The alert names pool c, which the endpoint does not report; pool b improving is
    no verdict on pool c."""
    exp, gauges = exporter

    def effect(g: Gauges) -> None:
        g["wait"].labels(pool="b").set(0.05)

    verification = _run(
        exp,
        gauges,
        tmp_path,
        _pattern(PatternVerify(), metric="wait_seconds"),
        Drain(gauges, effect),
        alerting=("wait_seconds", {"pool": "c", "team": "db"}),
        service_verify=(VerifyMetric(metric="wait_seconds"),),
    )

    assert verification.verdict is Verdict.inconclusive, verification.reason
    assert "the alerting series is not one of the deciding series read" in verification.reason
    assert settle(verification, undo_possible=True).next_step == "escalate"
