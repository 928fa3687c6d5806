"""A failed run, its explanation and its heal plan as the ``Alert`` that starts an incident.

Pure. The alert carries everything the engine's pattern match and the GitHub adapters need:
labels (``heal``, ``category``, ``retryable``, ``fingerprint``, run ids, ``service_type=ci``)
for the closed matcher vocabulary, and attributes (the explaining lines, links, the storm's
repositories) for the triage issue. One incident per run attempt; a storm is one incident per
fingerprint and window, whichever repository reports it.

A re-run alert's confidence is ``retry_evidence``'s: how sure the class is, raised by a
strong signature of that class on an explaining line, lowered by signatures of classes a
re-run cannot fix on the same lines. Triage and outage alerts carry 1.0.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from vanguard.ci.healing import HealKind, HealPlan, StormVerdict, outage_home
from vanguard.diagnose.cilog import ExplainedLine, Explanation
from vanguard.diagnose.taxonomy import Taxonomy
from vanguard.model import Alert, EvidencePoint, Severity
from vanguard.redact import redact_text

__all__ = ["METRIC", "SOURCE", "RetryEvidence", "failure_alert", "retry_evidence"]

SOURCE = "github.actions"
METRIC = "ci_run_failure"
MAX_LINES = 20
"""Lines of the best report an alert carries: a window from a few lines above its best line."""
LEAD_LINES = 5
MAX_CANDIDATES = 4
"""Further candidate lines an alert carries, best first, for where else to look."""
EXPLAINING_LINES = 10
"""The classifier weighs the first ten explained lines double; so does ``retry_evidence``."""
SIGNATURE_HALF = 1.5
"""The signature weight at which a signature alone counts as a coin toss (weights are 1-4)."""


class RetryEvidence(BaseModel):
    """How sure Vanguard is that re-running a failed run heals it, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    confidence: float = Field(ge=0.0, le=1.0)
    class_confidence: float = Field(ge=0.0, le=1.0)
    signature: str | None = None
    signature_weight: float = Field(default=0.0, ge=0.0)
    against: str | None = None
    against_weight: float = Field(default=0.0, ge=0.0)
    reason: str


def retry_evidence(explanation: Explanation, taxonomy: Taxonomy) -> RetryEvidence:
    """Confidence that a re-run helps: class verdict, signature strength, counter-evidence.

    ``class_confidence`` is the classifier's own ``S / (S + 2)``, with ``S`` the weight of
    the class's matched indications (double on an explaining line). The strongest of them
    on an explaining line, of weight ``w``, is a second sign: ``w / (w + 1.5)``. The two are
    combined as independent signs, ``1 - (1 - c)(1 - s)``, then scaled by ``S / (S + D)``
    where ``D`` is the weight of the strongest non-retryable class on the explaining lines.
    The explanation's own confidence is not used: it is capped by how the explaining line
    ranked against the others, which says where the failure is, not what kind it is.
    """
    category = taxonomy.get(explanation.category)
    if not category.retryable:
        return RetryEvidence(
            confidence=0.0,
            class_confidence=0.0,
            reason=f"{category.id} is not retryable: a re-run cannot fix it",
        )
    explaining = [line.text for line in explanation.lines[:EXPLAINING_LINES]]
    matched = set(explanation.indications)
    support = 0.0
    signature: str | None = None
    strongest = 0.0
    for indication in category.indications:
        if indication.pattern not in matched:
            continue
        pattern = indication.compiled()
        on_line = any(pattern.search(text) for text in explaining)
        support += indication.weight * (2.0 if on_line else 1.0)
        if on_line and indication.weight > strongest:
            signature, strongest = indication.pattern, indication.weight
    against_id: str | None = None
    against = 0.0
    for other in taxonomy.categories:
        if other.retryable or other.id == category.id:
            continue
        weight = sum(
            2.0 * indication.weight
            for indication in other.indications
            if any(indication.compiled().search(text) for text in explaining)
        )
        if weight > against:
            against_id, against = other.id, weight
    class_confidence = support / (support + 2.0) if support else 0.0
    strength = strongest / (strongest + SIGNATURE_HALF) if strongest else 0.0
    combined = 1.0 - (1.0 - class_confidence) * (1.0 - strength)
    if support + against:
        combined *= support / (support + against)
    reason = f"{category.id}: class {class_confidence:.2f}"
    reason += (
        f", signature of weight {strongest:g} on an explaining line"
        if signature
        else ", no signature on an explaining line"
    )
    if against_id is not None:
        reason += f", against: {against_id} (weight {against:g})"
    return RetryEvidence(
        confidence=round(combined, 4),
        class_confidence=round(class_confidence, 4),
        signature=signature,
        signature_weight=strongest,
        against=against_id,
        against_weight=against,
        reason=reason,
    )


