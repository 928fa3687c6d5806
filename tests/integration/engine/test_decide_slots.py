"""An approved action holds its rate-limit slot until it is applied, on SQLite and PostgreSQL.

Two incidents on one service that decide at the same moment must not both take the last
slot: deciding is serialised in the store and counts approvals not applied yet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.engine.test_activities import RerunAdapter, _activities, _alert
from vanguard.decide import PolicyConfig
from vanguard.engine.activities import Activities
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput
from vanguard.model import Decision
from vanguard.store import Store, default_store_url, open_store

ONE_A_DAY = PolicyConfig(min_confidence=0.5, max_actions_per_service_per_day=1)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = (
        default_store_url(tmp_path / "data")
        if request.param == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    opened = open_store(url)
    try:
        yield opened
    finally:
        opened.close()


def _diagnosed(acts: Activities, n: int, service: str = "octo/repo") -> DecideInput:
    alert = _alert(n, service)
    iid = f"inc-{service}-{n}"
    acts.open_incident(OpenInput(incident_id=iid, alert=alert))
    diagnosis = acts.diagnose(DiagnoseInput(incident_id=iid, alert=alert))
    return DecideInput(incident_id=iid, alert=alert, diagnosis=diagnosis)


def test_an_approved_action_not_applied_yet_holds_the_last_slot(store: Store) -> None:
    acts = _activities(store, RerunAdapter(ok=True), ONE_A_DAY)
    first = _diagnosed(acts, 1)
    assert acts.decide(first).approved

    second = acts.decide(_diagnosed(acts, 2))
    assert not second.approved
    assert "limit 1 (counting 1 approved, not applied yet)" in second.reason

    other_service = acts.decide(_diagnosed(acts, 3, service="octo/other"))
    assert other_service.approved

    acts.apply_action(
        ApplyInput(incident_id=first.incident_id, alert=first.alert, diagnosis=first.diagnosis)
    )
    third = acts.decide(_diagnosed(acts, 4))
    assert not third.approved
    assert "1 actions on octo/repo in 24 h, limit 1" in third.reason


def test_incidents_deciding_at_once_take_one_slot(store: Store) -> None:
    acts = _activities(store, RerunAdapter(ok=True), ONE_A_DAY)
    inputs = [_diagnosed(acts, n) for n in range(1, 7)]
    barrier = threading.Barrier(len(inputs))
    decisions: list[Decision] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(inp: DecideInput) -> None:
        barrier.wait()
        try:
            decision = acts.decide(inp)
        except BaseException as exc:  # reported below, with the thread's cause
            with lock:
                errors.append(exc)
            return
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=run, args=(inp,)) for inp in inputs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(decisions) == len(inputs)
    assert sum(d.approved for d in decisions) == 1
