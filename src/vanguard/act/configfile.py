"""Change one setting in a configuration file and commit it to git: the ``config.set`` action.

Many remedies are a number in a file: a worker count, a connection limit, a feature flag.
``config.set`` edits exactly one existing scalar — ``key`` is a dotted path (``pool.size``,
``workers.0.replicas`` for YAML and JSON; ``section.key`` for INI; ``KEY`` for a ``.env``
file) — and rewrites only the characters of that value, so comments, order and layout stay
as people wrote them. The new value is ``value``, or the current number times ``factor``
bounded by ``min`` and ``max``. The edit is a commit (``Vanguard-Key`` trailer) in the
repository holding the file, and with ``push`` it is pushed to the branch a GitOps
controller deploys from; rollback is a revert commit, pushed the same way.

Idempotency goes through the ``Ledger`` and the commit trailer: a replayed apply finds its
commit instead of committing twice, and a pushed branch is not pushed again. A replay that
finds no commit of its own (the worker died before it, perhaps hours ago) first checks that
the file still holds the value recorded before or the target, with no change but its own
left uncommitted: a person's change since the action began stops it. Rollbacks do the same.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

from vanguard.act.base import Ledger, begin_once, validate_params
from vanguard.act.gitconfig import GitRepo, read_config, replace_file
from vanguard.act.pgbouncer import resized
from vanguard.clock import utcnow
from vanguard.errors import ActionFailed, AdapterError, PartlyApplied, VanguardError
from vanguard.model import ActionRequest, ActionResult, Check, Plan, RollbackRequest, UndoRecord
from vanguard.redact import is_secret_key

__all__ = [
    "ConfigFormat",
    "ConfigSetAdapter",
    "ConfigSetParams",
    "Located",
    "Scalar",
    "file_format",
    "locate",
    "scaled",
    "with_value",
]

ConfigFormat = Literal["yaml", "json", "ini", "env"]
Scalar = str | int | float | bool | None
_SUFFIXES: dict[str, ConfigFormat] = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
    ".ini": "ini",
    ".cfg": "ini",
    ".conf": "ini",
    ".env": "env",
}
_INI_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_INI_KEY = re.compile(r"^\s*([^=:\s;#][^=:]*?)\s*[=:]\s*")
_ENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
_INLINE_COMMENT = re.compile(r"\s+[;#]")


@dataclass(frozen=True, slots=True)
class Located:
    """A setting's current value and where its text sits (``text[start:end]``)."""

    value: Scalar
    start: int
    end: int


def file_format(path: str, given: ConfigFormat | None = None) -> ConfigFormat:
    """The file's format: ``given``, else from its suffix (``.env`` by name too)."""
    if given is not None:
        return given
    name = Path(path).name
    found = _SUFFIXES.get(Path(path).suffix.lower()) or ("env" if name == ".env" else None)
    if found is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise AdapterError(f"cannot tell the format of {name} (suffixes: {known}); set 'format'")
    return found


def _parts(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not part for part in parts):
        raise AdapterError(f"malformed key {key!r}: dotted names, none empty")
    return parts


def locate(text: str, fmt: ConfigFormat, key: str) -> Located:
    """Find ``key``'s scalar value in ``text``; an ``AdapterError`` says why it cannot."""
    if fmt == "yaml":
        return _locate_yaml(text, key)
    if fmt == "json":
        return _locate_json(text, key)
    if fmt == "ini":
        return _locate_ini(text, key)
    return _locate_env(text, key)


def with_value(text: str, fmt: ConfigFormat, key: str, value: Scalar) -> str:
    """``text`` with ``key`` set to ``value``; every other character unchanged."""
    where = locate(text, fmt, key)
    if fmt in ("yaml", "json"):
        rendered = json.dumps(value, ensure_ascii=False)
    else:
        rendered = _plain(value)
        if fmt == "env" and re.search(r"[\s#'\"$`\\]", rendered):
            rendered = json.dumps(rendered, ensure_ascii=False)
    return text[: where.start] + rendered + text[where.end :]


