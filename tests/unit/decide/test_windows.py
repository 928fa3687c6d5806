"""Freeze and allow windows: the rule, weekly recurrence across midnight, time zones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pydantic
import pytest

from vanguard.decide.windows import WEEKDAYS, OnceWindow, WeeklyWindow, check_windows

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day_offset, hours=hour, minutes=minute)


def test_monday_reference_is_a_monday() -> None:
    assert MONDAY.weekday() == 0


def test_once_window_is_half_open() -> None:
    w = OnceWindow(name="release", start=at(0, 10), end=at(0, 12))
    assert not w.contains(at(0, 9, 59))
    assert w.contains(at(0, 10))
    assert w.contains(at(0, 11, 59))
    assert not w.contains(at(0, 12))


def test_once_window_rejects_reversed_interval() -> None:
    with pytest.raises(pydantic.ValidationError, match="must be after start"):
        OnceWindow(name="bad", start=at(0, 12), end=at(0, 10))


def test_weekly_window_same_day() -> None:
    w = WeeklyWindow(name="office", days=("mon", "tue"), start=time(9), end=time(17))
    assert w.contains(at(0, 9))
    assert w.contains(at(1, 16, 59))
    assert not w.contains(at(0, 17))
    assert not w.contains(at(2, 12))
    assert w.length() == timedelta(hours=8)


def test_weekly_window_crosses_midnight_into_next_day() -> None:
    w = WeeklyWindow(name="night", days=("fri",), start=time(22), end=time(2))
    friday, saturday = 4, 5
    assert w.contains(at(friday, 23))
    assert w.contains(at(saturday, 1, 59))
    assert not w.contains(at(saturday, 2))
    assert not w.contains(at(saturday, 23))
    assert not w.contains(at(friday, 1))
    assert w.length() == timedelta(hours=4)


def test_weekly_window_equal_bounds_cover_a_whole_day() -> None:
    w = WeeklyWindow(name="sunday", days=("sun",), start=time(0), end=time(0))
    assert w.length() == timedelta(days=1)
    assert w.contains(at(6, 0))
    assert w.contains(at(6, 23, 59))
    assert not w.contains(at(0, 0))


def test_weekly_window_uses_its_time_zone() -> None:
    w = WeeklyWindow(
        name="berlin-night", days=("mon",), start=time(0), end=time(6), timezone="Europe/Berlin"
    )
    assert w.contains(at(0, 0))
    assert not w.contains(at(0, 5, 30))
    assert w.contains(at(-1, 23, 30))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "unknown time zone"),
        ("days", (), "at least one weekday"),
        ("days", ("monday",), "Input should be"),
    ],
)
def test_weekly_window_rejects_bad_fields(field: str, value: object, message: str) -> None:
    data: dict[str, object] = {"name": "w", "start": "01:00", "end": "02:00", field: value}
    with pytest.raises(pydantic.ValidationError, match=message):
        WeeklyWindow.model_validate(data)


def test_weekly_window_rejects_offset_times() -> None:
    with pytest.raises(pydantic.ValidationError, match="without an offset"):
        WeeklyWindow(name="w", start=time(1, tzinfo=UTC), end=time(2))


def test_no_windows_means_open() -> None:
    result = check_windows((), "svc", at(0, 3))
    assert result.open
    assert result.reason == "no freeze window applies"


def test_freeze_blocks_and_names_the_window() -> None:
    freeze = OnceWindow(name="black-friday", start=at(0, 0), end=at(3, 0))
    result = check_windows((freeze,), "svc", at(1, 12))
    assert not result.open
    assert result.freezes == ("black-friday",)
    assert "black-friday" in result.reason


def test_freeze_only_applies_to_listed_services() -> None:
    freeze = OnceWindow(name="db-freeze", services=("db",), start=at(0, 0), end=at(3, 0))
    assert not check_windows((freeze,), "db", at(1, 0)).open
    assert check_windows((freeze,), "web", at(1, 0)).open


def test_allow_windows_restrict_to_inside() -> None:
    allow = WeeklyWindow(name="maint", mode="allow", days=("sun",), start=time(2), end=time(4))
    inside = check_windows((allow,), "svc", at(6, 3))
    outside = check_windows((allow,), "svc", at(6, 5))
    assert inside.open
    assert inside.allows == ("maint",)
    assert not outside.open
    assert "outside every allow window (maint)" in outside.reason


def test_allow_windows_of_other_services_do_not_restrict() -> None:
    allow = WeeklyWindow(
        name="maint", mode="allow", services=("db",), days=("sun",), start=time(2), end=time(4)
    )
    assert check_windows((allow,), "web", at(0, 12)).open


def test_freeze_wins_over_allow() -> None:
    allow = WeeklyWindow(name="maint", mode="allow", start=time(0), end=time(0))
    freeze = OnceWindow(name="release", start=at(0, 0), end=at(1, 0))
    result = check_windows((allow, freeze), "svc", at(0, 6))
    assert not result.open
    assert result.freezes == ("release",)
    assert result.allows == ("maint",)


def test_windows_parse_as_discriminated_union() -> None:
    from vanguard.decide import PolicyConfig

    policy = PolicyConfig.model_validate(
        {
            "maintenance_windows": [
                {"kind": "weekly", "name": "n", "start": "22:00", "end": "02:00", "days": ["fri"]},
                {
                    "kind": "once",
                    "name": "o",
                    "start": "2026-01-01T00:00:00Z",
                    "end": "2026-01-02T00:00:00Z",
                },
            ]
        }
    )
    kinds = [type(w) for w in policy.maintenance_windows]
    assert kinds == [WeeklyWindow, OnceWindow]
    assert PolicyConfig.model_validate_json(policy.model_dump_json()) == policy


@pytest.mark.parametrize("seed", range(25))
def test_weekly_window_covers_exactly_its_length_each_chosen_day(seed: int) -> None:
    rng = random.Random(seed)
    days = tuple(sorted(rng.sample(WEEKDAYS, rng.randint(1, 7)), key=WEEKDAYS.index))
    start = time(rng.randrange(24), rng.randrange(0, 60, 5))
    end = time(rng.randrange(24), rng.randrange(0, 60, 5))
    w = WeeklyWindow(name="w", days=days, start=start, end=end)
    step = timedelta(minutes=5)
    inside = sum(w.contains(MONDAY + i * step) for i in range(7 * 24 * 12))
    assert inside * step == len(days) * w.length()
