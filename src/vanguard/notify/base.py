"""The notification value, the ``Notifier`` protocol and its in-process implementations."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pydantic import Field

from vanguard.errors import NotifyError, VanguardError
from vanguard.model import Frozen, Severity

__all__ = [
    "FAILED",
    "HELD",
    "NOTIFICATION_KINDS",
    "NOTIFIED",
    "BroadcastNotifier",
    "LogNotifier",
    "MemoryNotifier",
    "Message",
    "Notifier",
    "channel_ids",
]

NOTIFIED = "notified"
HELD = "notify.held"
FAILED = "notify.failed"
NOTIFICATION_KINDS = (NOTIFIED, HELD, FAILED)
"""Audit kinds that say what became of a message to people: every channel took it, it was
held as a repeat (``vanguard.notify.repeat``), or it could not be delivered."""


class Message(Frozen):
    """What a human is told about an incident; ``undo`` is how to reverse what was done."""

    title: str = Field(min_length=1)
    body: str
    severity: Severity
    incident_id: str
    undo: str | None = None


@runtime_checkable
class Notifier(Protocol):
    """Delivers a message somewhere; raises a ``VanguardError`` when it cannot."""

    def send(self, message: Message) -> None: ...


def channel_ids(notifiers: Sequence[Notifier]) -> list[str]:
    """A name for each channel that stays the same when ``notify:`` is edited around it.

    A channel's ``channel`` attribute (a webhook's kind, format and a digest of its URL),
    else its class name; a name met again gets ``#2``, ``#3``... in order.
    """
    seen: Counter[str] = Counter()
    ids: list[str] = []
    for notifier in notifiers:
        named = getattr(notifier, "channel", None)
        name = named if isinstance(named, str) and named else type(notifier).__name__
        seen[name] += 1
        ids.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return ids


class MemoryNotifier:
    """Keeps every message in ``messages``, for tests and the dashboard's recent list."""

    def __init__(self, channel: str = "memory") -> None:
        self.channel = channel
        self.messages: list[Message] = []

    def send(self, message: Message) -> None:
        self.messages.append(message)


_LEVELS = {
    Severity.info: logging.INFO,
    Severity.warning: logging.WARNING,
    Severity.critical: logging.ERROR,
}


class LogNotifier:
    """Writes each message to a logger, at the level of its severity."""

    channel = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger if logger is not None else logging.getLogger("vanguard.notify")

    def send(self, message: Message) -> None:
        self.logger.log(
            _LEVELS[message.severity],
            "%s\n%s",
            message.title,
            message.body,
            extra={"incident_id": message.incident_id, "undo": message.undo},
        )


class BroadcastNotifier:
    """Sends to every channel; one failing channel does not silence the others.

    After trying them all, raises ``NotifyError`` naming each channel that failed.
    """

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self.notifiers = tuple(notifiers)

    def send(self, message: Message) -> None:
        failures: list[tuple[Notifier, VanguardError]] = []
        for notifier in self.notifiers:
            try:
                notifier.send(message)
            except VanguardError as exc:
                failures.append((notifier, exc))
        if failures:
            detail = "; ".join(f"{n!r}: {exc}" for n, exc in failures)
            raise NotifyError(
                f"{len(failures)} of {len(self.notifiers)} channels failed for incident "
                f"{message.incident_id}: {detail}"
            ) from failures[0][1]
