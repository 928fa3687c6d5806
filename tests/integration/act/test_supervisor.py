"""The supervisor adapter against a real supervisord: one restart per key, even across crashes."""

from __future__ import annotations

import ipaddress
import select
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers.supervisor import Program, StartSupervisord, rpc_call
from tests.stores import store_url  # noqa: F401  (SQLite and PostgreSQL in turn)
from vanguard.act.base import MemoryLedger
from vanguard.act.supervisor import ProcessInfo, SupervisorAdapter, XmlRpcSupervisor
from vanguard.errors import ActionFailed, AdapterError, ConfigError
from vanguard.model import ActionRequest, ActionResult
from vanguard.netutil import free_port
from vanguard.store import SqlLedger, open_store

pytestmark = pytest.mark.integration

WORKER = Program(name="worker", command="sleep 3600")


def _request(url: str, key: str = "k1", program: str = "worker") -> ActionRequest:
    return ActionRequest(
        idempotency_key=key,
        incident_id="inc-1",
        action="supervisor.restart",
        target="svc",
        params={"url": url, "program": program, "timeout_s": 30},
    )


def _pid(url: str, program: str = "worker") -> int:
    return int(rpc_call(url, "supervisor.getProcessInfo", program)["pid"])


def test_restart_changes_pid_and_verifies(supervisord: StartSupervisord) -> None:
    url = supervisord([WORKER])
    old = _pid(url)
    adapter = SupervisorAdapter(MemoryLedger())
    result = adapter.apply(_request(url))
    assert result.before["pid"] == old
    assert result.after["pid"] == _pid(url) != old
    check = adapter.verify(result)
    assert check.ok, check.reason
    assert not result.undo.possible
    assert "supervisorctl -s http://127.0.0.1:" in result.undo.instructions
    assert " tail " in result.undo.instructions, "the log hint is a command one can run"


def test_same_key_twice_restarts_once(supervisord: StartSupervisord) -> None:
    url = supervisord([WORKER])
    adapter = SupervisorAdapter(MemoryLedger())
    first = adapter.apply(_request(url))
    pid = _pid(url)
    second = adapter.apply(_request(url))
    assert second == first
    assert _pid(url) == pid


def test_crash_after_restart_is_reconciled_without_second_restart(
    supervisord: StartSupervisord,
) -> None:
    url = supervisord([WORKER])
    ledger = MemoryLedger()
    client = XmlRpcSupervisor(url)
    before = client.process_info("worker")
    ledger.begin("k1", {"url": url, "program": "worker", "pid": before.pid, "start": before.start})
    client.restart("worker")
    restarted = _pid(url)
    result = SupervisorAdapter(ledger).apply(_request(url))
    assert _pid(url) == restarted
    assert result.after["pid"] == restarted
    assert "not repeated" in result.message


def test_crash_before_restart_is_reconciled_by_restarting(supervisord: StartSupervisord) -> None:
    url = supervisord([WORKER])
    ledger = MemoryLedger()
    old = _pid(url)
    ledger.begin("k1", {"url": url, "program": "worker", "pid": old})
    result = SupervisorAdapter(ledger).apply(_request(url))
    assert _pid(url) == result.after["pid"] != old


class LooksTogether(XmlRpcSupervisor):
    """One attempt's client: its first look at the program waits until the other attempt
    has looked too, so both read the ledger empty before either begins."""

    def __init__(self, url: str, barrier: threading.Barrier, restarts: list[str]) -> None:
        super().__init__(url)
        self.barrier = barrier
        self.restarts = restarts
        self.looked = False

    def process_info(self, program: str) -> ProcessInfo:
        info = super().process_info(program)
        if not self.looked:
            self.looked = True
            self.barrier.wait()
        return info

    def restart(self, program: str) -> None:
        self.restarts.append(program)
        super().restart(program)


