"""The read-only dashboard over a real SQLite store: listing, one incident's story, CI, audit."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.store.values import (
    advanced,
    alert,
    decision,
    incident,
    outcome,
    resize_holding,
    resolved_incident,
)
from tests.stores import sqlite_write_lock_is_free
from vanguard.api import create_app
from vanguard.ci.health import AttemptRecord
from vanguard.ci.records import CiRepo
from vanguard.decide import PolicyConfig
from vanguard.diagnose.patterns import load_patterns
from vanguard.incident import Incident, IncidentState
from vanguard.learn import confidence_legend
from vanguard.model import OutcomeStatus
from vanguard.store import (
    AuditLog,
    ChainCheck,
    IncidentRepo,
    PauseRepo,
    Store,
    audit,
    default_store_url,
    open_store,
)

SVG = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    the_store = open_store(default_store_url(tmp_path))
    with the_store.session() as session:
        repo = IncidentRepo(session)
        resolved_incident(repo, AuditLog(session), "inc-full")
        repo.save_incident(incident("inc-open", "db", minutes=1))
    yield the_store
    the_store.close()


def test_the_list_links_every_incident_counts_states_and_filters(store: Store) -> None:
    client = TestClient(create_app(store))
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert re.findall(r'href="/incidents/([^"]+)"', page.text) == ["inc-open", "inc-full"]
    assert "all (2)" in page.text
    assert '<meta http-equiv="refresh" content="30">' in page.text
    assert "<script>" not in page.text
    assert "leak &lt;script&gt;x()&lt;/script&gt;" in page.text
    resolved = client.get("/", params={"state": "resolved"}).text
    assert re.findall(r'href="/incidents/([^"]+)"', resolved) == ["inc-full"]
    assert client.get("/", params={"state": "bogus"}).status_code == 422


def test_one_incident_reads_like_the_loop_and_says_how_to_undo(store: Store) -> None:
    page = TestClient(create_app(store)).get("/incidents/inc-full")
    assert page.status_code == 200
    text = page.text
    assert "http-equiv" not in text  # a page being read does not reload under the reader
    sections = re.findall(r"<h2>([^<]+)</h2>", text)
    assert sections == [
        "Alert",
        "Diagnosis",
        "Decision",
        "Actions",
        "Verification",
        "Outcome",
        "Timeline",
        "Audit trail",
    ]
    for expected in (
        "memory_leak_gradual",
        "1 of 3 today",
        "a restart cannot be undone (cannot be undone)",
        "restarted",
        "memory back under baseline",
        "incident.opened",
    ):
        assert expected in text
    assert "<script>" not in text
    assert '"token": "x"' not in text  # the audit trail stores secrets redacted
    plots = [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", text, flags=re.S)]
    assert [p.tag for p in plots] == [SVG, SVG]
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert plots[0].find(".//s:line[@class='level']", ns) is not None  # the alert's threshold
    assert len(plots[1].findall(".//s:rect[@class='span']", ns)) == 1  # after the action


def test_an_action_is_shown_without_the_secrets_its_parameters_hold(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(advanced(incident("inc-dsn", "db"), IncidentState.diagnosed))
        repo.save_action(resize_holding("inc-dsn", "Sup3rSecretPw"))
    text = TestClient(create_app(store)).get("/incidents/inc-dsn").text
    assert "Sup3rSecretPw" not in text
    assert "resized the app pool 2 → 3" in text
    assert "&quot;pool_size&quot;: 3" in text


def test_an_incident_still_open_says_what_has_not_happened_yet(store: Store) -> None:
    text = TestClient(create_app(store)).get("/incidents/inc-open").text
    for missing in ("not diagnosed yet", "not decided yet", "nothing applied", "still running"):
        assert missing in text


def test_an_incident_waiting_for_a_person_says_how_to_answer(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        states = (IncidentState.diagnosed, IncidentState.awaiting_approval)
        repo.save_incident(advanced(incident("inc-ask", "db"), *states))
        repo.save_decision(
            decision("inc-ask", approved=False).model_copy(update={"needs_approval": True})
        )
    client = TestClient(create_app(store))
    text = client.get("/incidents/inc-ask").text
    assert "waits for approval" in text
    assert "<code>vanguard incidents approve inc-ask</code>" in text
    assert "vanguard incidents approve" not in client.get("/incidents/inc-full").text


def test_the_commands_to_copy_name_the_config_file_the_service_runs_with(
    store: Store, tmp_path: Path
) -> None:
    """Pasted from another directory, a command without ``-c`` reads another file."""
    with store.session() as session:
        repo = IncidentRepo(session)
        states = (IncidentState.diagnosed, IncidentState.awaiting_approval)
        repo.save_incident(advanced(incident("inc-ask", "db"), *states))
        repo.save_decision(
            decision("inc-ask", approved=False).model_copy(update={"needs_approval": True})
        )
        PauseRepo(session).pause(service=None, reason="upgrade", by="ops", now=datetime.now(UTC))
    config = tmp_path / "my conf" / "vanguard.yaml"
    client = TestClient(create_app(store, config=config))
    flag = f" -c &#x27;{config}&#x27;"
    text = client.get("/incidents/inc-ask").text
    assert f"<code>vanguard incidents approve inc-ask{flag}</code>" in text
    assert f"<code>vanguard incidents decline inc-ask{flag}</code>" in text
    assert f"(vanguard automation resume{flag})" in client.get("/").text


def test_an_unknown_incident_is_a_404_page(store: Store) -> None:
    page = TestClient(create_app(store)).get("/incidents/<nope>")
    assert page.status_code == 404
    assert "No incident &lt;nope&gt;" in page.text


def test_a_query_a_page_cannot_take_is_a_page_not_json(store: Store) -> None:
    client = TestClient(create_app(store))
    page = client.get("/?state=<bogus>")
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "Not a query this page takes" in page.text
    assert "<bogus>" not in page.text
    assert client.get("/api/incidents?state=bogus").status_code == 422, "the API keeps JSON"


def test_the_audit_page_walks_the_chain(store: Store) -> None:
    text = TestClient(create_app(store)).get("/audit").text
    assert "2 entries, chain intact" in text


def test_a_page_view_leaves_the_write_lock_to_the_worker(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/audit`` walks the whole chain: in ``BEGIN IMMEDIATE`` every write of the worker
    would wait for it."""
    url = store.engine.url.render_as_string(hide_password=False)
    free: list[bool] = []
    walk = audit._walk

    def walking(links: Iterable[Any]) -> tuple[ChainCheck | None, int, str]:
        free.append(sqlite_write_lock_is_free(url))
        return walk(links)

    monkeypatch.setattr(audit, "_walk", walking)
    assert "2 entries, chain intact" in TestClient(create_app(store)).get("/audit").text
    assert free == [True]


