"""Resize a PgBouncer pool: the ``pgbouncer.resize`` action.

A runtime ``SET`` is neither persisted nor kept (``RELOAD`` reverts it), so a resize edits
the ini — ``default_pool_size``, or the ``pool_size=`` of one database in ``[databases]`` —
and sends ``RELOAD``: the change takes effect now and survives a restart. A smaller pool
also needs ``RECONNECT``, since busy surplus server connections are not closed otherwise.
The new size is the current one times ``factor`` (rounded away from the current size,
at least one step), bounded by ``min_pool_size``/``max_pool_size`` from configuration.

``RELOAD`` makes PgBouncer run what the whole ini says, so a resize (and its undo) is made
only while the running pool is the one the ini gives: a runtime ``SET`` or an ini edit not
reloaded yet would be overridden or applied along with it, so the action refuses instead.

With ``git_repo`` every edit is a commit (``auto: raise bench pool 2→3, incident …``) and
the undo is a revert commit. Idempotency goes through the ``Ledger``: a finished key returns
the recorded result; a key begun but not finished (the worker died mid-apply) replays the
steps, each of which first looks whether it was already done (ini value, commit trailer),
so the pool is resized and committed exactly once. A replay may come hours later, so it
first checks that the pool (ini and live) is still at the recorded size or the target, and
that no edit but the pool size is uncommitted; anything else is a person's change, which it
leaves alone.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol

import psycopg
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from vanguard.act.base import Ledger, LedgerEntry, begin_once, validate_params
from vanguard.act.gitconfig import GitRepo, read_config, replace_file
from vanguard.clock import utcnow
from vanguard.errors import ActionFailed, AdapterError, PartlyApplied
from vanguard.model import ActionRequest, ActionResult, Check, Plan, RollbackRequest, UndoRecord
from vanguard.netutil import shut_after

__all__ = [
    "DEFAULT_POOL_SIZE",
    "MemoryConsole",
    "PgBouncerConsole",
    "PgBouncerResizeAdapter",
    "PgBouncerResizeParams",
    "PsycopgConsole",
    "pool_size",
    "resized",
    "with_pool_size",
]

DEFAULT_POOL_SIZE = 20
_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY = re.compile(r"^(\s*)([A-Za-z0-9_.*-]+|\"[^\"]*\")(\s*=\s*)(.*)$")
"""A ``key = value`` line as PgBouncer's ini parser reads it: a key of letters, digits and
``_.-*`` (so ``my-db`` and ``app.v2`` route databases too), or a quoted one."""
_POOL = re.compile(r"(^|\s)pool_size\s*=\s*(\d+)")


class PgBouncerResizeParams(BaseModel):
    """Which pool to resize, by how much, within which bounds, recorded in which repo."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    admin_dsn: str = Field(min_length=1)
    ini_path: str = Field(min_length=1)
    database: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,63}$")
    factor: float = Field(default=1.2, gt=0.0, le=10.0)
    max_pool_size: int = Field(default=50, ge=1, le=10_000)
    min_pool_size: int = Field(default=1, ge=1, le=10_000)
    git_repo: str | None = None
    timeout_s: float = Field(default=5.0, gt=0.0, le=60.0)


# -- the ini, pure --------------------------------------------------------------------


def _entries(text: str) -> list[tuple[str, str, str, int]]:
    """``(section, key, value, line index)`` for every ``key = value`` line."""
    section = ""
    found: list[tuple[str, str, str, int]] = []
    for i, line in enumerate(text.splitlines()):
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        head = _SECTION.match(line)
        if head:
            section = head.group(1).strip().lower()
            continue
        kv = _KEY.match(line)
        if kv:
            found.append((section, kv.group(2).strip('"'), kv.group(4).strip(), i))
    return found


def pool_size(text: str, database: str | None) -> int:
    """The pool size the ini gives ``database`` (or the default pool size for ``None``)."""
    default = DEFAULT_POOL_SIZE
    routes: dict[str, str] = {}
    for section, key, value, _ in _entries(text):
        if section == "pgbouncer" and key == "default_pool_size":
            default = _int(value, "default_pool_size")
        elif section == "databases":
            routes[key] = value
    if database is None:
        return default
    if database not in routes:
        raise AdapterError(f"the ini has no database {database!r} in [databases]")
    own = _POOL.search(routes[database])
    return _int(own.group(2), f"{database}.pool_size") if own else default


