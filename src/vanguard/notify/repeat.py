"""When an incident's outcome is the same news as one people were told of a moment ago.

Pure. With a rate limit holding, a freeze window open or the automation paused, a watch
that keeps alerting opens an incident every cooldown, and each one ends the same way
(declined by the same gates, nothing done). Telling people each time teaches them to mute
the channel. ``repeat_key`` names what makes two such outcomes the same news; an incident
with a key that was notified within ``notify_repeat_s`` is recorded and audited, not sent
(as Alertmanager's ``repeat_interval`` does for alerts). Anything that changed something
(an action applied, rolled back, failed after it began) or that asks for a person has no
key and is always sent. An action that failed before it began (``NOT_BEGUN``: a misspelt
program, a target that refused) changed nothing either: the circuit breaker lets one trial
through every cooldown, and each fails the same way, so it repeats like a decline. A
person's decline (``DECLINED_BY``) is news too, though no one was asked: it is never held as
a repeat of a re-run that a pause or an ignore withheld.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from vanguard.model import DECLINED_BY, NOT_BEGUN, ActionResult, Decision, Outcome, OutcomeStatus
from vanguard.notify.base import HELD, NOTIFIED
from vanguard.store.audit import AuditEntry

__all__ = ["RepeatHistory", "held_note", "repeat_history", "repeat_key"]

QUIET = frozenset({OutcomeStatus.declined, OutcomeStatus.dry_run, OutcomeStatus.escalated})
"""Outcomes that can repeat without news: nothing was applied."""


def repeat_key(
    fingerprint: str,
    outcome: Outcome | None,
    decision: Decision | None,
    actions: Sequence[ActionResult],
    *,
    asked: bool = False,
) -> str | None:
    """The alert's fingerprint (a watched series; a CI failure's fingerprint in its
    repository), pattern, outcome and the gates that said no; ``None`` if it is news.

    An escalation counts only when no pattern matched (nothing was tried); one that follows
    an action, or any outcome after an applied action, is always news. A failure counts
    only when the action never began. The outcome of an incident that ``asked`` a person
    is always news (whoever was asked hears how it ended, whether they declined, let it
    time out, or approved and a gate still said no), and so is a person's decline.
    """
    if asked or (decision is not None and decision.needs_approval):
        return None
    if outcome is None or not (outcome.status in QUIET or _never_began(outcome)):
        return None
    if outcome.status is OutcomeStatus.declined and outcome.reason.startswith(DECLINED_BY):
        return None
    if any(action.applied for action in actions):
        return None
    if outcome.status is OutcomeStatus.escalated and outcome.pattern_id is not None:
        return None
    refused = sorted({v.gate for v in decision.verdicts if not v.passed}) if decision else []
    return "|".join(
        [fingerprint, outcome.pattern_id or "-", outcome.status.value, ",".join(refused)]
    )


def _never_began(outcome: Outcome) -> bool:
    """A failed action whose ledger shows it never began: nothing was changed."""
    return (
        outcome.status is OutcomeStatus.failed
        and not outcome.teaches
        and NOT_BEGUN in outcome.reason
    )


@dataclass(frozen=True, slots=True)
class RepeatHistory:
    """The last notification of a key within the window, and what was held since it."""

    notified: AuditEntry | None
    held: int
    held_since: datetime | None


def repeat_history(entries: Sequence[AuditEntry], key: str, since: datetime) -> RepeatHistory:
    """From audit entries (any order), the key's last notification at or after ``since``.

    ``held`` counts the key's held notifications after the last one sent (within the
    window or not, so the next message can say how many went unsent).
    """
    mine = sorted(
        (e for e in entries if e.kind in {NOTIFIED, HELD} and e.payload.get("repeat_key") == key),
        key=lambda e: e.seq,
    )
    sent = [e for e in mine if e.kind == NOTIFIED]
    last = sent[-1] if sent else None
    after = [e for e in mine if e.kind == HELD and (last is None or e.seq > last.seq)]
    return RepeatHistory(
        notified=last if last is not None and last.at >= since else None,
        held=len(after),
        held_since=after[0].at if after else None,
    )


def held_note(history: RepeatHistory) -> str | None:
    """The line a sent message adds when like incidents went unsent before it."""
    if not history.held or history.held_since is None:
        return None
    many = "incident" if history.held == 1 else "incidents"
    return (
        f"Since {history.held_since.isoformat()}, {history.held} more {many} ended the same "
        "way and were recorded without a message (notify_repeat_s)."
    )