def test_the_ci_page_shows_the_figures_and_the_daily_plot(store: Store) -> None:
    client = TestClient(create_app(store))
    assert "no finished CI runs" in client.get("/ci").text
    now = datetime.now(UTC)
    with store.session() as session:
        for run, conclusion in [(1, "success"), (2, "failure"), (3, "success")]:
            CiRepo(session).record_attempt(
                AttemptRecord(
                    repository="o/r",
                    workflow="CI",
                    run_id=run,
                    run_attempt=1,
                    head_sha=f"s{run}",
                    head_branch="main",
                    conclusion=conclusion,
                    at=now - timedelta(hours=run),
                )
            )
    text = client.get("/ci").text
    assert "66.7%" in text
    assert "o/r: runs that succeeded, per day (3 runs)" in text
    assert client.get("/ci", params={"days": 0}).status_code == 422


def test_the_ci_page_finds_a_repository_spelled_as_on_github(store: Store) -> None:
    """Names are recorded lower case (older rows as GitHub spelled them): ``Acme/Web``
    typed as GitHub shows it finds both, as ``vanguard ci report --repo`` does."""
    now = datetime.now(UTC)
    with store.session() as session:
        for run, name in [(1, "acme/web"), (2, "Acme/Web"), (3, "acme/other")]:
            CiRepo(session).record_attempt(
                AttemptRecord(
                    repository=name,
                    workflow="CI",
                    run_id=run,
                    run_attempt=1,
                    head_sha=f"s{run}",
                    head_branch="main",
                    conclusion="success",
                    at=now - timedelta(hours=run),
                )
            )
        found = CiRepo(session).attempts(repository="ACME/web")
    assert sorted(a.run_id for a in found) == [1, 2]
    text = TestClient(create_app(store)).get("/ci", params={"repo": "Acme/Web"}).text
    assert "no finished CI runs" not in text
    assert "acme/other" not in text


