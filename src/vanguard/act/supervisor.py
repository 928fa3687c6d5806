"""Restart a supervisord program over XML-RPC: the ``supervisor.restart`` action.

supervisord has no ``restartProcess``: a restart is ``stopProcess`` + ``startProcess`` sent
in one ``system.multicall`` round trip (each waits, so the call returns once the program is
RUNNING again or failed to start). A restart cannot be undone, so ``rollback`` never touches
the process: it returns a not-applied result whose message says why, and the caller escalates.

A program that is STOPPED was stopped by a person (or is not started automatically) and is
left down; one that is STARTING, STOPPING or in BACKOFF is already being restarted, and the
action is retried once it settles rather than restarting on top of it.

Idempotency goes through the ``Ledger``: a finished key returns the recorded result without
contacting supervisord; a key that was begun but never finished (the worker died mid-apply)
is reconciled: if the program is RUNNING under a pid other than the one recorded before, the
restart already happened and is recorded as done, otherwise it is restarted.

An ``https://`` URL is called over TLS, its certificate checked against the system's CAs
(``SSL_CERT_FILE`` names another bundle). The URL may not carry credentials: it is
recorded with every action.
"""

from __future__ import annotations

import http.client
import xmlrpc.client
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, Protocol, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from vanguard.act.base import Ledger, begin_once, cannot_undo, validate_params
from vanguard.clock import utcnow
from vanguard.errors import ActionFailed, AdapterError, ConfigError
from vanguard.model import ActionRequest, ActionResult, Check, Plan, RollbackRequest, UndoRecord
from vanguard.redact import REDACTED, redact_text

__all__ = [
    "MemorySupervisor",
    "ProcessInfo",
    "SupervisorAdapter",
    "SupervisorClient",
    "SupervisorRestartParams",
    "XmlRpcSupervisor",
]

TRANSITIONAL = frozenset({"STARTING", "STOPPING", "BACKOFF"})
"""States in which a restart is still under way: wait, never restart on top of it."""

BAD_NAME = 10
NOT_RUNNING = 70
ALREADY_STARTED = 60


class SupervisorRestartParams(BaseModel):
    """Which program to restart on which supervisord, and how long one call may take."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s/]+(/\S*)?$", description="XML-RPC endpoint")
    program: str = Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")
    timeout_s: float = Field(default=60.0, gt=0.0, le=600.0)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        """Refused as the service's ``supervisor.url`` is: the URL goes into every record."""
        if "@" in urlsplit(value).netloc:
            raise ValueError(
                "the URL holds credentials, which would be recorded with every action; "
                "bind supervisord's XML-RPC to loopback or a private network instead"
            )
        return value


def _masked(text: str, url: str) -> str:
    """``text`` without the credentials ``url`` carries, however a library echoed them.

    A URL from a pattern may hold ``user:password@``; xmlrpc repeats it without its scheme
    (``u:pw@host/RPC2``), which ``redact_text`` alone would not recognise.
    """
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, REDACTED)
    return redact_text(text)


class ProcessInfo(BaseModel):
    """The fields of ``supervisor.getProcessInfo`` that a restart is judged by."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    group: str
    statename: str
    pid: int
    start: int
    now: int
    description: str = ""
    spawnerr: str = ""

    @property
    def uptime_s(self) -> int:
        return self.now - self.start if self.statename == "RUNNING" else 0


class SupervisorClient(Protocol):
    """The two calls the adapter needs.

    Raises ``ConfigError`` (key ``program``) for a program supervisord does not know,
    otherwise ``AdapterError``/``ActionFailed`` only.
    """

    def process_info(self, program: str) -> ProcessInfo: ...

    def restart(self, program: str) -> None: ...


ClientFactory = Callable[[SupervisorRestartParams], SupervisorClient]


class _TimeoutTransport(xmlrpc.client.Transport):
    """Plain HTTP, every call bounded by ``timeout_s``."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout_s
        return conn


