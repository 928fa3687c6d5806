"""The PgBouncer fixture pools connections to the session cluster and exposes its console."""

from __future__ import annotations

import psycopg
import pytest

from tests.servers.pgbouncer import StartPgBouncer
from tests.servers.process import is_alive
from vanguard.netutil import is_port_open

pytestmark = pytest.mark.integration


def test_queries_pass_through_and_console_shows_pool(pgbouncer_server: StartPgBouncer) -> None:
    bouncer = pgbouncer_server(default_pool_size=3)
    with psycopg.connect(bouncer.dsn("app"), autocommit=True, prepare_threshold=None) as conn:
        one = conn.execute("SELECT 1").fetchone()
    with psycopg.connect(bouncer.admin_dsn, autocommit=True, prepare_threshold=None) as admin:
        cur = admin.execute("SHOW DATABASES")
        names = [d.name for d in cur.description or ()]
        rows = {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    assert one == (1,)
    assert rows["app"]["pool_size"] == 3
    assert rows["app"]["database"] == bouncer.databases["app"]


def test_ini_edit_and_reload_resizes_the_pool(pgbouncer_server: StartPgBouncer) -> None:
    bouncer = pgbouncer_server()
    text = bouncer.ini_path.read_text()
    bouncer.ini_path.write_text(text.replace("default_pool_size = 2", "default_pool_size = 7"))
    with psycopg.connect(bouncer.admin_dsn, autocommit=True, prepare_threshold=None) as admin:
        admin.execute("RELOAD")
        cur = admin.execute("SHOW CONFIG")
        config = {row[0]: row[1] for row in cur.fetchall()}
    assert config["default_pool_size"] == "7"


def test_stop_leaves_nothing_behind(pgbouncer_server: StartPgBouncer) -> None:
    bouncer = pgbouncer_server()
    launcher = bouncer.proc.pid
    pid = int((bouncer.root / "pgbouncer.pid").read_text().split()[0])
    bouncer.stop()
    assert not is_alive(pid)
    assert not is_alive(launcher)
    assert not is_port_open("127.0.0.1", bouncer.port)
    assert not bouncer.root.exists()
