"""A pattern's outcomes can be read for one service (its breaker) or for all (calibration)."""

from __future__ import annotations

from tests.integration.store import values as v
from vanguard.model import OutcomeStatus
from vanguard.store import IncidentRepo, Store


def test_outcomes_filter_by_the_incident_service(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        for n, service in enumerate(["checkout", "search", "checkout"]):
            iid = f"inc-{n}"
            repo.save_incident(v.incident(iid, service, minutes=n))
            repo.save_outcome(v.outcome(iid, status=OutcomeStatus.rolled_back, minutes=n + 1))
    with store.session() as session:
        repo = IncidentRepo(session)
        everywhere = repo.outcomes_for_pattern("memory_leak_gradual")
        checkout = repo.outcomes_for_pattern("memory_leak_gradual", service="checkout")
        nowhere = repo.outcomes_for_pattern("memory_leak_gradual", service="billing")
    assert [o.incident_id for o in everywhere] == ["inc-0", "inc-1", "inc-2"]
    assert [o.incident_id for o in checkout] == ["inc-0", "inc-2"]
    assert nowhere == []