class _TimeoutSafeTransport(xmlrpc.client.SafeTransport):
    """TLS with the default context (certificate and host name checked), bounded the same."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def make_connection(self, host: Any) -> http.client.HTTPSConnection:
        conn = super().make_connection(host)
        conn.timeout = self.timeout_s
        return conn


def _transport(url: str, timeout_s: float) -> xmlrpc.client.Transport:
    """The transport ``url``'s scheme calls for.

    ``ServerProxy`` uses a transport it is given whatever the scheme, so a plain one would
    send an ``https://`` call, and its credentials, in clear text.
    """
    if urlsplit(url).scheme.lower() == "https":
        return _TimeoutSafeTransport(timeout_s)
    return _TimeoutTransport(timeout_s)


class XmlRpcSupervisor:
    """``SupervisorClient`` over supervisord's XML-RPC interface (one connection per call)."""

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.where = f"supervisord at {_masked(url, url)}"
        """How messages name this endpoint: never with the URL's credentials."""

    def _call(self, method: str, *args: Any) -> Any:
        transport = _transport(self.url, self.timeout_s)
        try:
            with xmlrpc.client.ServerProxy(self.url, transport=transport) as rpc:
                return cast(Any, getattr(rpc, method)(*args))
        except xmlrpc.client.Fault as exc:
            if exc.faultCode == BAD_NAME:
                raise self._no_program(str(args[0])) from exc
            raise ActionFailed(f"{self.where}: {method} failed: {exc.faultString}") from exc
        except TimeoutError as exc:
            raise AdapterError(
                f"{self.where}: no answer to {method} within {self.timeout_s:g} s (the program "
                "may still be stopping or starting; a retry reads its state and finishes the "
                "restart without repeating it)"
            ) from exc
        except (OSError, xmlrpc.client.ProtocolError, xmlrpc.client.ResponseError) as exc:
            raise AdapterError(f"cannot reach {self.where}: {_masked(str(exc), self.url)}") from exc

    def _no_program(self, program: str) -> ConfigError:
        """A program supervisord does not know: a configuration mistake, never retried."""
        return ConfigError(
            f"{self.where} has no program {program!r}; check the service's supervisor "
            "program or the pattern's",
            key="program",
        )

    def process_info(self, program: str) -> ProcessInfo:
        return ProcessInfo.model_validate(self._call("supervisor.getProcessInfo", program))

    def restart(self, program: str) -> None:
        calls = [
            {"methodName": "supervisor.stopProcess", "params": [program, True]},
            {"methodName": "supervisor.startProcess", "params": [program, True]},
        ]
        replies = self._call("system.multicall", calls)
        if not isinstance(replies, list) or len(replies) != len(calls):
            raise ActionFailed(f"{self.where}: unexpected multicall reply {replies!r}")
        for step, reply, tolerated in zip(
            ("stop", "start"), replies, (NOT_RUNNING, ALREADY_STARTED), strict=True
        ):
            if isinstance(reply, dict) and "faultCode" in reply:
                code = int(reply["faultCode"])
                if code == BAD_NAME:
                    raise self._no_program(program)
                if code == tolerated:
                    continue
                fault = reply.get("faultString", code)
                if step == "start":
                    raise ActionFailed(
                        f"{self.where}: {program!r} was stopped and did not start again "
                        f"({fault}): the service is now down (not running); start it by hand "
                        "once the cause is fixed"
                    )
                raise ActionFailed(f"{self.where}: stop of {program!r} failed: {fault}")


class MemorySupervisor:
    """In-memory ``SupervisorClient``: a restart gives the program the next pid."""

    def __init__(self, programs: dict[str, int], *, now: int = 1_000_000) -> None:
        self.pids = dict(programs)
        self.started = dict.fromkeys(programs, now - 3600)
        self.now = now
        self.restarts: list[str] = []

    def process_info(self, program: str) -> ProcessInfo:
        if program not in self.pids:
            raise ConfigError(f"no program {program!r}", key="program")
        return ProcessInfo(
            name=program,
            group=program,
            statename="RUNNING",
            pid=self.pids[program],
            start=self.started[program],
            now=self.now,
        )

    def restart(self, program: str) -> None:
        if program not in self.pids:
            raise ConfigError(f"no program {program!r}", key="program")
        self.now += 1
        self.pids[program] = max(self.pids.values()) + 1
        self.started[program] = self.now
        self.restarts.append(program)


def _server(p: SupervisorRestartParams) -> str:
    """The server as ``supervisorctl -s`` takes it, for instructions to a person."""
    return redact_text(p.url).removesuffix("/RPC2")


def _xmlrpc_factory(params: SupervisorRestartParams) -> SupervisorClient:
    return XmlRpcSupervisor(params.url, timeout_s=params.timeout_s)