def test_the_json_api_and_docs_are_unchanged_by_the_pages(store: Store) -> None:
    client = TestClient(create_app(store))
    assert client.get("/api/incidents").json()[0]["incident_id"] == "inc-open"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert "/api/incidents" in paths


def test_patterns_show_what_outcomes_taught_them(store: Store) -> None:
    with store.session() as session:
        repo = IncidentRepo(session)
        for i, status in enumerate([OutcomeStatus.failed, OutcomeStatus.rolled_back]):
            repo.save_incident(incident(f"inc-bad-{i}", minutes=10 + i))
            repo.save_outcome(outcome(f"inc-bad-{i}", status=status, minutes=12 + i))
    patterns = load_patterns()
    page = TestClient(create_app(store, patterns=patterns)).get("/patterns")
    assert page.status_code == 200
    row = re.search(r"<td>memory_leak_gradual v1</td>(.*?)</tr>", page.text)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    # inc-full resolved (won 1), two failures (lost 2): (9 + 1) / (10 + 3) = 0.77 < 0.80
    assert cells[:5] == ["supervisor.restart", "0.90", "1", "2", "0.77"]
    assert "asks a person" in cells[5]
    assert escape(confidence_legend(PolicyConfig()), quote=False) in page.text, (
        "the CLI's wording too"
    )
    assert '<a href="/patterns">Patterns</a>' in page.text
    empty = TestClient(create_app(store)).get("/patterns").text
    assert "no pattern library loaded" in empty


def test_the_list_says_when_automation_is_paused(store: Store) -> None:
    client = TestClient(create_app(store))
    assert 'class="paused"' not in client.get("/").text
    with store.session() as session:
        PauseRepo(session).pause(
            service="db", reason="failover <drill>", by="erin", now=datetime.now(UTC)
        )
    text = client.get("/").text
    assert "automation paused on service db by erin" in text
    assert "failover &lt;drill&gt;" in text
    assert "vanguard automation resume --service db" in text


def test_a_counters_alert_is_shown_in_its_rate(store: Store) -> None:
    """A counter is watched as its per-second rate: its page says so, in the metric's unit."""
    base = alert("alert-rate", "api")
    trend = base.trend_analysis
    assert trend is not None
    rate = base.model_copy(
        update={
            "metric_type": "sent_bytes_total",
            "trend_analysis": trend.model_copy(
                update={
                    "current": 3 * 2**20,
                    "ema": 2**20,
                    "threshold": 4 * 2**20,
                    "per_second": True,
                }
            ),
        }
    )
    with store.session() as session:
        IncidentRepo(session).save_incident(Incident.open("inc-rate", rate))
    text = TestClient(create_app(store)).get("/incidents/inc-rate").text
    assert "3.0 MiB/s / 1.0 MiB/s" in text
    assert "4.0 MiB/s" in text


@pytest.mark.parametrize(
    ("policy", "shown"),
    [
        (PolicyConfig(require_approval_for=("supervisor.restart",)), "asks a person"),
        (PolicyConfig(dry_run=True), "policy dry_run: applies nothing"),
    ],
)
def test_a_pattern_the_policy_holds_back_is_not_shown_acting_alone(
    store: Store, policy: PolicyConfig, shown: str
) -> None:
    page = TestClient(create_app(store, patterns=load_patterns(), policy=policy)).get("/patterns")
    row = re.search(r"<td>memory_leak_gradual v1</td>(.*?)</tr>", page.text)
    assert row is not None
    assert shown in re.findall(r"<td>(.*?)</td>", row.group(1))[5]
    assert "times the alert's confidence" in page.text
