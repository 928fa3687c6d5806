"""The CI failure taxonomy: kinds of failure, how to recognise them, and how to heal them.

The knowledge lives in YAML (``ci_taxonomy.yaml`` ships with Vanguard) so it can grow without
code changes. Loading validates every entry and reports ``file:line: key: message``; a
taxonomy whose ``heal`` and ``retryable`` disagree, whose regex does not compile or whose
retry budget is unbounded is refused rather than half-used.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vanguard.errors import ConfigError
from vanguard.fields import exact_kind
from vanguard.yamlsource import parse_yaml, validate_yaml

__all__ = [
    "BUILTIN_TAXONOMY",
    "Category",
    "Heal",
    "Indication",
    "Taxonomy",
    "builtin_taxonomy",
    "load_taxonomy",
    "parse_taxonomy",
]

BUILTIN_TAXONOMY = "ci_taxonomy.yaml"


class Heal(StrEnum):
    """The default remedy for a failure class."""

    retry = "retry"
    never_retry = "never_retry"
    open_issue = "open_issue"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _exact_kind(cls, value: Any, info: ValidationInfo) -> Any:
        return exact_kind(cls, info.field_name or "", value)


class Indication(_Frozen):
    """A regular expression that points at a category, with how much it weighs."""

    pattern: str = Field(min_length=1)
    weight: float = Field(default=1.0, gt=0.0, le=10.0)
    ignore_case: bool = True

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.pattern, self.ignore_case)


@cache
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


class Category(_Frozen):
    """One kind of CI failure and its default heal.

    ``retryable`` says whether re-running the same commit may pass; ``report`` asks for an
    issue even when a retry is allowed, so flaky tests get healed but never hidden.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = Field(min_length=1)
    description: str = ""
    retryable: bool
    heal: Heal
    max_attempts: int = Field(default=0, ge=0, le=5)
    backoff_seconds: float = Field(default=0.0, ge=0.0, le=3600.0)
    report: bool = False
    indications: tuple[Indication, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Category:
        if self.heal is Heal.retry and not self.retryable:
            raise ValueError("heal 'retry' needs retryable: true")
        if self.heal is not Heal.retry and self.retryable:
            raise ValueError(f"heal {self.heal.value!r} contradicts retryable: true")
        if self.heal is Heal.retry and self.max_attempts < 1:
            raise ValueError("heal 'retry' needs max_attempts of at least 1")
        if self.heal is not Heal.retry and self.max_attempts:
            raise ValueError("max_attempts is only meaningful with heal 'retry'")
        return self


class Taxonomy(_Frozen):
    """All categories, in priority order (earlier wins a tie), and the fallback's id."""

    version: int = Field(ge=1)
    fallback: str
    categories: tuple[Category, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids(self) -> Taxonomy:
        seen: set[str] = set()
        for category in self.categories:
            if category.id in seen:
                raise ValueError(f"duplicate category id {category.id!r}")
            seen.add(category.id)
        if self.fallback not in seen:
            raise ValueError(f"fallback {self.fallback!r} is not a category id")
        return self

    def get(self, category_id: str) -> Category:
        """The category with this id; unknown ids give the fallback."""
        for category in self.categories:
            if category.id == category_id:
                return category
        for category in self.categories:
            if category.id == self.fallback:
                return category
        raise LookupError(category_id)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(category.id for category in self.categories)


def parse_taxonomy(text: str, file: str = "<string>") -> Taxonomy:
    """Validate taxonomy YAML as every other file is read (``vanguard.yamlsource``):
    errors name the file, the line and the key, and duplicate keys are refused."""
    return validate_yaml(parse_yaml(text, file), Taxonomy)


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file; a missing file is an error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read taxonomy: {exc.strerror}", file=str(path)) from exc
    return parse_taxonomy(text, str(path))


@cache
def builtin_taxonomy() -> Taxonomy:
    """The taxonomy shipped with Vanguard, loaded once on first use."""
    source = resources.files("vanguard.diagnose").joinpath(BUILTIN_TAXONOMY)
    return parse_taxonomy(
        source.read_text(encoding="utf-8"), f"vanguard/diagnose/{BUILTIN_TAXONOMY}"
    )
