"""The supervisor adapter's plan/apply/verify/rollback logic against an in-memory supervisord."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from pydantic import JsonValue

from vanguard.act.base import Adapter, LedgerEntry, MemoryLedger
from vanguard.act.supervisor import (
    MemorySupervisor,
    ProcessInfo,
    SupervisorAdapter,
    SupervisorClient,
    SupervisorRestartParams,
)
from vanguard.errors import ActionFailed, AdapterError, ConfigError
from vanguard.model import ActionRequest, ActionResult, RollbackRequest

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
URL = "http://127.0.0.1:19001/RPC2"


def _request(key: str = "k1", **params: JsonValue) -> ActionRequest:
    return ActionRequest(
        idempotency_key=key,
        incident_id="inc-1",
        action="supervisor.restart",
        target="web",
        params={"url": URL, "program": "worker", **params},
    )


class Harness:
    def __init__(self) -> None:
        self.supervisor = MemorySupervisor({"worker": 100})
        self.ledger = MemoryLedger()
        self.connects = 0
        self.adapter = SupervisorAdapter(self.ledger, self._factory, clock=lambda: T0)

    def _factory(self, params: SupervisorRestartParams) -> SupervisorClient:
        self.connects += 1
        return self.supervisor


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_is_an_adapter_with_bounded_params(h: Harness) -> None:
    assert isinstance(h.adapter, Adapter)
    assert SupervisorAdapter.kind == "supervisor.restart"
    assert SupervisorAdapter.params_model is SupervisorRestartParams
    assert SupervisorRestartParams.model_json_schema()["properties"]["timeout_s"]["maximum"] == 600


def test_plan_describes_steps_without_contacting_supervisord(h: Harness) -> None:
    plan = h.adapter.plan(_request())
    assert plan.undoable is False
    assert plan.action == "supervisor.restart"
    assert any("stop 'worker'" in step for step in plan.steps)
    assert any("start 'worker'" in step for step in plan.steps)
    assert h.connects == 0


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"timeout_s": 10_000}, "timeout_s"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"url": "ftp://x"}, "url"),
        ({"url": "http://ops:hunter2@127.0.0.1:19001/RPC2"}, "url"),
        ({"url": "https://ops@127.0.0.1:19001/RPC2"}, "url"),
        ({"program": ""}, "program"),
        ({"color": "red"}, "color"),
    ],
)
def test_bad_params_name_the_key(h: Harness, params: dict[str, JsonValue], key: str) -> None:
    with pytest.raises(AdapterError, match=f"invalid params: {key}"):
        h.adapter.apply(_request().model_copy(update={"params": {**_request().params, **params}}))
    assert h.supervisor.restarts == []


def test_a_url_with_credentials_is_refused_without_showing_them(h: Harness) -> None:
    url = "https://ops:hunter2@127.0.0.1:19001/RPC2"
    with pytest.raises(AdapterError, match=r"url: .*holds credentials") as info:
        h.adapter.apply(_request(url=url))
    assert "hunter2" not in str(info.value)
    assert h.connects == 0
    assert h.ledger.get("k1") is None


class InState(MemorySupervisor):
    """A supervisord whose program is in ``state`` until it is restarted."""

    def __init__(self, state: str, *, start: int) -> None:
        super().__init__({"worker": 100})
        self.state = state
        self.start = start

    def process_info(self, program: str) -> ProcessInfo:
        info = super().process_info(program)
        if self.restarts:
            return info
        pid = 0 if self.state in {"STOPPED", "BACKOFF"} else 100
        return info.model_copy(update={"statename": self.state, "pid": pid, "start": self.start})


@pytest.mark.parametrize(
    ("start", "why"),
    [(999_000, "someone stopped it"), (0, "has not been started since supervisord started")],
)
def test_a_stopped_program_is_left_down(h: Harness, start: int, why: str) -> None:
    stopped = InState("STOPPED", start=start)
    adapter = SupervisorAdapter(h.ledger, lambda p: stopped, clock=lambda: T0)
    with pytest.raises(ActionFailed, match=f"'worker' is STOPPED: .*{why}") as info:
        adapter.apply(_request())
    assert "supervisorctl -s http://127.0.0.1:19001 start worker" in str(info.value)
    assert stopped.restarts == []
    assert h.ledger.get("k1") is None, "refused before anything began"


@pytest.mark.parametrize("state", ["STOPPING", "STARTING", "BACKOFF"])
def test_a_program_in_transition_is_not_restarted_on_top(h: Harness, state: str) -> None:
    settling = InState(state, start=999_000)
    adapter = SupervisorAdapter(h.ledger, lambda p: settling, clock=lambda: T0)
    with pytest.raises(AdapterError, match=f"'worker' is {state}: .*retrying once it settles") as i:
        adapter.apply(_request())
    assert not isinstance(i.value, ActionFailed), "retried, not given up"
    assert settling.restarts == []
    assert h.ledger.get("k1") is None
    settling.state = "RUNNING"
    assert adapter.apply(_request()).applied
    assert settling.restarts == ["worker"]


def test_apply_restarts_and_records_undo_impossible(h: Harness) -> None:
    result = h.adapter.apply(_request())
    assert h.supervisor.restarts == ["worker"]
    assert result.applied is True
    assert result.before["pid"] == 100
    assert result.after["pid"] == 101
    assert result.undo.possible is False
    assert "cannot be undone" in result.undo.instructions
    assert result.finished_at == T0
    assert ActionResult.model_validate_json(result.model_dump_json()) == result
    entry = h.ledger.get("k1")
    assert entry is not None
    assert entry.result == result


def test_same_key_returns_recorded_result_without_contact(h: Harness) -> None:
    first = h.adapter.apply(_request())
    connects = h.connects
    second = h.adapter.apply(_request())
    assert second == first
    assert h.supervisor.restarts == ["worker"]
    assert h.connects == connects


def test_new_key_restarts_again(h: Harness) -> None:
    h.adapter.apply(_request("k1"))
    h.adapter.apply(_request("k2"))
    assert h.supervisor.restarts == ["worker", "worker"]


def _begin_as_crashed_worker(h: Harness) -> None:
    info = h.supervisor.process_info("worker")
    h.ledger.begin("k1", {"url": URL, "program": "worker", "pid": info.pid, "start": info.start})


def test_reconcile_after_crash_past_the_restart_does_not_repeat_it(h: Harness) -> None:
    _begin_as_crashed_worker(h)
    h.supervisor.restart("worker")
    result = h.adapter.apply(_request())
    assert h.supervisor.restarts == ["worker"]
    assert result.applied is True
    assert "not repeated" in result.message
    assert (result.before["pid"], result.after["pid"]) == (100, 101)


def test_reconcile_after_crash_before_the_restart_restarts_once(h: Harness) -> None:
    _begin_as_crashed_worker(h)
    result = h.adapter.apply(_request())
    assert h.supervisor.restarts == ["worker"]
    assert result.after["pid"] == 101
    assert h.adapter.apply(_request()) == result


@pytest.mark.parametrize("state", ["STOPPING", "STARTING", "BACKOFF"])
def test_reconcile_mid_restart_waits_instead_of_restarting_again(h: Harness, state: str) -> None:
    _begin_as_crashed_worker(h)

    class Settling(MemorySupervisor):
        def process_info(self, program: str) -> ProcessInfo:
            return super().process_info(program).model_copy(update={"statename": state})

    settling = Settling({"worker": 100})
    adapter = SupervisorAdapter(h.ledger, lambda p: settling, clock=lambda: T0)
    with pytest.raises(AdapterError, match=f"is {state} after an interrupted restart"):
        adapter.apply(_request())
    assert settling.restarts == []
    entry = h.ledger.get("k1")
    assert entry is not None
    assert entry.result is None, "the interrupted restart stays open until it settles"


class AnotherAttemptMeanwhile(MemorySupervisor):
    """This attempt stalls between its look at the program and its ``begin``; another
    attempt of the same key (Temporal started it after a heartbeat timeout) runs then."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        super().__init__({"worker": 100})
        self.meanwhile: Callable[[], object] | None = meanwhile

    def process_info(self, program: str) -> ProcessInfo:
        info = super().process_info(program)
        if self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return info


