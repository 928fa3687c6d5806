"""Booleans and numbers are not taken for each other, whatever a field's union admits."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from vanguard.fields import exact_kind


class Knobs(BaseModel):
    interval_s: float = 1.0
    dry_run: bool = True
    limit: int | None = None
    either: bool | int = 0


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("interval_s", True, "expected a number"),
        ("limit", False, "expected a number"),
        ("dry_run", 1, "expected true or false"),
        ("dry_run", 0.0, "expected true or false"),
    ],
)
def test_a_mixup_is_refused(name: str, value: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        exact_kind(Knobs, name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("interval_s", 2), ("dry_run", False), ("limit", None), ("either", True), ("either", 3)],
)
def test_what_the_field_admits_passes_unchanged(name: str, value: object) -> None:
    assert exact_kind(Knobs, name, value) is value


def test_an_unknown_field_is_left_to_the_model() -> None:
    assert exact_kind(Knobs, "nope", True) is True