class SupervisorAdapter:
    """``supervisor.restart``: stop + start one supervisord program, exactly once per key."""

    kind: ClassVar[str] = "supervisor.restart"
    params_model: ClassVar[type[BaseModel]] = SupervisorRestartParams

    def __init__(
        self,
        ledger: Ledger,
        client_factory: ClientFactory = _xmlrpc_factory,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.client_factory = client_factory
        self.clock = clock

    @staticmethod
    def params(raw: dict[str, JsonValue]) -> SupervisorRestartParams:
        """Validate request params; the message names every bad key."""
        return validate_params(SupervisorRestartParams, "supervisor.restart", raw)

    def plan(self, request: ActionRequest) -> Plan:
        p = self.params(request.params)
        return Plan(
            action=self.kind,
            target=request.target,
            steps=(
                f"read the state and pid of {p.program!r} from supervisord at {redact_text(p.url)}",
                f"stop {p.program!r} (supervisord waits up to the program's stopwaitsecs)",
                f"start {p.program!r} and wait until it is RUNNING (startsecs)",
                "verify: RUNNING under a new pid with its uptime reset",
            ),
            undoable=False,
        )

    def apply(self, request: ActionRequest) -> ActionResult:
        p = self.params(request.params)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        client = self.client_factory(p)
        if entry is None:
            before = client.process_info(p.program)
            self._refuse_unless_settled(p, before)
            before_state = self._state(p, before)
            finished = begin_once(self.ledger, key, before_state)
            if finished is not None:
                return finished
        else:
            before_state = entry.before
            current = client.process_info(p.program)
            if current.statename in TRANSITIONAL:
                raise AdapterError(
                    f"{p.program!r} is {current.statename} after an interrupted restart; "
                    "retrying once it settles instead of restarting it again"
                )
            if current.statename == "RUNNING" and current.pid != before_state.get("pid"):
                result = self._result(
                    request,
                    p,
                    before_state,
                    current,
                    "restart had already happened before an interruption; not repeated",
                )
                self.ledger.finish(key, result)
                return result
        client.restart(p.program)
        after = client.process_info(p.program)
        if after.statename != "RUNNING":
            raise ActionFailed(
                f"{p.program!r} is {after.statename} after the restart, so the service is "
                f"now down (not running): {after.spawnerr or after.description}; start it by "
                "hand once the cause is fixed"
            )
        result = self._result(
            request,
            p,
            before_state,
            after,
            f"restarted {p.program!r}: pid {before_state.get('pid')} -> {after.pid}",
        )
        self.ledger.finish(key, result)
        return result

    def verify(self, result: ActionResult) -> Check:
        p = self.params({"url": result.before.get("url"), "program": result.before.get("program")})
        info = self.client_factory(p).process_info(p.program)
        before_pid = result.before.get("pid")
        observed_at = result.before.get("now")
        observed: dict[str, JsonValue] = {
            "statename": info.statename,
            "pid": info.pid,
            "before_pid": before_pid,
            "uptime_s": info.uptime_s,
        }
        if info.statename != "RUNNING":
            return Check(ok=False, reason=f"{p.program!r} is {info.statename}", observed=observed)
        if info.pid == before_pid:
            return Check(
                ok=False, reason=f"{p.program!r} still has pid {info.pid}", observed=observed
            )
        if isinstance(observed_at, int) and info.start < observed_at:
            return Check(ok=False, reason=f"{p.program!r} uptime was not reset", observed=observed)
        return Check(
            ok=True,
            reason=f"{p.program!r} RUNNING under new pid {info.pid}, up {info.uptime_s} s",
            observed=observed,
        )

    def rollback(self, request: RollbackRequest) -> ActionResult:
        """Never touches the process: returns ``applied=False`` saying why, so callers escalate."""
        return cannot_undo(self.kind, request, "a restart", self.clock())

    @staticmethod
    def _refuse_unless_settled(p: SupervisorRestartParams, info: ProcessInfo) -> None:
        """Refuse a fresh restart of a program a person stopped or one already in transition.

        STOPPED is only ever reached by a stop request or by not being started
        (``autostart=false``): the program is down because someone chose so, and a
        restart would start it. STARTING, STOPPING and BACKOFF mean supervisord is already
        (re)starting it; the action is retried once that settles.
        """
        state = info.statename
        if state == "STOPPED":
            why = (
                "it has not been started since supervisord started (autostart=false)"
                if info.start == 0
                else "someone stopped it (supervisorctl stop)"
            )
            raise ActionFailed(
                f"{p.program!r} is STOPPED: {why}, so it is down on purpose and was left "
                f"so. If it should run, start it by hand "
                f"(`supervisorctl -s {_server(p)} start {p.program}`)"
            )
        if state in TRANSITIONAL:
            raise AdapterError(
                f"{p.program!r} is {state}: supervisord is already stopping or starting it; "
                "not restarting on top of that, retrying once it settles"
            )

    @staticmethod
    def _state(p: SupervisorRestartParams, info: ProcessInfo) -> dict[str, JsonValue]:
        return {
            "url": p.url,
            "program": p.program,
            "statename": info.statename,
            "pid": info.pid,
            "start": info.start,
            "now": info.now,
            "uptime_s": info.uptime_s,
        }

    def _result(
        self,
        request: ActionRequest,
        p: SupervisorRestartParams,
        before: dict[str, JsonValue],
        after: ProcessInfo,
        message: str,
    ) -> ActionResult:
        server = _server(p)
        return ActionResult(
            idempotency_key=request.idempotency_key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            before=before,
            after=self._state(p, after),
            undo=UndoRecord(
                action=self.kind,
                target=request.target,
                possible=False,
                params={"url": p.url, "program": p.program},
                instructions=(
                    f"A restart cannot be undone: the old process of {p.program!r} and its "
                    f"in-memory state are gone. Check `supervisorctl -s {server} status "
                    f"{p.program}` and its log (`supervisorctl -s {server} tail "
                    f"{p.program}`), then fix by hand."
                ),
            ),
            message=message,
            finished_at=self.clock(),
        )