def test_an_attempt_that_lost_the_key_to_a_finished_one_returns_its_result() -> None:
    ledger = MemoryLedger()
    done: list[ActionResult] = []
    other = SupervisorAdapter(ledger, lambda p: supervisor, clock=lambda: T0)
    supervisor = AnotherAttemptMeanwhile(lambda: done.append(other.apply(_request())))
    late = SupervisorAdapter(ledger, lambda p: supervisor, clock=lambda: T0)
    result = late.apply(_request())
    assert supervisor.restarts == ["worker"]
    assert [result] == done


def test_an_attempt_that_lost_the_key_to_one_under_way_leaves_the_program_alone() -> None:
    ledger = MemoryLedger()
    supervisor = AnotherAttemptMeanwhile(lambda: ledger.begin("k1", {"pid": 100}))
    late = SupervisorAdapter(ledger, lambda p: supervisor, clock=lambda: T0)
    with pytest.raises(AdapterError, match="another attempt began this action"):
        late.apply(_request())
    assert supervisor.restarts == []
    assert ledger.get("k1") == LedgerEntry(key="k1", before={"pid": 100})


def test_verify_passes_after_restart(h: Harness) -> None:
    check = h.adapter.verify(h.adapter.apply(_request()))
    assert check.ok, check.reason
    assert check.observed["pid"] == 101
    assert check.observed["before_pid"] == 100


