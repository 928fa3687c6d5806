"""Render an incident as a message a human can act on, secrets removed (pure).

The message tells what happened, the diagnosis, every gate's verdict, the action with its
before and after, the verification evidence, the outcome, and how to undo it:
``vanguard rollback <incident_id>`` when Vanguard can undo the action itself, otherwise the
adapter's manual instructions. Values under secret-looking keys, the given ``secrets`` and
passwords in URLs are replaced by ``***`` everywhere in the message.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pydantic import JsonValue

from vanguard.incident import Incident
from vanguard.model import (
    NOT_BEGUN,
    ActionResult,
    Alert,
    Decision,
    Diagnosis,
    Outcome,
    OutcomeStatus,
    Severity,
    Verification,
)
from vanguard.notify.base import Message
from vanguard.redact import REDACTED, is_secret_key, redact, redact_text

__all__ = ["config_flag", "render", "render_worsened", "scrub", "undo_hint"]

MIN_SECRET_LENGTH = 4
_SEVERITY = {
    OutcomeStatus.resolved: Severity.info,
    OutcomeStatus.dry_run: Severity.info,
    OutcomeStatus.declined: Severity.warning,
    OutcomeStatus.rolled_back: Severity.warning,
    OutcomeStatus.escalated: Severity.critical,
    OutcomeStatus.failed: Severity.critical,
}
_FIGURES = (
    "baseline_median",
    "observed_median",
    "relative_change",
    "p_value",
    "baseline_slope_per_hour",
    "observed_slope_per_hour",
    "recurrence_hours",
    "baseline_points",
    "observed_points",
)


def render(
    incident: Incident,
    diagnosis: Diagnosis | None = None,
    decision: Decision | None = None,
    result: ActionResult | None = None,
    verification: Verification | None = None,
    outcome: Outcome | None = None,
    *,
    rollback: ActionResult | None = None,
    secrets: Sequence[str] = (),
    config: Path | None = None,
) -> Message:
    """Build the message for ``incident`` from whatever stages have run so far.

    ``config``, the file the sender runs with, goes into the commands the message offers
    (``-c FILE``), so they work from any directory on that machine.
    """
    alert = incident.alert
    known = [*secrets, *_secret_values(diagnosis, result, rollback)]
    status = _status(incident, decision, outcome)
    pattern = diagnosis.pattern_id if diagnosis and diagnosis.pattern_id else "no known pattern"
    title = f"[{status}] {alert.service_name} {alert.metric_type}: {pattern}"
    undo = undo_hint(incident.incident_id, result, outcome, rollback, config=config)

    sections = [_what_happened(incident)]
    if diagnosis is not None:
        sections.append(_diagnosis(diagnosis))
    if decision is not None:
        answered = outcome is not None or incident.closed
        sections.append(_decision(decision, answered=answered, config=config))
    if result is not None:
        sections.append(_action("Action", result))
    if verification is not None:
        sections.append(_verification(verification))
    if rollback is not None:
        sections.append(_action("Rollback", rollback))
    if outcome is not None:
        sections.append(f"Outcome: {outcome.status.value}: {outcome.reason}")
    acted = decision is not None and decision.approved and not decision.dry_run
    sections.append(_how_to_undo(undo, result, outcome, rollback, acted=acted))

    return Message(
        title=scrub(title, known),
        body=scrub("\n\n".join(sections), known),
        severity=_severity(incident, decision, outcome),
        incident_id=incident.incident_id,
        undo=scrub(undo, known) if undo is not None else None,
    )


def undo_hint(
    incident_id: str,
    result: ActionResult | None,
    outcome: Outcome | None = None,
    rollback: ActionResult | None = None,
    *,
    config: Path | None = None,
) -> str | None:
    """The command or instructions that undo the applied action, or ``None`` if nothing to undo.

    The command names ``config``, as the approval commands do: an on-call copying it from
    another directory must reach the same store."""
    if result is None or not result.applied:
        return None
    if rollback is not None and rollback.applied:
        return None
    if outcome is not None and outcome.status is OutcomeStatus.rolled_back:
        return None
    if result.undo.possible:
        return f"vanguard rollback {incident_id}{config_flag(config)}"
    return result.undo.instructions


def config_flag(config: Path | None) -> str:
    """`` -c CONFIG`` (absolute, quoted for a shell) for a command a person copies.

    Always given when the sender's file is known: a worker started with the default
    ``./vanguard.yaml`` in its own directory says nothing about the directory a person pastes
    the command in. Nothing when the file is unknown.
    """
    if config is None:
        return ""
    return f" -c {shlex.quote(str(config.absolute()))}"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask each known secret, then every credential ``vanguard.redact`` recognises.

    Secrets shorter than ``MIN_SECRET_LENGTH`` are skipped: masking every "ab" would shred
    the message while protecting nothing.
    """
    for secret in sorted(
        {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
    ):
        text = text.replace(secret, REDACTED)
    return redact_text(text)


def _status(incident: Incident, decision: Decision | None, outcome: Outcome | None) -> str:
    if outcome is not None:
        return outcome.status.value.replace("_", " ")
    if decision is not None and decision.needs_approval:
        return "needs approval"
    return incident.state.value.replace("_", " ")


def _severity(incident: Incident, decision: Decision | None, outcome: Outcome | None) -> Severity:
    if outcome is not None:
        return _SEVERITY[outcome.status]
    if decision is not None and decision.needs_approval:
        return Severity.warning
    return incident.alert.severity


def _what_happened(incident: Incident) -> str:
    alert = incident.alert
    lines = [
        "What happened",
        f"  {alert.summary}",
        f"  service {alert.service_name}, metric {alert.metric_type}, "
        f"detected {alert.detected_at.isoformat()}, severity {alert.severity.value}",
        f"  anomaly score {alert.anomaly_score:.2f}, confidence {alert.confidence:.2f}",
    ]
    if alert.trend_analysis is not None:
        lines.append(f"  trend: {alert.trend_analysis.describe(alert.metric_type)}")
        if alert.trend_analysis.predicted_breach_time is not None:
            breach = alert.trend_analysis.predicted_breach_time.isoformat()
            lines.append(f"  predicted breach at {breach}")
    return "\n".join(lines)


def _diagnosis(diagnosis: Diagnosis) -> str:
    lines = [
        "Diagnosis",
        f"  pattern {diagnosis.pattern_id or 'none'}, confidence {diagnosis.confidence:.2f}, "
        f"rollback safe: {_yes(diagnosis.rollback_safe)}, "
        f"automation eligible: {_yes(diagnosis.automation_eligible)}",
    ]
    lines += [f"  - {reason}" for reason in diagnosis.reasons]
    if diagnosis.remedy is not None:
        params = _json(redact(dict(diagnosis.remedy.params)))
        lines.append(f"  remedy: {diagnosis.remedy.action} {params}")
    else:
        lines.append("  remedy: none")
    return "\n".join(lines)


def _decision(decision: Decision, *, answered: bool, config: Path | None) -> str:
    lines = [f"Decision: {decision.reason}"]
    lines += [
        f"  {'pass' if v.passed else 'FAIL'}  {v.gate}: {v.reason}" for v in decision.verdicts
    ]
    if decision.needs_approval and not answered:
        where = config_flag(config)
        lines.append(
            f"  to answer: vanguard incidents approve {decision.incident_id}{where} "
            f"(or: vanguard incidents decline {decision.incident_id}{where})"
        )
    return "\n".join(lines)


def _action(heading: str, result: ActionResult) -> str:
    state = "applied" if result.applied else "not applied"
    lines = [
        f"{heading}: {result.action} on {result.target}: {state} "
        f"at {result.finished_at.isoformat()}",
        f"  {result.message}",
    ]
    if result.before:
        lines.append(f"  before: {_json(redact(dict(result.before)))}")
    if result.after:
        lines.append(f"  after: {_json(redact(dict(result.after)))}")
    return "\n".join(lines)


def _verification(verification: Verification) -> str:
    lines = [f"Verification: {verification.reason}"]
    shown = [
        f"{name}={verification.figures[name]:.4g}"
        for name in _FIGURES
        if name in verification.figures
    ]
    if shown:
        lines.append(f"  {', '.join(shown)}")
    return "\n".join(lines)


def _how_to_undo(
    undo: str | None,
    result: ActionResult | None,
    outcome: Outcome | None,
    rollback: ActionResult | None,
    *,
    acted: bool = False,
) -> str:
    """What is left to undo. An approved action with no result ended failed or escalated
    before it could report: only its ledger (``NOT_BEGUN``) says it changed nothing."""
    if undo is not None:
        return f"How to undo\n  {undo}"
    rolled_back = (rollback is not None and rollback.applied) or (
        outcome is not None and outcome.status is OutcomeStatus.rolled_back
    )
    if rolled_back:
        return "How to undo\n  already rolled back; nothing left to undo"
    unfinished = outcome is not None and (
        outcome.status is OutcomeStatus.failed
        or (outcome.status is OutcomeStatus.escalated and acted and result is None)
    )
    if outcome is not None and unfinished:
        if NOT_BEGUN in outcome.reason:
            return "How to undo\n  the action never began; nothing was changed, nothing to undo"
        return (
            "How to undo\n  the action failed and may have been partly applied: "
            "check the target by hand (the outcome above says what was seen)"
        )
    if result is None or not result.applied:
        return "How to undo\n  nothing was changed; nothing to undo"
    return "How to undo\n  nothing to undo"


def _secret_values(*values: Diagnosis | ActionResult | None) -> list[str]:
    found: list[str] = []
    for value in values:
        if value is None:
            continue
        if isinstance(value, Diagnosis):
            trees: list[JsonValue] = [dict(value.remedy.params)] if value.remedy else []
        else:
            trees = [dict(value.before), dict(value.after), dict(value.undo.params)]
        for tree in trees:
            found.extend(_collect(tree))
    return found


def _collect(value: JsonValue, key: str = "") -> list[str]:
    if key and is_secret_key(key):
        return [v for v in _leaves(value) if isinstance(v, str)]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in _collect(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _collect(v)]
    return []


def _leaves(value: JsonValue) -> list[JsonValue]:
    if isinstance(value, Mapping):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _json(value: JsonValue) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


_RANK = list(Severity)


def render_worsened(asked: Message, alert: Alert) -> Message:
    """``asked`` (the request for an answer) led by the news that ``alert``, more urgent
    than the incident's own, came while it waited: same commands, the higher severity."""
    kind = str(alert.attributes.get("kind") or "alert")
    when = f"{alert.detected_at:%Y-%m-%d %H:%M:%S %Z}".strip()
    return asked.model_copy(
        update={
            "title": f"{asked.title} (worse: {kind})",
            "body": (
                f"Worse while it waits for your answer\n  {redact_text(alert.summary)}\n  "
                f"{kind} on {alert.service_name} {alert.metric_type}, detected {when}, "
                f"confidence {alert.confidence:.2f}\n\n{asked.body}"
            ),
            "severity": max(asked.severity, alert.severity, key=_RANK.index),
        }
    )
