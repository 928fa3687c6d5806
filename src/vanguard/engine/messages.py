"""The one input model of each activity and workflow (values only; no behaviour)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from vanguard.detect.watch import SeriesState
from vanguard.model import (
    ActionResult,
    Alert,
    Decision,
    Diagnosis,
    EvidencePoint,
    Outcome,
    OutcomeStatus,
    Verification,
)

__all__ = [
    "ApplyInput",
    "CloseInput",
    "DecideInput",
    "DiagnoseInput",
    "NotifyFailedInput",
    "NotifyInput",
    "OpenInput",
    "RemediationInput",
    "RollbackInput",
    "SweepInput",
    "SweepResult",
    "TransitionInput",
    "VerifyInput",
    "WatcherInput",
    "WorsenedInput",
]


class Msg(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RemediationInput(Msg):
    """Start of one incident's workflow. Windows are parameters: minutes in production."""

    incident_id: str
    alert: Alert
    window_s: float = Field(gt=0)
    approval_timeout_s: float = Field(default=3600.0, gt=0)
    baseline_timeout_s: float = Field(default=90_000.0, gt=0)
    """Reading the baseline may take ``verification.baseline_s`` (at most a day) and its
    reads; the activity heartbeats throughout, so a dead worker is noticed within a minute."""
    verify_timeout_s: float = Field(default=10_800.0, gt=0)
    """Reading the verification window: six readings up to ``sample_interval_s`` (at most
    600 s) apart, six more when the first leaned better without showing it, and the
    adapter's own check."""
    notify_patience_s: float = Field(default=3600.0, gt=0)
    """How long the outcome's message is retried while a channel is down."""


class OpenInput(Msg):
    incident_id: str
    alert: Alert


class DiagnoseInput(Msg):
    incident_id: str
    alert: Alert


class DecideInput(Msg):
    """Run the gates; with ``approved_by`` they run again, a human having approved."""

    incident_id: str
    alert: Alert
    diagnosis: Diagnosis
    approved_by: str | None = None


class TransitionInput(Msg):
    incident_id: str
    state: str
    reason: str
    details: dict[str, JsonValue] = Field(default_factory=dict)


class ApplyInput(Msg):
    incident_id: str
    alert: Alert
    diagnosis: Diagnosis


class VerifyInput(Msg):
    incident_id: str
    alert: Alert
    diagnosis: Diagnosis
    action: ActionResult


class RollbackInput(Msg):
    incident_id: str
    action: ActionResult


class NotifyInput(Msg):
    """Tell people about an incident: its outcome, or (``approval``) that it waits for them.

    The message is rendered from the store; ``status`` is not read and stays only so that
    inputs recorded in running workflows' histories still validate.
    """

    incident_id: str
    status: OutcomeStatus | None = None
    phase: Literal["outcome", "approval"] = "outcome"


class NotifyFailedInput(Msg):
    """People could not be told: recorded on the incident so the audit trail says so."""

    incident_id: str
    phase: Literal["outcome", "approval", "worsened"]
    reason: str


class WorsenedInput(Msg):
    """A more urgent alert of the series of an incident that waits for a person: the
    forecast they were asked about came true (a breach), say."""

    incident_id: str
    alert: Alert


class CloseInput(Msg):
    outcome: Outcome
    decision: Decision | None = None
    verification: Verification | None = None


class WatcherInput(Msg):
    """The long-running sweep: the generation of its series states in the store, the
    targets' scrape schedule and the suppressed series are carried across continue-as-new.

    ``states`` is what runs started before the states moved to the store carried; a run
    hands it to its first sweep, which stores it."""

    interval_s: float = Field(gt=0)
    window_s: float = Field(gt=0)
    cooldown_s: float = Field(ge=0)
    states: dict[str, SeriesState] = Field(default_factory=dict)
    scrape_state: dict[str, JsonValue] = Field(default_factory=dict)
    suppressed_until: dict[str, float] = Field(default_factory=dict)
    iterations_per_run: int = Field(default=200, ge=1, le=10_000)
    history_budget_bytes: int = Field(default=8_000_000, ge=10_000)
    """A run continues as new once its history is this large (Temporal ends a workflow at
    50 MB): a sweep's alerts and its targets' schedule fill it; before the states moved to
    the store, every sweep carried every series' state as well."""
    max_sweeps: int | None = None
    generation: int = Field(default=0, ge=0)
    state_token: str = ""


class SweepInput(Msg):
    """One sweep. With a ``generation``, the series states are read from the store under
    ``watcher`` as the attempt ``token`` wrote them (``states`` for generation 0) and the
    next generation is written there under a new token; without one they travel in the
    input and the result."""

    states: dict[str, SeriesState]
    scrape_state: dict[str, JsonValue]
    suppressed: tuple[str, ...] = ()
    watcher: str = ""
    generation: int | None = Field(default=None, ge=0)
    token: str = ""


class SweepResult(Msg):
    states: dict[str, SeriesState]
    scrape_state: dict[str, JsonValue]
    alerts: tuple[Alert, ...] = ()
    worsened: tuple[WorsenedInput, ...] = ()
    """Alerts held back because their incident waits for a person, and more urgent than
    the alert it was opened on: the watcher passes each to that incident's workflow."""
    samples: int = 0
    generation: int | None = None
    token: str = ""
    series: int = 0


class EvidenceWindow(Msg):
    points: tuple[EvidencePoint, ...]
