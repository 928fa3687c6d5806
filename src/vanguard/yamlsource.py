"""Load YAML while remembering where every key and item came from.

Validation errors from pydantic carry a ``loc`` path; ``LocatedYaml.line_of`` turns that
path back into a line of the file, so every configuration error can say
``file:line: key: message``. Duplicate keys, which PyYAML silently merges, are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from vanguard.errors import ConfigError
from vanguard.redact import is_secret_key, looks_like_secret, redact_text

__all__ = ["EnvName", "LocatedYaml", "load_yaml", "parse_yaml", "validate_yaml"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")


def _env_name(value: str) -> str:
    if looks_like_secret(value):
        raise ValueError(
            "looks like a secret, not the name of an environment variable: put the secret "
            "in an environment variable and that variable's name here, such as GITHUB_TOKEN"
        )
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            "must be the name of an environment variable (letters, digits and _), "
            "not the value itself"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]
"""The name of an environment variable (``*_env`` settings): never the secret itself.

A pasted token is identifier-shaped too (``ghp_…``, ``AKIA…``): a value that
``looks_like_secret`` is refused, and the error does not show it."""


PathKey = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class LocatedYaml:
    """Parsed YAML data plus the line on which each path starts."""

    def __init__(self, file: str, data: Any, lines: dict[PathKey, int]) -> None:
        self.file = file
        self.data = data
        self.lines = lines

    def written(self, path: Sequence[str | int]) -> PathKey:
        """``path`` as the file spells it, without the indices a model added.

        A field that takes one item or a list of them makes a one-item list of a single
        mapping, so its errors come at index 0 of a list the file does not have. Such an
        index is dropped wherever the data at that point is not a list; the rest of the
        path (which may name keys the file lacks, such as a missing field) is kept.
        """
        out: list[str | int] = []
        node: Any = self.data
        known = True
        for part in path:
            if known and isinstance(part, int) and not _indexable(node, part):
                continue
            out.append(part)
            known = known and _has(node, part)
            if known:
                node = node[part]
        return tuple(out)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path`` or of its nearest ancestor that exists in the file."""
        probe = self.written(path)
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]


def _indexable(node: Any, index: int) -> bool:
    """Whether ``index`` names an item of ``node`` in the file (a list item, or an int key)."""
    return isinstance(node, list) or (isinstance(node, dict) and index in node)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


MAX_VALUES = 100_000
"""More values than any configuration needs; aliases can make a few lines expand past it."""
MAX_DEPTH = 64


def _walk(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], file: str) -> None:
    if len(path) > MAX_DEPTH:
        raise ConfigError(
            f"nested more than {MAX_DEPTH} levels deep",
            file=file,
            line=node.start_mark.line + 1,
            key=_dotted(path[:3]) + "...",
        )
    if len(lines) > MAX_VALUES:
        raise ConfigError(
            f"more than {MAX_VALUES:,} values (YAML aliases that expand without bound?)",
            file=file,
            line=node.start_mark.line + 1,
        )
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise ConfigError(
                    "duplicate key (the first value would be silently lost)",
                    file=file,
                    line=key_node.start_mark.line + 1,
                    key=_dotted((*path, key)),
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, file)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def load_yaml(path: Path) -> LocatedYaml:
    """Read ``path``; a missing, unreadable or malformed file is a ``ConfigError``."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("file not found", file=file) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file: {exc}", file=file) from exc
    return parse_yaml(text, file)


def parse_yaml(text: str, file: str) -> LocatedYaml:
    """Parse ``text`` read from ``file`` (a name for messages); malformed YAML, duplicate
    keys and aliases that expand without bound are a ``ConfigError``."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", file=file, line=line) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from exc
    except RecursionError as exc:
        raise ConfigError("invalid YAML: nested too deeply to read", file=file) from exc
    lines: dict[PathKey, int] = {}
    if node is not None:
        _walk(node, (), lines, file)
    return LocatedYaml(file, data, lines)


def validate_yaml(source: LocatedYaml, model: type[M], **context: Any) -> M:
    """Validate ``source`` against ``model``; the first error becomes a located ``ConfigError``."""
    if source.data is None:
        raise ConfigError("file is empty", file=source.file, line=1)
    try:
        return model.model_validate(source.data, context=context or None)
    except ValidationError as exc:
        firsts: dict[object, tuple[int | None, str, str]] = {}
        for error in exc.errors():
            section = source.written(tuple(error["loc"]))[:1]
            if section not in firsts and len(firsts) < MAX_REPORTED:
                firsts[section] = _located(source, error)
        (line, key, message), *others = firsts.values()
        rest = sorted(others, key=lambda found: (found[0] is None, found[0] or 0))
        more = tuple(
            f"{source.file}:{n}: {k}: {m}" if n is not None else f"{source.file}: {k}: {m}"
            for n, k, m in rest
        )
        raise ConfigError(message, file=source.file, line=line, key=key, more=more) from exc


MAX_REPORTED = 20
"""Sections of one file whose problem is reported at once. Each top-level section reports
its first problem only: a value that may take several shapes fails once per shape, and
only the first of those says what is wrong."""


def _located(source: LocatedYaml, error: Any) -> tuple[int | None, str, str]:
    """One validation error as its line, dotted key and message (secrets not shown)."""
    loc = source.written(tuple(error["loc"]))
    value = error.get("input")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] != "missing" and not isinstance(value, dict | list):
        message = f"{message}{_shown(loc, value)}"
    return source.line_of(loc), _dotted(loc), message


NOT_SECRET = frozenset({"signature"})
"""Keys with a secret's word in them that hold no secret: a pattern's ``signature`` (its
conditions)."""


def _shown(loc: tuple[str | int, ...], value: object) -> str:
    """`` (got VALUE)`` for an error message, with nothing of a secret in it.

    A value under a key that names a secret (``admin_dsn``, ``token``) is not shown at all;
    any other has credentials inside it (a URL's password, a bearer token) masked.
    """
    if any(
        isinstance(part, str) and part not in NOT_SECRET and is_secret_key(part) for part in loc
    ):
        return " (value not shown: the key holds a secret)"
    if loc and isinstance(loc[-1], str) and loc[-1].endswith("_env"):
        return " (value not shown: it may be the secret the variable should hold)"
    return f" (got {redact_text(repr(value))})"