def _plain(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _locate_yaml(text: str, key: str) -> Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise AdapterError(f"the file is not valid YAML: {exc}") from exc
    for part in _parts(key):
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part]
            if not match:
                raise AdapterError(f"no key {key!r} in the file (missing {part!r})")
            node = match[-1]
        elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
            node = node.value[int(part)]
        else:
            raise AdapterError(f"no key {key!r} in the file (cannot step into {part!r})")
    if not isinstance(node, yaml.ScalarNode):
        raise AdapterError(f"{key!r} holds a mapping or a list, not one value")
    if node.style in ("|", ">"):
        raise AdapterError(f"{key!r} is a block scalar; edit it by hand")
    start, end = node.start_mark.index, node.end_mark.index
    value = yaml.safe_load(text[start:end])
    if not isinstance(value, str | int | float | bool) and value is not None:
        raise AdapterError(f"{key!r} holds a {type(value).__name__}, not a plain value")
    return Located(value, start, end)


_DECODER = json.JSONDecoder()


def _skip(text: str, pos: int) -> int:
    """The first position at or after ``pos`` that is not JSON whitespace."""
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def _locate_json(text: str, key: str) -> Located:
    try:
        json.loads(text)
    except ValueError as exc:
        raise AdapterError(f"the file is not valid JSON: {exc}") from exc
    pos = _skip(text, 0)
    for part in _parts(key):
        pos = _json_child(text, pos, part, key)
    value, end = _DECODER.raw_decode(text, pos)
    if isinstance(value, dict | list):
        raise AdapterError(f"{key!r} holds an object or an array, not one value")
    return Located(value, pos, end)


def _json_child(text: str, pos: int, part: str, key: str) -> int:
    """Where the value of member or element ``part`` of the container at ``pos`` starts."""
    opener = text[pos]
    if opener not in "{[":
        raise AdapterError(f"no key {key!r} in the file (cannot step into {part!r})")
    pos = _skip(text, pos + 1)
    index = 0
    found: int | None = None
    while text[pos] not in "}]":
        if opener == "{":
            name, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos) + 1
            pos = _skip(text, pos)
            if name == part:
                found = pos
        elif part.isdigit() and index == int(part):
            found = pos
        _, pos = _DECODER.raw_decode(text, pos)
        pos = _skip(text, pos)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        index += 1
    if found is None:
        raise AdapterError(f"no key {key!r} in the file (missing {part!r})")
    return found


def _typed(raw: str) -> Scalar:
    for cast in (int, float):
        try:
            number = cast(raw)
        except ValueError:
            continue
        if isinstance(number, float) and not math.isfinite(number):
            return raw
        return number
    low = raw.lower()
    return {"true": True, "false": False}.get(low, raw)


def _value_span(line: str, start: int, offset: int) -> Located:
    rest = line[start:].rstrip("\r\n")
    comment = _INLINE_COMMENT.search(rest)
    raw = (rest[: comment.start()] if comment else rest).rstrip()
    return Located(_typed(raw), offset + start, offset + start + len(raw))


def _locate_ini(text: str, key: str) -> Located:
    section, _, name = key.rpartition(".")
    current = ""
    offset = 0
    found: Located | None = None
    for line in text.splitlines(keepends=True):
        head = _INI_SECTION.match(line)
        if head:
            current = head.group(1).strip()
        elif not line.lstrip().startswith((";", "#")):
            match = _INI_KEY.match(line)
            if match and current == section and match.group(1).strip() == name:
                found = _value_span(line, match.end(), offset)
        offset += len(line)
    if found is None:
        where = f"section [{section}]" if section else "the top of the file"
        raise AdapterError(f"no key {name!r} in {where}")
    return found


def _locate_env(text: str, key: str) -> Located:
    offset = 0
    found: Located | None = None
    for line in text.splitlines(keepends=True):
        match = _ENV_KEY.match(line)
        if match and match.group(1) == key:
            body = line[match.end() :].rstrip("\r\n")
            if body[:1] in ("'", '"'):
                close = body.find(body[0], 1)
                if close < 0:
                    raise AdapterError(f"{key} has an unclosed quote")
                start = offset + match.end()
                found = Located(body[1:close], start, start + close + 1)
            else:
                found = _value_span(line, match.end(), offset)
        offset += len(line)
    if found is None:
        raise AdapterError(f"no variable {key!r} in the file")
    return found


def scaled(current: Scalar, factor: float, low: float | None, high: float | None) -> int | float:
    """``current × factor`` within ``[low, high]``; an integer moves by one step at least."""
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise AdapterError(f"'factor' needs a number, the file holds {current!r}")
    if isinstance(current, int):
        floor = math.ceil(low) if low is not None else -sys.maxsize
        ceiling = math.floor(high) if high is not None else sys.maxsize
        return resized(current, factor, low=floor, high=ceiling)
    wanted = current * factor
    if low is not None:
        wanted = max(wanted, low)
    if high is not None:
        wanted = min(wanted, high)
    return wanted


