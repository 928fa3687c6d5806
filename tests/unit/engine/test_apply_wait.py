"""An action's wait (a re-run's backoff) comes before every check, so what happens during it
counts: a pause, a ``/vanguard ignore`` or an outage stops the re-run, nothing is begun
before the wait ends, and a retried activity waits only what is left. The workflow waits
it (``action_due_in`` tells it how long), where a person's decline reaches it; the
activity's own wait is left to incidents started before."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.unit.ci.builders import T0, run_alert
from tests.unit.engine.test_activities import PATTERN, RerunAdapter, _alert, _through_apply
from vanguard.act.base import MAX_DUE_S, MemoryLedger
from vanguard.act.github import GitHubContext, GitHubRerunAdapter, GitHubRerunParams, IssueKeeper
from vanguard.ci.alerts import retry_evidence
from vanguard.ci.client import MemoryGitHub
from vanguard.ci.config import GitHubConfig, HealingConfig
from vanguard.ci.events import WorkflowRun
from vanguard.ci.healing import HealKind, HealPlan
from vanguard.ci.health import AttemptRecord
from vanguard.ci.records import CiRepo
from vanguard.config import Settings
from vanguard.decide import PolicyConfig
from vanguard.diagnose.cilog import explain
from vanguard.diagnose.patterns import load_patterns
from vanguard.diagnose.taxonomy import builtin_taxonomy
from vanguard.engine.activities import Activities, apply_key
from vanguard.engine.messages import ApplyInput, DecideInput, DiagnoseInput, OpenInput
from vanguard.engine.workflows import ACT_TIMEOUT
from vanguard.errors import ActionWithheld
from vanguard.model import ActionRequest
from vanguard.store import AuditLog, PauseRepo, Store, default_store_url, open_store

REPO = "o/r"
BACKOFF_S = 30.0
EXPLANATION = explain(["npm ERR! network request failed, reason: read ECONNRESET"])
FINGERPRINT = EXPLANATION.fingerprint


class World:
    """A re-run incident decided at the failure's time, over an in-memory GitHub; ``sleep``
    moves the clock on and runs ``during`` (what happens while the backoff is waited)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.now = T0
        self.slept: list[float] = []
        self.during: Callable[[], None] = lambda: None
        self.github = MemoryGitHub()
        self.github.runs[(REPO, 5)] = WorkflowRun(
            id=5, head_sha="abc", status="completed", conclusion="failure", run_attempt=1
        )
        config = GitHubConfig(
            healing=HealingConfig(max_wait_s=240, storm_repositories=3, storm_window_s=900)
        )
        settings = Settings(
            data_dir=Path("."), policy=PolicyConfig(min_confidence=0.5), github=config
        )
        self.ledger = MemoryLedger()
        context = GitHubContext(settings, store)
        rerun = GitHubRerunAdapter(
            self.ledger,
            api=lambda: self.github,
            alerts=context.alert,
            keeper=IssueKeeper(lambda: self.github, lambda: store, lambda: config, self.clock),
            store=lambda: store,
            healing=lambda: config.healing,
            clock=self.clock,
        )
        self.acts = Activities(
            settings,
            store,
            load_patterns(),
            {rerun.kind: rerun},
            self.ledger,
            [],
            clock=self.clock,
            sleep=self.sleep,
        )
        self.alert = run_alert(
            EXPLANATION,
            plan=HealPlan(
                kind=HealKind.rerun, reason="r", reruns_done=0, max_reruns=2, backoff_s=BACKOFF_S
            ),
            evidence=retry_evidence(EXPLANATION, builtin_taxonomy()),
        )
        self.fails(REPO)
        self.apply = self._decided()

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        self.during()

    def _decided(self) -> ApplyInput:
        iid = "inc-1"
        self.acts.open_incident(OpenInput(incident_id=iid, alert=self.alert))
        diagnosis = self.acts.diagnose(DiagnoseInput(incident_id=iid, alert=self.alert))
        assert diagnosis.pattern_id == "ci_rerun"
        decision = self.acts.decide(
            DecideInput(incident_id=iid, alert=self.alert, diagnosis=diagnosis)
        )
        assert decision.approved, decision.reason
        return ApplyInput(incident_id=iid, alert=self.alert, diagnosis=diagnosis)

    def audited(self) -> list[str]:
        with self.store.session() as session:
            return [e.kind for e in AuditLog(session).entries("inc-1")]

    def fails(self, *repositories: str) -> None:
        """The fingerprint fails in these repositories now, recorded as the intake does."""
        with self.store.session() as session:
            for repository in repositories:
                CiRepo(session).record_attempt(
                    AttemptRecord(
                        repository=repository,
                        workflow="CI",
                        run_id=5,
                        run_attempt=1,
                        head_sha="abc",
                        conclusion="failure",
                        at=self.now,
                    ),
                    category=EXPLANATION.category,
                    fingerprint=FINGERPRINT,
                )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = open_store(default_store_url(tmp_path))
    yield World(store)
    store.close()


