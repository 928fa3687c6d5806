"""The GitHub webhook receiver: ``POST /webhooks/github``.

The body is authenticated before anything else: HMAC-SHA256 of the raw bytes under the
webhook secret, compared in constant time; a missing or wrong ``X-Hub-Signature-256`` is a
401 and nothing is stored. Authenticated deliveries go to the ``CiIntake``, which records
each ``X-GitHub-Delivery`` once (a duplicate answers 200 and does nothing) and starts
incidents through ``app.state.starter``. The answer carries the recorded reason; handling
that outlasts GitHub's 10 s webhook timeout carries on after a 202.

``install_github`` wires a ``CiIntake`` and the secret into an app; until then the endpoint
answers 503, so a half-configured server never accepts deliveries it cannot verify.
Deliveries still being handled when the server stops are waited for by ``await
intake.close()``, which whoever runs the server calls after it stopped serving.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from vanguard.api.bodies import read_body
from vanguard.ci.client import build_github_api
from vanguard.ci.events import MAX_BODY_BYTES, verify_signature
from vanguard.ci.intake import CiIntake
from vanguard.config import Settings, resolve_secret
from vanguard.errors import ConfigError, EngineError
from vanguard.model import Alert
from vanguard.store import Store

__all__ = ["WEBHOOK_PATH", "install_github", "intake_from_settings", "router"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/github"
STATUS_CODES = {"accepted": 202, "ignored": 202, "duplicate": 200, "rejected": 400, "failed": 503}
ANSWER_WITHIN_S = 8.0
"""GitHub gives up on a webhook after 10 s: slower handling goes on after the answer."""

router = APIRouter()


def install_github(
    app: FastAPI, intake: CiIntake, secret: bytes, *, answer_within_s: float = ANSWER_WITHIN_S
) -> None:
    """Let ``app`` receive GitHub deliveries with ``intake``, verified under ``secret``."""
    if len(secret) < 8:
        raise ConfigError("the GitHub webhook secret is too short (8 bytes at least)", key="github")
    app.state.github_intake = intake
    app.state.github_secret = secret
    app.state.github_answer_within_s = answer_within_s


def intake_from_settings(app: FastAPI, settings: Settings, store: Store) -> CiIntake:
    """Build the intake from ``settings.github`` (secrets resolved now) and install it."""
    config = settings.github
    if config is None:
        raise ConfigError("no 'github' section", key="github")
    secret = resolve_secret(
        env=config.webhook_secret_env, file=config.webhook_secret_file, what="github.webhook_secret"
    )

    async def start(alert: Alert) -> tuple[str, bool]:
        starter = app.state.starter
        if starter is None:
            raise EngineError("the API has no incident starter (is the engine attached?)")
        incident_id, new = await starter(alert)
        return str(incident_id), bool(new)

    intake = CiIntake(store, build_github_api(config, store=store), config, start)
    install_github(app, intake, secret.encode())
    return intake


def _answer(code: int, reason: str, **extra: object) -> JSONResponse:
    return JSONResponse(status_code=code, content={"reason": reason, **extra})


@router.post(WEBHOOK_PATH)
async def github_webhook(request: Request) -> JSONResponse:
    """Verify, dedupe and hand one delivery to the CI intake."""
    intake: CiIntake | None = getattr(request.app.state, "github_intake", None)
    secret: bytes | None = getattr(request.app.state, "github_secret", None)
    if intake is None or secret is None:
        return _answer(503, "GitHub webhooks are not configured on this server")
    delivery_id = request.headers.get("x-github-delivery", "").strip()
    event = request.headers.get("x-github-event", "").strip()
    where = (
        f"delivery {delivery_id[:100]!r} ({event[:60]!r}) "
        f"from {request.client.host if request.client else 'unknown'}"
    )
    body = await read_body(request, MAX_BODY_BYTES)
    if body is None:
        log.warning("GitHub %s refused: body over %d bytes", where, MAX_BODY_BYTES)
        return _answer(413, f"body exceeds {MAX_BODY_BYTES} bytes")
    if not verify_signature(secret, body, request.headers.get("x-hub-signature-256")):
        log.warning("GitHub %s refused: bad or missing signature", where)
        return _answer(401, "bad or missing X-Hub-Signature-256")
    if not delivery_id or not event or len(delivery_id) > 100 or len(event) > 60:
        log.warning("GitHub %s refused: delivery id or event missing or too long", where)
        return _answer(400, "X-GitHub-Delivery and X-GitHub-Event are required")
    within: float = request.app.state.github_answer_within_s
    task = intake.start_receiving(delivery_id, event, body)
    try:
        result = await asyncio.wait_for(asyncio.shield(task), timeout=within)
    except TimeoutError:
        return _answer(
            202,
            f"received; still being handled after {within:g} s (see the deliveries table)",
            delivery=delivery_id,
            status="received",
            incident_id=None,
        )
    return _answer(
        STATUS_CODES[result.status],
        result.reason,
        delivery=result.delivery_id,
        status=result.status,
        incident_id=result.incident_id,
    )
