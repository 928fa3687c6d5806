"""pgbouncer.resize against a real PgBouncer under pgbench load, its ini committed in git."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from pydantic import JsonValue

from tests.e2e.pgbouncer_lab import ALIAS, Load, Pool
from tests.servers.pgbouncer import StartPgBouncer
from vanguard.act.base import MemoryLedger
from vanguard.act.pgbouncer import (
    MemoryConsole,
    PgBouncerConsole,
    PgBouncerResizeAdapter,
    PsycopgConsole,
    pool_size,
    with_pool_size,
)
from vanguard.errors import ActionFailed, AdapterError, PartlyApplied
from vanguard.model import ActionRequest, RollbackRequest
from vanguard.netutil import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _request(pool: Pool, **params: JsonValue) -> ActionRequest:
    return ActionRequest(
        idempotency_key="inc-7:apply",
        incident_id="inc-7",
        action="pgbouncer.resize",
        target="app-db",
        params={
            "admin_dsn": pool.admin_dsn,
            "ini_path": str(pool.bouncer.ini_path),
            "git_repo": str(pool.repo.root),
            "max_pool_size": 20,
            **params,
        },
    )


def _active_when(pool: Pool, settled: Callable[[int], bool], timeout_s: float = 10.0) -> int:
    """Server connections in use once ``settled`` holds of them (or at ``timeout_s``):
    a starved machine's clients take a while to fill, and to leave, a resized pool."""
    deadline = time.monotonic() + timeout_s
    while True:
        active = int(pool.pool()["sv_active"])
        if settled(active) or time.monotonic() > deadline:
            return active
        time.sleep(0.1)


def _mean(values: list[int]) -> float:
    return sum(values) / max(len(values), 1)


def test_raise_takes_effect_under_load_and_is_committed(pgbouncer_server: StartPgBouncer) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=10))
    adapter = PgBouncerResizeAdapter(MemoryLedger())
    with Load(pool.bouncer, clients=14, seconds=30):
        pool.queued(3)
        before = _mean(pool.waiting(seconds=2))
        result = adapter.apply(_request(pool))
        time.sleep(1.0)
        after = _mean(pool.waiting(seconds=2))
        check = adapter.verify(result)
    assert result.before["pool_size"] == 10
    assert result.after["pool_size"] == 12
    assert pool.live_size() == 12
    assert pool_size(pool.bouncer.ini_path.read_text(), None) == 12
    assert check.ok, check.reason
    assert before >= 3
    assert after < before - 1, (before, after)
    ((sha, subject), _) = pool.repo.log(pool.bouncer.ini_path)
    assert subject == "auto: raise default pool 10→12, incident inc-7"
    assert result.after["commit"] == sha
    assert adapter.apply(_request(pool)) == result
    assert len(pool.repo.log(pool.bouncer.ini_path)) == 2


def test_rollback_is_a_revert_commit_and_closes_surplus_connections(
    pgbouncer_server: StartPgBouncer,
) -> None:
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    original = pool.bouncer.ini_path.read_text()
    adapter = PgBouncerResizeAdapter(MemoryLedger())
    with Load(pool.bouncer, clients=12, seconds=30):
        result = adapter.apply(_request(pool, database=ALIAS, factor=4.0))
        raised = _active_when(pool, lambda n: n > 2)
        back = adapter.rollback(
            RollbackRequest(idempotency_key="inc-7:rollback", incident_id="inc-7", undo=result.undo)
        )
        shrunk = _active_when(pool, lambda n: n <= 2)
    assert result.after["pool_size"] == 8
    assert raised > 2
    assert shrunk <= 2
    assert back.after["pool_size"] == 2
    assert pool.live_size() == 2
    assert pool.bouncer.ini_path.read_text() == original
    subjects = [s for _, s in pool.repo.log(pool.bouncer.ini_path)]
    assert subjects == [
        'Revert "auto: raise app pool 2→8, incident inc-7"',
        "auto: raise app pool 2→8, incident inc-7",
        "initial pgbouncer configuration",
    ]
    assert (
        adapter.rollback(
            RollbackRequest(idempotency_key="inc-7:rollback", incident_id="inc-7", undo=result.undo)
        )
        == back
    )


