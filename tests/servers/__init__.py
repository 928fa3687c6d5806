"""Launchers for the real servers the integration tests run against, all on 127.0.0.1."""

from tests.servers.alertmanager import AlertmanagerServer, StartAlertmanager
from tests.servers.exporter import Exporter
from tests.servers.pgbouncer import PgBouncerServer, StartPgBouncer
from tests.servers.postgres import PostgresServer
from tests.servers.prometheus import PrometheusServer, ScrapeTarget, StartPrometheus
from tests.servers.supervisor import Program, StartSupervisord, SupervisorServer
from tests.servers.webhook import Received, WebhookReceiver

__all__ = [
    "AlertmanagerServer",
    "Exporter",
    "PgBouncerServer",
    "PostgresServer",
    "Program",
    "PrometheusServer",
    "Received",
    "ScrapeTarget",
    "StartAlertmanager",
    "StartPgBouncer",
    "StartPrometheus",
    "StartSupervisord",
    "SupervisorServer",
    "WebhookReceiver",
]