def with_pool_size(text: str, database: str | None, size: int) -> str:
    """The ini with ``database``'s ``pool_size`` (or ``default_pool_size``) set to ``size``.

    Of a setting given twice, the last is edited: it is the one PgBouncer (and
    ``pool_size``) reads, so editing an earlier one would change nothing.
    """
    lines = text.splitlines(keepends=True)
    entries = _entries(text)
    eol = "\r\n" if "\r\n" in text else "\n"
    if database is not None:
        for section, key, value, i in reversed(entries):
            if section == "databases" and key == database:
                kv = _KEY.match(lines[i].rstrip("\r\n"))
                if kv is None:
                    break
                if _POOL.search(value):
                    new_value = _POOL.sub(lambda m: f"{m.group(1)}pool_size={size}", value, count=1)
                else:
                    new_value = f"{value} pool_size={size}".strip()
                lines[i] = (
                    f"{kv.group(1)}{kv.group(2)}{kv.group(3)}{new_value}{_ending(lines[i], eol)}"
                )
                return "".join(lines)
        raise AdapterError(f"the ini has no database {database!r} in [databases]")
    for section, key, _, i in reversed(entries):
        if section == "pgbouncer" and key == "default_pool_size":
            lines[i] = f"default_pool_size = {size}{_ending(lines[i], eol)}"
            return "".join(lines)
    for i, line in enumerate(lines):
        head = _SECTION.match(line)
        if head and head.group(1).strip().lower() == "pgbouncer":
            lines.insert(i + 1, f"default_pool_size = {size}{eol}")
            return "".join(lines)
    raise AdapterError("the ini has no [pgbouncer] section")


def _settings(text: str, database: str | None) -> list[int]:
    """Line indexes of the setting that gives ``database``'s pool size, first to last."""
    if database is None:
        return [i for s, k, _, i in _entries(text) if s == "pgbouncer" and k == "default_pool_size"]
    return [i for s, k, _, i in _entries(text) if s == "databases" and k == database]


def _without_pool_size(text: str, database: str | None) -> list[str]:
    """The ini's lines with ``database``'s pool size taken out, to compare all the rest."""
    lines = text.splitlines()
    found = set(_settings(text, database))
    kept: list[str] = []
    for i, line in enumerate(lines):
        if i not in found:
            kept.append(line)
        elif database is not None:
            kv = _KEY.match(line)
            kept.append(f"{kv.group(2)} = {_POOL.sub('', kv.group(4)).strip()}" if kv else line)
    return kept


def _ending(line: str, eol: str) -> str:
    """The line's own end (``\r\n`` or ``\n``), or ``eol`` for a last line without one."""
    return line[len(line.rstrip("\r\n")) :] or eol


def resized(current: int, factor: float, *, low: int, high: int) -> int:
    """``current × factor`` rounded away from ``current`` (one step at least), bounded."""
    if factor >= 1.0:
        wanted = max(current + 1, math.ceil(current * factor - 1e-9))
    else:
        wanted = min(current - 1, math.floor(current * factor + 1e-9))
    return max(low, min(high, wanted))


def _int(value: str, what: str) -> int:
    try:
        return int(value.split()[0])
    except (ValueError, IndexError) as exc:
        raise AdapterError(f"the ini's {what} is not a number: {value!r}") from exc


# -- the admin console -------------------------------------------------------------------


class PgBouncerConsole(Protocol):
    """One admin-console command; rows as column dicts.

    Raises ``AdapterError`` when the console cannot be reached or did not answer (a retry
    may succeed), ``ActionFailed`` with the console's message when it refused the command.
    """

    def run(self, command: str) -> list[dict[str, Any]]: ...


