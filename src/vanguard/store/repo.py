"""Repositories over the store's tables; the caller owns the transaction, so nothing commits here.

Each value is written as the JSON of its pydantic model and read back with ``model_validate``,
so what comes out equals what went in. Saving a value for an incident that is not stored is a
``StoreError``, as is a naive timestamp in a query.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import ColumnElement, and_, case, func, or_, select, text
from sqlalchemy.orm import Session

from vanguard.errors import StoreError
from vanguard.incident import TERMINAL, Incident, IncidentState
from vanguard.learn.calibration import FAILURE, SUCCESS, OutcomeCounts
from vanguard.model import (
    ActionResult,
    Decision,
    Diagnosis,
    Outcome,
    OutcomeStatus,
    Signal,
    Verification,
)
from vanguard.redact import redact_mapping, redact_text
from vanguard.store.audit import AuditEntry, AuditLog
from vanguard.store.tables import (
    ActionRow,
    DecisionRow,
    DiagnosisRow,
    IncidentRow,
    OutcomeRow,
    SignalRow,
    VerificationRow,
)

__all__ = ["MAX_LIST_LIMIT", "IncidentRecord", "IncidentRepo", "OpenIncident"]

MAX_LIST_LIMIT = 1000
DECISION_LOCK_KEY = 0x76616E6764656369  # "vangdeci": serialises policy decisions

M = TypeVar("M", bound=BaseModel)


class IncidentRecord(BaseModel):
    """Everything stored about one incident, as the values the loop produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident: Incident
    signals: tuple[Signal, ...] = ()
    diagnosis: Diagnosis | None = None
    decision: Decision | None = None
    actions: tuple[ActionResult, ...] = ()
    verification: Verification | None = None
    outcome: Outcome | None = None
    audit: tuple[AuditEntry, ...] = ()

    def redacted(self) -> IncidentRecord:
        """This record as a page or the API may show it: no secret in any parameter.

        Actions keep their parameters whole in the store so they can be undone; anything
        shown outside the process goes through ``redact()``, as the audit trail does. The
        decision's reason carries the action's plan with its old and new values, and the
        incident's history repeats it (a dry run ends with it), so both are masked too.
        """
        history = tuple(
            change.model_copy(update={"reason": redact_text(change.reason)})
            for change in self.incident.history
        )
        incident = self.incident.model_copy(update={"history": history})
        decision = self.decision
        if decision is not None:
            decision = decision.model_copy(update={"reason": redact_text(decision.reason)})
        diagnosis = self.diagnosis
        if diagnosis is not None and diagnosis.remedy is not None:
            remedy = diagnosis.remedy.model_copy(
                update={"params": redact_mapping(diagnosis.remedy.params)}
            )
            diagnosis = diagnosis.model_copy(update={"remedy": remedy})
        outcome = self.outcome
        if outcome is not None:
            outcome = outcome.model_copy(update={"reason": redact_text(outcome.reason)})
        actions = tuple(_redacted_action(a) for a in self.actions)
        return self.model_copy(
            update={
                "incident": incident,
                "diagnosis": diagnosis,
                "decision": decision,
                "actions": actions,
                "outcome": outcome,
            }
        )


def _redacted_action(action: ActionResult) -> ActionResult:
    undo = action.undo.model_copy(
        update={
            "params": redact_mapping(action.undo.params),
            "instructions": redact_text(action.undo.instructions),
        }
    )
    return action.model_copy(
        update={
            "before": redact_mapping(action.before),
            "after": redact_mapping(action.after),
            "undo": undo,
            "message": redact_text(action.message),
        }
    )


