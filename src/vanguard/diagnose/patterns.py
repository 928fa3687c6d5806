"""Known issue patterns: YAML files, one per pattern, versioned like code.

A pattern names the service types and metric it applies to, a trend signature written in
the closed vocabulary of ``operators``, a remedy (an adapter kind with parameters), whether
that remedy can be rolled back, and a prior confidence that outcomes later calibrate.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vanguard.diagnose.operators import FIELDS, NUMERIC, Operator, is_text
from vanguard.errors import ConfigError
from vanguard.fields import exact_kind
from vanguard.model import Severity, VerifySeries
from vanguard.yamlsource import LocatedYaml, load_yaml, validate_yaml

__all__ = [
    "Condition",
    "Pattern",
    "PatternRemedy",
    "PatternVerify",
    "builtin_patterns_dir",
    "load_patterns",
]

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    """Frozen, no unknown keys, and the kinds of ``vanguard.yaml``: ``prior_confidence: yes``
    is an error, not a pattern certain of itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _exact_kind(cls, value: Any, info: ValidationInfo) -> Any:
        return exact_kind(cls, info.field_name or "", value)


class Condition(_Strict):
    """``field op value``, e.g. ``trend.slope_per_hour gt 0``."""

    field: str
    op: Operator
    value: JsonValue

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIELDS and not value.startswith("labels."):
            known = ", ".join(sorted(FIELDS))
            raise ValueError(f"unknown field {value!r}; known: {known}, labels.NAME")
        return value

    @model_validator(mode="after")
    def _value_fits_the_operator(self) -> Condition:
        """A value the field can never equal, or the operator never compare with, would make
        the pattern silently inert, or with ``ne`` always true (an exclusion of nothing)."""
        op, value, field = self.op, self.value, self.field
        items: list[JsonValue] = value if isinstance(value, list) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in items):
            raise ValueError(f"{op} needs finite numbers, got {value!r}")
        text = "labels are text" if field.startswith("labels.") else f"{field} is text"
        if op in NUMERIC and is_text(field):
            raise ValueError(f"{text}: {op} never holds on it (use eq, ne, in, matches)")
        if op in NUMERIC - {Operator.between} and not _number(value):
            raise ValueError(f"{op} needs a number, got {value!r}")
        if op is Operator.between and not (
            isinstance(value, list)
            and len(value) == 2
            and all(_number(v) for v in value)
            and value[0] <= value[1]  # type: ignore[operator]
        ):
            raise ValueError(f"between needs [low, high] numbers with low <= high, got {value!r}")
        if op is Operator.one_of and not (isinstance(value, list) and value):
            raise ValueError(f"in needs a list of one value or more, got {value!r}")
        if op in {Operator.eq, Operator.ne, Operator.one_of}:
            if is_text(field):
                _check_text(field, text, items)
            elif not all(_number(v) for v in items):
                needs = "numbers" if op is Operator.one_of else "a number"
                raise ValueError(f"{field} is a number: {op} needs {needs}, got {value!r}")
        if op is Operator.matches:
            if not isinstance(value, str):
                raise ValueError(f"matches needs a regular expression, got {value!r}")
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"matches: {value!r} is not a regular expression: {exc}") from exc
        return self


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_text(field: str, text: str, items: list[JsonValue]) -> None:
    """Text is only ever equal to text: YAML reads ``503`` and ``true`` unquoted as a number
    and a boolean, which no label equals. ``severity`` is one of ``Severity``."""
    if field == "severity":
        unknown = [v for v in items if v not in {s.value for s in Severity}]
        if unknown:
            known = ", ".join(Severity)
            got = ", ".join(_as_written(v) for v in unknown)
            raise ValueError(f"severity is one of {known}, got {got}")
    if not all(isinstance(v, str) for v in items):
        quoted = ", ".join(f'"{_as_written(v)}"' for v in items)
        hint = f"quote it ({quoted})" if len(items) == 1 else f"quote each item ([{quoted}])"
        raise ValueError(f"{text}: {hint}")


