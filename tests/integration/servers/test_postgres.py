"""The PostgreSQL fixture gives each test its own empty database on a live server."""

from __future__ import annotations

import re

import psycopg
import pytest

from tests.servers.postgres import PostgresServer
from vanguard.netutil import free_port, is_port_open

pytestmark = pytest.mark.integration


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_database_is_fresh_and_writable(postgres_url: str) -> None:
    with psycopg.connect(_libpq(postgres_url), autocommit=True) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        conn.execute("CREATE TABLE probe (x int)")
        conn.execute("INSERT INTO probe VALUES (1)")
        count = conn.execute("SELECT count(*) FROM probe").fetchone()
    assert tables == (0,)
    assert count == (1,)


def test_databases_are_uuid_named_and_dropped(postgres_server: PostgresServer) -> None:
    first, second = postgres_server.create_database(), postgres_server.create_database()
    postgres_server.drop_database(first)
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    postgres_server.drop_database(second)
    assert first != second
    assert re.fullmatch(r"t_[0-9a-f]{32}", first)
    assert second in names
    assert first not in names


def test_url_names_loopback_and_driver(postgres_server: PostgresServer) -> None:
    url = postgres_server.url("x")
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/x"


def test_stop_closes_port_and_removes_files() -> None:
    server = PostgresServer.start(free_port())
    assert is_port_open("127.0.0.1", server.port)
    server.stop()
    assert not is_port_open("127.0.0.1", server.port)
    assert not server.root.exists()
