"""Alertmanager's webhook (payload version 4) to Vanguard ``Alert`` values, pure.

Alertmanager in HA sends the same alert from every replica, and again on every
``repeat_interval``. The alert id is built from Alertmanager's own fingerprint (a hash of
the labels) and ``startsAt``, which every replica shares, so duplicates map to one incident
(see ``vanguard.engine.workflows.incident_id_for``); a new firing after a resolve has a new
``startsAt`` and so opens a new incident.

Labels say where the alert belongs: ``service`` (else ``job``) names the service, ``metric``
(else ``alertname``) the metric, ``severity`` the severity. Only a service of the
configuration is acted on: an alert naming another starts nothing (a sender could otherwise
invent services, each with fresh rate limits), and the service's type is the configuration's,
whatever a ``service_type`` label says (it would choose the patterns). ``instance`` tells
hosts apart: it is kept in the attributes and the fingerprint (so one host's repeats do not
hold another's news), not in the series labels, which select the series a remedy is judged
on and which a service's own scrape does not carry. The remaining labels identify the
series. Annotations may carry the trend the rule computed (``current``, ``ema``,
``slope_per_hour``, ``zscore``, ``threshold``, filled by PromQL in the rule's templates) and
a ``confidence``.

Each alert is bounded (``MAX_LABELS``, ``MAX_LABEL_NAME``, ``MAX_LABEL_VALUE``,
``MAX_NAME``): one past a bound is refused, not cut, since its labels name a series; a long
summary is shortened (``MAX_SUMMARY``). An alert that fits stays far below Temporal's payload
limit and the store's column sizes, so it cannot fail its delivery for good.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from vanguard.model import Alert, Severity, TrendAnalysis
from vanguard.redact import REDACTED, is_secret_key, redact_text

__all__ = [
    "MAX_LABELS",
    "MAX_LABEL_NAME",
    "MAX_LABEL_VALUE",
    "MAX_NAME",
    "MAX_SUMMARY",
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "WebhookAlerts",
    "alerts_from_webhook",
]

ROUTING_LABELS = frozenset(
    {
        "alertname",
        "severity",
        "service",
        "service_type",
        "metric",
        "job",
        "instance",
        "confidence",
    }
)
MAX_LABELS = 64
"""Labels one alert may carry; Prometheus rules rarely carry a dozen."""
MAX_LABEL_NAME = 128
"""Characters of a label's name."""
MAX_LABEL_VALUE = 1024
"""Characters of a label's value."""
MAX_NAME = 200
"""Characters of the service and metric names, as the store's columns hold them."""
MAX_SUMMARY = 4096
"""Characters of the summary kept; a longer one is cut and marked."""
MAX_FINGERPRINT = 64
"""Characters of Alertmanager's fingerprint (it sends 16 hex digits)."""
MAX_URL = 2048
"""Characters kept of the generator URL and the group key (shown, never followed)."""