def _json(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json")


def _load(model: type[M], body: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise StoreError(
            f"{where}: stored {model.__name__} no longer validates "
            f"({exc.error_count()} errors, first: {exc.errors()[0]['msg']})"
        ) from exc


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoreError(f"{what} {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC)


ACTING = frozenset(
    {
        IncidentState.approved,
        IncidentState.applied,
        IncidentState.verifying,
        IncidentState.rolling_back,
    }
)
"""The states of an incident whose action may be touching its service right now."""


class OpenIncident(NamedTuple):
    """An open incident as a sweep needs it: which, in what state, opened on what kind of
    alert (``anomaly``, ``forecast``, ``breach``; ``None`` for other sources)."""

    incident_id: str
    state: IncidentState
    alert_kind: str | None


class IncidentRepo:
    """Reads and writes incidents and the values attached to them in one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def save_incident(self, incident: Incident) -> None:
        """Insert the incident, or update its state and history if it is already stored."""
        updated_at = incident.history[-1].at if incident.history else incident.alert.detected_at
        row = self.session.get(IncidentRow, incident.incident_id)
        if row is None:
            self.session.add(
                IncidentRow(
                    incident_id=incident.incident_id,
                    state=incident.state.value,
                    service_name=incident.alert.service_name,
                    opened_at=incident.history[0].at if incident.history else updated_at,
                    updated_at=updated_at,
                    body=_json(incident),
                )
            )
        else:
            row.state = incident.state.value
            row.updated_at = updated_at
            row.body = _json(incident)
        self.session.flush()

    def get_incident(self, incident_id: str) -> Incident | None:
        row = self.session.get(IncidentRow, incident_id)
        return None if row is None else _load(Incident, row.body, f"incident {incident_id}")

    def list_incidents(
        self,
        *,
        limit: int = 50,
        state: IncidentState | None = None,
        service: str | None = None,
    ) -> list[Incident]:
        """Newest first (by the time the incident opened), optionally filtered."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise StoreError(f"limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        query = select(IncidentRow).order_by(
            IncidentRow.opened_at.desc(), IncidentRow.incident_id.desc()
        )
        if state is not None:
            query = query.where(IncidentRow.state == IncidentState(state).value)
        if service is not None:
            query = query.where(IncidentRow.service_name == service)
        rows = self.session.scalars(query.limit(limit))
        return [_load(Incident, row.body, f"incident {row.incident_id}") for row in rows]

    def open_fingerprints(self, services: Iterable[str]) -> set[str]:
        """The alert fingerprints of the open incidents of ``services``, however old."""
        return set(self.open_by_fingerprint(services))

    def open_by_fingerprint(self, services: Iterable[str]) -> dict[str, OpenIncident]:
        """The open incidents of ``services`` by their alert's fingerprint, however old.

        One query for a sweep's alerts; open incidents are few, closed ones pile up, so
        looking only at the newest of a service missed one that had waited long."""
        names = sorted(set(services))
        if not names:
            return {}
        query = (
            select(IncidentRow.incident_id, IncidentRow.state, IncidentRow.body)
            .where(IncidentRow.service_name.in_(names))
            .where(IncidentRow.state.not_in([state.value for state in TERMINAL]))
        )
        found: dict[str, OpenIncident] = {}
        for incident_id, state, body in self.session.execute(query):
            alert = body.get("alert") if isinstance(body, dict) else None
            if not isinstance(alert, dict):
                continue
            fingerprint = alert.get("fingerprint")
            attributes = alert.get("attributes")
            kind = attributes.get("kind") if isinstance(attributes, dict) else None
            if isinstance(fingerprint, str):
                found[fingerprint] = OpenIncident(
                    incident_id, IncidentState(state), kind if isinstance(kind, str) else None
                )
        return found

    def acting_on(self, services: Iterable[str]) -> set[str]:
        """Those of ``services`` with an incident whose action is under way: approved,
        applied, being verified or rolled back."""
        names = sorted(set(services))
        if not names:
            return set()
        query = (
            select(IncidentRow.service_name)
            .where(IncidentRow.service_name.in_(names))
            .where(IncidentRow.state.in_([state.value for state in ACTING]))
            .distinct()
        )
        return set(self.session.scalars(query))

    def ids_since(self, service: str, since: datetime) -> list[str]:
        """Ids of the service's incidents opened at or after ``since``, oldest first."""
        query = (
            select(IncidentRow.incident_id)
            .where(IncidentRow.service_name == service)
            .where(IncidentRow.opened_at >= _aware(since, "since"))
            .order_by(IncidentRow.opened_at, IncidentRow.incident_id)
        )
        return list(self.session.scalars(query))

    def count_by_state(self) -> dict[IncidentState, int]:
        """How many incidents are in each state (states with none are left out)."""
        rows = self.session.execute(
            select(IncidentRow.state, func.count()).group_by(IncidentRow.state)
        ).all()
        return {IncidentState(state): int(count) for state, count in rows}

    def add_signals(self, incident_id: str, signals: Sequence[Signal]) -> None:
        """Append the signals that triggered the incident, keeping their order."""
        self._require(incident_id)
        last = self.session.scalar(
            select(func.max(SignalRow.position)).where(SignalRow.incident_id == incident_id)
        )
        start = 0 if last is None else last + 1
        self.session.add_all(
            SignalRow(
                incident_id=incident_id,
                position=start + offset,
                observed_at=signal.timestamp,
                body=_json(signal),
            )
            for offset, signal in enumerate(signals)
        )
        self.session.flush()

    def save_diagnosis(self, incident_id: str, diagnosis: Diagnosis) -> None:
        self._require(incident_id)
        row = self.session.get(DiagnosisRow, incident_id)
        if row is None:
            row = DiagnosisRow(incident_id=incident_id, body={})
            self.session.add(row)
        row.pattern_id = diagnosis.pattern_id
        row.body = _json(diagnosis)
        self.session.flush()

    def save_decision(self, decision: Decision) -> None:
        """Store the decision, replacing an earlier one (e.g. once an approval arrives)."""
        self._require(decision.incident_id)
        row = self.session.get(DecisionRow, decision.incident_id)
        if row is None:
            row = DecisionRow(incident_id=decision.incident_id, body={})
            self.session.add(row)
        row.approved = decision.approved
        row.decided_at = decision.decided_at
        row.body = _json(decision)
        self.session.flush()

    def save_action(self, result: ActionResult) -> None:
        """Store an action's result under its idempotency key; a retry overwrites, never adds."""
        self._require(result.incident_id)
        row = self.session.get(ActionRow, result.idempotency_key)
        if row is None:
            row = ActionRow(idempotency_key=result.idempotency_key, body={})
            self.session.add(row)
        elif row.incident_id != result.incident_id:
            raise StoreError(
                f"idempotency key {result.idempotency_key!r} already belongs to incident "
                f"{row.incident_id}, not {result.incident_id}"
            )
        row.incident_id = result.incident_id
        row.action = result.action
        row.target = result.target
        row.applied = result.applied
        row.finished_at = result.finished_at
        row.body = _json(result)
        self.session.flush()

    def save_verification(self, incident_id: str, verification: Verification) -> None:
        self._require(incident_id)
        row = self.session.get(VerificationRow, incident_id)
        if row is None:
            row = VerificationRow(incident_id=incident_id, body={})
            self.session.add(row)
        row.verdict = verification.verdict.value
        row.body = _json(verification)
        self.session.flush()

    def save_outcome(self, outcome: Outcome) -> None:
        self._require(outcome.incident_id)
        row = self.session.get(OutcomeRow, outcome.incident_id)
        if row is None:
            row = OutcomeRow(incident_id=outcome.incident_id, body={})
            self.session.add(row)
        row.pattern_id = outcome.pattern_id
        row.status = outcome.status.value
        row.finished_at = outcome.finished_at
        row.teaches = outcome.teaches
        row.action = outcome.action
        row.pattern_version = outcome.pattern_version
        row.body = _json(outcome)
        self.session.flush()

    def get_record(self, incident_id: str) -> IncidentRecord | None:
        """The incident with everything attached to it, or ``None`` if it is not stored."""
        incident = self.get_incident(incident_id)
        if incident is None:
            return None
        signals = self.session.scalars(
            select(SignalRow)
            .where(SignalRow.incident_id == incident_id)
            .order_by(SignalRow.position)
        )
        actions = self.session.scalars(
            select(ActionRow)
            .where(ActionRow.incident_id == incident_id)
            .order_by(ActionRow.finished_at, ActionRow.idempotency_key)
        )
        where = f"incident {incident_id}"
        diagnosis = self.session.get(DiagnosisRow, incident_id)
        decision = self.session.get(DecisionRow, incident_id)
        verification = self.session.get(VerificationRow, incident_id)
        outcome = self.session.get(OutcomeRow, incident_id)
        return IncidentRecord(
            incident=incident,
            signals=tuple(_load(Signal, row.body, f"signal {row.id}") for row in signals),
            diagnosis=None if diagnosis is None else _load(Diagnosis, diagnosis.body, where),
            decision=None if decision is None else _load(Decision, decision.body, where),
            actions=tuple(
                _load(ActionResult, row.body, f"action {row.idempotency_key}") for row in actions
            ),
            verification=(
                None if verification is None else _load(Verification, verification.body, where)
            ),
            outcome=None if outcome is None else _load(Outcome, outcome.body, where),
            audit=tuple(AuditLog(self.session).entries(incident_id)),
        )

    def count_actions(
        self, service_name: str, since: datetime, *, excluding: Collection[str] = ()
    ) -> int:
        """Applied actions on incidents of ``service_name`` that finished at or after ``since``.

        Rollbacks are actions on the service too and count; dry runs (``applied=False``) do
        not, nor do actions of the kinds in ``excluding``.
        """
        query = (
            select(func.count())
            .select_from(ActionRow)
            .join(IncidentRow, IncidentRow.incident_id == ActionRow.incident_id)
            .where(
                IncidentRow.service_name == service_name,
                ActionRow.applied.is_(True),
                ActionRow.finished_at >= _aware(since, "since"),
                ActionRow.action.not_in(list(excluding)),
            )
        )
        return int(self.session.scalar(query) or 0)

    def last_action_at(
        self, service_name: str, *, excluding: Collection[str] = ()
    ) -> datetime | None:
        """When the newest applied action on ``service_name`` (not of ``excluding``) finished."""
        query = (
            select(func.max(ActionRow.finished_at))
            .join(IncidentRow, IncidentRow.incident_id == ActionRow.incident_id)
            .where(
                IncidentRow.service_name == service_name,
                ActionRow.applied.is_(True),
                ActionRow.action.not_in(list(excluding)),
            )
        )
        last = self.session.scalar(query)
        if last is None:
            return None
        return last if last.tzinfo is not None else last.replace(tzinfo=UTC)

    def count_all_actions(self, since: datetime, *, excluding: Collection[str] = ()) -> int:
        """Applied actions on every service, not of ``excluding``, finished since ``since``."""
        query = (
            select(func.count())
            .select_from(ActionRow)
            .where(
                ActionRow.applied.is_(True),
                ActionRow.finished_at >= _aware(since, "since"),
                ActionRow.action.not_in(list(excluding)),
            )
        )
        return int(self.session.scalar(query) or 0)

    def count_in_flight(
        self,
        service_name: str | None = None,
        *,
        since: datetime,
        excluding: str = "",
        excluding_actions: Collection[str] = (),
        states: Collection[IncidentState] = (IncidentState.approved,),
        pattern_id: str | None = None,
    ) -> int:
        """Incidents (of ``service_name``, else of every service) in one of ``states`` since
        at least ``since``, except those whose remedy is of a kind in ``excluding_actions``;
        with ``pattern_id``, only that pattern's.

        By default the approved ones: only a live, non-dry-run approval moves an incident to
        ``approved``, and applying moves it on, so these are the actions that hold a
        rate-limit slot without a row in ``actions`` yet. An approval older than ``since``
        whose action never came (its workflow was terminated, or its history lost) no longer
        holds one. ``applied``, ``verifying`` and ``rolling_back`` are the actions not
        settled yet: done, but not known to have worked.
        """
        query = (
            select(DiagnosisRow.body)
            .select_from(IncidentRow)
            .outerjoin(DiagnosisRow, DiagnosisRow.incident_id == IncidentRow.incident_id)
            .where(
                IncidentRow.state.in_([state.value for state in states]),
                IncidentRow.incident_id != excluding,
                IncidentRow.updated_at >= _aware(since, "since"),
            )
        )
        if service_name is not None:
            query = query.where(IncidentRow.service_name == service_name)
        skip = frozenset(excluding_actions)
        return sum(
            1
            for body in self.session.scalars(query)
            if _remedy_kind(body) not in skip
            and (pattern_id is None or _pattern_of(body) == pattern_id)
        )

    def touch(self, incident_id: str, at: datetime) -> None:
        """Mark the incident as current at ``at`` without moving it: an approval checked
        again just before acting holds its slot from then (``count_in_flight``)."""
        row = self.session.get(IncidentRow, incident_id)
        if row is None:
            raise StoreError(f"incident {incident_id!r} is not stored")
        row.updated_at = _aware(at, "at")

    def lock_decisions(self) -> None:
        """Serialise deciding until this unit of work ends, so counts and the new decision agree.

        PostgreSQL takes a transaction-scoped advisory lock; SQLite needs none, its units of
        work already begin with ``BEGIN IMMEDIATE`` and so run one at a time.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECISION_LOCK_KEY}
            )

    def outcomes_for_pattern(self, pattern_id: str, *, service: str | None = None) -> list[Outcome]:
        """Every outcome attributed to a pattern (on one service if given), oldest first.

        Reads the whole history, for inspection: the engine counts (``outcome_counts``)
        and reads the newest (``latest_outcomes``) instead.
        """
        query = select(OutcomeRow).where(OutcomeRow.pattern_id == pattern_id)
        if service is not None:
            query = query.join(
                IncidentRow, IncidentRow.incident_id == OutcomeRow.incident_id
            ).where(IncidentRow.service_name == service)
        rows = self.session.scalars(query.order_by(OutcomeRow.finished_at, OutcomeRow.incident_id))
        return [_load(Outcome, row.body, f"outcome {row.incident_id}") for row in rows]

    def latest_outcomes(
        self, pattern_id: str, *, service: str, action: str | None = None, page: int = 20
    ) -> Iterator[Outcome]:
        """A pattern's outcomes on one service that can count for or against its remedy,
        newest first, read ``page`` at a time as the caller goes on (the circuit breaker
        stops at the first success).

        Declined and dry-run outcomes are left out: they never count. With ``action``, so
        are outcomes of another remedy (those stored without one stay).
        """
        query = (
            select(OutcomeRow)
            .join(IncidentRow, IncidentRow.incident_id == OutcomeRow.incident_id)
            .where(
                OutcomeRow.pattern_id == pattern_id,
                IncidentRow.service_name == service,
                OutcomeRow.status.in_([status.value for status in SUCCESS | FAILURE]),
            )
        )
        if action is not None:
            query = query.where(_of_action(action))
        newest = (OutcomeRow.finished_at.desc(), OutcomeRow.incident_id.desc())
        after: tuple[datetime, str] | None = None
        while True:
            bounded = query
            if after is not None:
                at, incident_id = after
                bounded = query.where(
                    or_(
                        OutcomeRow.finished_at < at,
                        and_(OutcomeRow.finished_at == at, OutcomeRow.incident_id < incident_id),
                    )
                )
            rows = list(self.session.scalars(bounded.order_by(*newest).limit(page)))
            for row in rows:
                yield _load(Outcome, row.body, f"outcome {row.incident_id}")
            if len(rows) < page:
                return
            after = (rows[-1].finished_at, rows[-1].incident_id)

    def outcome_counts(
        self, remedies: Mapping[str, str], *, breaker_threshold: int | None = None
    ) -> dict[str, OutcomeCounts]:
        """Each pattern's outcomes as calibration counts them, counted in SQL.

        ``remedies`` maps each pattern to its current action; only outcomes of that action
        (or stored without one) count, and on each service at most ``breaker_threshold``
        failures in a row, as ``vanguard.learn.count_outcomes`` does: a failure is past the
        threshold when the ``breaker_threshold`` outcomes that count before it on its
        service all failed. That takes a window over the outcomes that count, so only
        patterns with more failures than that are looked at in order.
        """
        found = {pattern_id: OutcomeCounts() for pattern_id in remedies}
        if not remedies:
            return found
        won = and_(OutcomeRow.teaches, OutcomeRow.status.in_(_values(SUCCESS)))
        lost = and_(OutcomeRow.teaches, OutcomeRow.status.in_(_values(FAILURE)))
        mine = or_(
            *(
                and_(OutcomeRow.pattern_id == pattern_id, _of_action(action))
                for pattern_id, action in remedies.items()
            )
        )
        totals = (
            select(
                OutcomeRow.pattern_id,
                func.count(),
                func.sum(case((won, 1), else_=0)),
                func.sum(case((lost, 1), else_=0)),
            )
            .where(mine)
            .group_by(OutcomeRow.pattern_id)
        )
        for pattern_id, total, wins, losses in self.session.execute(totals):
            found[pattern_id] = OutcomeCounts(
                won=int(wins), lost=int(losses), ignored=int(total - wins - losses)
            )
        hurt = [p for p, counts in found.items() if counts.lost > (breaker_threshold or 0)]
        if breaker_threshold is None or not hurt:
            return found
        failed = case((lost, 1), else_=0)
        counting = (
            select(
                OutcomeRow.pattern_id,
                failed.label("failed"),
                func.sum(failed)
                .over(
                    partition_by=(OutcomeRow.pattern_id, IncidentRow.service_name),
                    order_by=(OutcomeRow.finished_at, OutcomeRow.incident_id),
                    rows=(-breaker_threshold, -1),
                )
                .label("failed_before"),
            )
            .join(IncidentRow, IncidentRow.incident_id == OutcomeRow.incident_id)
            .where(mine, OutcomeRow.pattern_id.in_(hurt), or_(won, lost))
            .subquery()
        )
        past = (
            select(counting.c.pattern_id, func.count())
            .where(counting.c.failed == 1, counting.c.failed_before == breaker_threshold)
            .group_by(counting.c.pattern_id)
        )
        for pattern_id, n in self.session.execute(past):
            counts = found[pattern_id]
            found[pattern_id] = counts.model_copy(
                update={"lost": counts.lost - n, "beyond_breaker": n}
            )
        return found

    def count_outcomes_by_status(self, pattern_ids: Iterable[str]) -> dict[str, dict[str, int]]:
        """How many outcomes of each status each pattern has, counted in SQL."""
        wanted = list(dict.fromkeys(pattern_ids))
        found: dict[str, dict[str, int]] = {pattern_id: {} for pattern_id in wanted}
        query = (
            select(OutcomeRow.pattern_id, OutcomeRow.status, func.count())
            .where(OutcomeRow.pattern_id.in_(wanted))
            .group_by(OutcomeRow.pattern_id, OutcomeRow.status)
        )
        for pattern_id, status, n in self.session.execute(query):
            if pattern_id is not None:
                found[pattern_id][status] = n
        return found

    def _require(self, incident_id: str) -> None:
        if self.session.get(IncidentRow, incident_id) is None:
            raise StoreError(f"incident {incident_id!r} is not stored; save_incident comes first")


def _of_action(action: str) -> ColumnElement[bool]:
    """Outcomes of ``action``, and those stored before outcomes kept their action."""
    return or_(OutcomeRow.action == action, OutcomeRow.action.is_(None))


def _values(statuses: Iterable[OutcomeStatus]) -> list[str]:
    return sorted(status.value for status in statuses)


def _pattern_of(body: Mapping[str, Any] | None) -> str | None:
    """The pattern a stored diagnosis matched, if any."""
    pattern = body.get("pattern_id") if isinstance(body, Mapping) else None
    return pattern if isinstance(pattern, str) else None


def _remedy_kind(body: Mapping[str, Any] | None) -> str | None:
    """The action kind a stored diagnosis names, if any."""
    remedy = body.get("remedy") if isinstance(body, Mapping) else None
    action = remedy.get("action") if isinstance(remedy, Mapping) else None
    return action if isinstance(action, str) else None
