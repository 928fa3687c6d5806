"""The policy engine: run every configured gate and turn the verdicts into a ``Decision``.

Every gate runs, even after one failed, so the record always shows all the reasons. The
outcome is one of four, in this order:

* dry run (policy or caller): never approved, never asks a human; the reason says what
  Vanguard *would* have done;
* every gate passed: approved;
* only overridable gates failed (confidence, automation, approval, ...): needs approval;
  once a human approves, the engine decides again with ``approved_by`` set;
* a hard gate failed (rate limit, window, breaker, no remedy, ...): declined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from vanguard.decide.gates import GATES, Gate, GateContext, GateFactory
from vanguard.decide.windows import Window
from vanguard.errors import ConfigError
from vanguard.fields import exact_kind
from vanguard.model import Decision, Diagnosis, Frozen, GateVerdict, OutcomeStatus

__all__ = [
    "DEFAULT_GATES",
    "REQUIRED_GATES",
    "PolicyConfig",
    "build_gates",
    "decide",
]

REQUIRED_GATES: tuple[str, ...] = (
    "remedy",
    "automation",
    "dry_run",
    "rate_limit",
    "cooldown",
    "circuit_breaker",
)
"""Gates no custom list may drop. ``cooldown`` holds a second action on a service until the
first is verified, whatever ``min_minutes_between_actions`` says, so it is here too."""
DEFAULT_GATES: tuple[str, ...] = (
    "pause",
    "remedy",
    "automation",
    "dry_run",
    "confidence",
    "window",
    "rate_limit",
    "cooldown",
    "circuit_breaker",
    "approval",
)
WEEK_MINUTES = 7 * 24 * 60
ALWAYS_GATE = "pause"
"""Run first whether or not a policy lists it: a person's pause is never configured away."""


class PolicyConfig(Frozen):
    """Which gates run, in order, and their settings; every limit is bounded here.

    ``maintenance_windows`` follow ``vanguard.decide.windows``: Vanguard acts freely outside
    freeze windows, never inside one, and only inside allow windows when a service has any.
    """

    dry_run: bool = False
    min_confidence: float = Field(default=0.8, ge=0.0, le=1.0)
    max_actions_per_service_per_day: int = Field(default=3, ge=0, le=50)
    max_actions_per_service_per_week: int = Field(default=10, ge=0, le=200)
    max_actions_per_day: int = Field(default=20, ge=0, le=500)
    min_minutes_between_actions: int = Field(default=0, ge=0, le=WEEK_MINUTES)
    breaker_threshold: int = Field(default=3, ge=1, le=20)
    breaker_cooldown_minutes: int = Field(default=60, ge=1, le=WEEK_MINUTES)
    require_approval_for: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    unmetered_actions: tuple[Annotated[str, Field(min_length=1)], ...] = ("github.triage",)
    """Action kinds that only report (open or update an issue): the rate limits and the
    cooldown neither hold them back nor count them, so a busy repository's issues do not
    use up the budget its re-runs need. Every other gate still applies."""
    concurrent_actions: tuple[Annotated[str, Field(min_length=1)], ...] = ("github.rerun",)
    """Action kinds that act on a target of their own (a re-run acts on one CI run, not on
    the repository): the cooldown gate neither holds them back while another action on the
    same service is unsettled nor counts them as unsettled. Every other action waits until
    the one before it on its service is verified."""
    maintenance_windows: tuple[Window, ...] = ()
    gates: tuple[str, ...] = DEFAULT_GATES

    @field_validator("*", mode="before")
    @classmethod
    def _exact_kind(cls, value: Any, info: ValidationInfo) -> Any:
        return exact_kind(cls, info.field_name or "", value)

    @field_validator("gates")
    @classmethod
    def _safe_gates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"gate listed twice: {', '.join(repeated)}")
        missing = [name for name in REQUIRED_GATES if name not in value]
        if missing:
            raise ValueError(
                f"the safety gates {', '.join(missing)} cannot be left out "
                f"(required: {', '.join(REQUIRED_GATES)})"
            )
        return value

    @field_validator("gates")
    @classmethod
    def _settings_have_their_gates(
        cls, value: tuple[str, ...], info: ValidationInfo
    ) -> tuple[str, ...]:
        """A setting whose gate is not listed would be ignored in silence: a freeze window
        nobody enforces, an approval nobody is asked for. Refused, naming both (``gates``
        is the last field, so every setting is validated by now)."""
        data = info.data
        windows = data.get("maintenance_windows", ())
        approvals = data.get("require_approval_for", ())
        confidence = data.get("min_confidence", 0.0)
        unheard = [
            f"{setting} is {shown} but the gate {gate!r} is not in gates (list it, or set "
            f"{setting}: {off})"
            for setting, shown, is_set, gate, off in (
                ("maintenance_windows", f"{len(windows)} window(s)", bool(windows), "window", "[]"),
                ("require_approval_for", repr(list(approvals)), bool(approvals), "approval", "[]"),
                ("min_confidence", f"{confidence:g}", confidence > 0, "confidence", "0"),
            )
            if is_set and gate not in value
        ]
        if unheard:
            raise ValueError("; ".join(unheard))
        return value

    @model_validator(mode="after")
    def _consistent_limits(self) -> PolicyConfig:
        if self.max_actions_per_service_per_week < self.max_actions_per_service_per_day:
            raise ValueError(
                f"max_actions_per_service_per_week ({self.max_actions_per_service_per_week}) "
                f"is below max_actions_per_service_per_day "
                f"({self.max_actions_per_service_per_day})"
            )
        return self