def test_someone_elses_uncommitted_ini_edit_is_never_committed(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """Committing it with the resize would make the resize's revert undo it too."""
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    ini = pool.bouncer.ini_path
    edited = ini.read_text().replace("max_client_conn = ", "max_client_conn = 4")
    ini.write_text(edited)
    ledger = MemoryLedger()
    with pytest.raises(ActionFailed, match="changes nobody committed"):
        PgBouncerResizeAdapter(ledger).apply(_request(pool, database=ALIAS))
    assert ini.read_text() == edited
    assert pool.live_size() == 2
    assert len(pool.repo.log(ini)) == 1
    assert ledger.get("inc-7:apply") is None


def test_rollback_never_overwrites_a_pool_someone_resized_since(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """Undoing 2 → 4 must not take a pool an operator has set to 10 back to 2."""
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    ini = pool.bouncer.ini_path
    adapter = PgBouncerResizeAdapter(MemoryLedger())
    result = adapter.apply(_request(pool, database=ALIAS, factor=2.0))
    assert pool.live_size() == 4
    ini.write_text(with_pool_size(ini.read_text(), ALIAS, 10))
    pool.repo.commit([ini], "ops: pool 10 for the sale")
    pool.console("RELOAD")
    assert pool.live_size() == 10
    undo = RollbackRequest(idempotency_key="inc-7:rollback", incident_id="inc-7", undo=result.undo)
    with pytest.raises(ActionFailed, match=r"pool is 10 .* not the 4 the action set"):
        adapter.rollback(undo)
    assert pool.live_size() == 10
    assert pool_size(ini.read_text(), ALIAS) == 10
    assert pool.repo.log(ini)[0][1] == "ops: pool 10 for the sale"


def test_a_runtime_set_is_never_undone_by_a_resize(pgbouncer_server: StartPgBouncer) -> None:
    """The on-call's immediate fix (SET 10) with the ini at 2: a "raise" to 3 would cut it."""
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    ini = pool.bouncer.ini_path
    pool.console("SET default_pool_size = 10")
    ledger = MemoryLedger()
    adapter = PgBouncerResizeAdapter(ledger)
    with pytest.raises(ActionFailed, match=r"runs the default pool at 10, but .* says 2"):
        adapter.plan(_request(pool))
    with pytest.raises(ActionFailed, match="a runtime SET or an ini edit not reloaded"):
        adapter.apply(_request(pool, database=ALIAS))
    assert pool.live_size() == 10
    assert pool_size(ini.read_text(), ALIAS) == 2
    assert len(pool.repo.log(ini)) == 1
    assert ledger.get("inc-7:apply") is None


def test_a_replayed_resize_never_writes_over_a_size_set_since_it_began(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """The worker died after ``begin``; the on-call raised the pool to 8 before the replay:
    writing the recorded 3 would lower it under an approval to raise it."""
    pool = Pool.of(pgbouncer_server(default_pool_size=2))
    ini = pool.bouncer.ini_path
    ledger = MemoryLedger()
    ledger.begin("inc-7:apply", {"pool_size": 2, "target": 3})
    ini.write_text(with_pool_size(ini.read_text(), None, 8))
    pool.repo.commit([ini], "ops: pool 8")
    pool.console("RELOAD")
    with pytest.raises(PartlyApplied, match="a person changed it since the resize began"):
        PgBouncerResizeAdapter(ledger).apply(_request(pool))
    assert pool.live_size() == 8
    assert pool_size(ini.read_text(), None) == 8
    assert pool.repo.log(ini)[0][1] == "ops: pool 8"


def test_a_database_name_with_a_dash_is_resized_and_reconnected(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """``RECONNECT my-db`` is a syntax error to the console; the name must be quoted."""
    pool = Pool.of(pgbouncer_server({"my-db": "postgres"}, default_pool_size=4))
    adapter = PgBouncerResizeAdapter(MemoryLedger())
    result = adapter.apply(_request(pool, database="my-db", factor=0.5))
    assert (result.before["pool_size"], result.after["pool_size"]) == (4, 2)
    assert pool.live_size("my-db") == 2
    assert adapter.verify(result).ok
    back = adapter.rollback(
        RollbackRequest(idempotency_key="inc-7:rollback", incident_id="inc-7", undo=result.undo)
    )
    assert back.after["live_pool_size"] == pool.live_size("my-db") == 4


def test_console_errors_say_whether_a_retry_can_help(pgbouncer_server: StartPgBouncer) -> None:
    """A refused command is final, with the console's words; an unreachable console is not."""
    bouncer = pgbouncer_server()
    with pytest.raises(ActionFailed, match="refused RECONNECT nosuch: no such database: nosuch"):
        PsycopgConsole(bouncer.admin_dsn).run("RECONNECT nosuch")
    closed = bouncer.admin_dsn.replace(f"port={bouncer.port}", f"port={free_port()}")
    with pytest.raises(AdapterError, match="cannot reach the pgbouncer console") as unreachable:
        PsycopgConsole(closed, timeout_s=1.0).run("SHOW CONFIG")
    assert type(unreachable.value) is AdapterError


def test_a_console_that_does_not_answer_fails_within_the_timeout(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """``PAUSE app`` waits for the open transaction: a console that took the command and
    does not answer. Without a read timeout the attempt would hang until the activity's."""
    bouncer = pgbouncer_server()
    held = psycopg.connect(bouncer.dsn(ALIAS))
    held.execute("SELECT 1")
    console = PsycopgConsole(bouncer.admin_dsn, timeout_s=1.0)
    with ThreadPoolExecutor(max_workers=1) as executor:
        started = time.monotonic()
        answer = executor.submit(console.run, f"PAUSE {ALIAS}")
        try:
            error = answer.exception(timeout=10)
            elapsed = time.monotonic() - started
        finally:
            held.rollback()
            held.close()
    assert type(error) is AdapterError
    assert f"did not answer PAUSE {ALIAS} within 1 s" in str(error)
    assert elapsed < 5


def _pools(answer: list[dict[str, Any]], names: set[str]) -> dict[str, int]:
    return {str(row["name"]): int(row["pool_size"]) for row in answer if row["name"] in names}


def _default(answer: list[dict[str, Any]]) -> str:
    (row,) = [row for row in answer if row["key"] == "default_pool_size"]
    return str(row["value"])


def _refusal(console: PgBouncerConsole, command: str) -> str:
    with pytest.raises(ActionFailed) as refused:
        console.run(command)
    return type(refused.value).__name__


def test_the_memory_console_answers_as_pgbouncers_own(
    pgbouncer_server: StartPgBouncer,
) -> None:
    """The unit tests of the adapter rest on ``MemoryConsole``: the same commands, sent to
    it and to a real PgBouncer over the same ini, must leave both saying the same."""
    bouncer = pgbouncer_server({"app": "postgres", "my-db": "postgres"}, default_pool_size=2)
    ini = bouncer.ini_path
    ini.write_text(with_pool_size(ini.read_text(), "my-db", 5))
    real = PsycopgConsole(bouncer.admin_dsn)
    real.run("RELOAD")
    memory = MemoryConsole(ini)
    names = {"app", "my-db"}
    script: list[tuple[str, Callable[[PgBouncerConsole], object]]] = [
        ("as started", lambda c: _pools(c.run("SHOW DATABASES"), names)),
        ("default", lambda c: _default(c.run("SHOW CONFIG"))),
        ("runtime SET", lambda c: c.run("SET default_pool_size = 7")),
        ("after SET", lambda c: _pools(c.run("SHOW DATABASES"), names)),
        ("default after SET", lambda c: _default(c.run("SHOW CONFIG"))),
        ("ini edited", lambda c: None),
        ("RELOAD", lambda c: c.run("RELOAD")),
        ("after RELOAD", lambda c: _pools(c.run("SHOW DATABASES"), names)),
        ("default after RELOAD", lambda c: _default(c.run("SHOW CONFIG"))),
        ("RECONNECT quoted", lambda c: c.run('RECONNECT "my-db"')),
        ("RECONNECT unquoted", lambda c: _refusal(c, "RECONNECT my-db")),
        ("RECONNECT unknown", lambda c: _refusal(c, "RECONNECT nosuch")),
    ]
    said: dict[str, list[object]] = {"real": [], "memory": []}
    for step, send in script:
        if step == "ini edited":
            ini.write_text(with_pool_size(ini.read_text(), None, 3))
        for name, console in (("real", real), ("memory", memory)):
            said[name].append((step, send(console)))
    assert said["memory"] == said["real"]
    assert said["real"][0] == ("as started", {"app": 2, "my-db": 5})