class ConfigSetParams(BaseModel):
    """Which setting, in which file of which repository, and what it becomes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repo: str = Field(min_length=1, description="the git working tree holding the file")
    file: str = Field(min_length=1, description="the file, relative to the repository")
    key: str = Field(min_length=1, max_length=200)
    value: Scalar = None
    factor: float | None = Field(default=None, gt=0.0, le=10.0)
    min: float | None = None
    max: float | None = None
    format: ConfigFormat | None = None
    push: bool = False
    remote: str = Field(default="origin", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    branch: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_./-]{1,200}$")
    timeout_s: float = Field(default=30.0, gt=0.0, le=300.0)

    @model_validator(mode="before")
    @classmethod
    def _value_or_factor(cls, data: object) -> object:
        if isinstance(data, dict) and ("value" in data) == (data.get("factor") is not None):
            raise ValueError("exactly one of 'value' and 'factor' is needed")
        return data

    @field_validator("key")
    @classmethod
    def _not_a_secret(cls, value: str) -> str:
        """The old and the new value travel in the plan, the decision, the action's record,
        its undo and the audit trail, where a secret must never be: refused by its name."""
        if is_secret_key(value):
            raise ValueError(
                f"{value!r} names a secret (see vanguard.redact.SECRET_KEY_PARTS); config.set "
                "records the old and the new value in the decision and the audit trail, so it "
                "does not change secrets: keep them in a secret manager"
            )
        return value

    @model_validator(mode="after")
    def _inside(self) -> ConfigSetParams:
        if Path(self.file).is_absolute() or ".." in Path(self.file).parts:
            raise ValueError("'file' is a path inside the repository, without '..'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} > max {self.max}")
        return self

    @model_validator(mode="after")
    def _one_line(self) -> ConfigSetParams:
        """A string value stays on its line: in an INI or ``.env`` file a line break would
        start a setting or a section of the value's choosing."""
        if not isinstance(self.value, str):
            return self
        if "".join(self.value.splitlines()) != self.value:
            raise ValueError(
                f"'value' {self.value!r} holds a line break; config.set writes one value on "
                "its line, so a line break would add lines to the file: give a one-line value"
            )
        try:
            fmt = file_format(self.file, self.format)
        except AdapterError:
            return self
        if fmt == "ini" and self.value.lstrip().startswith("["):
            raise ValueError(
                f"'value' {self.value!r} starts with '[', which an INI reader may take for a "
                "section header: give the value without it"
            )
        return self

    @property
    def path(self) -> Path:
        return Path(self.repo) / self.file

    def label(self) -> str:
        return f"{self.key} in {self.file}"


