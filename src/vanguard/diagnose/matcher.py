"""Match an alert against the pattern library: pure, deterministic, explained."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vanguard.diagnose.operators import apply_operator, field_value
from vanguard.diagnose.patterns import Pattern
from vanguard.model import Alert, Diagnosis, Remedy, VerifySeries

__all__ = ["match"]


def match(
    alert: Alert,
    patterns: Sequence[Pattern],
    *,
    service_type: str,
    confidences: Mapping[str, float] | None = None,
) -> Diagnosis:
    """The best pattern whose every condition holds, or a diagnosis with no pattern.

    Confidence is the pattern's (calibrated) confidence times the alert's: both must be
    right for the remedy to be right. The most confident pattern wins; on a tie, the more
    specific one (written for this service type rather than ``any``, then with more
    conditions), then the first id. Every condition checked is listed in ``reasons``, and
    every other pattern that matched too (``also matched: ID (0.85)``).
    """
    confidences = confidences or {}
    matched: list[tuple[float, Pattern, list[str]]] = []
    rejected: list[str] = []
    for pattern in patterns:
        if not pattern.applies_to(service_type, alert.metric_type):
            continue
        reasons: list[str] = []
        failed = False
        for cond in pattern.signature:
            actual = field_value(alert, cond.field)
            ok = apply_operator(cond.op, actual, cond.value)
            shown = f"{actual:.4g}" if isinstance(actual, float) else repr(actual)
            reasons.append(f"{cond.field}={shown} {cond.op} {cond.value}: {'yes' if ok else 'no'}")
            failed = failed or not ok
        if failed:
            rejected.append(f"{pattern.id}: " + "; ".join(r for r in reasons if r.endswith("no")))
            continue
        prior = confidences.get(pattern.id, pattern.prior_confidence)
        matched.append((prior * alert.confidence, pattern, reasons))
    if not matched:
        why = rejected or [f"no pattern covers {service_type}/{alert.metric_type}"]
        return Diagnosis(
            alert_id=alert.alert_id, pattern_id=None, confidence=0.0, reasons=tuple(why)
        )
    matched.sort(key=lambda found: _rank(found[0], found[1], service_type))
    (score, pattern, reasons), *others = matched
    also = [f"also matched: {other.id} ({other_score:.2f})" for other_score, other, _ in others]
    return Diagnosis(
        alert_id=alert.alert_id,
        pattern_id=pattern.id,
        confidence=round(score, 6),
        remedy=Remedy(action=pattern.remedy.action, params=dict(pattern.remedy.params)),
        rollback_safe=pattern.rollback_safe,
        automation_eligible=pattern.automation_eligible,
        pattern_version=pattern.version,
        verify=tuple(VerifySeries.model_validate(v.model_dump()) for v in pattern.verify),
        reasons=(
            f"matched {pattern.id} v{pattern.version}: {pattern.description}",
            *reasons,
            *also,
        ),
    )


def _rank(score: float, pattern: Pattern, service_type: str) -> tuple[float, int, int, str]:
    """Sort key, best first: confidence, then a pattern for this service type before one
    for ``any``, then more conditions, then the id."""
    exact = service_type in pattern.service_types
    return (-score, 0 if exact else 1, -len(pattern.signature), pattern.id)