def _as_written(value: JsonValue) -> str:
    """A YAML scalar as its author wrote it: ``true``, not Python's ``True``."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value) if isinstance(value, int | float) else json.dumps(value)


class PatternRemedy(_Strict):
    action: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    params: dict[str, JsonValue] = Field(default_factory=dict)


class PatternVerify(VerifySeries, _Strict):
    """One series that judges the remedy, and which direction is better.

    No ``metric`` (or the alert's own) means the alerting series with the alert's labels.
    Another metric matches every series whose labels include ``labels``; each is judged
    against its own baseline, so leaving out a label that tells series apart (``pool``,
    ``instance``) judges all of them rather than one picked at random. A diagnosis keeps
    them as ``VerifySeries``.
    """


class Pattern(_Strict):
    id: str = Field(pattern=r"^[a-z0-9_]{3,64}$")
    version: int = Field(default=1, ge=1)
    description: str
    service_types: tuple[str, ...] = ("any",)
    metric: str
    signature: tuple[Condition, ...] = Field(min_length=1)
    remedy: PatternRemedy
    rollback_safe: bool
    prior_confidence: float = Field(ge=0.0, le=1.0)
    automation_eligible: bool = True
    verify: tuple[PatternVerify, ...] = Field(default=(PatternVerify(),), min_length=1)
    _source: LocatedYaml | None = PrivateAttr(default=None)
    _overrides: str | None = PrivateAttr(default=None)

    @field_validator("verify", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        """``verify:`` takes one series as a mapping or several as a list (the first decides)."""
        return [value] if isinstance(value, dict | PatternVerify) else value

    def error(self, message: str, *path: str | int) -> ConfigError:
        """A ``ConfigError`` at ``path`` (``"remedy", "action"``) of the file this pattern
        was read from, or naming the pattern when it was built in code."""
        key = ".".join(str(part) for part in path)
        if self._source is None:
            return ConfigError(message, file=f"pattern {self.id}", key=key)
        return ConfigError(
            message, file=self._source.file, line=self._source.line_of(path), key=key
        )

    @property
    def overrides(self) -> str | None:
        """``PATH overrides the built-in ID`` (or an earlier directory's file) when this
        pattern replaced another of its id as it was loaded; None otherwise."""
        return self._overrides

    def applies_to(self, service_type: str, metric: str) -> bool:
        types_ok = "any" in self.service_types or service_type in self.service_types
        return types_ok and self.metric == metric


def builtin_patterns_dir() -> Path:
    """The pattern library shipped inside the package."""
    return Path(str(resources.files("vanguard") / "patterns"))


_SUFFIXES = (".yaml", ".yml")


def load_patterns(dirs: Iterable[Path] = (), *, include_builtin: bool = True) -> list[Pattern]:
    """Load every ``*.yaml`` and ``*.yml`` pattern (any case), the built-in library first.

    A later directory may override a pattern by id (``Pattern.overrides`` says so), but one
    directory may not hold two files of one id. Hidden files are skipped: an editor's lock
    file (``.#name.yaml``) or a tool's backup is not a pattern.
    """
    builtin = builtin_patterns_dir()
    folders = [builtin, *dirs] if include_builtin else list(dirs)
    found: dict[str, Pattern] = {}
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError("patterns directory not found", file=str(folder))
        here: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in _SUFFIXES:
                continue
            if path.name.startswith("."):
                log.debug("%s: skipped: a hidden file is not a pattern", path)
                continue
            if path.stem in here:
                raise ConfigError(
                    f"two files define pattern {path.stem!r}: {here[path.stem].name} and "
                    f"{path.name}; keep one",
                    file=str(path),
                )
            here[path.stem] = path
            source = load_yaml(path)
            pattern = validate_yaml(source, Pattern)
            pattern._source = source
            if path.stem != pattern.id:
                raise ConfigError(
                    f"pattern id {pattern.id!r} must match the file name {path.stem!r}",
                    file=str(path),
                    line=1,
                    key="id",
                )
            earlier = found.get(pattern.id)
            if earlier is not None and earlier._source is not None:
                was = (
                    f"the built-in {pattern.id}"
                    if Path(earlier._source.file).parent == builtin
                    else earlier._source.file
                )
                pattern._overrides = f"{path} overrides {was}"
            found[pattern.id] = pattern
    return sorted(found.values(), key=lambda p: p.id)