def test_verify_fails_when_pid_unchanged(h: Harness) -> None:
    result = h.adapter.apply(_request())
    stale = result.model_copy(update={"before": {**result.before, "pid": 101}})
    check = h.adapter.verify(stale)
    assert not check.ok
    assert "still has pid 101" in check.reason


def test_verify_fails_when_uptime_not_reset(h: Harness) -> None:
    result = h.adapter.apply(_request())
    later = h.supervisor.started["worker"] + 5
    odd = result.model_copy(update={"before": {**result.before, "pid": 7, "now": later}})
    check = h.adapter.verify(odd)
    assert not check.ok
    assert "uptime was not reset" in check.reason


def test_verify_fails_when_not_running(h: Harness) -> None:
    result = h.adapter.apply(_request())

    class Stopped(MemorySupervisor):
        def process_info(self, program: str) -> ProcessInfo:
            info = super().process_info(program)
            return info.model_copy(update={"statename": "FATAL", "pid": 0})

    adapter = SupervisorAdapter(MemoryLedger(), lambda p: Stopped({"worker": 5}))
    check = adapter.verify(result)
    assert not check.ok
    assert "FATAL" in check.reason


def test_a_program_that_does_not_come_back_is_reported_down() -> None:
    class Fails(MemorySupervisor):
        def restart(self, program: str) -> None:
            super().restart(program)
            self.pids[program] = 0

        def process_info(self, program: str) -> ProcessInfo:
            info = super().process_info(program)
            if self.restarts:
                return info.model_copy(
                    update={"statename": "FATAL", "spawnerr": "Exited too quickly"}
                )
            return info

    adapter = SupervisorAdapter(MemoryLedger(), lambda p: Fails({"worker": 5}))
    with pytest.raises(ActionFailed, match=r"'worker' is FATAL .*now down \(not running\)"):
        adapter.apply(_request())


def test_rollback_is_refused_without_touching_the_process(h: Harness) -> None:
    result = h.adapter.apply(_request())
    connects = h.connects
    undone = h.adapter.rollback(
        RollbackRequest(idempotency_key="rb-1", incident_id="inc-1", undo=result.undo)
    )
    assert undone.applied is False
    assert "cannot be undone" in undone.message
    assert h.connects == connects
    assert h.supervisor.restarts == ["worker"]


def test_unknown_program_is_a_config_error_naming_program(h: Harness) -> None:
    with pytest.raises(ConfigError, match="program: no program 'ghost'"):
        h.adapter.apply(_request(program="ghost"))
    assert h.ledger.get("k1") is None
