"""A re-run alert's confidence: honest about the class, confident on a clear signature."""

from __future__ import annotations

import pytest

from tests.unit.ci.builders import T0, run_alert
from vanguard.ci.alerts import retry_evidence
from vanguard.decide import GateContext, PolicyConfig, decide
from vanguard.diagnose.cilog import ExplainedLine, Explanation, explain
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import load_patterns
from vanguard.diagnose.taxonomy import builtin_taxonomy

TAXONOMY = builtin_taxonomy()
PATTERNS = load_patterns()
STEP = ["##[group]Run ./ci.sh", "./ci.sh", "##[endgroup]"]
END = ["##[error]Process completed with exit code 1."]


def _explain(*lines: str) -> Explanation:
    return explain([*STEP, *lines, *END], taxonomy=TAXONOMY)


def _decided_with_defaults(explanation: Explanation) -> bool:
    alert = run_alert(
        explanation, reason="retryable", evidence=retry_evidence(explanation, TAXONOMY)
    )
    diagnosis = match(alert, PATTERNS, service_type="ci")
    assert diagnosis.pattern_id == "ci_rerun"
    context = GateContext(
        now=T0, service_name="o/r", action="github.rerun", actions_today=0, actions_this_week=0
    )
    return decide("inc-1", diagnosis, context, PolicyConfig()).approved


@pytest.mark.parametrize(
    ("category", "lines"),
    [
        (
            "network_transient",
            (
                "npm ERR! code ECONNRESET",
                "npm ERR! network request to https://registry.npmjs.org/x failed, "
                "reason: read ECONNRESET",
            ),
        ),
        (
            "runner_lost",
            (
                "##[error]The runner has received a shutdown signal. This can happen when the "
                "runner service is stopped, or a manually started runner is canceled.",
            ),
        ),
        (
            "rate_limit",
            ("Error: API rate limit exceeded for installation ID 4242.",),
        ),
        (
            "git_transient",
            ("fatal: unable to access 'https://github.com/o/r/': The requested URL returned",),
        ),
    ],
)
def test_a_clear_transient_signature_is_rerun_under_the_default_policy(
    category: str, lines: tuple[str, ...]
) -> None:
    explanation = _explain(*lines)
    assert explanation.category == category
    evidence = retry_evidence(explanation, TAXONOMY)
    assert evidence.signature is not None
    assert evidence.confidence > explanation.confidence
    assert _decided_with_defaults(explanation)


def test_a_weak_hint_alone_is_not_rerun_automatically() -> None:
    explanation = _explain("Error: unexpected EOF while reading the archive")
    assert TAXONOMY.get(explanation.category).retryable
    evidence = retry_evidence(explanation, TAXONOMY)
    assert evidence.signature_weight <= 2.0
    assert not _decided_with_defaults(explanation)


def test_a_signature_only_on_a_line_that_does_not_explain_counts_less() -> None:
    on_line = retry_evidence(_explain("curl: (7) Failed to connect: Connection refused"), TAXONOMY)
    moved = _explain("curl: (7) Failed to connect: Connection refused").model_copy(
        update={"lines": ()}
    )
    off_line = retry_evidence(moved, TAXONOMY)
    assert off_line.signature is None
    assert off_line.confidence < on_line.confidence


def test_a_deterministic_signature_on_the_same_lines_lowers_confidence() -> None:
    network = _explain("curl: (7) Failed to connect: Connection refused")
    denied = ExplainedLine(
        number=9, text="git@github.com: Permission denied (publickey).", score=0.4
    )
    mixed = network.model_copy(update={"lines": (*network.lines, denied)})
    clean = retry_evidence(network, TAXONOMY)
    evidence = retry_evidence(mixed, TAXONOMY)
    assert clean.against is None
    assert evidence.against == "auth_permission"
    assert evidence.confidence < clean.confidence


def test_a_class_a_rerun_cannot_fix_has_no_retry_confidence() -> None:
    explanation = _explain("error[E0425]: cannot find value `totl` in this scope")
    evidence = retry_evidence(explanation, TAXONOMY)
    assert evidence.confidence == 0.0
    assert "not retryable" in evidence.reason


def test_the_reason_travels_with_the_alert() -> None:
    explanation = _explain("npm ERR! network read ECONNRESET")
    evidence = retry_evidence(explanation, TAXONOMY)
    alert = run_alert(explanation, head_branch=None, job_id=None, evidence=evidence)
    assert alert.confidence == evidence.confidence
    assert alert.attributes["retry_evidence"] == evidence.reason