def test_two_attempts_racing_for_one_key_restart_once(
    supervisord: StartSupervisord,
    store_url: str,  # noqa: F811
) -> None:
    """One attempt stalled after reading the ledger and Temporal started another: the one
    that loses the ``begin`` returns the winner's result or is retried, never restarts."""
    url = supervisord([WORKER])
    old = _pid(url)
    store = open_store(store_url)
    barrier = threading.Barrier(2, timeout=20)
    restarts: list[str] = []
    results: list[ActionResult] = []
    errors: list[AdapterError] = []

    def attempt() -> None:
        adapter = SupervisorAdapter(
            SqlLedger(store), lambda p: LooksTogether(url, barrier, restarts)
        )
        try:
            results.append(adapter.apply(_request(url)))
        except AdapterError as exc:
            errors.append(exc)

    try:
        threads = [threading.Thread(target=attempt) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        retried = SupervisorAdapter(SqlLedger(store)).apply(_request(url))
    finally:
        store.close()
    assert restarts == ["worker"]
    assert len(results) + len(errors) == 2
    assert all("another attempt began this action" in str(e) for e in errors)
    assert all(r == retried for r in results)
    assert retried.before["pid"] == old != retried.after["pid"] == _pid(url)


def _state(url: str) -> str:
    return str(rpc_call(url, "supervisor.getProcessInfo", "worker")["statename"])


def test_a_program_stopped_by_hand_is_left_stopped(supervisord: StartSupervisord) -> None:
    url = supervisord([WORKER])
    rpc_call(url, "supervisor.stopProcess", "worker", True)
    ledger = MemoryLedger()
    with pytest.raises(ActionFailed, match="'worker' is STOPPED: someone stopped it") as info:
        SupervisorAdapter(ledger).apply(_request(url))
    assert f"supervisorctl -s {url.removesuffix('/RPC2')} start worker" in str(info.value)
    assert _state(url) == "STOPPED"
    assert ledger.get("k1") is None


def test_a_program_never_started_is_left_stopped(supervisord: StartSupervisord) -> None:
    url = supervisord([Program(name="worker", command="sleep 3600", autostart=False)])
    with pytest.raises(ActionFailed, match=r"STOPPED: it has not been started .*autostart=false"):
        SupervisorAdapter(MemoryLedger()).apply(_request(url))
    assert _state(url) == "STOPPED"


def _retried_until_settled(adapter: SupervisorAdapter, url: str, state: str) -> None:
    """The first apply meets ``state`` and is told to retry; nothing began meanwhile."""
    with pytest.raises(AdapterError, match=f"'worker' is {state}: .*retrying once it settles"):
        adapter.apply(_request(url))
    assert adapter.ledger.get("k1") is None
    deadline = time.monotonic() + 20
    while _state(url) == state:
        assert time.monotonic() < deadline, f"still {state}"
        time.sleep(0.2)


def test_a_program_starting_is_not_restarted_on_top(supervisord: StartSupervisord) -> None:
    url = supervisord([Program(name="worker", command="sleep 3600", autostart=False, startsecs=3)])
    rpc_call(url, "supervisor.startProcess", "worker", False)
    started = _pid(url)
    adapter = SupervisorAdapter(MemoryLedger())
    _retried_until_settled(adapter, url, "STARTING")
    assert _state(url) == "RUNNING"
    assert _pid(url) == started, "the start under way was left to finish"
    result = adapter.apply(_request(url))
    assert result.before["pid"] == started != result.after["pid"]


def test_a_program_stopping_is_not_restarted_on_top(supervisord: StartSupervisord) -> None:
    stubborn = Program(
        name="worker",
        command="sh -c 'trap \"\" TERM; exec sleep 3600'",
        stopwaitsecs=3,
        startsecs=1,
    )
    url = supervisord([stubborn])
    rpc_call(url, "supervisor.stopProcess", "worker", False)
    adapter = SupervisorAdapter(MemoryLedger())
    _retried_until_settled(adapter, url, "STOPPING")
    with pytest.raises(ActionFailed, match="'worker' is STOPPED: someone stopped it"):
        adapter.apply(_request(url))
    assert _state(url) == "STOPPED"


def test_bad_program_name_is_a_config_error_naming_program(supervisord: StartSupervisord) -> None:
    url = supervisord([WORKER])
    with pytest.raises(ConfigError, match="has no program 'ghost'") as info:
        SupervisorAdapter(MemoryLedger()).apply(_request(url, program="ghost"))
    assert info.value.key == "program"
    with pytest.raises(ConfigError, match="has no program 'ghost'"):
        XmlRpcSupervisor(url).restart("ghost")


def test_program_that_cannot_start_fails_the_action(supervisord: StartSupervisord) -> None:
    url = supervisord([Program(name="worker", command="sh -c 'exit 1'", startsecs=1)])
    with pytest.raises(ActionFailed, match="'worker' was stopped and did not start again"):
        SupervisorAdapter(MemoryLedger()).apply(_request(url))


def test_a_healthy_program_that_fails_to_come_back_is_reported_down(
    supervisord: StartSupervisord, tmp_path: Path
) -> None:
    healthy = tmp_path / "healthy"
    healthy.touch()
    command = f"sh -c 'test -f {healthy} && exec sleep 3600 || exit 3'"
    url = supervisord([Program(name="worker", command=command, startsecs=1)])
    assert rpc_call(url, "supervisor.getProcessInfo", "worker")["statename"] == "RUNNING"
    healthy.unlink()
    with pytest.raises(ActionFailed) as info:
        SupervisorAdapter(MemoryLedger()).apply(_request(url))
    assert "the service is now down (not running)" in str(info.value)
    # FATAL when it exits within startsecs (the usual case); a loaded machine can take
    # longer than that to run the shell, and supervisord then calls it EXITED: down either way.
    state = rpc_call(url, "supervisor.getProcessInfo", "worker")["statename"]
    assert state in {"FATAL", "EXITED", "BACKOFF"}


def test_unreachable_supervisord_is_an_adapter_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/RPC2"
    with pytest.raises(AdapterError, match="cannot reach supervisord"):
        SupervisorAdapter(MemoryLedger()).apply(_request(url))


@pytest.mark.parametrize("path", ["/RPC2", "/wrong"])
def test_an_error_never_shows_the_credentials_of_the_url(
    supervisord: StartSupervisord, path: str
) -> None:
    """The action refuses such a URL; a client given one anyway never repeats them."""
    reachable = supervisord([WORKER]).replace("http://", "http://ops:s3cretpw@")
    unreachable = f"http://ops:s3cretpw@127.0.0.1:{free_port()}/RPC2"
    for url in (reachable.removesuffix("/RPC2") + path, unreachable):
        with pytest.raises((AdapterError, ConfigError)) as info:
            XmlRpcSupervisor(url).process_info("ghost")
        assert "s3cretpw" not in str(info.value)
        assert "127.0.0.1" in str(info.value)
        with pytest.raises(AdapterError, match="holds credentials") as info:
            SupervisorAdapter(MemoryLedger()).apply(_request(url, program="ghost"))
        assert "s3cretpw" not in str(info.value)


def _self_signed(where: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written under ``where``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vanguard-test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = where / "cert.pem", where / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class _TlsFront(socketserver.ThreadingTCPServer):
    """TLS in front of supervisord's plain HTTP port, as stunnel or nginx would put it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: tuple[str, int], context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.upstream = upstream
        self.context = context
        self.refused: list[str] = []


class _Relay(socketserver.BaseRequestHandler):
    """One connection: TLS handshake, then bytes both ways until either side closes."""

    server: _TlsFront

    def handle(self) -> None:
        raw: socket.socket = self.request
        raw.settimeout(10)
        try:
            tls = self.server.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.server.refused.append(str(exc))
            return
        with tls, socket.create_connection(self.server.upstream, timeout=10) as up:
            while True:
                ready, _, _ = select.select([tls, up], [], [], 10)
                if not ready:
                    return
                if tls in ready:
                    data = tls.recv(65536)
                    while data and tls.pending():
                        data += tls.recv(tls.pending())
                    if not data:
                        return
                    up.sendall(data)
                if up in ready:
                    data = up.recv(65536)
                    if not data:
                        return
                    tls.sendall(data)


@pytest.fixture
def tls_front(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, _TlsFront]]]:
    """Factory: the ``https://`` URL of a TLS front for an ``http://`` supervisord URL.

    The certificate is self-signed for 127.0.0.1; ``SSL_CERT_FILE`` is set to it by the
    tests that trust it, as an operator would point it at their own CA.
    """
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    fronts: list[_TlsFront] = []

    def start(url: str) -> tuple[str, _TlsFront]:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        front = _TlsFront((parts.hostname, parts.port), context)
        threading.Thread(target=front.serve_forever, daemon=True).start()
        fronts.append(front)
        return f"https://127.0.0.1:{front.server_address[1]}{parts.path}", front

    try:
        yield start
    finally:
        for front in fronts:
            front.shutdown()
            front.server_close()


def test_an_https_url_is_called_over_tls(
    supervisord: StartSupervisord,
    tls_front: Callable[[str], tuple[str, _TlsFront]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An https supervisord answers a restart; before, the call went out in clear text."""
    plain = supervisord([WORKER])
    url, front = tls_front(plain)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))
    old = _pid(plain)
    adapter = SupervisorAdapter(MemoryLedger())
    result = adapter.apply(_request(url))
    assert result.after["pid"] == _pid(plain) != old
    assert adapter.verify(result).ok
    assert front.refused == []


