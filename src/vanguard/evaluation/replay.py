"""Replay a metric's history through a service's watch, the pattern library and the policy.

Before a watch rule, a pattern or a policy goes live, its owner wants to know what it would
have done last week: which alerts would have fired, which pattern each would have matched,
and what the policy would have decided. ``replay`` answers from recorded points, with the
same code the loop runs (``watch.step``, ``diagnose.match``, ``decide.decide``), and acts
on nothing.

What it cannot know is what the remedies would have changed, so it assumes each opened
incident keeps its series busy for ``incident_s`` (later alerts of that series fold into
it, as the live watcher suppresses alerts of a series with an open incident), that every
"act" decision was applied (so rate limits and cooldowns count it), that every remedy
worked (no failure streak opens the breaker) and that nobody answered a request for
approval. Patterns keep their prior confidence: outcomes are not replayed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from vanguard.config import ServiceConfig
from vanguard.decide import PolicyConfig, context_from_history, decide
from vanguard.detect.watch import SeriesState, fingerprint, step
from vanguard.diagnose.matcher import match
from vanguard.diagnose.patterns import Pattern
from vanguard.model import Alert, Decision, Diagnosis, Frozen, Signal

__all__ = ["ReplayReport", "Replayed", "replay", "verdict_of"]

Verdict = Literal["act", "ask", "decline"]


def verdict_of(decision: Decision) -> Verdict:
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

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.decision)


class ReplayReport(Frozen):
    """What a replay saw and what the loop would have done."""

    service: str
    points: int = Field(ge=0)
    series: int = Field(ge=0)
    skipped: int = Field(ge=0)
    incidents: tuple[Replayed, ...]

    def tally(self) -> dict[Verdict, int]:
        counts: dict[Verdict, int] = {"act": 0, "ask": 0, "decline": 0}
        for item in self.incidents:
            counts[item.verdict] += 1
        return counts

    @property
    def folded(self) -> int:
        return sum(item.folded for item in self.incidents)


def replay(
    service: ServiceConfig,
    signals: Iterable[Signal],
    patterns: Sequence[Pattern],
    policy: PolicyConfig,
    *,
    incident_s: float,
) -> ReplayReport:
    """Step ``signals`` (in time order) through every watch of ``service`` and decide."""
    states: dict[tuple[int, str], SeriesState] = {}
    busy_until: dict[str, tuple[datetime, int]] = {}
    acted: list[datetime] = []
    opened: list[Replayed] = []
    points = 0
    for signal in sorted(signals, key=lambda s: s.timestamp):
        for index, watch in enumerate(service.watch):
            if signal.metric_type != watch.metric:
                continue
            if not signal.labels.items() >= watch.labels.items():
                continue
            key = (index, fingerprint(signal))
            state, alert = step(states.get(key), signal, watch.rule)
            states[key] = state
            points += 1
            if alert is None:
                continue
            now = alert.detected_at
            open_one = busy_until.get(alert.fingerprint)
            if open_one is not None and now < open_one[0]:
                held = opened[open_one[1]]
                opened[open_one[1]] = held.model_copy(update={"folded": held.folded + 1})
                continue
            diagnosis = match(alert, patterns, service_type=service.type)
            ctx = context_from_history(
                now=now,
                service_name=service.name,
                action=diagnosis.remedy.action if diagnosis.remedy else None,
                service_actions=acted,
            )
            decision = decide(f"replay-{len(opened) + 1}", diagnosis, ctx, policy)
            if decision.approved:
                acted.append(now)
            busy_until[alert.fingerprint] = (now + timedelta(seconds=incident_s), len(opened))
            opened.append(Replayed(alert=alert, diagnosis=diagnosis, decision=decision))
    return ReplayReport(
        service=service.name,
        points=points,
        series=len(states),
        skipped=sum(state.skipped for state in states.values()),
        incidents=tuple(opened),
    )
