"""The HTTP API over a real SQLite store: health, incidents, metrics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.integration.store import values as v
from tests.leaks import leak_alert
from tests.stores import sqlite_write_lock_is_free
from vanguard.api import create_app
from vanguard.decide import PolicyConfig
from vanguard.diagnose.patterns import load_patterns
from vanguard.incident import Incident, IncidentState
from vanguard.model import OutcomeStatus
from vanguard.store import AuditLog, IncidentRepo, PauseRepo, Store, default_store_url, open_store

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    the_store = open_store(default_store_url(tmp_path))
    with the_store.session() as session:
        repo = IncidentRepo(session)
        for n, service in enumerate(["web", "db", "web"]):
            incident = Incident.open(f"inc-{n}", leak_alert(service, T0 + timedelta(minutes=n)))
            if n == 0:
                incident = incident.transition(IncidentState.diagnosed, at=T0, reason="matched")
            repo.save_incident(incident)
    yield the_store
    the_store.close()


def test_health_reports_ok_and_version(store: Store) -> None:
    response = TestClient(create_app(store)).get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_incidents_are_listed_newest_first_and_filterable(store: Store) -> None:
    client = TestClient(create_app(store))
    listed = client.get("/api/incidents").json()
    assert [i["incident_id"] for i in listed] == ["inc-2", "inc-1", "inc-0"]
    web = client.get("/api/incidents", params={"service": "web"}).json()
    assert {i["incident_id"] for i in web} == {"inc-0", "inc-2"}
    diagnosed = client.get("/api/incidents", params={"state": "diagnosed"}).json()
    assert [i["incident_id"] for i in diagnosed] == ["inc-0"]
    assert client.get("/api/incidents", params={"state": "bogus"}).status_code == 422
    assert client.get("/api/incidents", params={"limit": 0}).status_code == 422


def test_one_incident_has_its_whole_record_and_unknown_is_404(store: Store) -> None:
    client = TestClient(create_app(store))
    record = client.get("/api/incidents/inc-0").json()
    assert record["incident"]["state"] == "diagnosed"
    assert [h["state"] for h in record["incident"]["history"]] == ["open", "diagnosed"]
    missing = client.get("/api/incidents/nope")
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]


def test_one_incident_is_served_without_the_secrets_its_actions_hold(store: Store) -> None:
    with store.session() as session:
        IncidentRepo(session).save_action(v.resize_holding("inc-1", "Sup3rSecretPw"))
    response = TestClient(create_app(store)).get("/api/incidents/inc-1")
    assert "Sup3rSecretPw" not in response.text
    (action,) = response.json()["actions"]
    assert action["before"] == {"admin_dsn": "[REDACTED]", "pool_size": 2}
    assert action["undo"]["params"]["admin_dsn"] == "[REDACTED]"
    assert action["after"]["pool_size"] == 3


def test_metrics_expose_incident_counts_by_state(store: Store) -> None:
    body = TestClient(create_app(store)).get("/metrics").text
    assert 'vanguard_incidents{state="open"} 2.0' in body
    assert 'vanguard_incidents{state="diagnosed"} 1.0' in body
    assert 'vanguard_incidents{state="resolved"} 0.0' in body


def test_metrics_expose_pauses_and_what_outcomes_taught_each_pattern(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        for i, status in enumerate([OutcomeStatus.resolved, OutcomeStatus.failed]):
            repo.save_incident(v.incident(f"inc-m{i}"))
            repo.save_outcome(v.outcome(f"inc-m{i}", status=status))
        PauseRepo(session).pause(service=None, reason="r", by="erin", now=datetime.now(UTC))
        PauseRepo(session).pause(service="db", reason="r", by="erin", now=datetime.now(UTC))
    client = TestClient(create_app(store, patterns=load_patterns()))
    body = client.get("/metrics").text
    assert 'vanguard_automation_paused{service="*"} 1.0' in body
    assert 'vanguard_automation_paused{service="db"} 1.0' in body
    assert 'vanguard_outcomes{pattern="memory_leak_gradual",status="resolved"} 1.0' in body
    assert 'vanguard_outcomes{pattern="memory_leak_gradual",status="failed"} 1.0' in body
    # (0.9 · 10 + 1) / (10 + 2) = 0.8333
    assert 'vanguard_pattern_confidence{pattern="memory_leak_gradual"} 0.8333' in body
    assert 'vanguard_pattern_acts_alone{pattern="memory_leak_gradual"} 1.0' in body
    with store.session() as session:
        PauseRepo(session).resume(service=None, by="frank", now=datetime.now(UTC))
    after = client.get("/metrics").text
    assert 'vanguard_automation_paused{service="*"}' not in after
    assert 'vanguard_automation_paused{service="db"} 1.0' in after


def test_a_pattern_whose_action_needs_approval_is_not_said_to_act_alone(store: Store) -> None:
    """The gauge and the dashboard follow the policy's approvals, and the page says the
    confidence gate multiplies by the alert's confidence."""
    patterns = load_patterns()
    asks = TestClient(
        create_app(
            store,
            patterns=patterns,
            policy=PolicyConfig(require_approval_for=("supervisor.restart",)),
        )
    )
    assert 'vanguard_pattern_acts_alone{pattern="memory_leak_gradual"} 0.0' in (
        asks.get("/metrics").text
    )
    assert "require_approval_for covers supervisor.restart" in asks.get("/patterns").text
    alone = TestClient(create_app(store, patterns=patterns)).get("/patterns").text
    assert "acts alone on alerts of confidence 0.89 or more" in alone
    assert "times the alert's confidence" in alone