_BARE_WORD = re.compile(r"^[0-9A-Za-z_]+$")
_WORD = r'(?:"(?:[^"]|"")*"|[0-9A-Za-z_]+)'
_COMMAND = re.compile(rf"^\s*({_WORD})(?:\s+({_WORD}))?\s*;?\s*$")
_SET = re.compile(r"^\s*set\s+(\w+)\s*(?:=|to)\s*(\w+)\s*;?\s*$", re.IGNORECASE)
_UNREACHED_STATES = ("08", "57P")
"""SQLSTATE prefixes of a lost connection or a server going away: the command's fate is
unknown and a retry may succeed. PgBouncer answers every command it refuses with 08P01."""


def _console_word(name: str) -> str:
    """``name`` as one word of the admin console: bare when it may be, else double-quoted.

    The console reads a bare word as letters, digits and ``_`` only, so ``my-db`` or
    ``app.v2`` must be quoted (``"`` doubled). A bare word stays bare: the console takes a
    word of at most 63 characters, quotes included.
    """
    return name if _BARE_WORD.match(name) else '"' + name.replace('"', '""') + '"'


def _unquoted(word: str) -> str:
    return word[1:-1].replace('""', '"') if word.startswith('"') else word


def _reconnect(database: str | None) -> str:
    return f"RECONNECT {_console_word(database)}" if database else "RECONNECT"


class PsycopgConsole:
    """``PgBouncerConsole`` over psycopg 3: autocommit, no prepared statements.

    Each command must be answered within ``timeout_s``: past it the connection is shut down
    under the waiting read, so a console that took the connection and then hangs fails the
    attempt (retryably) instead of holding it until the activity's own timeout.
    """

    def __init__(self, admin_dsn: str, *, timeout_s: float = 5.0) -> None:
        self.admin_dsn = admin_dsn
        self.timeout_s = timeout_s

    def run(self, command: str) -> list[dict[str, Any]]:
        try:
            conn = psycopg.connect(
                self.admin_dsn,
                autocommit=True,
                prepare_threshold=None,
                connect_timeout=max(1, round(self.timeout_s)),
            )
        except psycopg.Error as exc:
            raise AdapterError(f"cannot reach the pgbouncer console: {exc}") from exc
        try:
            with shut_after(conn.fileno(), self.timeout_s) as late:
                try:
                    cur = conn.execute(command)
                    if cur.description is None:
                        return []
                    names = [d.name for d in cur.description]
                    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
                except psycopg.Error as exc:
                    if late.is_set():
                        raise AdapterError(
                            f"the pgbouncer console did not answer {command} within "
                            f"{self.timeout_s:g} s; the connection was closed"
                        ) from exc
                    raise _console_error(command, exc) from exc
        finally:
            conn.close()


def _console_error(command: str, exc: psycopg.Error) -> AdapterError:
    """What a failed console command means: the connection went (retry) or a refusal."""
    state = exc.sqlstate
    if state is None or (state.startswith(_UNREACHED_STATES) and state != "08P01"):
        return AdapterError(f"lost the pgbouncer console during {command}: {exc}")
    said = exc.diag.message_primary or str(exc)
    return ActionFailed(f"the pgbouncer console refused {command}: {said} (SQLSTATE {state})")


