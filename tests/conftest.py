"""Session-wide real servers on loopback ports, started on first use and stopped at the end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.servers.alertmanager import AlertmanagerServer, StartAlertmanager
from tests.servers.pgbouncer import PgBouncerServer, StartPgBouncer
from tests.servers.postgres import PostgresServer
from tests.servers.prism import PrismServer
from tests.servers.process import retry_start, unavailable
from tests.servers.prometheus import PrometheusServer, ScrapeTarget, StartPrometheus
from tests.servers.supervisor import Program, StartSupervisord, SupervisorServer
from tests.servers.webhook import WebhookReceiver
from tests.stores import sqlite_store  # noqa: F401  (the ``store`` fixture)
from vanguard.engine.devserver import DevServer, find_temporal_binary
from vanguard.errors import EngineError
from vanguard.netutil import free_port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the whole session."""
    server = retry_start(lambda: PostgresServer.start(free_port()))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh uuid-named database, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """A headless in-memory Temporal dev server for the whole session."""
    try:
        find_temporal_binary()
    except EngineError as exc:
        unavailable(str(exc))
    log_dir = tmp_path_factory.mktemp("temporal")

    def start() -> DevServer:
        server = DevServer(
            port=free_port(),
            http_port=free_port(),
            metrics_port=free_port(),
            log_file=log_dir / "temporal.log",
        )
        server.start(timeout_s=60.0)
        return server

    server = retry_start(start)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def temporal_address(temporal_server: DevServer) -> str:
    """``host:port`` of the session's Temporal frontend."""
    return temporal_server.address


@pytest.fixture
def task_queue() -> str:
    """A task queue no other test uses, so workers never steal each other's tasks."""
    return f"tq-{uuid.uuid4().hex}"


@pytest.fixture
def supervisord() -> Iterator[StartSupervisord]:
    """Factory: start supervisord with the given programs, return its XML-RPC URL.

    Every supervisord started through it is stopped with its children after the test.
    """
    started: list[SupervisorServer] = []

    def start(programs: Sequence[Program]) -> str:
        server = retry_start(lambda: SupervisorServer.start(programs, free_port()))
        started.append(server)
        return server.url

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def prometheus_server() -> Iterator[StartPrometheus]:
    """Factory: Prometheus scraping the given targets every second (and optional rules).

    By default it returns once every target is "up" (the first scrape comes ~5 s after
    start); each server is stopped after the test.
    """
    started: list[PrometheusServer] = []

    def start(
        targets: Sequence[ScrapeTarget],
        *,
        rule_files: Sequence[Path] = (),
        alertmanager: str | None = None,
        wait_up: bool = True,
    ) -> PrometheusServer:
        server = retry_start(
            lambda: PrometheusServer.start(
                targets, free_port(), rule_files=rule_files, alertmanager=alertmanager
            )
        )
        started.append(server)
        if wait_up:
            server.wait_targets_up()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def pgbouncer_server(postgres_server: PostgresServer) -> Iterator[StartPgBouncer]:
    """Factory: PgBouncer routing aliases to databases of the session cluster.

    Without ``databases`` it creates a fresh database and routes the alias ``app`` to it.
    Servers and the databases created here are removed after the test.
    """
    started: list[PgBouncerServer] = []
    created: list[str] = []

    def start(
        databases: Mapping[str, str] | None = None,
        *,
        default_pool_size: int = 2,
        pool_mode: str = "transaction",
    ) -> PgBouncerServer:
        if databases is None:
            created.append(postgres_server.create_database())
            databases = {"app": created[-1]}
        routes = databases
        server = retry_start(
            lambda: PgBouncerServer.start(
                postgres_server,
                routes,
                free_port(),
                default_pool_size=default_pool_size,
                pool_mode=pool_mode,
            )
        )
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()
        for name in created:
            postgres_server.drop_database(name)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """An HTTP sink on a free loopback port recording every POST."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def alertmanager_server() -> Iterator[StartAlertmanager]:
    """Factory: Alertmanager posting every notification (1 s grouping) to a webhook URL."""
    started: list[AlertmanagerServer] = []

    def start(webhook_url: str) -> AlertmanagerServer:
        server = retry_start(lambda: AlertmanagerServer.start(webhook_url, free_port()))
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def prism_session() -> Iterator[PrismServer]:
    """Prism serving GitHub's trimmed, patched REST description for the whole session."""
    server = retry_start(lambda: PrismServer.start(free_port()))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prism(prism_session: PrismServer) -> PrismServer:
    """The session's GitHub API mock with no recorded requests and no log text yet."""
    prism_session.reset()
    return prism_session
