"""A notification channel that is down for some messages, shared by the notify tests."""

from __future__ import annotations

from collections.abc import Callable

from vanguard.errors import NotifyError
from vanguard.notify import MemoryNotifier, Message


class Refusing(MemoryNotifier):
    """Refuses the messages ``down`` picks (given each message and how many were refused so
    far), counting them in ``refused``, and keeps every other in ``messages``."""

    def __init__(self, down: Callable[[Message, int], bool], channel: str = "memory") -> None:
        super().__init__(channel)
        self.down = down
        self.refused = 0

    def send(self, message: Message) -> None:
        if self.down(message, self.refused):
            self.refused += 1
            raise NotifyError("chat is down")
        super().send(message)
