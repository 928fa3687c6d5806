"""``create_app(store)``: the FastAPI application, with no import-time state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict

from vanguard import __version__
from vanguard.api import alertmanager, dashboard, github
from vanguard.api.bodies import HostCheck
from vanguard.api.starter import IncidentStarter
from vanguard.config import ServiceConfig
from vanguard.decide import PolicyConfig
from vanguard.diagnose.patterns import Pattern
from vanguard.incident import IncidentState
from vanguard.learn import pattern_confidences
from vanguard.notify.base import NOTIFICATION_KINDS
from vanguard.store import AuditLog, IncidentRecord, IncidentRepo, PauseRepo, Store

__all__ = ["IncidentSummary", "create_app"]


class IncidentSummary(BaseModel):
    """The public view of an incident in listings."""

    model_config = ConfigDict(frozen=True)

    incident_id: str
    state: IncidentState
    service_name: str
    metric_type: str
    summary: str
    detected_at: str
    updated_at: str


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


def create_app(
    store: Store,
    *,
    starter: IncidentStarter | None = None,
    alertmanager_token: str | None = None,
    patterns: Sequence[Pattern] = (),
    policy: PolicyConfig | None = None,
    allowed_hosts: Sequence[str] | None = None,
    services: Sequence[ServiceConfig] = (),
    config: Path | None = None,
) -> FastAPI:
    """The API and dashboard over ``store``; webhooks start incidents through ``starter``.

    ``patterns`` and ``policy`` let the dashboard show what outcomes taught each pattern.
    Alertmanager's webhook acts only on alerts for ``services``, each diagnosed as its
    configured type. ``config`` is the file the commands shown to copy name (``-c``).

    With ``alertmanager_token``, Alertmanager's webhook answers 401 unless the request
    carries ``Authorization: Bearer <token>``. With ``allowed_hosts``, a request naming
    another host is refused (``HostCheck``). No interactive API docs are served: they load
    scripts from a CDN, and the pages here are plain HTML.
    """
    app = FastAPI(title="Vanguard", version=__version__, docs_url=None, redoc_url=None)
    if allowed_hosts is not None:
        app.add_middleware(HostCheck, allowed=tuple(allowed_hosts))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(("/api/", "/webhooks/")):
            return await request_validation_exception_handler(request, exc)
        return dashboard.bad_query(request, exc.errors())

    app.state.store = store
    app.state.starter = starter
    app.state.alertmanager_token = alertmanager_token
    app.state.service_types = {s.name: s.type for s in services}
    app.state.patterns = tuple(patterns)
    app.state.policy = policy or PolicyConfig()
    app.state.config = config
    app.include_router(alertmanager.router)
    app.include_router(github.router)
    app.include_router(dashboard.router)
    registry = CollectorRegistry()
    by_state = Gauge(
        "vanguard_incidents", "Incidents in the store by state", ["state"], registry=registry
    )
    paused = Gauge(
        "vanguard_automation_paused",
        '1 for each pause in force: on one service, or on every service (service="*")',
        ["service"],
        registry=registry,
    )
    confidence = Gauge(
        "vanguard_pattern_confidence",
        "Each pattern's calibrated confidence, as diagnosis uses it now",
        ["pattern"],
        registry=registry,
    )
    acts_alone = Gauge(
        "vanguard_pattern_acts_alone",
        "1 when the policy lets the pattern act without a person on an alert of confidence 1 "
        "(the confidence gate multiplies by the alert's confidence)",
        ["pattern"],
        registry=registry,
    )
    notifications = Gauge(
        "vanguard_notifications",
        "Messages to people by what became of them: notified (every channel took it), "
        "notify.held (a repeat within notify_repeat_s), notify.failed (not delivered)",
        ["kind"],
        registry=registry,
    )
    outcomes_by = Gauge(
        "vanguard_outcomes",
        "Finished incidents by pattern and outcome status",
        ["pattern", "status"],
        registry=registry,
    )

    @app.get("/healthz")
    def healthz(store: StoreDep) -> dict[str, str]:
        with store.read_session() as session:
            IncidentRepo(session).list_incidents(limit=1)
        return {"status": "ok", "version": __version__}

    @app.get("/api/incidents")
    def list_incidents(
        store: StoreDep,
        state: IncidentState | None = None,
        service: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[IncidentSummary]:
        with store.read_session() as session:
            found = IncidentRepo(session).list_incidents(limit=limit, state=state, service=service)
        return [
            IncidentSummary(
                incident_id=i.incident_id,
                state=i.state,
                service_name=i.alert.service_name,
                metric_type=i.alert.metric_type,
                summary=i.alert.summary,
                detected_at=i.alert.detected_at.isoformat(),
                updated_at=i.history[-1].at.isoformat(),
            )
            for i in found
        ]

    @app.get("/api/incidents/{incident_id}")
    def get_incident(incident_id: str, store: StoreDep) -> IncidentRecord:
        with store.read_session() as session:
            record = IncidentRepo(session).get_record(incident_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no incident {incident_id}")
        return record.redacted()

    @app.get("/metrics")
    def metrics(store: StoreDep) -> Response:
        patterns: tuple[Pattern, ...] = app.state.patterns
        with store.read_session() as session:
            repo = IncidentRepo(session)
            counts = repo.count_by_state()
            pauses = PauseRepo(session).active(datetime.now(UTC))
            policy: PolicyConfig = app.state.policy
            learned = repo.outcome_counts(
                {p.id: p.remedy.action for p in patterns},
                breaker_threshold=policy.breaker_threshold,
            )
            statuses = repo.count_outcomes_by_status(p.id for p in patterns)
            told = AuditLog(session).count_by_kind(NOTIFICATION_KINDS)
        for state in IncidentState:
            by_state.labels(state=str(state)).set(counts.get(state, 0))
        paused.clear()
        for pause in pauses:
            paused.labels(service=pause.service_name or "*").inc()
        for row in pattern_confidences(patterns, learned, policy):
            confidence.labels(pattern=row.pattern_id).set(row.confidence)
            acts_alone.labels(pattern=row.pattern_id).set(1 if row.acts_alone else 0)
        for kind, n in told.items():
            notifications.labels(kind=kind).set(n)
        outcomes_by.clear()
        for pattern_id, by_status in statuses.items():
            for status, n in by_status.items():
                outcomes_by.labels(pattern=pattern_id, status=status).set(n)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