def test_without_news_the_rerun_goes_once_the_backoff_is_over_and_is_checked_after_it(
    world: World,
) -> None:
    seen: list[list[str]] = []
    world.during = lambda: seen.append(world.audited())
    result = world.acts.apply_action(world.apply)
    assert world.slept == [BACKOFF_S]
    assert world.github.reruns == [(REPO, 5)]
    assert "re-ran the failed jobs" in result.message
    assert "decision.rechecked" not in seen[0], "the gates ran before the wait"
    assert "decision.rechecked" in world.audited()


def test_the_workflow_is_told_the_wait_and_the_action_then_waits_no_more(world: World) -> None:
    """Waited inside ``apply_action``, the backoff was out of a decline's reach: one sent
    during it was read after the re-run's POST. The workflow waits it now, so the action
    finds nothing left to wait."""
    assert world.acts.action_due_in(world.apply) == BACKOFF_S
    world.now += timedelta(seconds=BACKOFF_S)
    assert world.acts.action_due_in(world.apply) == 0
    world.acts.apply_action(world.apply)
    assert world.slept == []
    assert world.github.reruns == [(REPO, 5)]


def test_the_wait_the_workflow_is_told_is_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Waited in the workflow, the backoff went unlogged: an *approved* incident did
    nothing for minutes with no line saying why."""
    caplog.set_level(logging.INFO, logger="vanguard.engine.activities")
    assert world.acts.action_due_in(world.apply) == BACKOFF_S
    said = [r.getMessage() for r in caplog.records]
    assert f"incident inc-1: waiting {BACKOFF_S:.0f} s until its action is due" in said
    caplog.clear()
    world.now += timedelta(seconds=BACKOFF_S)
    assert world.acts.action_due_in(world.apply) == 0
    assert not [m for m in (r.getMessage() for r in caplog.records) if "until its action" in m]


def test_an_action_begun_is_not_waited_for_again(world: World) -> None:
    world.ledger.begin(apply_key("inc-1"), {"run_attempt": 1})
    assert world.acts.action_due_in(world.apply) == 0


def test_a_pause_during_the_backoff_withholds_the_rerun(world: World) -> None:
    """Seen live: paused at 18:56:13, the re-run was POSTed at 18:56:31 all the same."""

    def paused() -> None:
        with world.store.session() as session:
            PauseRepo(session).pause(
                service=None, reason="registry maintenance", by="ops", now=world.now
            )

    world.during = paused
    with pytest.raises(ActionWithheld, match="automation paused on every service by ops"):
        world.acts.apply_action(world.apply)
    assert world.github.reruns == []
    assert world.ledger.get(apply_key("inc-1")) is None


def test_an_ignore_during_the_backoff_withholds_the_rerun(world: World) -> None:
    def ignored() -> None:
        with world.store.session() as session:
            CiRepo(session).save_triage(REPO, FINGERPRINT, at=world.now, ignored=True)

    world.during = ignored
    withheld = f"approved, but not applied: fingerprint {FINGERPRINT} is ignored"
    with pytest.raises(ActionWithheld, match=withheld):
        world.acts.apply_action(world.apply)
    assert world.github.reruns == []
    audited = world.audited()
    assert "decision.withheld" in audited
    assert "decision.rechecked" not in audited, "withheld before the gates renewed its hold"


def test_an_outage_declared_during_the_backoff_withholds_the_rerun(world: World) -> None:
    """Two more repositories fail with the fingerprint while this one waits: the third
    declared the outage, and this re-run is one of the threshold − 1 wasted ones."""
    world.during = lambda: world.fails("a/x", "b/x")
    with pytest.raises(ActionWithheld, match="failed in 3 repositories"):
        world.acts.apply_action(world.apply)
    assert world.github.reruns == []


def test_a_person_re_running_it_during_the_backoff_is_not_repeated(world: World) -> None:
    def rerun_by_hand() -> None:
        world.github.runs[(REPO, 5)] = world.github.runs[(REPO, 5)].model_copy(
            update={"run_attempt": 2, "status": "in_progress", "conclusion": None}
        )

    world.during = rerun_by_hand
    result = world.acts.apply_action(world.apply)
    assert world.github.reruns == []
    assert result.message.endswith("not repeated")


def test_a_worker_lost_during_the_wait_began_nothing_and_its_retry_waits_what_is_left(
    world: World,
) -> None:
    def lost_after_10_s(seconds: float) -> None:
        world.now += timedelta(seconds=10)
        raise KeyboardInterrupt

    world.acts.sleep = lost_after_10_s
    with pytest.raises(KeyboardInterrupt):
        world.acts.apply_action(world.apply)
    assert world.ledger.get(apply_key("inc-1")) is None
    assert "decision.rechecked" not in world.audited()
    world.acts.sleep = world.sleep
    world.acts.apply_action(world.apply)
    assert world.slept == [BACKOFF_S - 10]
    assert world.github.reruns == [(REPO, 5)]


class FarOff(RerunAdapter):
    """Says its action is due an hour after the alert (a clock far ahead of ours)."""

    def due(self, request: ActionRequest) -> datetime:
        return T0 + timedelta(hours=1)


def test_a_wait_is_never_longer_than_the_activity_allows(tmp_path: Path) -> None:
    store = open_store(default_store_url(tmp_path))
    try:
        adapter = FarOff(ok=True)
        slept: list[float] = []
        settings = Settings(data_dir=Path("."), policy=PolicyConfig(min_confidence=0.5))
        acts = Activities(
            settings,
            store,
            [PATTERN],
            {adapter.kind: adapter},
            MemoryLedger(),
            [],
            clock=lambda: T0,
            sleep=slept.append,
        )
        _, verify = _through_apply(acts, _alert())
        assert verify is not None
        told = acts.action_due_in(
            ApplyInput(incident_id="inc-next", alert=verify.alert, diagnosis=verify.diagnosis)
        )
    finally:
        store.close()
    assert slept == [MAX_DUE_S]
    assert told == MAX_DUE_S, "the workflow waits no longer either"
    assert adapter.applied == 1


def test_the_apply_timeout_covers_the_longest_wait_and_the_action() -> None:
    assert ACT_TIMEOUT - timedelta(seconds=MAX_DUE_S) >= timedelta(seconds=30)
    HealingConfig(max_wait_s=MAX_DUE_S)
    GitHubRerunParams(max_wait_s=MAX_DUE_S)
    with pytest.raises(ValidationError):
        HealingConfig(max_wait_s=MAX_DUE_S + 1)
    with pytest.raises(ValidationError):
        GitHubRerunParams(max_wait_s=MAX_DUE_S + 1)
