"""Field checks shared by every settings model, whatever file or format it is read from."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel

__all__ = ["exact_kind"]


def _admits(annotation: Any, kinds: tuple[type, ...]) -> bool:
    """Whether a field's type is, or has among its unions and annotations, one of ``kinds``."""
    if annotation in kinds:
        return True
    return any(_admits(arg, kinds) for arg in get_args(annotation))


def exact_kind(model: type[BaseModel], name: str, value: Any) -> Any:
    """Refuse a boolean where a number goes, and a number where only a boolean goes.

    YAML reads ``yes``, ``no``, ``on`` and ``off`` as booleans and pydantic turns a boolean
    into 1 or 0 (``interval_s: yes`` became one second), and ``dry_run: 1`` into true: a
    mistyped safety setting must be an error, not a guess. For a ``field_validator("*",
    mode="before")``, so the error names the field and the model's other fields are still
    checked.
    """
    field = model.model_fields.get(name)
    if field is None or value is None:
        return value
    takes_bool = _admits(field.annotation, (bool,))
    takes_number = _admits(field.annotation, (int, float))
    if isinstance(value, bool) and not takes_bool and takes_number:
        raise ValueError("expected a number; YAML reads yes, no, on and off as booleans")
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if takes_bool and numeric and not takes_number:
        raise ValueError("expected true or false")
    return value
