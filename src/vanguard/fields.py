"""Field checks shared by every settings model, whatever file or format it is read from."""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

__all__ = ["Section", "exact_kind"]

_SECRET_KEYS = re.compile(r"(password|passwd|secret|token|api_key|apikey|private_key)$", re.I)


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


class Section(BaseModel):
    """A frozen settings section: unknown keys, a value of the wrong kind and a secret
    written into the file (a key ending in password, secret, token, api_key or
    private_key) are refused, in ``vanguard.yaml`` and its ``github`` section alike."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _exact_kind(cls, value: Any, info: ValidationInfo) -> Any:
        return exact_kind(cls, info.field_name or "", value)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(key, str) and _SECRET_KEYS.search(key) and value is not None:
                    raise ValueError(
                        f"'{key}' would put a secret in the file; use '{key}_env' "
                        f"(an environment variable's name) or '{key}_file' instead"
                    )
        return data
