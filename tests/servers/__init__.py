"""Launchers for the real servers the integration tests run against, all on 127.0.0.1."""

from tests.servers.postgres import PostgresServer
from tests.servers.supervisor import Program, StartSupervisord, SupervisorServer

__all__ = ["PostgresServer", "Program", "StartSupervisord", "SupervisorServer"]