class ConfigSetAdapter:
    """``config.set``: one setting changed in place, committed, optionally pushed, once per key."""

    kind: ClassVar[str] = "config.set"
    params_model: ClassVar[type[BaseModel]] = ConfigSetParams

    def __init__(self, ledger: Ledger, clock: Callable[[], datetime] = utcnow) -> None:
        self.ledger = ledger
        self.clock = clock

    @staticmethod
    def params(raw: dict[str, JsonValue]) -> ConfigSetParams:
        return validate_params(ConfigSetParams, "config.set", raw)

    @staticmethod
    def _read(p: ConfigSetParams) -> str:
        return read_config(p.path)

    def _target(self, p: ConfigSetParams, current: Scalar) -> Scalar:
        if p.factor is None:
            return p.value
        return scaled(current, p.factor, p.min, p.max)

    def plan(self, request: ActionRequest) -> Plan:
        p = self.params(request.params)
        fmt = file_format(p.file, p.format)
        current = locate(self._read(p), fmt, p.key).value
        target = self._target(p, current)
        steps = [
            f"set {p.label()} {current!r} → {target!r} (only that value's text changes)",
            f"commit it to {p.repo} with the action's key as a trailer",
        ]
        if p.push:
            steps.insert(0, f"fast-forward {p.repo} from {p.remote}")
            steps.append(f"push to {p.remote}/{p.branch or '<the checked-out branch>'}")
        steps.append(f"verify: the file holds {target!r} and the commit is on the branch")
        return Plan(action=self.kind, target=request.target, steps=tuple(steps), undoable=True)

    def apply(self, request: ActionRequest) -> ActionResult:
        p = self.params(request.params)
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        fmt = file_format(p.file, p.format)
        repo = GitRepo(Path(p.repo), timeout_s=p.timeout_s)
        with repo.locked():
            branch = (p.branch or repo.branch()) if p.push else None
            if entry is None:
                current, target = self._change(p, fmt, repo, branch, key)
                finished = begin_once(self.ledger, key, {"value": current, "target": target})
                if finished is not None:
                    return finished
            else:
                current = _scalar(entry.before.get("value"))
                target = _scalar(entry.before.get("target"))
                if repo.find(key) is None and not self._drop_own_edit(p, fmt, repo, target):
                    raise _someones_edit(p, "this action")
                if branch is not None:
                    repo.pull(p.remote, branch)
            commit = repo.find(key)
            if commit is None:
                text = self._read(p)
                now = locate(text, fmt, p.key).value
                if entry is not None and not (_same(now, current) or _same(now, target)):
                    raise ActionFailed(
                        f"{p.label()} is {now!r} now, neither the {current!r} it was when this "
                        f"action began nor the {target!r} it sets: a person changed it since "
                        f"the action began, so Vanguard does not write {target!r} over it; "
                        "a person must look"
                    )
                if not _same(now, target):
                    replace_file(p.path, with_value(text, fmt, p.key, target))
                commit = repo.commit(
                    [p.path],
                    f"auto: set {p.key} {current!r}→{target!r} in {p.file}, "
                    f"incident {request.incident_id}",
                    key=key,
                )
                if branch is not None:
                    self._push_or_take_back(p, repo, branch, commit, text)
            elif branch is not None:
                repo.push(p.remote, branch)
        state: dict[str, JsonValue] = {
            "repo": p.repo,
            "file": p.file,
            "key": p.key,
            "format": fmt,
            "push": p.push,
            "remote": p.remote,
            "branch": branch,
            "timeout_s": p.timeout_s,
        }
        result = ActionResult(
            idempotency_key=key,
            incident_id=request.incident_id,
            action=self.kind,
            target=request.target,
            applied=True,
            before={**state, "value": current},
            after={**state, "value": target, "commit": commit},
            undo=UndoRecord(
                action=self.kind,
                target=request.target,
                possible=True,
                params={**state, "value": current, "applied": target, "commit": commit},
                instructions=(
                    f"`vanguard rollback {request.incident_id}`, or by hand: "
                    f"`git -C {p.repo} revert {commit}`"
                    + (f" and push to {p.remote}/{branch}" if branch else "")
                    + f" (restores {p.key} to {current!r})"
                ),
            ),
            message=f"set {p.label()} {current!r} → {target!r} (commit {commit[:10]}"
            + (f", pushed to {p.remote}/{branch})" if branch else ")"),
            finished_at=self.clock(),
        )
        self.ledger.finish(key, result)
        return result

    def _change(
        self, p: ConfigSetParams, fmt: ConfigFormat, repo: GitRepo, branch: str | None, key: str
    ) -> tuple[Scalar, Scalar]:
        """Check that the change may be made; ``(current, target)``."""
        if repo.dirty(p.path):
            raise ActionFailed(
                f"{p.file} has changes nobody committed in {p.repo}; refusing to commit "
                "someone's edit with Vanguard's: commit or discard it first"
            )
        earlier = repo.find(key)
        if earlier is not None:
            raise ActionFailed(
                f"commit {earlier[:10]} in {p.repo} already carries this action's key, but the "
                "store has no record of it (a lost or different store?): not applying it again"
            )
        if branch is not None:
            repo.pull(p.remote, branch)
        current = locate(self._read(p), fmt, p.key).value
        target = self._target(p, current)
        if target == current:
            raise ActionFailed(
                f"{p.label()} is already {current!r}"
                + (f" (bounds {p.min}..{p.max})" if p.factor is not None else "")
                + "; nothing to change"
            )
        return current, target

    def _drop_own_edit(
        self, p: ConfigSetParams, fmt: ConfigFormat, repo: GitRepo, edited: Scalar
    ) -> bool:
        """Before an interrupted action is finished: whether the file is clean, or differs
        from HEAD only in the setting, which holds ``edited`` (the action's own edit, not
        committed yet; it is taken out, to be made again after the pull). ``False``: a
        person's edit is there, which Vanguard must never commit under its name.
        """
        if not repo.dirty(p.path):
            return True
        text = self._read(p)
        head = repo.show("HEAD", p.path)
        if not _only_the_value_differs(text, head, fmt, p.key) or not _same(
            locate(text, fmt, p.key).value, edited
        ):
            return False
        replace_file(p.path, head)
        return True

    @staticmethod
    def _push_or_take_back(
        p: ConfigSetParams, repo: GitRepo, branch: str, commit: str, text: str
    ) -> None:
        """Push the new commit; if that fails, take the commit and the edit back, then raise.

        Left on the branch, an unpushed commit would be deployed by the next push, although
        its action is recorded as failed.
        """
        try:
            repo.push(p.remote, branch)
        except (ActionFailed, AdapterError) as exc:
            if _landed(repo, p.remote, branch, commit):
                return
            try:
                repo.undo_commit(commit, p.path, text.encode("utf-8"))
            except (VanguardError, OSError) as undo:
                raise PartlyApplied(
                    f"{exc}; taking the commit back failed too ({undo}): commit {commit[:10]} "
                    f"is still on {branch} in {p.repo}, not pushed; drop it by hand"
                ) from exc
            raise type(exc)(f"{exc} (the commit and the edit were taken back)") from exc

    def _refuse_if_changed_since(
        self, p: ConfigSetParams, fmt: ConfigFormat, repo: GitRepo, applied: Scalar
    ) -> None:
        """Refuse to undo over someone else's change: the file must hold what the action set.

        Restoring the old value over a newer one (a person raised the limit again since)
        would take production somewhere nobody chose; the failure escalates instead.
        """
        if repo.dirty(p.path):
            raise ActionFailed(
                f"{p.file} has changes nobody committed in {p.repo}; not rolled back, so as "
                "not to commit someone's edit with the undo: commit or discard it first"
            )
        now = locate(self._read(p), fmt, p.key).value
        if not (_same(now, applied) or _same(now, p.value)):
            raise ActionFailed(
                f"{p.label()} is {now!r} now, not the {applied!r} the action set: someone "
                f"changed it since, so it is not rolled back to {p.value!r}"
            )

    @staticmethod
    def _refuse_if_moved(p: ConfigSetParams, fmt: ConfigFormat, text: str, started: Scalar) -> None:
        """A rollback being finished: the file holds what it held when the rollback began,
        or the value it restores; anything else is a person's change since."""
        now = locate(text, fmt, p.key).value
        if not (_same(now, started) or _same(now, p.value)):
            raise ActionFailed(
                f"{p.label()} is {now!r} now, neither the {started!r} it was when the "
                f"rollback began nor the {p.value!r} it restores: a person changed it since "
                f"the rollback began, so it is not set back to {p.value!r}; a person must look"
            )

    def _recorded(self, state: dict[str, JsonValue]) -> ConfigSetParams:
        """The params an action recorded (``value``: what the file should hold)."""
        names = ("repo", "file", "key", "format", "push", "remote", "timeout_s", "value")
        return self.params({name: state.get(name) for name in names})

    def verify(self, result: ActionResult) -> Check:
        """The file holds the value and the commit is on the branch (and the remote's)."""
        after = result.after
        p = self._recorded(after)
        fmt = file_format(p.file, p.format)
        held = locate(self._read(p), fmt, p.key).value
        commit = str(after.get("commit"))
        repo = GitRepo(Path(p.repo), timeout_s=p.timeout_s)
        head = repo.head()
        observed: dict[str, JsonValue] = {"value": held, "commit": commit, "head": head}
        if held != p.value:
            return Check(ok=False, reason=f"the file holds {held!r}", observed=observed)
        if head is None or not repo.contains(commit, head):
            return Check(ok=False, reason=f"commit {commit[:10]} is not on HEAD", observed=observed)
        branch = after.get("branch")
        if p.push and isinstance(branch, str):
            remote = repo.remote_head(p.remote, branch)
            observed["remote_head"] = remote
            if remote is None or not repo.contains(commit, remote):
                return Check(
                    ok=False,
                    reason=f"{p.remote}/{branch} does not have commit {commit[:10]}",
                    observed=observed,
                )
        return Check(ok=True, reason=f"{p.label()} is {held!r}, committed", observed=observed)

    def rollback(self, request: RollbackRequest) -> ActionResult:
        """Revert the commit (an edit naming it when the file moved on), push it the same way."""
        undo = request.undo
        key = request.idempotency_key
        entry = self.ledger.get(key)
        if entry is not None and entry.result is not None:
            return entry.result
        raw = undo.params
        p = self._recorded(raw)
        fmt = file_format(p.file, p.format)
        branch = raw.get("branch") if p.push else None
        repo = GitRepo(Path(p.repo), timeout_s=p.timeout_s)
        commit = raw.get("commit")
        with repo.locked():
            if entry is None:
                if isinstance(branch, str):
                    repo.pull(p.remote, branch)
                self._refuse_if_changed_since(p, fmt, repo, _scalar(raw.get("applied")))
                started = locate(self._read(p), fmt, p.key).value
                finished = begin_once(self.ledger, key, {"value": started})
                if finished is not None:
                    return finished
            else:
                started = _scalar(entry.before.get("value"))
                dropped = self._drop_own_edit(p, fmt, repo, p.value)
                if not dropped and repo.find(key) is None:
                    raise _someones_edit(p, "the rollback")
                if isinstance(branch, str):
                    repo.pull(p.remote, branch)
            text = self._read(p)
            revert = repo.find(key)
            made: str | None = None
            if revert is None:
                if entry is not None:
                    self._refuse_if_moved(p, fmt, text, started)
                if isinstance(commit, str):
                    restored = with_value(text, fmt, p.key, p.value)
                    revert = made = repo.revert(commit, p.path, restored, key=key)
            now = self._read(p)
            if not _same(locate(now, fmt, p.key).value, p.value):
                self._refuse_if_moved(p, fmt, now, started)
                if repo.dirty(p.path):
                    raise ActionFailed(
                        f"{p.file} has changes nobody committed in {p.repo}; {p.key} is not "
                        f"restored to {p.value!r}, so as not to commit someone's edit with "
                        "the undo: a person must look, then commit or discard the edit"
                    )
                replace_file(p.path, with_value(now, fmt, p.key, p.value))
                revert = repo.commit(
                    [p.path],
                    f"auto: restore {p.key} to {p.value!r} in {p.file}, "
                    f"incident {request.incident_id}",
                    key=f"{key}:restore",
                )
            if isinstance(branch, str):
                if made is not None and revert == made:
                    self._push_or_take_back(p, repo, branch, made, text)
                else:
                    repo.push(p.remote, branch)
        result = ActionResult(
            idempotency_key=key,
            incident_id=request.incident_id,
            action=self.kind,
            target=undo.target,
            applied=True,
            before={"value": raw.get("applied"), "commit": commit},
            after={"value": p.value, "commit": revert},
            undo=UndoRecord(
                action=self.kind,
                target=undo.target,
                possible=False,
                instructions=f"this restored {p.label()} to {p.value!r}; "
                "repeat the action to change it again",
            ),
            message=f"restored {p.label()} to {p.value!r}"
            + (f" (commit {revert[:10]})" if revert else ""),
            finished_at=self.clock(),
        )
        self.ledger.finish(key, result)
        return result


