"""Heartbeats for activities that block: a worker killed mid-call is noticed in seconds."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Iterator

from temporalio import activity

__all__ = ["HEARTBEAT_EVERY_S", "heartbeating"]

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 5.0
"""How often a running action tells Temporal its worker is alive."""


@contextlib.contextmanager
def heartbeating(every_s: float = HEARTBEAT_EVERY_S) -> Iterator[None]:
    """Heartbeat from a side thread while an adapter call blocks (outside Temporal: no-op).

    With a heartbeat timeout, a worker killed in the middle of an action is noticed within
    seconds and the action resumes elsewhere from its ledger entry; without it Temporal
    waited for the 5-minute start-to-close timeout, and a restart whose caller died (stop
    done, start not) left the service down that long.
    """
    if not activity.in_activity():
        yield
        return
    done = threading.Event()
    context = contextvars.copy_context()

    def beat() -> None:
        while not done.wait(every_s):
            try:
                context.run(activity.heartbeat)
            except Exception:
                log.warning("heartbeat not sent; trying again in %g s", every_s, exc_info=True)

    beater = threading.Thread(target=beat, name="vanguard-heartbeat", daemon=True)
    beater.start()
    try:
        yield
    finally:
        done.set()
        beater.join(timeout=every_s)