class AlertmanagerAlert(BaseModel):
    """One alert of the payload; fields Vanguard does not use are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: AwareDatetime  # noqa: N815
    endsAt: datetime | None = None  # noqa: N815
    generatorURL: str = ""  # noqa: N815
    fingerprint: str = ""


class AlertmanagerWebhook(BaseModel):
    """The body Alertmanager POSTs to a webhook receiver (``version: "4"``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: Literal["4"]
    groupKey: str  # noqa: N815
    status: Literal["firing", "resolved"]
    receiver: str
    truncatedAlerts: int = Field(default=0, ge=0)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    alerts: tuple[AlertmanagerAlert, ...]


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _trend(annotations: dict[str, str]) -> TrendAnalysis | None:
    current = _float(annotations.get("current"))
    if current is None:
        return None
    ema = _float(annotations.get("ema"))
    return TrendAnalysis(
        current=current,
        ema=current if ema is None else ema,
        slope_per_hour=_float(annotations.get("slope_per_hour")) or 0.0,
        zscore=_float(annotations.get("zscore")) or 0.0,
        threshold=_float(annotations.get("threshold")),
    )


def _severity(label: str | None) -> Severity:
    try:
        return Severity(label or "warning")
    except ValueError:
        return Severity.warning


@dataclass(frozen=True)
class WebhookAlerts:
    """What a delivery's alerts became: the alerts to act on, in the order sent, and the
    firing ones refused. ``unknown`` holds the service each unconfigured alert named,
    ``rejected`` why each oversized one was refused (untrusted text quoted with ``repr``,
    fit for a log line); ``resolved`` counts the resolved alerts, which start nothing."""

    alerts: tuple[Alert, ...]
    unknown: tuple[str, ...]
    rejected: tuple[str, ...]
    resolved: int


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _oversized(am: AlertmanagerAlert, service: str, metric: str) -> str | None:
    """Why the alert is too large to take, or ``None``."""
    alertname = _cut(am.labels.get("alertname", "alert"), 100)
    if len(am.labels) > MAX_LABELS:
        return f"{alertname!r}: {len(am.labels)} labels, more than {MAX_LABELS}"
    for key, value in am.labels.items():
        if len(key) > MAX_LABEL_NAME:
            return f"{alertname!r}: a label name longer than {MAX_LABEL_NAME} characters"
        if len(value) > MAX_LABEL_VALUE:
            return (
                f"{alertname!r}: label {_cut(key, 40)!r} is longer than {MAX_LABEL_VALUE} "
                "characters"
            )
    for what, name in (("service", service), ("metric", metric)):
        if len(name) > MAX_NAME:
            return f"{alertname!r}: its {what} name is longer than {MAX_NAME} characters"
    if len(am.fingerprint) > MAX_FINGERPRINT:
        return f"{alertname!r}: its fingerprint is longer than {MAX_FINGERPRINT} characters"
    return None


def alerts_from_webhook(payload: AlertmanagerWebhook, services: Mapping[str, str]) -> WebhookAlerts:
    """The firing alerts of a delivery as ``Alert`` values, for the configured services.

    ``services`` maps each configured service's name to its type; an alert for another
    service is counted in ``unknown`` and an oversized one in ``rejected`` (see the module).
    Secrets are masked as the alert is made (labels named like one, credentials inside
    text), so none reaches a workflow's history, the store or the dashboard. ``startsAt``
    is taken in UTC, so the same instant written with another offset is the same alert.
    """
    out: list[Alert] = []
    unknown: list[str] = []
    rejected: list[str] = []
    resolved = 0
    for am in payload.alerts:
        if am.status != "firing":
            resolved += 1
            continue
        labels = am.labels
        alertname = labels.get("alertname", "alert")
        service = labels.get("service") or labels.get("job") or "alertmanager"
        metric = labels.get("metric") or alertname
        too_large = _oversized(am, service, metric)
        if too_large is not None:
            rejected.append(too_large)
            continue
        service_type = services.get(service)
        if service_type is None:
            unknown.append(service)
            continue
        series = {
            k: REDACTED if is_secret_key(k) else redact_text(v)
            for k, v in sorted(labels.items())
            if k not in ROUTING_LABELS
        }
        identity = (
            am.fingerprint or hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
        )
        started = am.startsAt.astimezone(UTC)
        confidence = _float(am.annotations.get("confidence"))
        trend = _trend(am.annotations)
        instance = redact_text(labels["instance"]) if "instance" in labels else None
        attributes: dict[str, JsonValue] = {
            "alertname": alertname,
            "receiver": _cut(payload.receiver, MAX_NAME),
            "group_key": _cut(redact_text(payload.groupKey), MAX_URL),
            "generator_url": _cut(redact_text(am.generatorURL), MAX_URL),
        }
        if am.fingerprint:
            attributes["am_fingerprint"] = am.fingerprint
        for name in ("instance", "job"):
            if name in labels:
                attributes[name] = redact_text(labels[name])
        shown = ",".join(
            f"{k}={v}"
            for k, v in sorted({**series, **({"instance": instance} if instance else {})}.items())
        )
        out.append(
            Alert(
                alert_id=f"am-{identity}-{started.isoformat()}",
                fingerprint=f"{service}/{metric}" + (f"{{{shown}}}" if shown else ""),
                source="alertmanager",
                service_name=service,
                metric_type=metric,
                labels={**series, "service_type": service_type},
                detected_at=started,
                severity=_severity(labels.get("severity")),
                summary=_cut(
                    redact_text(
                        am.annotations.get("summary")
                        or am.annotations.get("description")
                        or alertname
                    ),
                    MAX_SUMMARY,
                ),
                anomaly_score=1.0,
                confidence=1.0 if confidence is None else min(1.0, max(0.0, confidence)),
                trend_analysis=trend,
                attributes=attributes,
            )
        )
    return WebhookAlerts(
        alerts=tuple(out), unknown=tuple(unknown), rejected=tuple(rejected), resolved=resolved
    )
