"""The wall clock, in one place: side-effect modules take it as their default ``clock``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (naive datetimes never enter Vanguard)."""
    return datetime.now(UTC)
