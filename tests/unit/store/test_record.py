"""``IncidentRecord.redacted``: what a page or the API shows carries no secret."""

from __future__ import annotations

from tests.integration.store import values as v
from vanguard.incident import IncidentState
from vanguard.model import OutcomeStatus
from vanguard.store import IncidentRecord

PLAN = (
    ". It would: set DATABASE_URL 'postgres://app:Sup3rSecretPw@db:5432/app' → "
    "'postgres://app:Sup3rSecretPw@db-2:5432/app' in deploy/checkout.env; commit it"
)


def _dry_run_record() -> IncidentRecord:
    """A dry run: the decision's reason ends with the plan, and so does the outcome's."""
    reason = f"dry run: would act; every other gate passed (4){PLAN}"
    diagnosed = v.advanced(v.incident("inc-1"), IncidentState.diagnosed)
    incident = diagnosed.transition(IncidentState.dry_run, at=v.at(2), reason=reason)
    decision = v.decision("inc-1").model_copy(update={"dry_run": True, "reason": reason})
    outcome = v.outcome("inc-1", status=OutcomeStatus.dry_run).model_copy(update={"reason": reason})
    return IncidentRecord(
        incident=incident,
        diagnosis=v.diagnosis(incident.alert.alert_id),
        decision=decision,
        outcome=outcome,
    )


def test_the_plan_in_a_decision_is_shown_without_its_secrets() -> None:
    record = _dry_run_record()
    shown = record.redacted()
    assert shown.decision is not None
    assert "Sup3rSecretPw" not in shown.decision.reason
    assert "set DATABASE_URL 'postgres://app:[REDACTED]@db:5432/app'" in shown.decision.reason
    assert "Sup3rSecretPw" not in shown.model_dump_json()
    assert record.decision is not None
    assert "Sup3rSecretPw" in record.decision.reason, "the stored record is left whole"


def test_the_history_is_shown_without_secrets_and_otherwise_unchanged() -> None:
    record = _dry_run_record()
    shown = record.redacted().incident
    assert [c.state for c in shown.history] == [c.state for c in record.incident.history]
    assert [c.at for c in shown.history] == [c.at for c in record.incident.history]
    assert "Sup3rSecretPw" not in shown.history[-1].reason
    assert shown.history[0].reason == record.incident.history[0].reason
    assert shown.state is IncidentState.dry_run


def test_a_record_without_a_decision_is_redacted_too() -> None:
    record = IncidentRecord(incident=v.incident("inc-2"))
    assert record.redacted() == record
