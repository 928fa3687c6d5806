"""The CI patterns route each heal to its adapter, and the policy's limits are per repository."""

from __future__ import annotations

import pytest

from tests.unit.ci.builders import T0, run_alert
from vanguard.ci.healing import HealKind, StormVerdict
from vanguard.decide import GateContext, PolicyConfig, decide
from vanguard.diagnose.cilog import explain
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import load_patterns
from vanguard.model import Alert

PATTERNS = load_patterns()


def _alert(kind: HealKind, *, repo: str = "o/r", retryable: bool = True) -> Alert:
    explanation = explain(["npm ERR! network request failed, reason: read ECONNRESET"])
    explanation = explanation.model_copy(update={"retryable": retryable})
    storm = StormVerdict(
        storm=kind is HealKind.outage,
        fingerprint=explanation.fingerprint,
        repositories=("a/x", "b/x", "c/x"),
        window_start=T0,
        reason="storm",
    )
    return run_alert(explanation, kind=kind, repository=repo, storm=storm)


@pytest.mark.parametrize(
    ("kind", "pattern", "action"),
    [
        (HealKind.rerun, "ci_rerun", "github.rerun"),
        (HealKind.triage, "ci_triage", "github.triage"),
        (HealKind.outage, "ci_outage", "github.triage"),
    ],
)
def test_each_heal_matches_exactly_its_pattern(kind: HealKind, pattern: str, action: str) -> None:
    diagnosis = match(_alert(kind), PATTERNS, service_type="generic")
    assert diagnosis.pattern_id == pattern
    assert diagnosis.remedy is not None
    assert diagnosis.remedy.action == action


def test_a_deterministic_failure_never_matches_the_rerun_pattern() -> None:
    diagnosis = match(_alert(HealKind.rerun, retryable=False), PATTERNS, service_type="ci")
    assert diagnosis.pattern_id is None


def test_outage_is_one_incident_whichever_repository_reports_it() -> None:
    first = _alert(HealKind.outage, repo="a/x")
    second = _alert(HealKind.outage, repo="c/x")
    assert first.alert_id == second.alert_id
    assert first.service_name == second.service_name == "a/x"


def test_daily_budget_is_per_repository() -> None:
    policy = PolicyConfig(min_confidence=0.0, max_actions_per_service_per_day=2)
    diagnosis = match(_alert(HealKind.rerun), PATTERNS, service_type="generic")

    def ctx(repo: str, today: int) -> GateContext:
        return GateContext(
            now=T0,
            service_name=repo,
            action="github.rerun",
            actions_today=today,
            actions_this_week=today,
        )

    spent = decide("inc-1", diagnosis, ctx("busy/repo", 2), policy)
    fresh = decide("inc-2", diagnosis, ctx("quiet/repo", 0), policy)
    assert not spent.approved
    assert any(v.gate == "rate_limit" and not v.passed for v in spent.verdicts)
    assert fresh.approved
