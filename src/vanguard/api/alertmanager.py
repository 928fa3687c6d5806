"""Alertmanager's webhook receiver: each firing alert starts (at most) one incident.

``POST /api/alertmanager`` takes Alertmanager's version-4 JSON. Duplicate deliveries (HA
replicas, repeats) of one alert map to one incident id, and the starter refuses to start a
workflow twice, so the answer says which incidents are new and which were already known.
A body that is not the expected JSON is a 4xx whose reason is also logged: 415 for another
content type (which also keeps a web page from posting here: a browser sends a JSON
content type across origins only after a preflight this API never grants), 413 past
``MAX_BODY_BYTES``. An engine that cannot start an incident is a 503, which Alertmanager
retries; incidents already started are recognised as duplicates then. An alert the engine
refuses for good (``InputError``: retrying cannot help) is counted in ``rejected`` and the
rest go on, so one alert cannot hold its delivery in a retry loop. An alert for a service
the configuration does not name is counted in ``unknown_service`` and starts nothing;
oversized ones are ``rejected`` (see ``vanguard.sources.alertmanager``). Both are logged
once a delivery. At most ``MAX_ALERTS`` firing alerts of one delivery start incidents, in
the order sent; the rest are counted in the receipt's ``truncated`` and logged, as
Alertmanager's own ``max_alerts`` does, so one storm cannot start thousands of workflows
from a single request. Names from the sender are logged with ``repr``: a newline in one
cannot forge a log line.
"""

from __future__ import annotations

import hmac
import json
import logging

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError

from vanguard.api.bodies import read_body
from vanguard.api.starter import IncidentStarter
from vanguard.errors import InputError
from vanguard.redact import redact_text
from vanguard.sources.alertmanager import AlertmanagerWebhook, alerts_from_webhook

__all__ = ["MAX_ALERTS", "MAX_BODY_BYTES", "AlertmanagerReceipt", "router"]

log = logging.getLogger(__name__)

router = APIRouter()

MAX_BODY_BYTES = 8 * 1024 * 1024
"""Thousands of alerts; Alertmanager's ``max_alerts`` can keep a large group below it."""

MAX_ALERTS = 100
"""Firing alerts one delivery may turn into incidents; a larger group is a storm."""


class AlertmanagerReceipt(BaseModel):
    """What a delivery did: incidents started now, those that already existed, and the
    alerts left out: resolved ones (``ignored``), firing ones past ``MAX_ALERTS``
    (``truncated``), for services not configured (``unknown_service``) and those refused
    as oversized or by the engine (``rejected``)."""

    model_config = ConfigDict(frozen=True)

    started: tuple[str, ...]
    duplicates: tuple[str, ...]
    ignored: int
    truncated: int = 0
    unknown_service: int = 0
    rejected: int = 0


def _problem(status: int, reason: str) -> HTTPException:
    log.warning("alertmanager webhook rejected (%d): %s", status, reason)
    return HTTPException(status_code=status, detail=reason)


@router.post("/api/alertmanager", status_code=202)
async def receive(request: Request) -> AlertmanagerReceipt:
    """Validate the delivery, turn firing alerts into incidents through the starter."""
    token: str | None = request.app.state.alertmanager_token
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise _problem(401, "missing or wrong bearer token")
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise _problem(415, f"content type {kind or 'none'!r}: expected application/json")
    raw = await read_body(request, MAX_BODY_BYTES)
    if raw is None:
        raise _problem(413, f"body exceeds {MAX_BODY_BYTES} bytes")
    if not raw.strip():
        raise _problem(400, "empty body: expected Alertmanager's webhook JSON")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _problem(400, f"body is not JSON: {str(exc)[:200]}") from exc
    try:
        payload = AlertmanagerWebhook.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<body>"
        raise _problem(422, f"not an Alertmanager v4 payload: {where}: {first['msg']}") from exc
    starter: IncidentStarter | None = request.app.state.starter
    if starter is None:
        raise _problem(503, "this API was started without an engine to start incidents on")
    taken = alerts_from_webhook(payload, request.app.state.service_types)
    delivery = redact_text(payload.groupKey)[:200]
    if taken.unknown:
        names = sorted(set(taken.unknown))
        log.warning(
            "alertmanager delivery %r: %d alert(s) for services not in the configuration, "
            "not acted on: %s; add the service under 'services' or route these alerts to "
            "another receiver",
            delivery,
            len(taken.unknown),
            ", ".join(repr(n) for n in names[:10]) + (" ..." if len(names) > 10 else ""),
        )
    if taken.rejected:
        log.warning(
            "alertmanager delivery %r: %d alert(s) too large, not acted on: %s",
            delivery,
            len(taken.rejected),
            "; ".join(taken.rejected[:5]) + (" ..." if len(taken.rejected) > 5 else ""),
        )
    alerts = list(taken.alerts)
    truncated = max(0, len(alerts) - MAX_ALERTS)
    if truncated:
        log.warning(
            "alertmanager delivery %r: %d firing alerts, incidents for the first %d only; "
            "set max_alerts in Alertmanager's webhook_config or group alerts more coarsely",
            delivery,
            len(alerts),
            MAX_ALERTS,
        )
        alerts = alerts[:MAX_ALERTS]
    started: list[str] = []
    duplicates: list[str] = []
    refused = 0
    for alert in alerts:
        alertname = alert.attributes.get("alertname")
        try:
            incident_id, new = await starter(alert)
        except InputError as exc:
            refused += 1
            log.warning(
                "alertmanager %r for %s: refused by the engine, not acted on: %s",
                alertname,
                alert.service_name,
                exc,
            )
            continue
        except Exception as exc:
            log.exception("alertmanager webhook: starting an incident failed")
            raise _problem(
                503,
                f"could not start an incident ({type(exc).__name__}, logged); "
                f"{len(started)} started before it; a retry starts the rest",
            ) from exc
        (started if new else duplicates).append(incident_id)
        log.info(
            "alertmanager %r: %s incident %s",
            alertname,
            "started" if new else "already had",
            incident_id,
        )
    return AlertmanagerReceipt(
        started=tuple(started),
        duplicates=tuple(duplicates),
        ignored=taken.resolved,
        truncated=truncated,
        unknown_service=len(taken.unknown),
        rejected=len(taken.rejected) + refused,
    )
