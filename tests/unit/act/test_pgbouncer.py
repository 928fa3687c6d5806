"""The pgbouncer.resize adapter: ini edits, bounds, idempotency and undo, in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import JsonValue

from vanguard.act.base import Adapter, LedgerEntry, MemoryLedger
from vanguard.act.gitconfig import GitRepo
from vanguard.act.pgbouncer import (
    MemoryConsole,
    PgBouncerConsole,
    PgBouncerResizeAdapter,
    pool_size,
    resized,
    with_pool_size,
)
from vanguard.errors import ActionFailed, AdapterError, PartlyApplied
from vanguard.model import ActionRequest, RollbackRequest

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
INI = """\
[databases]
bench = host=127.0.0.1 port=5432 dbname=bench
big = host=127.0.0.1 port=5432 dbname=big pool_size=10

[pgbouncer]
listen_port = 6432
; a comment = 3
default_pool_size = 2
max_client_conn = 500
"""


class Harness:
    def __init__(self, tmp_path: Path, text: str = INI) -> None:
        self.ini = tmp_path / "pgbouncer.ini"
        self.ini.write_text(text)
        self.console = MemoryConsole(self.ini)
        self.ledger = MemoryLedger()
        self.adapter = PgBouncerResizeAdapter(self.ledger, self._console, clock=lambda: T0)

    def _console(self, _dsn: str, _timeout: float) -> PgBouncerConsole:
        return self.console

    def request(self, key: str = "inc-1:apply", **params: JsonValue) -> ActionRequest:
        return ActionRequest(
            idempotency_key=key,
            incident_id="inc-1",
            action="pgbouncer.resize",
            target="bench",
            params={"admin_dsn": "host=x dbname=pgbouncer", "ini_path": str(self.ini), **params},
        )


@pytest.mark.parametrize(("database", "expected"), [(None, 2), ("bench", 2), ("big", 10)])
def test_pool_size_reads_the_database_or_the_default(database: str | None, expected: int) -> None:
    assert pool_size(INI, database) == expected


def test_default_pool_size_is_pgbouncers_default_when_absent() -> None:
    assert pool_size("[pgbouncer]\nlisten_port = 1\n", None) == 20


def test_with_pool_size_edits_only_the_named_setting() -> None:
    default = with_pool_size(INI, None, 3)
    assert pool_size(default, None) == 3
    assert pool_size(default, "big") == 10
    assert "; a comment = 3" in default
    bench = with_pool_size(INI, "bench", 5)
    assert "bench = host=127.0.0.1 port=5432 dbname=bench pool_size=5\n" in bench
    assert pool_size(bench, None) == 2
    big = with_pool_size(INI, "big", 12)
    assert pool_size(big, "big") == 12
    assert big.count("pool_size=") == 1


def test_with_pool_size_adds_a_missing_default() -> None:
    text = with_pool_size("[pgbouncer]\nlisten_port = 1\n", None, 4)
    assert pool_size(text, None) == 4


def test_unknown_database_is_an_adapter_error() -> None:
    with pytest.raises(AdapterError, match="no database 'nope'"):
        pool_size(INI, "nope")
    with pytest.raises(AdapterError, match="no database 'nope'"):
        with_pool_size(INI, "nope", 3)


@pytest.mark.parametrize(
    ("current", "factor", "high", "expected"),
    [
        (2, 1.2, 50, 3),
        (10, 1.2, 50, 12),
        (11, 1.2, 50, 14),
        (10, 1.2, 11, 11),
        (50, 1.2, 50, 50),
        (2, 0.5, 50, 1),
        (10, 0.5, 50, 5),
        (1, 0.5, 50, 1),
    ],
)
def test_resized_rounds_away_and_stays_in_bounds(
    current: int, factor: float, high: int, expected: int
) -> None:
    assert resized(current, factor, low=1, high=high) == expected


def test_apply_edits_reloads_and_records_how_to_undo(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    assert isinstance(h.adapter, Adapter)
    result = h.adapter.apply(h.request(database="bench"))
    assert result.before["pool_size"] == 2
    assert result.after["pool_size"] == 3
    assert result.after["live_pool_size"] == 3
    assert pool_size(h.ini.read_text(), "bench") == 3
    assert h.console.commands[:2] == ["SHOW DATABASES", "RELOAD"]
    assert not any(c.startswith("RECONNECT") for c in h.console.commands)
    assert result.undo.possible
    assert result.undo.params["pool_size"] == 2
    assert "vanguard rollback inc-1" in result.undo.instructions
    check = h.adapter.verify(result)
    assert check.ok, check.reason


def test_apply_twice_with_one_key_resizes_once(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    first = h.adapter.apply(h.request())
    second = h.adapter.apply(h.request())
    assert first == second
    assert pool_size(h.ini.read_text(), None) == 3
    assert h.console.commands.count("RELOAD") == 1


def test_an_interrupted_apply_finishes_without_resizing_twice(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    h.ini.write_text(with_pool_size(INI, None, 3))
    result = h.adapter.apply(h.request())
    assert result.before["pool_size"] == 2
    assert result.after["pool_size"] == 3
    assert pool_size(h.ini.read_text(), None) == 3


def test_a_pool_at_its_bound_is_not_resized(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(ActionFailed, match="at the configured bound"):
        h.adapter.apply(h.request(max_pool_size=2))
    assert pool_size(h.ini.read_text(), None) == 2


def test_shrink_reconnects_and_rollback_restores(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.adapter.apply(h.request(database="big", factor=0.5))
    assert result.after["pool_size"] == 5
    assert "RECONNECT big" in h.console.commands
    undo = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    back = h.adapter.rollback(undo)
    assert back.after["pool_size"] == 10
    assert pool_size(h.ini.read_text(), "big") == 10
    assert h.adapter.rollback(undo) == back
    assert h.console.commands.count("RELOAD") == 2


def test_rollback_of_a_raise_reconnects_to_close_surplus_connections(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.adapter.apply(h.request())
    h.adapter.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    assert h.console.commands[-2:] == ["RECONNECT", "SHOW CONFIG"]
    assert pool_size(h.ini.read_text(), None) == 2


def test_verify_fails_when_pgbouncer_was_not_reloaded(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.adapter.apply(h.request())
    h.ini.write_text(INI)
    check = h.adapter.verify(result)
    assert not check.ok
    assert check.observed["ini_pool_size"] == 2


def test_plan_lists_the_steps_without_touching_anything(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    plan = h.adapter.plan(h.request(database="big", factor=0.5, git_repo=str(tmp_path)))
    assert plan.undoable
    assert plan.steps[0].startswith("set pool_size of big 10 → 5")
    assert any(s.startswith("commit") for s in plan.steps)
    assert "RECONNECT big" in plan.steps
    assert any(s.startswith("RELOAD") and "applies the whole ini" in s for s in plan.steps)
    assert h.ini.read_text() == INI
    assert h.console.commands == ["SHOW DATABASES"]


def test_invalid_params_name_the_key(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(AdapterError, match="factor"):
        h.adapter.apply(h.request(factor=0))
    with pytest.raises(AdapterError, match="min_pool_size 5 > max 3"):
        h.adapter.apply(h.request(min_pool_size=5, max_pool_size=3))


def test_an_ini_keeps_its_line_endings_and_mode_through_resize_and_rollback(
    tmp_path: Path,
) -> None:
    crlf = INI.replace("\n", "\r\n")
    h = Harness(tmp_path, crlf)
    h.ini.write_bytes(crlf.encode())
    h.ini.chmod(0o640)
    result = h.adapter.apply(h.request(database="bench"))
    changed = h.ini.read_bytes()
    assert changed == crlf.replace("dbname=bench\r\n", "dbname=bench pool_size=3\r\n").encode()
    assert h.ini.stat().st_mode & 0o777 == 0o640
    h.adapter.rollback(
        RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    )
    assert pool_size(h.ini.read_bytes().decode(), "bench") == 2
    assert h.ini.read_bytes().count(b"\n") == h.ini.read_bytes().count(b"\r\n") > 0
    assert h.ini.stat().st_mode & 0o777 == 0o640


def test_with_pool_size_adds_a_default_with_the_files_line_ending() -> None:
    crlf = INI.replace("default_pool_size = 2\n", "").replace("\n", "\r\n")
    assert "default_pool_size = 7\r\n" in with_pool_size(crlf, None, 7)


def test_an_ini_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.ini.write_bytes(INI.encode().replace(b"; a comment", b"; caf\xe9"))
    with pytest.raises(ActionFailed, match=r"pgbouncer\.ini is not UTF-8"):
        h.adapter.apply(h.request())


def test_a_key_already_committed_with_no_record_is_not_applied_again(tmp_path: Path) -> None:
    """A store that lost its record must not make the resize run twice (4 → 8)."""
    h = Harness(tmp_path)
    repo = GitRepo(tmp_path)
    repo.init()
    repo.commit([h.ini], "initial")
    h.adapter.apply(h.request(git_repo=str(tmp_path), factor=2.0))
    assert pool_size(h.ini.read_text(), None) == 4
    fresh = PgBouncerResizeAdapter(MemoryLedger(), h._console, clock=lambda: T0)
    with pytest.raises(ActionFailed, match="already carries this action's key"):
        fresh.apply(h.request(git_repo=str(tmp_path), factor=2.0))
    assert pool_size(h.ini.read_text(), None) == 4


def _git_harness(tmp_path: Path) -> tuple[Harness, GitRepo]:
    h = Harness(tmp_path)
    repo = GitRepo(tmp_path)
    repo.init()
    repo.commit([h.ini], "initial")
    return h, repo


def test_a_runtime_set_stops_the_plan_and_the_resize(tmp_path: Path) -> None:
    """RELOAD would take the on-call's SET 10 back to the ini's 2: a "raise" to 3 cuts it."""
    h = Harness(tmp_path)
    h.console.run("SET default_pool_size = 10")
    with pytest.raises(ActionFailed, match=r"runs the default pool at 10, but .* says 2"):
        h.adapter.plan(h.request())
    with pytest.raises(ActionFailed, match="a runtime SET or an ini edit not reloaded"):
        h.adapter.apply(h.request(database="bench"))
    assert h.ledger.get("inc-1:apply") is None
    assert h.ini.read_text() == INI
    assert "RELOAD" not in h.console.commands
    assert h.console.run("SHOW CONFIG")[0]["value"] == "10"


def test_an_ini_edit_not_reloaded_stops_the_resize(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.ini.write_text(INI.replace("big = ", "new = host=127.0.0.1 dbname=new\nbig = "))
    with pytest.raises(ActionFailed, match="does not serve database 'new' yet"):
        h.adapter.plan(h.request(database="new"))
    h.ini.write_text(with_pool_size(INI, None, 5))
    with pytest.raises(ActionFailed, match=r"runs the default pool at 2, but .* says 5"):
        h.adapter.apply(h.request())
    assert pool_size(h.ini.read_text(), None) == 5
    assert h.ledger.get("inc-1:apply") is None


def test_the_undo_record_keeps_the_size_that_ran(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.adapter.apply(h.request())
    assert result.before["live_pool_size"] == 2
    assert result.undo.params["pool_size"] == 2


def test_a_rollback_never_undoes_a_runtime_set_made_since(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.adapter.apply(h.request())
    h.console.run("SET default_pool_size = 10")
    undo = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    with pytest.raises(ActionFailed, match="runs the default pool at 10 now, not the 3"):
        h.adapter.rollback(undo)
    assert h.ledger.get("inc-1:rollback") is None
    assert pool_size(h.ini.read_text(), None) == 3
    assert h.console.run("SHOW CONFIG")[0]["value"] == "10"


def test_a_replayed_resize_never_writes_over_a_size_set_since_it_began(tmp_path: Path) -> None:
    """The worker died after ``begin``; the on-call raised the pool to 8 before the replay."""
    h = Harness(tmp_path)
    h.ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    h.ini.write_text(with_pool_size(INI, None, 8))
    h.console.run("RELOAD")
    with pytest.raises(PartlyApplied, match=r"is 8 in .* this resize was to take it from 2 to 3"):
        h.adapter.apply(h.request())
    assert pool_size(h.ini.read_text(), None) == 8
    assert h.console.commands.count("RELOAD") == 1


def test_a_replayed_resize_never_undoes_a_runtime_set(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    h.console.run("SET default_pool_size = 10")
    with pytest.raises(PartlyApplied, match="pgbouncer runs the default pool at 10, but"):
        h.adapter.apply(h.request())
    assert pool_size(h.ini.read_text(), None) == 2
    assert "RELOAD" not in h.console.commands


def test_a_replayed_resize_stops_on_a_database_pgbouncer_does_not_serve(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    h.ini.write_text(INI.replace("big = ", "new = host=127.0.0.1 dbname=new\nbig = "))
    with pytest.raises(PartlyApplied, match="pgbouncer does not serve the new pool, but"):
        h.adapter.apply(h.request(database="new"))
    assert "RELOAD" not in h.console.commands


def test_a_replayed_resize_commits_its_own_uncommitted_edit(tmp_path: Path) -> None:
    """The worker died between the ini edit and the commit: the replay commits it once."""
    h, repo = _git_harness(tmp_path)
    h.ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    h.ini.write_text(with_pool_size(INI, None, 3))
    result = h.adapter.apply(h.request(git_repo=str(tmp_path)))
    assert result.after["commit"] == repo.find("inc-1:apply") == repo.head()
    assert not repo.dirty(h.ini)
    assert pool_size(h.ini.read_text(), None) == 3


def test_a_replayed_resize_never_commits_someone_elses_edit(tmp_path: Path) -> None:
    h, repo = _git_harness(tmp_path)
    h.ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    wip = INI.replace("max_client_conn = 500", "max_client_conn = 4000  ; WIP, not reviewed")
    h.ini.write_text(wip)
    with pytest.raises(PartlyApplied, match="uncommitted changes besides the pool size"):
        h.adapter.apply(h.request(git_repo=str(tmp_path)))
    assert h.ini.read_text() == wip
    assert len(repo.log()) == 1
    assert "RELOAD" not in h.console.commands


def test_a_replayed_rollback_never_writes_over_a_size_set_since_it_began(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.adapter.apply(h.request())
    h.ledger.begin("inc-1:rollback", {"pool_size": 3})
    h.ini.write_text(with_pool_size(INI, None, 8))
    h.console.run("RELOAD")
    undo = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    with pytest.raises(PartlyApplied, match="this rollback was to take it from 3 to 2"):
        h.adapter.rollback(undo)
    assert pool_size(h.ini.read_text(), None) == 8


def test_a_replayed_rollback_commits_its_own_uncommitted_edit(tmp_path: Path) -> None:
    h, repo = _git_harness(tmp_path)
    result = h.adapter.apply(h.request(database="bench", git_repo=str(tmp_path)))
    h.ledger.begin("inc-1:rollback", {"pool_size": 3})
    h.ini.write_text(INI)
    undo = RollbackRequest(idempotency_key="inc-1:rollback", incident_id="inc-1", undo=result.undo)
    back = h.adapter.rollback(undo)
    assert h.ini.read_text() == INI
    assert not repo.dirty(h.ini)
    assert back.after["commit"] == repo.find("inc-1:rollback") == repo.head()


class FirstReadMisses(MemoryLedger):
    """A ledger read before another attempt began the key: the first ``get`` sees nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.missed = False

    def get(self, key: str) -> LedgerEntry | None:
        if not self.missed:
            self.missed = True
            return None
        return super().get(key)