class MemoryConsole:
    """In-memory ``PgBouncerConsole`` that behaves as PgBouncer's does for the commands the
    adapter sends: ``RELOAD`` reads the ini (and drops a runtime ``SET``), ``SET
    default_pool_size`` changes the running pool only, and a command or database name the
    console's grammar rejects (``RECONNECT my-db`` unquoted) is refused."""

    def __init__(self, ini_path: Path) -> None:
        self.ini_path = ini_path
        self.commands: list[str] = []
        self.text = ini_path.read_text(encoding="utf-8")
        self.default_pool_size: int | None = None
        """A runtime ``SET default_pool_size`` in force (``RELOAD`` drops it)."""

    def _size(self, database: str | None) -> int:
        if self.default_pool_size is None:
            return pool_size(self.text, database)
        if database is not None:
            routes = {k: v for s, k, v, _ in _entries(self.text) if s == "databases"}
            own = _POOL.search(routes[database])
            if own:
                return int(own.group(2))
        return self.default_pool_size

    def run(self, command: str) -> list[dict[str, Any]]:
        self.commands.append(command)
        setting = _SET.match(command)
        if (
            setting
            and setting.group(1).lower() == "default_pool_size"
            and setting.group(2).isdigit()
        ):
            self.default_pool_size = int(setting.group(2))
            return []
        words = _COMMAND.match(command)
        if words is None:
            raise ActionFailed(f"the pgbouncer console refused {command}: invalid command")
        word = words.group(1).upper()
        arg = _unquoted(words.group(2)) if words.group(2) else None
        names = [k for s, k, _, _ in _entries(self.text) if s == "databases"]
        if word == "RELOAD" and arg is None:
            self.text = self.ini_path.read_text(encoding="utf-8")
            self.default_pool_size = None
            return []
        if word == "SHOW" and arg is not None and arg.upper() == "CONFIG":
            size = self._size(None)
            return [{"key": "default_pool_size", "value": str(size), "changeable": "yes"}]
        if word == "SHOW" and arg is not None and arg.upper() == "DATABASES":
            return [{"name": n, "pool_size": self._size(n)} for n in dict.fromkeys(names)]
        if word == "RECONNECT":
            if arg is not None and arg not in names:
                raise ActionFailed(f"the pgbouncer console refused {command}: no such database")
            return []
        raise ActionFailed(f"memory console: unsupported command {command!r}")


ConsoleFactory = Callable[[str, float], PgBouncerConsole]


def _psycopg_console(admin_dsn: str, timeout_s: float) -> PgBouncerConsole:
    return PsycopgConsole(admin_dsn, timeout_s=timeout_s)


def _live_size(console: PgBouncerConsole, database: str | None) -> int | None:
    """The pool size PgBouncer runs with now (``SHOW DATABASES``/``SHOW CONFIG``)."""
    if database is not None:
        for row in console.run("SHOW DATABASES"):
            if row.get("name") == database and row.get("pool_size") is not None:
                return int(row["pool_size"])
        return None
    for row in console.run("SHOW CONFIG"):
        if row.get("key") == "default_pool_size":
            return int(str(row.get("value")))
    return None


