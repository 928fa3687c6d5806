"""Safety gates: each answers one question about acting now, with a reason.

A gate is pure: it sees the ``Diagnosis`` and the ``GateContext`` the engine gathered (counts,
the current time, the last failure) and returns a ``GateVerdict``. Gates are pluggable: ``GATES``
maps a name to a factory that builds the gate from a ``PolicyConfig``; a policy lists the names
to run. An ``overridable`` gate's failure can be lifted by a human's approval; the others are
hard limits that no approval lifts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import AwareDatetime, Field

from vanguard.decide.breaker import breaker_state
from vanguard.decide.windows import Window, check_windows
from vanguard.model import Diagnosis, Frozen, GateVerdict, Pause

if TYPE_CHECKING:
    from vanguard.decide.policy import PolicyConfig

__all__ = [
    "GATES",
    "ApprovalGate",
    "AutomationGate",
    "CircuitBreakerGate",
    "ConfidenceGate",
    "CooldownGate",
    "DryRunGate",
    "Gate",
    "GateContext",
    "GateFactory",
    "PauseGate",
    "RateLimitGate",
    "RemedyGate",
    "RollbackSafetyGate",
    "WindowGate",
]


class GateContext(Frozen):
    """Facts the engine gathers before deciding; time comes in as ``now``.

    Counts are of actions Vanguard applied (not dry runs), over the 24 hours and 7 days
    before ``now``. ``actions_in_flight`` counts other incidents whose action is approved but
    not applied yet: they hold a slot, so two incidents deciding at once cannot both take the
    last one. ``recent_failures`` is the failure streak of this pattern on this service (see
    ``vanguard.decide.breaker.failure_streak``). ``approved_by`` is set when a human approved
    this incident; it lifts the failures of overridable gates. ``pauses`` are the pauses in
    force on this service (or on all), ordered by a person with ``vanguard automation pause``.
    ``actions_unsettled`` counts other incidents on this service whose action is approved,
    applied or being verified (not of the policy's concurrent or unmetered kinds): a second
    change then would spoil the first one's verification. ``trials_in_flight`` counts other
    incidents of this pattern on this service in the same states: a half-open breaker lets
    one trial through, not one per incident.
    """

    now: AwareDatetime
    service_name: str
    action: str | None = None
    actions_today: int = Field(ge=0)
    actions_this_week: int = Field(ge=0)
    actions_today_all_services: int = Field(default=0, ge=0)
    actions_in_flight: int = Field(default=0, ge=0)
    actions_in_flight_all_services: int = Field(default=0, ge=0)
    actions_unsettled: int = Field(default=0, ge=0)
    trials_in_flight: int = Field(default=0, ge=0)
    last_action_at: AwareDatetime | None = None
    recent_failures: int = Field(default=0, ge=0)
    last_failure_at: AwareDatetime | None = None
    dry_run: bool = False
    approved_by: str | None = None
    pauses: tuple[Pause, ...] = ()


@runtime_checkable
class Gate(Protocol):
    """One safety check; pure, so the same inputs always give the same verdict."""

    @property
    def name(self) -> str: ...

    @property
    def overridable(self) -> bool: ...

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict: ...


GateFactory = Callable[["PolicyConfig"], Gate]


def _action(diagnosis: Diagnosis, ctx: GateContext) -> str | None:
    if ctx.action is not None:
        return ctx.action
    return diagnosis.remedy.action if diagnosis.remedy is not None else None


class PauseGate:
    """No person has paused automation on this service or on all of them.

    Always run (``build_gates`` adds it when a policy does not list it), and no approval
    lifts it: to act, resume first. A pause is an order, not a judgement to override.
    """

    name = "pause"
    overridable = False

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> PauseGate:
        return cls()

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if ctx.pauses:
            return GateVerdict(gate=self.name, passed=False, reason=ctx.pauses[0].describe())
        return GateVerdict(gate=self.name, passed=True, reason="automation is not paused")


class RemedyGate:
    """A known pattern matched and recommends the action the engine is about to take."""

    name = "remedy"
    overridable = False

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> RemedyGate:
        return cls()

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if diagnosis.pattern_id is None:
            return GateVerdict(gate=self.name, passed=False, reason="no known pattern matched")
        if diagnosis.remedy is None:
            return GateVerdict(
                gate=self.name,
                passed=False,
                reason=f"pattern {diagnosis.pattern_id} recommends no remedy",
            )
        if ctx.action is not None and ctx.action != diagnosis.remedy.action:
            return GateVerdict(
                gate=self.name,
                passed=False,
                reason=(
                    f"planned action {ctx.action} is not the remedy "
                    f"{diagnosis.remedy.action} of pattern {diagnosis.pattern_id}"
                ),
            )
        return GateVerdict(
            gate=self.name,
            passed=True,
            reason=f"pattern {diagnosis.pattern_id} recommends {diagnosis.remedy.action}",
        )


class AutomationGate:
    """The pattern allows Vanguard to act without a human."""

    name = "automation"
    overridable = True

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> AutomationGate:
        return cls()

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if diagnosis.automation_eligible:
            return GateVerdict(gate=self.name, passed=True, reason="pattern is automation eligible")
        return GateVerdict(
            gate=self.name, passed=False, reason="pattern is not automation eligible"
        )


class DryRunGate:
    """Fails in dry-run mode so nothing is applied; the decision still says what would happen."""

    name = "dry_run"
    overridable = False

    def __init__(self, dry_run: bool) -> None:
        self.dry_run = dry_run

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> DryRunGate:
        return cls(dry_run=policy.dry_run)

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if self.dry_run:
            return GateVerdict(gate=self.name, passed=False, reason="policy is in dry-run mode")
        if ctx.dry_run:
            return GateVerdict(gate=self.name, passed=False, reason="dry run requested")
        return GateVerdict(gate=self.name, passed=True, reason="live mode")


class ConfidenceGate:
    """The diagnosis is at least ``min_confidence`` sure."""

    name = "confidence"
    overridable = True

    def __init__(self, min_confidence: float) -> None:
        self.min_confidence = min_confidence

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> ConfidenceGate:
        return cls(min_confidence=policy.min_confidence)

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        passed = diagnosis.confidence >= self.min_confidence
        sign = ">=" if passed else "<"
        return GateVerdict(
            gate=self.name,
            passed=passed,
            reason=f"confidence {diagnosis.confidence:.2f} {sign} {self.min_confidence:.2f}",
        )


class WindowGate:
    """``now`` is outside every freeze window (and inside an allow window, if any apply)."""

    name = "window"
    overridable = False

    def __init__(self, windows: tuple[Window, ...]) -> None:
        self.windows = windows

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> WindowGate:
        return cls(windows=policy.maintenance_windows)

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        result = check_windows(self.windows, ctx.service_name, ctx.now)
        return GateVerdict(gate=self.name, passed=result.open, reason=result.reason)


def _unmetered(gate: str, action: str | None) -> GateVerdict:
    return GateVerdict(
        gate=gate,
        passed=True,
        reason=f"{action} only reports and is not metered (policy.unmetered_actions)",
    )


class RateLimitGate:
    """Fewer actions than the limits were applied in the last day and week.

    Approved actions not applied yet count as applied: their slot is taken.
    """

    name = "rate_limit"
    overridable = False

    def __init__(
        self,
        per_service_per_day: int,
        per_service_per_week: int,
        per_day: int,
        unmetered: Collection[str] = (),
    ) -> None:
        self.per_service_per_day = per_service_per_day
        self.per_service_per_week = per_service_per_week
        self.per_day = per_day
        self.unmetered = frozenset(unmetered)

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> RateLimitGate:
        return cls(
            per_service_per_day=policy.max_actions_per_service_per_day,
            per_service_per_week=policy.max_actions_per_service_per_week,
            per_day=policy.max_actions_per_day,
            unmetered=policy.unmetered_actions,
        )

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if ctx.action in self.unmetered:
            return _unmetered(self.name, ctx.action)
        mine, everywhere = ctx.actions_in_flight, ctx.actions_in_flight_all_services
        here = f"on {ctx.service_name}"
        checks = (
            (ctx.actions_today, mine, self.per_service_per_day, f"{here} in 24 h"),
            (ctx.actions_this_week, mine, self.per_service_per_week, f"{here} in 7 d"),
            (ctx.actions_today_all_services, everywhere, self.per_day, "on all services in 24 h"),
        )

        def pending(held: int) -> str:
            return f" (counting {held} approved, not applied yet)" if held else ""

        over = [
            f"{done + held} actions {where}{pending(held)}, limit {limit}"
            for done, held, limit, where in checks
            if done + held >= limit
        ]
        if over:
            return GateVerdict(gate=self.name, passed=False, reason="; ".join(over))
        return GateVerdict(
            gate=self.name,
            passed=True,
            reason="; ".join(
                f"{done + held}/{limit} actions {where}{pending(held)}"
                for done, held, limit, where in checks
            ),
        )


class CooldownGate:
    """At least ``min_interval`` passed since the last action on this service.

    An approved action on the service that is not applied yet is the latest action: it will
    happen now, so a second one must wait for the interval after it.
    """

    name = "cooldown"
    overridable = False

    def __init__(
        self,
        min_interval: timedelta,
        unmetered: Collection[str] = (),
        concurrent: Collection[str] = (),
    ) -> None:
        self.min_interval = min_interval
        self.unmetered = frozenset(unmetered)
        self.concurrent = frozenset(concurrent)

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> CooldownGate:
        return cls(
            min_interval=timedelta(minutes=policy.min_minutes_between_actions),
            unmetered=policy.unmetered_actions,
            concurrent=policy.concurrent_actions,
        )

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if ctx.action in self.unmetered:
            return _unmetered(self.name, ctx.action)
        if ctx.actions_unsettled and ctx.action not in self.concurrent:
            return GateVerdict(
                gate=self.name,
                passed=False,
                reason=f"{ctx.actions_unsettled} earlier action(s) on {ctx.service_name} "
                "approved or not verified yet: a second change now would spoil its "
                "verification",
            )
        if ctx.actions_in_flight and self.min_interval > timedelta(0):
            return GateVerdict(
                gate=self.name,
                passed=False,
                reason=f"{ctx.actions_in_flight} approved action(s) on {ctx.service_name} "
                "not applied yet",
            )
        if ctx.last_action_at is None:
            return GateVerdict(gate=self.name, passed=True, reason="no earlier action")
        since = ctx.now - ctx.last_action_at
        minutes = since.total_seconds() / 60.0
        wanted = self.min_interval.total_seconds() / 60.0
        passed = since >= self.min_interval
        sign = ">=" if passed else "<"
        return GateVerdict(
            gate=self.name,
            passed=passed,
            reason=f"last action {minutes:.0f} min ago {sign} {wanted:.0f} min",
        )


class CircuitBreakerGate:
    """The remedy has not failed ``threshold`` times in a row (see ``breaker``)."""

    name = "circuit_breaker"
    overridable = False

    def __init__(self, threshold: int, cooldown: timedelta) -> None:
        self.threshold = threshold
        self.cooldown = cooldown

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> CircuitBreakerGate:
        return cls(
            threshold=policy.breaker_threshold,
            cooldown=timedelta(minutes=policy.breaker_cooldown_minutes),
        )

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        state = breaker_state(
            ctx.recent_failures,
            ctx.last_failure_at,
            ctx.now,
            threshold=self.threshold,
            cooldown=self.cooldown,
        )
        if state.state == "half_open" and ctx.trials_in_flight:
            return GateVerdict(
                gate=self.name,
                passed=False,
                reason=f"{state.reason}; but its one trial is under way already "
                f"({ctx.trials_in_flight} incident(s) of this pattern not settled)",
            )
        return GateVerdict(gate=self.name, passed=state.state != "open", reason=state.reason)


class ApprovalGate:
    """Actions listed in ``require_approval_for`` (``*``: all) wait for a human."""

    name = "approval"
    overridable = True

    def __init__(self, require_approval_for: tuple[str, ...]) -> None:
        self.require_approval_for = require_approval_for

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> ApprovalGate:
        return cls(require_approval_for=policy.require_approval_for)

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        action = _action(diagnosis, ctx)
        if "*" in self.require_approval_for or action in self.require_approval_for:
            return GateVerdict(
                gate=self.name, passed=False, reason=f"{action} requires human approval"
            )
        if action is None:
            return GateVerdict(gate=self.name, passed=True, reason="no action to approve")
        return GateVerdict(gate=self.name, passed=True, reason=f"{action} needs no approval")


class RollbackSafetyGate:
    """Irreversible remedies wait for a human (opt in by listing ``rollback_safe``)."""

    name = "rollback_safe"
    overridable = True

    @classmethod
    def from_policy(cls, policy: PolicyConfig) -> RollbackSafetyGate:
        return cls()

    def check(self, diagnosis: Diagnosis, ctx: GateContext) -> GateVerdict:
        if diagnosis.rollback_safe:
            return GateVerdict(gate=self.name, passed=True, reason="remedy can be rolled back")
        return GateVerdict(
            gate=self.name, passed=False, reason="remedy cannot be rolled back automatically"
        )


GATES: Mapping[str, GateFactory] = MappingProxyType(
    {
        PauseGate.name: PauseGate.from_policy,
        RemedyGate.name: RemedyGate.from_policy,
        AutomationGate.name: AutomationGate.from_policy,
        DryRunGate.name: DryRunGate.from_policy,
        ConfidenceGate.name: ConfidenceGate.from_policy,
        WindowGate.name: WindowGate.from_policy,
        RateLimitGate.name: RateLimitGate.from_policy,
        CooldownGate.name: CooldownGate.from_policy,
        CircuitBreakerGate.name: CircuitBreakerGate.from_policy,
        ApprovalGate.name: ApprovalGate.from_policy,
        RollbackSafetyGate.name: RollbackSafetyGate.from_policy,
    }
)
