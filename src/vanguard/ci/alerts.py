"""A failed run, its explanation and its heal plan as the ``Alert`` that starts an incident.

Pure. The alert carries everything the engine's pattern match and the GitHub adapters need:
labels (``heal``, ``category``, ``retryable``, ``fingerprint``, run ids, ``service_type=ci``)
for the closed matcher vocabulary, and attributes (the explaining lines, links, the storm's
repositories) for the triage issue. One incident per run attempt; a storm is one incident per
fingerprint and window, whichever repository reports it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from vanguard.ci.healing import HealKind, HealPlan, StormVerdict
from vanguard.diagnose.cilog import Explanation
from vanguard.model import Alert, EvidencePoint, Severity

__all__ = ["METRIC", "SOURCE", "failure_alert"]

SOURCE = "github.actions"
METRIC = "ci_run_failure"
MAX_LINES = 20


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
) -> Alert:
    """The alert for one failed attempt (or for the outage it is part of)."""
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
    attributes: dict[str, JsonValue] = {
        "lines": [line.text for line in explanation.lines[:MAX_LINES]],
        "failed_step": explanation.failed_step,
        "run_url": run_url,
        "heal_reason": plan.reason,
        "explanation_confidence": explanation.confidence,
    }
    if outage and storm is not None:
        attributes["outage_repositories"] = list(storm.repositories)
        alert_id = f"github-outage:{explanation.fingerprint}:{storm.window_start:%Y%m%dT%H%M%S}"
        service = storm.repositories[0]
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
    confidence = explanation.confidence if plan.kind is HealKind.rerun else 1.0
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