class PgBouncerResizeAdapter:
    """``pgbouncer.resize``: change a pool's size in the ini and reload, once per key."""

    kind: ClassVar[str] = "pgbouncer.resize"
    params_model: ClassVar[type[BaseModel]] = PgBouncerResizeParams

    def __init__(
        self,
        ledger: Ledger,
        console_factory: ConsoleFactory = _psycopg_console,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.console_factory = console_factory
        self.clock = clock

    @staticmethod
    def params(raw: dict[str, JsonValue]) -> PgBouncerResizeParams:
        """Validate request params; the message names every bad key."""
        p = validate_params(PgBouncerResizeParams, "pgbouncer.resize", raw)
        if p.min_pool_size > p.max_pool_size:
            raise AdapterError(
                f"pgbouncer.resize: min_pool_size {p.min_pool_size} > max {p.max_pool_size}"
            )
        return p

    def _read(self, p: PgBouncerResizeParams) -> str:
        return read_config(Path(p.ini_path))

    def plan(self, request: ActionRequest) -> Plan:
        """The steps, with the sizes read now; refused (as ``apply`` would) while the running
        pool differs from the ini's."""
        p = self.params(request.params)
        text = self._read(p)
        current = pool_size(text, p.database)
        _refuse_if_not_running_the_ini(
            p, current, _live_size(self.console_factory(p.admin_dsn, p.timeout_s), p.database)
        )
        target = resized(current, p.factor, low=p.min_pool_size, high=p.max_pool_size)
        where = f"pool_size of {p.database}" if p.database else "default_pool_size"
        given = len(_settings(text, p.database))
        steps = [
            f"set {where} {current} → {target} in {p.ini_path}"
            + (f" (the last of its {given} lines, the one pgbouncer reads)" if given > 1 else "")
        ]
        if p.git_repo:
            steps.append(f"commit the change to {p.git_repo}")
        steps.append(
            "RELOAD the pgbouncer console (it applies the whole ini, not only this change)"
        )
        if target < current:
            steps.append(_reconnect(p.database))
        steps.append("verify: SHOW DATABASES/SHOW CONFIG report the new size")
        return Plan(action=self.kind, target=request.target, steps=tuple(steps), undoable=True)

    def apply(self, request: ActionRequest) -> ActionResult:
        p = self.params(request.params)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        ini = Path(p.ini_path)
        repo = GitRepo(Path(p.git_repo)) if p.git_repo else None
        console = self.console_factory(p.admin_dsn, p.timeout_s)
        with repo.locked() if repo is not None else contextlib.nullcontext():
            text = self._read(p)
            live = _live_size(console, p.database)
            if entry is None:
                entry = self._begin(p, repo, key, text, live)
                if entry.result is not None:
                    return entry.result
            current = _json_int(entry.before.get("pool_size"))
            target = _json_int(entry.before.get("target"))
            _refuse_if_changed_since(
                p, repo, text, live, was=current, sets=target, what="resize", begun=True
            )
            if pool_size(text, p.database) != target:
                replace_file(ini, with_pool_size(text, p.database, target))
            commit: str | None = None
            if repo is not None:
                verb = "raise" if target > current else "lower"
                commit = repo.find(key) or repo.commit(
                    [ini],
                    f"auto: {verb} {_label(p.database)} pool {current}→{target}, "
                    f"incident {request.incident_id}",
                    key=key,
                )
        console.run("RELOAD")
        if target < current:
            console.run(_reconnect(p.database))
        live_after = _live_size(console, p.database)
        state: dict[str, JsonValue] = {
            "admin_dsn": p.admin_dsn,
            "ini_path": p.ini_path,
            "database": p.database,
            "git_repo": p.git_repo,
        }
        result = ActionResult(
            idempotency_key=key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            before={
                **state,
                "pool_size": current,
                "live_pool_size": entry.before.get("live_pool_size"),
            },
            after={**state, "pool_size": target, "live_pool_size": live_after, "commit": commit},
            undo=UndoRecord(
                action=self.kind,
                target=request.target,
                possible=True,
                params={
                    **state,
                    "pool_size": current,
                    "applied_pool_size": target,
                    "commit": commit,
                    "timeout_s": p.timeout_s,
                },
                instructions=_instructions(p, current, commit, request.incident_id),
            ),
            message=f"resized the {_label(p.database)} pool {current} → {target}"
            + (f" (commit {commit[:10]})" if commit else ""),
            finished_at=self.clock(),
        )
        self.ledger.finish(key, result)
        return result

    def _begin(
        self,
        p: PgBouncerResizeParams,
        repo: GitRepo | None,
        key: str,
        text: str,
        live: int | None,
    ) -> LedgerEntry:
        """Check that the resize may be made and record its start; the entry as recorded.

        When another attempt began the key first, this one does not resize alongside it:
        the entry carries that attempt's result once it finished (``begin_once``).
        """
        ini = Path(p.ini_path)
        if repo is not None:
            if repo.dirty(ini):
                raise ActionFailed(
                    f"{ini} has changes nobody committed in {p.git_repo}; refusing to commit "
                    "someone's edit with Vanguard's: commit or discard it first"
                )
            earlier = repo.find(key)
            if earlier is not None:
                raise ActionFailed(
                    f"commit {earlier[:10]} in {p.git_repo} already carries this action's key, "
                    "but the store has no record of it (a lost or different store?): not "
                    "resizing again"
                )
        current = pool_size(text, p.database)
        _refuse_if_not_running_the_ini(p, current, live)
        target = resized(current, p.factor, low=p.min_pool_size, high=p.max_pool_size)
        if target == current:
            raise ActionFailed(
                f"the {_label(p.database)} pool is already {current}, at the configured "
                f"bound ({p.min_pool_size}..{p.max_pool_size}); nothing to resize"
            )
        before: dict[str, JsonValue] = {
            "pool_size": current,
            "target": target,
            "live_pool_size": live,
        }
        return LedgerEntry(key=key, before=before, result=begin_once(self.ledger, key, before))

    def verify(self, result: ActionResult) -> Check:
        """The ini and the running PgBouncer both hold the size the action set."""
        target = _json_int(result.after.get("pool_size"))
        database = result.after.get("database")
        db = database if isinstance(database, str) else None
        p = self.params(
            {
                "admin_dsn": result.after.get("admin_dsn"),
                "ini_path": result.after.get("ini_path"),
                "database": db,
            }
        )
        ini_size = pool_size(self._read(p), db)
        live = _live_size(self.console_factory(p.admin_dsn, p.timeout_s), db)
        observed: dict[str, JsonValue] = {
            "target": target,
            "ini_pool_size": ini_size,
            "live_pool_size": live,
        }
        if ini_size != target:
            return Check(
                ok=False, reason=f"the ini holds {ini_size}, not {target}", observed=observed
            )
        if live != target:
            return Check(
                ok=False, reason=f"pgbouncer runs with {live}, not {target}", observed=observed
            )
        return Check(
            ok=True,
            reason=f"the {_label(db)} pool is {target} in the ini and live",
            observed=observed,
        )

    def rollback(self, request: RollbackRequest) -> ActionResult:
        """Restore the earlier size (a revert commit with ``git_repo``), reload, reconnect."""
        undo = request.undo
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        p = self.params(
            {
                name: undo.params.get(name)
                for name in ("admin_dsn", "ini_path", "database", "git_repo", "timeout_s")
                if undo.params.get(name) is not None
            }
        )
        restore = _json_int(undo.params.get("pool_size"))
        applied_size = _json_int(undo.params.get("applied_pool_size"))
        raw_commit = undo.params.get("commit")
        commit = raw_commit if isinstance(raw_commit, str) else None
        ini = Path(p.ini_path)
        repo = GitRepo(Path(p.git_repo)) if p.git_repo else None
        console = self.console_factory(p.admin_dsn, p.timeout_s)
        revert: str | None = None
        with repo.locked() if repo is not None else contextlib.nullcontext():
            text = self._read(p)
            live = _live_size(console, p.database)
            _refuse_if_changed_since(
                p,
                repo,
                text,
                live,
                was=applied_size,
                sets=restore,
                what="rollback",
                begun=entry is not None,
            )
            if entry is None:
                finished = begin_once(
                    self.ledger,
                    key,
                    {"pool_size": pool_size(text, p.database), "live_pool_size": live},
                )
                if finished is not None:
                    return finished
            if repo is not None and commit is not None:
                revert = repo.find(key) or repo.revert(
                    commit, ini, with_pool_size(text, p.database, restore), key=key
                )
                text = self._read(p)
            if pool_size(text, p.database) != restore:
                replace_file(ini, with_pool_size(text, p.database, restore))
                if repo is not None:
                    revert = repo.commit(
                        [ini],
                        f"auto: restore {_label(p.database)} pool to {restore}, "
                        f"incident {request.incident_id}",
                        key=f"{key}:restore",
                    )
        console.run("RELOAD")
        if restore < applied_size:
            console.run(_reconnect(p.database))
        live_after = _live_size(console, p.database)
        result = ActionResult(
            idempotency_key=key,
            incident_id=request.incident_id,
            action=self.kind,
            target=undo.target,
            applied=True,
            before={
                "pool_size": applied_size,
                "commit": commit if isinstance(commit, str) else None,
            },
            after={"pool_size": restore, "live_pool_size": live_after, "commit": revert},
            undo=UndoRecord(
                action=self.kind,
                target=undo.target,
                possible=False,
                params={},
                instructions=(
                    f"this restored the {_label(p.database)} pool to {restore}; to raise it "
                    f"again, edit {p.ini_path} and RELOAD the pgbouncer console"
                ),
            ),
            message=f"restored the {_label(p.database)} pool {applied_size} → {restore}"
            + (f" (revert commit {revert[:10]})" if revert else ""),
            finished_at=self.clock(),
        )
        self.ledger.finish(key, result)
        return result


def _refuse_if_not_running_the_ini(
    p: PgBouncerResizeParams, ini_size: int, live: int | None
) -> None:
    """Refuse to resize a pool PgBouncer does not run at the size its ini gives.

    ``RELOAD`` applies the whole ini: it would undo a runtime ``SET`` (an on-call's
    immediate fix: a "raise" could cut the pool) and put live any edit not reloaded yet,
    and the undo would restore the ini's size, not the one that ran.
    """
    if live == ini_size:
        return
    ini = p.ini_path
    if live is None:
        raise ActionFailed(
            f"pgbouncer does not serve database {p.database!r} yet (it is not in SHOW "
            f"DATABASES), though {ini} routes it: an edit not reloaded; not resizing, since "
            "the RELOAD would put that edit live too: reload or undo it first"
        )
    raise ActionFailed(
        f"pgbouncer runs the {_label(p.database)} pool at {live}, but {ini} says {ini_size}: "
        "a runtime SET or an ini edit not reloaded yet; not resizing, since the RELOAD would "
        f"set the pool to what the ini says: make {ini} hold the size that should run and "
        "RELOAD, then act again"
    )


def _refuse_if_changed_since(
    p: PgBouncerResizeParams,
    repo: GitRepo | None,
    text: str,
    live: int | None,
    *,
    was: int,
    sets: int,
    what: str,
    begun: bool,
) -> None:
    """Refuse to write over someone else's change: the pool must be at ``was`` or ``sets``.

    A rollback checks it before it begins: restoring the old size over a newer one (a person
    raised the pool again since) would take production somewhere nobody chose. A resize or
    rollback resumed from its ledger entry checks it again: it may resume hours after it
    began, and writing its recorded size then would undo what a person did meanwhile. The
    only uncommitted edit it accepts is the pool size itself (its own edit, made before the
    worker died). Either failure escalates to a person instead.
    """
    ini = Path(p.ini_path)
    label = _label(p.database)
    now = pool_size(text, p.database)
    sizes = (was, sets)
    if not begun:
        if repo is not None and repo.dirty(ini):
            raise ActionFailed(
                f"{ini} has changes nobody committed in {p.git_repo}; not rolled back, so as "
                "not to commit someone's edit with the undo: commit or discard it first"
            )
        if now not in sizes:
            raise ActionFailed(
                f"the {label} pool is {now} in {ini} now, not the {was} the action set: "
                f"someone changed it since, so it is not rolled back to {sets}"
            )
        if live not in sizes:
            raise ActionFailed(
                f"{_running(label, live)} now, not the {was} the action set: someone changed "
                f"it since (a runtime SET?), so it is not rolled back to {sets}, which the "
                "RELOAD would do over their change"
            )
        return
    if now not in sizes or live not in sizes:
        raise PartlyApplied(
            f"the {label} pool is {now} in {ini} and {_running(label, live)}, but this "
            f"{what} was to take it from {was} to {sets}: a person changed it since the "
            f"{what} began, and Vanguard does not write {sets} over their change; look at the "
            "pool and finish or undo the change by hand"
        )
    if (
        repo is not None
        and repo.dirty(ini)
        and _without_pool_size(text, p.database)
        != _without_pool_size(repo.show("HEAD", ini), p.database)
    ):
        raise PartlyApplied(
            f"{ini} has uncommitted changes besides the pool size in {p.git_repo}, made since "
            f"this {what} began; Vanguard does not commit someone's edit with its own: commit "
            "or discard them, then finish or undo the change by hand"
        )


def _label(database: str | None) -> str:
    return database or "default"


def _running(label: str, live: int | None) -> str:
    if live is None:
        return f"pgbouncer does not serve the {label} pool"
    return f"pgbouncer runs the {label} pool at {live}"


def _json_int(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AdapterError(f"expected a pool size, got {value!r}")
    return int(value)


def _instructions(
    p: PgBouncerResizeParams, previous: int, commit: str | None, incident_id: str
) -> str:
    how = (
        f"`vanguard rollback {incident_id}`, or by hand: "
        + (
            f"`git -C {p.git_repo} revert {commit}`"
            if p.git_repo and commit
            else f"set it to {previous} in {p.ini_path}"
        )
        + ", then RELOAD the pgbouncer console"
        + f" and {_reconnect(p.database)}"
    )
    return f"restore the {_label(p.database)} pool to {previous}: {how}"
