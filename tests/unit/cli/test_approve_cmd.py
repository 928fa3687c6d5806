"""``vanguard incidents approve|decline``: refused, with the reason, unless the incident waits.

The signal itself goes to a real workflow in ``tests/integration/engine/test_approval.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.integration.store.values import advanced, incident
from vanguard.cli.approve_cmd import Answer, standing
from vanguard.cli.apps import app
from vanguard.incident import IncidentState
from vanguard.store import IncidentRepo, default_store_url, open_store


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = default_store_url(tmp_path)
    store = open_store(url)
    with store.session() as session:
        repo = IncidentRepo(session)
        repo.save_incident(advanced(incident("inc-done"), IncidentState.diagnosed))
    store.close()
    return url


@pytest.mark.parametrize("verb", ["approve", "decline"])
def test_only_an_incident_that_waits_can_be_answered(store_url: str, verb: str) -> None:
    unreachable = "127.0.0.1:1"
    common = ["--store", store_url, "--temporal", unreachable, "--by", "alice"]
    done = CliRunner().invoke(app, ["incidents", verb, "inc-done", *common])
    assert done.exit_code != 0
    assert "inc-done is diagnosed, not awaiting approval" in str(done.exception)
    missing = CliRunner().invoke(app, ["incidents", verb, "nope", *common])
    assert "no incident 'nope'" in str(missing.exception)


ALICE: Answer = (True, "approved by alice")
BOB: Answer = (True, "approved by bob")
MALLORY: Answer = (False, "declined by mallory")
TRENT: Answer = (False, "declined by trent")


@pytest.mark.parametrize(
    ("answers", "kept"),
    [
        ([], None),
        ([ALICE], ALICE),
        ([ALICE, BOB], ALICE),
        ([ALICE, MALLORY], MALLORY),
        ([ALICE, MALLORY, BOB], MALLORY),
        ([MALLORY, ALICE], MALLORY),
        ([MALLORY, TRENT], MALLORY),
    ],
)
def test_the_first_answer_stands_unless_a_decline_follows_an_approval(
    answers: list[Answer], kept: Answer | None
) -> None:
    assert standing(answers) == kept
