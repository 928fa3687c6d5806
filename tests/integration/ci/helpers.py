"""Shared by the CI agent's integration and e2e tests: payloads, signing, an app to post to."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from vanguard.api import create_app
from vanguard.api.github import install_github
from vanguard.ci.client import GitHubApi
from vanguard.ci.config import GitHubConfig
from vanguard.ci.events import sign
from vanguard.ci.intake import CiIntake
from vanguard.model import Alert
from vanguard.store import Store

FIXTURES = Path(__file__).parents[2] / "fixtures" / "github"
SECRET = b"webhook-secret-for-tests"


def payload(name: str) -> dict[str, Any]:
    """A copy of one fixture payload (see tests/fixtures/github/README.md)."""
    data: dict[str, Any] = json.loads((FIXTURES / "payloads" / f"{name}.json").read_text())
    return copy.deepcopy(data)


def log_bytes(name: str) -> bytes:
    return (FIXTURES / "logs" / f"{name}.log").read_bytes()


def headers(event: str, body: bytes, *, delivery: str | None = None) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(SECRET, body),
        "Content-Type": "application/json",
    }


def failed_run(repository: str, run_id: int, *, attempt: int = 1) -> dict[str, Any]:
    """The failed ``workflow_run`` fixture moved to ``repository`` and ``run_id``."""
    body = payload("workflow_run.completed.failure")
    body["repository"]["full_name"] = repository
    body["workflow_run"]["id"] = run_id
    body["workflow_run"]["run_attempt"] = attempt
    body["workflow_run"]["html_url"] = f"https://github.com/{repository}/actions/runs/{run_id}"
    return body


class RecordingStarter:
    """An ``IncidentStarter`` that records alerts; one incident per alert id."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def __call__(self, alert: Alert) -> tuple[str, bool]:
        new = all(a.alert_id != alert.alert_id for a in self.alerts)
        self.alerts.append(alert)
        return f"inc-{alert.alert_id}", new


def github_app(
    store: Store,
    api: GitHubApi,
    config: GitHubConfig,
    starter: Callable[[Alert], Awaitable[tuple[str, bool]]] | None,
) -> tuple[FastAPI, CiIntake]:
    app = create_app(store, starter=starter)
    intake = CiIntake(store, api, config, starter)
    install_github(app, intake, SECRET)
    return app, intake
