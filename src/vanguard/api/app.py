"""``create_app(store)``: the FastAPI application, with no import-time state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict

from vanguard import __version__
from vanguard.api import alertmanager, dashboard, github
from vanguard.api.starter import IncidentStarter
from vanguard.decide import PolicyConfig
from vanguard.diagnose.patterns import Pattern
from vanguard.incident import IncidentState
from vanguard.store import IncidentRecord, IncidentRepo, Store

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
) -> FastAPI:
    """The API and dashboard over ``store``; webhooks start incidents through ``starter``.

    ``patterns`` and ``policy`` let the dashboard show what outcomes taught each pattern.

    With ``alertmanager_token``, Alertmanager's webhook answers 401 unless the request
    carries ``Authorization: Bearer <token>``.
    """
    app = FastAPI(title="Vanguard", version=__version__)
    app.state.store = store
    app.state.starter = starter
    app.state.alertmanager_token = alertmanager_token
    app.state.patterns = tuple(patterns)
    app.state.policy = policy or PolicyConfig()
    app.include_router(alertmanager.router)
    app.include_router(github.router)
    app.include_router(dashboard.router)
    registry = CollectorRegistry()
    by_state = Gauge(
        "vanguard_incidents", "Incidents in the store by state", ["state"], registry=registry
    )

    @app.get("/healthz")
    def healthz(store: StoreDep) -> dict[str, str]:
        with store.session() as session:
            IncidentRepo(session).list_incidents(limit=1)
        return {"status": "ok", "version": __version__}

    @app.get("/api/incidents")
    def list_incidents(
        store: StoreDep,
        state: IncidentState | None = None,
        service: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[IncidentSummary]:
        with store.session() as session:
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
        with store.session() as session:
            record = IncidentRepo(session).get_record(incident_id)
        if record is None:
            raise HTTPException(status_code=404, detail=f"no incident {incident_id}")
        return record

    @app.get("/metrics")
    def metrics(store: StoreDep) -> Response:
        with store.session() as session:
            counts = IncidentRepo(session).count_by_state()
        for state in IncidentState:
            by_state.labels(state=str(state)).set(counts.get(state, 0))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
