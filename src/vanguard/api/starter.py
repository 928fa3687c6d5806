"""How webhook receivers start incidents without knowing about Temporal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from vanguard.model import Alert

__all__ = ["IncidentStarter"]

IncidentStarter = Callable[[Alert], Awaitable[tuple[str, bool]]]
"""Start the incident for an alert; returns its id and whether it was new (not a duplicate)."""