def test_an_attempt_that_lost_the_race_to_begin_does_not_resize_again(tmp_path: Path) -> None:
    """Attempt A began (2 → 3), edited and reloaded; B read the ledger before that. B
    leaves the pool alone while A has not finished; its retry completes A's 2 → 3."""
    h = Harness(tmp_path)
    ledger = FirstReadMisses()
    ledger.begin("inc-1:apply", {"pool_size": 2, "target": 3})
    h.ini.write_text(with_pool_size(INI, None, 3))
    h.console.run("RELOAD")
    late = PgBouncerResizeAdapter(ledger, h._console, clock=lambda: T0)
    with pytest.raises(AdapterError, match="another attempt began this action"):
        late.apply(h.request())
    assert ledger.missed
    assert pool_size(h.ini.read_text(), None) == 3
    result = late.apply(h.request())
    assert (result.before["pool_size"], result.after["pool_size"]) == (2, 3)
    assert pool_size(h.ini.read_text(), None) == 3


def test_an_attempt_that_lost_the_race_returns_the_finished_result(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    ledger = FirstReadMisses()
    ledger.missed = True
    first = PgBouncerResizeAdapter(ledger, h._console, clock=lambda: T0).apply(h.request())
    ledger.missed = False
    again = PgBouncerResizeAdapter(ledger, h._console, clock=lambda: T0).apply(h.request())
    assert again == first
    assert pool_size(h.ini.read_text(), None) == 3


def test_a_database_name_the_console_cannot_take_bare_is_quoted(tmp_path: Path) -> None:
    """The console's grammar reads ``RECONNECT my-db`` as an invalid command."""
    h = Harness(tmp_path, INI.replace("big = ", "my-db = "))
    result = h.adapter.apply(h.request(database="my-db", factor=0.5))
    assert 'RECONNECT "my-db"' in h.console.commands
    assert 'RECONNECT "my-db"' in result.undo.instructions
    assert pool_size(h.ini.read_text(), "my-db") == 5


def test_a_setting_given_twice_is_edited_where_pgbouncer_reads_it(tmp_path: Path) -> None:
    twice = INI + "default_pool_size = 10\n"
    assert pool_size(twice, None) == 10
    edited = with_pool_size(twice, None, 12)
    assert pool_size(edited, None) == 12
    assert "default_pool_size = 2\n" in edited
    routed = INI + "[databases]\nbench = host=127.0.0.1 dbname=bench pool_size=7\n"
    assert pool_size(with_pool_size(routed, "bench", 9), "bench") == 9
    h = Harness(tmp_path, twice)
    plan = h.adapter.plan(h.request())
    assert "the last of its 2 lines" in plan.steps[0]
    result = h.adapter.apply(h.request())
    assert (result.before["pool_size"], result.after["pool_size"]) == (10, 12)
    assert h.adapter.verify(result).ok
