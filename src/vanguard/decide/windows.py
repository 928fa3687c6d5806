"""Freeze and allow windows: when Vanguard may change a service.

Vanguard acts freely by default. A ``freeze`` window that covers the moment blocks every
action on the services it names. If any ``allow`` window applies to a service, Vanguard acts
on it only inside one of them (a maintenance window). Freeze wins over allow.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field, field_validator, model_validator

from vanguard.model import Frozen

__all__ = ["OnceWindow", "WeeklyWindow", "Window", "WindowCheck", "check_windows"]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _WindowBase(Frozen):
    name: str = Field(min_length=1)
    mode: Literal["freeze", "allow"] = "freeze"
    services: tuple[str, ...] = ()

    def applies_to(self, service_name: str) -> bool:
        """An empty ``services`` list means every service."""
        return not self.services or service_name in self.services


class OnceWindow(_WindowBase):
    """An explicit interval ``[start, end)``, e.g. a release freeze."""

    kind: Literal["once"] = "once"
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> OnceWindow:
        if self.end <= self.start:
            raise ValueError(f"end {self.end.isoformat()} must be after start {self.start}")
        return self

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


class WeeklyWindow(_WindowBase):
    """A recurring interval on given weekdays, local to ``timezone``.

    ``start`` after ``end`` (``22:00``-``02:00``) runs past midnight into the next day;
    ``start`` equal to ``end`` covers 24 hours from ``start``.
    """

    kind: Literal["weekly"] = "weekly"
    days: tuple[Weekday, ...] = WEEKDAYS
    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not value:
            raise ValueError("days must name at least one weekday")
        return value

    @field_validator("start", "end")
    @classmethod
    def _naive_time(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("times are local to 'timezone'; give them without an offset")
        return value

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        today = WEEKDAYS[local.weekday()]
        yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return today in self.days and self.start <= clock < self.end
        started_today = today in self.days and clock >= self.start
        started_yesterday = yesterday in self.days and clock < self.end
        return started_today or started_yesterday

    def length(self) -> timedelta:
        day = datetime(2000, 1, 1)
        span = datetime.combine(day, self.end) - datetime.combine(day, self.start)
        return span if span > timedelta(0) else span + timedelta(days=1)


Window = Annotated[OnceWindow | WeeklyWindow, Field(discriminator="kind")]


class WindowCheck(Frozen):
    """Whether a moment is open for changes to one service, and the windows that decided it."""

    open: bool
    reason: str
    freezes: tuple[str, ...] = ()
    allows: tuple[str, ...] = ()


def check_windows(windows: tuple[Window, ...], service_name: str, now: datetime) -> WindowCheck:
    """Apply the freeze/allow rule of this module to ``now``."""
    relevant = [w for w in windows if w.applies_to(service_name)]
    freezes = tuple(w.name for w in relevant if w.mode == "freeze" and w.contains(now))
    allow_windows = [w for w in relevant if w.mode == "allow"]
    allows = tuple(w.name for w in allow_windows if w.contains(now))
    if freezes:
        return WindowCheck(
            open=False,
            reason=f"inside freeze window {', '.join(freezes)}",
            freezes=freezes,
            allows=allows,
        )
    if allow_windows and not allows:
        names = ", ".join(w.name for w in allow_windows)
        return WindowCheck(open=False, reason=f"outside every allow window ({names})")
    if allows:
        return WindowCheck(
            open=True, reason=f"inside allow window {', '.join(allows)}", allows=allows
        )
    return WindowCheck(open=True, reason="no freeze window applies")