def test_metrics_count_what_became_of_messages_to_people(store: Store) -> None:
    with store.session() as session:
        audit = AuditLog(session)
        for kind in ("notified", "notified", "notify.held", "action.applied"):
            audit.append(incident_id="inc-0", kind=kind, payload={}, at=datetime.now(UTC))
    body = TestClient(create_app(store)).get("/metrics").text
    assert 'vanguard_notifications{kind="notified"} 2.0' in body
    assert 'vanguard_notifications{kind="notify.held"} 1.0' in body
    assert 'vanguard_notifications{kind="notify.failed"} 0.0' in body


def test_a_scrape_leaves_the_write_lock_to_the_worker(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/metrics`` counts over the whole audit trail every scrape: in ``BEGIN IMMEDIATE``
    every write of the worker would wait for it."""
    url = store.engine.url.render_as_string(hide_password=False)
    free: list[bool] = []
    count_by_kind = AuditLog.count_by_kind

    def counting(self: AuditLog, kinds: Sequence[str]) -> dict[str, int]:
        free.append(sqlite_write_lock_is_free(url))
        return count_by_kind(self, kinds)

    monkeypatch.setattr(AuditLog, "count_by_kind", counting)
    assert TestClient(create_app(store)).get("/metrics").status_code == 200
    assert free == [True]


def test_allowed_hosts_refuse_other_names_and_no_script_docs_are_served(store: Store) -> None:
    app = create_app(store, allowed_hosts=("localhost", "127.0.0.1", "::1"))
    loopback = TestClient(app, base_url="http://127.0.0.1:8780")
    rebound = TestClient(app, base_url="http://rebind.attacker.example:8780")
    assert loopback.get("/healthz").status_code == 200
    refused = rebound.get("/api/incidents")
    assert refused.status_code == 400
    assert "api.allowed_hosts" in refused.text
    assert loopback.get("/docs").status_code == 404
    assert loopback.get("/redoc").status_code == 404


def test_a_pattern_whose_action_always_asks_is_not_counted_acting_alone(store: Store) -> None:
    """The gauge said 1 while every restart waited for a person."""
    policy = PolicyConfig(require_approval_for=("supervisor.restart",))
    client = TestClient(create_app(store, patterns=load_patterns(), policy=policy))
    body = client.get("/metrics").text
    assert 'vanguard_pattern_acts_alone{pattern="memory_leak_gradual"} 0.0' in body
    assert 'vanguard_pattern_acts_alone{pattern="ci_rerun"} 1.0' in body