def test_an_https_certificate_nobody_trusts_is_refused(
    supervisord: StartSupervisord,
    tls_front: Callable[[str], tuple[str, _TlsFront]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = supervisord([WORKER])
    url, _ = tls_front(plain)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    old = _pid(plain)
    with pytest.raises(AdapterError, match=r"cannot reach supervisord at https://.*certificate"):
        SupervisorAdapter(MemoryLedger()).apply(_request(url))
    assert _pid(plain) == old


def test_a_stop_slower_than_the_timeout_is_retried_and_never_left_stopped(
    supervisord: StartSupervisord,
) -> None:
    """supervisord finishes the stop but not the start when the caller goes away."""
    # startsecs=1: RUNNING only once the shell has installed its trap, or a stop sent at
    # once kills it before it can ignore TERM and the restart is fast after all.
    stubborn = Program(
        name="worker",
        command="sh -c 'trap \"\" TERM; exec sleep 3600'",
        stopwaitsecs=2,
        startsecs=1,
    )
    url = supervisord([stubborn])
    old = _pid(url)
    request = _request(url).model_copy(
        update={"params": {"url": url, "program": "worker", "timeout_s": 1}}
    )
    ledger = MemoryLedger()
    adapter = SupervisorAdapter(ledger)
    with pytest.raises(AdapterError, match=r"no answer to system\.multicall within 1 s") as info:
        adapter.apply(request)
    assert not isinstance(info.value, ActionFailed), "retried, not given up"
    deadline = time.monotonic() + 20
    while True:
        try:
            result = adapter.apply(request)
            break
        except AdapterError:
            assert time.monotonic() < deadline, "the program never came back"
            time.sleep(0.5)
    state = rpc_call(url, "supervisor.getProcessInfo", "worker")
    assert state["statename"] == "RUNNING"
    assert result.after["pid"] == state["pid"] != old
    log = str(rpc_call(url, "supervisor.readLog", 0, 0))
    assert log.count("spawned: 'worker'") == 2, "one restart, not two"