def build_gates(
    policy: PolicyConfig, registry: Mapping[str, GateFactory] = GATES
) -> tuple[Gate, ...]:
    """Instantiate the policy's gates in order, the pause gate first unless placed.

    An unknown name is a ``ConfigError``.
    """
    unknown = [name for name in policy.gates if name not in registry]
    if unknown:
        raise ConfigError(
            f"unknown gate {', '.join(repr(n) for n in unknown)} "
            f"(known: {', '.join(sorted(registry))})",
            key="gates",
        )
    names = policy.gates if ALWAYS_GATE in policy.gates else (ALWAYS_GATE, *policy.gates)
    return tuple(registry[name](policy) for name in names if name in registry)


def decide(
    incident_id: str,
    diagnosis: Diagnosis,
    ctx: GateContext,
    policy: PolicyConfig,
    *,
    registry: Mapping[str, GateFactory] = GATES,
) -> Decision:
    """Run every gate of ``policy`` and decide; see the module docstring for the rules."""
    verdicts: list[GateVerdict] = []
    blockers: list[tuple[GateVerdict, bool]] = []
    overridden: list[str] = []
    for gate in build_gates(policy, registry):
        verdict = gate.check(diagnosis, ctx)
        if not verdict.passed and gate.overridable and ctx.approved_by is not None:
            overridden.append(verdict.gate)
            verdict = GateVerdict(
                gate=verdict.gate,
                passed=True,
                reason=f"{verdict.reason}; overridden: approved by {ctx.approved_by}",
            )
        verdicts.append(verdict)
        if not verdict.passed and gate.name != "dry_run":
            blockers.append((verdict, gate.overridable))

    dry_run = policy.dry_run or ctx.dry_run
    actionable = diagnosis.pattern_id is not None and diagnosis.remedy is not None
    hard = [v for v, overridable in blockers if not overridable]
    if not actionable and not hard:
        hard = [GateVerdict(gate="remedy", passed=False, reason="no pattern or no remedy")]
    kind = _kind(blockers=[v for v, _ in blockers], hard=hard)
    approved = kind == "approve" and not dry_run
    needs_approval = kind == "ask" and not dry_run
    return Decision(
        incident_id=incident_id,
        approved=approved,
        dry_run=dry_run,
        needs_approval=needs_approval,
        verdicts=tuple(verdicts),
        reason=_reason(
            kind, dry_run, len(verdicts), [v for v, _ in blockers] or hard, overridden, ctx
        ),
        decided_at=ctx.now,
    )


def _kind(
    *, blockers: list[GateVerdict], hard: list[GateVerdict]
) -> Literal["approve", "ask", "decline"]:
    if hard:
        return "decline"
    if blockers:
        return "ask"
    return "approve"


def _reason(
    kind: Literal["approve", "ask", "decline"],
    dry_run: bool,
    gate_count: int,
    blockers: list[GateVerdict],
    overridden: list[str],
    ctx: GateContext,
) -> str:
    failing = "; ".join(f"{v.gate} ({v.reason})" for v in blockers)
    if kind == "approve":
        lifted = (
            f" ({', '.join(overridden)} lifted: approved by {ctx.approved_by})"
            if overridden
            else ""
        )
        if dry_run:
            return f"dry run: would act; every other gate passed ({gate_count - 1}){lifted}"
        return f"approved: all {gate_count} gates passed{lifted}"
    if kind == "ask":
        return (
            f"dry run: would ask for approval: {failing}"
            if dry_run
            else f"needs approval: {failing}"
        )
    return f"dry run: would decline: {failing}" if dry_run else f"declined: {failing}"


def not_acting_status(decision: Decision, diagnosis: Diagnosis) -> OutcomeStatus:
    """How an incident ends when its decision does not act: a dry run says so, an alert
    no pattern explains goes to a person (escalated), anything else was declined."""
    if decision.dry_run:
        return OutcomeStatus.dry_run
    if diagnosis.pattern_id is None:
        return OutcomeStatus.escalated
    return OutcomeStatus.declined