def _landed(repo: GitRepo, remote: str, branch: str, commit: str) -> bool:
    """Whether the remote has ``commit`` although the push reported a failure (it can time
    out after the remote updated its branch); asking it may fail too, which means no."""
    try:
        head = repo.remote_head(remote, branch)
        return head is not None and repo.contains(commit, head)
    except (VanguardError, OSError):
        return False


def _someones_edit(p: ConfigSetParams, what: str) -> ActionFailed:
    return ActionFailed(
        f"{p.file} has changes nobody committed in {p.repo}, made since {what} began (it was "
        "interrupted and is being finished); not finishing it, so as not to commit someone's "
        "edit with Vanguard's: a person must look, then commit or discard the edit"
    )


def _only_the_value_differs(text: str, base: str, fmt: ConfigFormat, key: str) -> bool:
    """Whether ``text`` is ``base`` with only ``key``'s value text changed."""
    try:
        edited, original = locate(text, fmt, key), locate(base, fmt, key)
    except AdapterError:
        return False
    before, after = text[: edited.start], text[edited.end :]
    return before == base[: original.start] and after == base[original.end :]


def _same(a: Scalar, b: Scalar) -> bool:
    """Equal values of the same kind (``1`` is not ``true``)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _scalar(value: JsonValue) -> Scalar:
    if isinstance(value, dict | list):
        raise AdapterError(f"expected one value, the ledger holds {value!r}")
    return value
