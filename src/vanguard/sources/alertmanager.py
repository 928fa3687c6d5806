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
series. Annotations may
carry the trend the rule computed (``current``, ``ema``, ``slope_per_hour``, ``zscore``,
``threshold``, filled by PromQL in the rule's templates) and a ``confidence``.
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

__all__ = ["AlertmanagerAlert", "AlertmanagerWebhook", "WebhookAlerts", "alerts_from_webhook"]

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
    firing ones refused. ``unknown`` holds the service each unconfigured alert named;
    ``resolved`` counts the resolved alerts, which start nothing."""

    alerts: tuple[Alert, ...]
    unknown: tuple[str, ...]
    resolved: int


def alerts_from_webhook(payload: AlertmanagerWebhook, services: Mapping[str, str]) -> WebhookAlerts:
    """The firing alerts of a delivery as ``Alert`` values, for the configured services.

    ``services`` maps each configured service's name to its type; an alert for another
    service is counted in ``unknown``. Secrets are masked as the alert is made (labels
    named like one, credentials inside text), so none reaches a workflow's history, the
    store or the dashboard. ``startsAt`` is taken in UTC, so the same instant written with
    another offset is the same alert.
    """
    out: list[Alert] = []
    unknown: list[str] = []
    resolved = 0
    for am in payload.alerts:
        if am.status != "firing":
            resolved += 1
            continue
        labels = am.labels
        alertname = labels.get("alertname", "alert")
        service = labels.get("service") or labels.get("job") or "alertmanager"
        metric = labels.get("metric") or alertname
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
            "receiver": payload.receiver,
            "group_key": redact_text(payload.groupKey),
            "generator_url": redact_text(am.generatorURL),
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
                summary=redact_text(
                    am.annotations.get("summary") or am.annotations.get("description") or alertname
                ),
                anomaly_score=1.0,
                confidence=1.0 if confidence is None else min(1.0, max(0.0, confidence)),
                trend_analysis=trend,
                attributes=attributes,
            )
        )
    return WebhookAlerts(alerts=tuple(out), unknown=tuple(unknown), resolved=resolved)