def failure_alert(
    *,
    repository: str,
    workflow: str,
    run_id: int,
    run_attempt: int,
    head_sha: str,
    head_branch: str | None,
    run_url: str | None,
    job_id: int | None,
    explanation: Explanation,
    plan: HealPlan,
    storm: StormVerdict | None,
    finished_at: datetime,
    requested_by: str | None = None,
    evidence: RetryEvidence | None = None,
    baseline_url: str | None = None,
    outage_repository: str | None = None,
) -> Alert:
    """The alert for one failed attempt (or for the outage it is part of, filed under
    ``outage_repository`` when given, else the first failing repository by name).

    A re-run's confidence is ``evidence``'s when given (a re-run a person asked for comes
    without, at the explanation's confidence). ``baseline_url`` links the passing job the
    log was compared with, when there was one.
    """
    outage = plan.kind is HealKind.outage and storm is not None
    labels = {
        "service_type": "ci",
        "heal": str(plan.kind),
        "category": explanation.category,
        "retryable": "true" if explanation.retryable else "false",
        "fingerprint": explanation.fingerprint,
        "run_id": str(run_id),
        "run_attempt": str(run_attempt),
        "workflow": workflow[:200],
        "head_sha": head_sha,
        "head_branch": head_branch or "",
        "track": "true" if plan.track else "false",
        "backoff_s": f"{plan.backoff_s:g}",
    }
    if job_id is not None:
        labels["job_id"] = str(job_id)
    if requested_by:
        labels["requested_by"] = requested_by
    step = explanation.failed_step
    if step is not None:
        step = step.removeprefix("##[group]")
    attributes: dict[str, JsonValue] = {
        "headline": redact_text(best.text) if (best := explanation.title_line()) else "",
        "lines": [redact_text(line.text) for line in _excerpt(explanation)],
        "candidates": [redact_text(line.text) for line in _candidates(explanation)],
        "failed_step": redact_text(step) if step is not None else None,
        "run_url": run_url,
        "heal_reason": plan.reason,
        "explanation_confidence": explanation.confidence,
    }
    if explanation.new_lines_only:
        attributes["baseline_url"] = baseline_url
    if outage and storm is not None:
        attributes["outage_repositories"] = list(storm.repositories)
        alert_id = f"github-outage:{explanation.fingerprint}:{storm.window_start:%Y%m%dT%H%M%S}"
        service = outage_home(storm, outage_repository)
        summary = (
            f"CI outage: {explanation.category} failing in {len(storm.repositories)} "
            f"repositories ({explanation.fingerprint})"
        )
    else:
        suffix = f":{requested_by}" if requested_by else ""
        alert_id = f"github:{repository}:{run_id}:{run_attempt}{suffix}"
        service = repository
        summary = (
            f"{workflow} failed in {repository} (run {run_id} attempt {run_attempt}): "
            f"{explanation.category}"
        )
    confidence = 1.0
    if plan.kind is HealKind.rerun:
        confidence = evidence.confidence if evidence is not None else explanation.confidence
        if evidence is not None:
            attributes["retry_evidence"] = evidence.reason
    return Alert(
        alert_id=alert_id,
        fingerprint=f"{service}:{explanation.fingerprint}",
        source=SOURCE,
        service_name=service,
        metric_type=METRIC,
        labels=labels,
        detected_at=finished_at,
        severity=Severity.critical if outage else Severity.warning,
        summary=summary,
        anomaly_score=1.0,
        confidence=confidence,
        evidence=(EvidencePoint(timestamp=finished_at, value=1.0),),
        attributes=attributes,
    )


def _excerpt(explanation: Explanation) -> tuple[ExplainedLine, ...]:
    """The best report in log order, at most ``MAX_LINES`` from a few lines above its best
    line; the ranked lines when there is no report."""
    report = explanation.answer_lines()
    best = explanation.best_line()
    if not report or best is None:
        return explanation.lines[:MAX_LINES]
    at = next(i for i, line in enumerate(report) if line.number == best.number)
    start = max(0, min(at - LEAD_LINES, len(report) - MAX_LINES))
    return report[start : start + MAX_LINES]


def _candidates(explanation: Explanation) -> tuple[ExplainedLine, ...]:
    """Further candidates outside the best report (none when there is no report)."""
    return explanation.other_candidates()[:MAX_CANDIDATES] if explanation.answer else ()
