"""Replay a metric's history through a service's watch, the pattern library and the policy.

Before a watch rule, a pattern or a policy goes live, its owner wants to know what it would
have done last week: which alerts would have fired, which pattern each would have matched,
and what the policy would have decided. ``replay`` answers from recorded points, with the
same code the loop runs (``watch.step``, ``diagnose.match``, ``decide.decide``), and acts
on nothing.

What it cannot know is what the remedies would have changed, so it assumes each opened
incident keeps its series busy for ``incident_s``, that every "act" decision was applied
(so rate limits and cooldowns count it), that every remedy worked (no failure streak opens
the breaker) and that nobody answered a request for approval: an incident that asked keeps
its series busy until the live loop stops waiting for an answer (``approval_s``). Alerts
of a busy series fold into its incident and, as the live sweep drops them, start no
cooldown: a breach that outlasts the incident opens its own. Patterns keep their prior
confidence: outcomes are not replayed. Whether people would have been told follows the
notify activity: an incident that ends the way one told within ``notify_repeat_s`` did
(``notify.repeat``) is recorded, not sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from vanguard.config import ServiceConfig
from vanguard.decide import PolicyConfig, context_from_history, decide
from vanguard.decide.policy import not_acting_status
from vanguard.detect.watch import COOLDOWN_S, SeriesState, fingerprint, step, unalerted
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import Pattern
from vanguard.engine.messages import RemediationInput
from vanguard.model import Alert, Decision, Diagnosis, Frozen, Outcome, Signal
from vanguard.notify.repeat import repeat_key

__all__ = ["APPROVAL_WAIT_S", "ReplayReport", "Replayed", "replay", "verdict_of"]

APPROVAL_WAIT_S: float = RemediationInput.model_fields["approval_timeout_s"].default
"""How long the live loop waits for a person's answer before it declines."""

DecisionKind = Literal["act", "ask", "decline"]


def verdict_of(decision: Decision) -> DecisionKind:
    """What a decision means for the service: acting, asking a person, or not acting."""
    if decision.approved:
        return "act"
    return "ask" if decision.needs_approval else "decline"


class Replayed(Frozen):
    """One incident the replay would have opened, and what the loop would have decided."""

    alert: Alert
    diagnosis: Diagnosis
    decision: Decision
    folded: int = Field(default=0, ge=0)
    told: bool = True
    """Whether people would have been told of its outcome (a repeat within the window not)."""

    @property
    def verdict(self) -> DecisionKind:
        return verdict_of(self.decision)


class ReplayReport(Frozen):
    """What a replay saw and what the loop would have done."""

    service: str
    points: int = Field(ge=0)
    series: int = Field(ge=0)
    skipped: int = Field(ge=0)
    incidents: tuple[Replayed, ...]

    def tally(self) -> dict[DecisionKind, int]:
        counts: dict[DecisionKind, int] = {"act": 0, "ask": 0, "decline": 0}
        for item in self.incidents:
            counts[item.verdict] += 1
        return counts

    @property
    def folded(self) -> int:
        return sum(item.folded for item in self.incidents)

    @property
    def held(self) -> int:
        """Incidents whose outcome would have been recorded without a message."""
        return sum(not item.told for item in self.incidents)


def replay(
    service: ServiceConfig,
    signals: Iterable[Signal],
    patterns: Sequence[Pattern],
    policy: PolicyConfig,
    *,
    incident_s: float,
    approval_s: float = APPROVAL_WAIT_S,
    notify_repeat_s: float = 0.0,
) -> ReplayReport:
    """Step ``signals`` (in time order) through every watch of ``service`` and decide.

    An incident's ``folded`` counts the alerts of its series while it was open, each kind
    once per ``COOLDOWN_S``, as the watch would have repeated them.
    """
    states: dict[tuple[int, str], SeriesState] = {}
    last_told: dict[str, datetime] = {}
    busy_until: dict[str, tuple[datetime, int]] = {}
    last_folded: dict[tuple[int, str], datetime] = {}
    acted: list[datetime] = []
    settling: list[tuple[datetime, str | None]] = []
    apart = frozenset((*policy.unmetered_actions, *policy.concurrent_actions))
    opened: list[Replayed] = []
    points = 0
    for signal in sorted(signals, key=lambda s: s.timestamp):
        for index, watch in enumerate(service.watch):
            if signal.metric_type != watch.metric:
                continue
            if not signal.labels.items() >= watch.labels.items():
                continue
            key = (index, fingerprint(signal))
            before = states.get(key)
            state, alert = step(before, signal, watch.rule)
            states[key] = state
            points += 1
            if alert is None:
                continue
            now = alert.detected_at
            open_one = busy_until.get(alert.fingerprint)
            if open_one is not None and now < open_one[0]:
                states[key] = unalerted(state, before)
                mark = (open_one[1], str(alert.attributes.get("kind")))
                counted = last_folded.get(mark)
                if counted is None or now - counted >= timedelta(seconds=COOLDOWN_S):
                    last_folded[mark] = now
                    held = opened[open_one[1]]
                    opened[open_one[1]] = held.model_copy(update={"folded": held.folded + 1})
                continue
            diagnosis = match(alert, patterns, service_type=service.type)
            action = diagnosis.remedy.action if diagnosis.remedy else None
            ctx = context_from_history(
                now=now,
                service_name=service.name,
                action=action,
                service_actions=acted,
                unsettled=sum(
                    1
                    for at, kind in settling
                    if now - timedelta(seconds=incident_s) < at <= now and kind not in apart
                ),
            )
            decision = decide(f"replay-{len(opened) + 1}", diagnosis, ctx, policy)
            if decision.approved:
                acted.append(now)
                settling.append((now, action))
            busy_s = max(incident_s, approval_s) if verdict_of(decision) == "ask" else incident_s
            busy_until[alert.fingerprint] = (now + timedelta(seconds=busy_s), len(opened))
            told = _tell(last_told, alert, diagnosis, decision, notify_repeat_s)
            opened.append(Replayed(alert=alert, diagnosis=diagnosis, decision=decision, told=told))
    return ReplayReport(
        service=service.name,
        points=points,
        series=len(states),
        skipped=sum(state.skipped for state in states.values()),
        incidents=tuple(opened),
    )


def _tell(
    last_told: dict[str, datetime],
    alert: Alert,
    diagnosis: Diagnosis,
    decision: Decision,
    repeat_s: float,
) -> bool:
    """Whether the notify activity would send this outcome; remembers when it did."""
    news = _repeat_key(alert, diagnosis, decision) if repeat_s > 0 else None
    if news is None:
        return True
    before = last_told.get(news)
    if before is not None and alert.detected_at - before <= timedelta(seconds=repeat_s):
        return False
    last_told[news] = alert.detected_at
    return True


def _repeat_key(alert: Alert, diagnosis: Diagnosis, decision: Decision) -> str | None:
    """The key the notify activity would give the outcome the replay assumes."""
    if decision.approved and not decision.dry_run:
        return None
    outcome = Outcome(
        incident_id=decision.incident_id,
        pattern_id=diagnosis.pattern_id,
        status=not_acting_status(decision, diagnosis),
        reason=decision.reason,
        finished_at=alert.detected_at,
    )
    return repeat_key(alert.fingerprint, outcome, decision, ())
