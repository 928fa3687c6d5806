"""Triage issues, CODEOWNERS and comment commands: the pure half of talking to people.

One issue per failure fingerprint: ``issue_label`` names it, so it can be found again, and
``render_issue`` writes its title, labels and body (the explaining lines and links to every
run). ``owners_for`` reads CODEOWNERS the way GitHub does (last matching rule wins).
``parse_command`` and ``is_authorised`` decide whether a comment is a command Vanguard obeys.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "OUTAGE_LABEL",
    "PERMISSION_RANK",
    "Command",
    "IssueDraft",
    "RunLink",
    "TriageFacts",
    "is_authorised",
    "is_outage_issue",
    "issue_label",
    "owners_for",
    "parse_codeowners",
    "parse_command",
    "render_issue",
]

MAX_LINES = 20
MAX_LINE_CHARS = 300
MAX_RUN_LINKS = 50
_OWNER = re.compile(r"@[\w.-]+(?:/[\w.-]+)?|[^@\s]+@[^@\s]+")
OUTAGE_LABEL = "ci:outage"
"""Marks the issue of an outage (one fingerprint failing in many repositories)."""
OUTAGE_KIND = "CI outage"
PERMISSION_RANK = {"none": 0, "read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunLink(_Frozen):
    repository: str
    run_id: int
    attempt: int = 1
    url: str | None = None
    workflow: str = ""
    head_sha: str = ""


class TriageFacts(_Frozen):
    """Everything an issue for one fingerprint says."""

    repository: str
    fingerprint: str
    category: str
    retryable: bool
    lines: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()
    headline: str = ""
    runs: tuple[RunLink, ...] = ()
    owners: tuple[str, ...] = ()
    outage_repositories: tuple[str, ...] = ()
    heal_reason: str = ""
    failed_step: str | None = None
    compared_with: str | None = None
    """The passing job the log was compared with (a link), when there was one."""


class IssueDraft(_Frozen):
    title: str = Field(min_length=1, max_length=256)
    body: str
    labels: tuple[str, ...]
    assignees: tuple[str, ...] = ()


def issue_label(fingerprint: str) -> str:
    """The label that marks the one issue of a fingerprint (GitHub caps labels at 50 chars)."""
    return f"vanguard-fp:{fingerprint[:16]}"


MARKER = "<!-- vanguard -->"
"""Ends everything Vanguard posts: a comment carrying it is never taken as a command."""

_MENTION = re.compile(r"@(?=[\w-])")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s<>'\"]+?(?=[.,;:!?)]*(?:[\s<>'\"]|$))")
"""A URL up to the space or quote after it, its trailing punctuation left to the sentence."""


def _clip(text: str) -> str:
    """A log line for a fenced block: no backtick (it could close the fence), clipped."""
    text = text.replace("`", "'")
    return text if len(text) <= MAX_LINE_CHARS else text[: MAX_LINE_CHARS - 1] + "…"


def _plain(text: str) -> str:
    """Text from a log or a payload outside a code block: no mention pings anybody.

    ``@name`` and ``@org/team`` get a zero-width space after the ``@``; backticks are
    replaced as in code blocks. A URL is kept as it was, so it can still be copied
    (``https://user:[REDACTED]@host``); one holding an ``@`` goes in a code span instead,
    where nothing is a mention either.
    """
    clipped = _clip(text)
    kept: list[str] = []
    end = 0
    for url in _URL.finditer(clipped):
        kept.append(_MENTION.sub("@\u200b", clipped[end : url.start()]))
        kept.append(f"`{url.group()}`" if "@" in url.group() else url.group())
        end = url.end()
    kept.append(_MENTION.sub("@\u200b", clipped[end:]))
    return "".join(kept)


def render_comment(
    run: RunLink,
    lines: Sequence[str],
    heal_reason: str,
    outage_repositories: Sequence[str] = (),
) -> str:
    """The comment for a fingerprint failing again: the run, the lines, what Vanguard did,
    and for an outage the repositories failing now (the issue's body lists those of the
    first window; repositories that joined since are only named here)."""
    where = run.url or f"https://github.com/{run.repository}/actions/runs/{run.run_id}"
    in_repo = f" in {_plain(run.repository)}" if outage_repositories else ""
    parts = [
        f"Failed again{in_repo}: {_plain(run.workflow or 'run')} #{run.run_id} "
        f"attempt {run.attempt} ({where}).",
        "",
        "```",
        *(_clip(line) for line in lines[:10]),
        "```",
    ]
    if outage_repositories:
        parts += [
            "",
            f"**Failing in {len(outage_repositories)} repositories now:** "
            + ", ".join(_plain(r) for r in outage_repositories),
        ]
    if heal_reason:
        parts += ["", _plain(heal_reason)]
    parts += ["", MARKER]
    return "\n".join(parts)


def render_issue(facts: TriageFacts, base_labels: Sequence[str]) -> IssueDraft:
    """Title, labels and body for the fingerprint's issue; deterministic for equal facts."""
    outage = bool(facts.outage_repositories)
    kind = OUTAGE_KIND if outage else "CI failure"
    best = facts.headline or (facts.lines[0] if facts.lines else "")
    headline = _plain(best.strip()) if best.strip() else facts.category
    title = f"[vanguard] {kind}: {facts.category}: {headline}"[:256]
    labels = tuple(
        dict.fromkeys(
            [
                *base_labels,
                issue_label(facts.fingerprint),
                f"ci:{facts.category}"[:50],
                *([OUTAGE_LABEL] if outage else []),
                *(["ci:flaky"] if facts.category == "flaky_test" else []),
            ]
        )
    )
    body = [
        f"**Failure class:** `{facts.category}` "
        f"({'retryable' if facts.retryable else 'deterministic: never re-run'})",
        f"**Fingerprint:** `{facts.fingerprint}`",
    ]
    if facts.failed_step:
        body.append(f"**Failed step:** `{_clip(facts.failed_step)}`")
    if facts.compared_with:
        body.append(
            f"**Compared with a passing run:** {facts.compared_with} "
            "(lines it printed too are ranked lower)"
        )
    if facts.heal_reason:
        body.append(f"**What Vanguard did:** {_plain(facts.heal_reason)}")
    if outage:
        body.append(
            f"**Failing in {len(facts.outage_repositories)} repositories at once:** "
            + ", ".join(facts.outage_repositories)
        )
    if facts.owners:
        body.append("**Owners (CODEOWNERS):** " + " ".join(facts.owners))
    body.append("")
    body.append("### Explaining lines")
    body.append("```")
    body.extend(_clip(line) for line in facts.lines[:MAX_LINES])
    body.append("```")
    if facts.candidates:
        body.append("")
        body.append("### Other candidate lines")
        body.append("```")
        body.extend(_clip(line) for line in facts.candidates[:MAX_LINES])
        body.append("```")
    body.append("")
    body.append("### Runs")
    for run in facts.runs[:MAX_RUN_LINKS]:
        where = run.url or f"https://github.com/{run.repository}/actions/runs/{run.run_id}"
        sha = f" at `{run.head_sha[:7]}`" if run.head_sha else ""
        name = _plain(run.workflow or "run")
        other = run.repository.lower() != facts.repository.lower()
        repo = f"{_plain(run.repository)}: " if outage or other else ""
        body.append(f"- {repo}{name} #{run.run_id} attempt {run.attempt}{sha}: {where}")
    body.append("")
    body.append(_commands(facts))
    body.append(MARKER)
    assignees = tuple(o[1:] for o in facts.owners if o.startswith("@") and "/" not in o)
    return IssueDraft(title=title, body="\n".join(body), labels=labels, assignees=assignees)


def is_outage_issue(labels: Iterable[str], title: str) -> bool:
    """Whether an issue is an outage's: its label, or the title Vanguard last gave it (the
    label may have been taken off)."""
    return OUTAGE_LABEL in labels or title.startswith(f"[vanguard] {OUTAGE_KIND}:")


def _commands(facts: TriageFacts) -> str:
    """The issue's last line: the comment commands, saying what each does for this issue."""
    if facts.outage_repositories:
        return (
            "Comment `/vanguard ignore` (authorised users only) to stop Vanguard acting on "
            "this outage: while the fingerprint fails in many repositories at once, none of "
            "them is re-run for it and this issue is neither commented on nor reopened; "
            "`/vanguard retry` lifts that. Nothing is re-run from this issue: re-run each "
            "repository's failed run once the outage is over."
        )
    if facts.retryable:
        return (
            "Comment `/vanguard retry` to re-run the latest failed run, or `/vanguard ignore` "
            "to stop re-running this fingerprint, commenting here and reopening this issue "
            "(authorised users only)."
        )
    return (
        "Comment `/vanguard retry` to re-run the latest failed run all the same (this class "
        "is never re-run otherwise), or `/vanguard ignore` to stop commenting here and "
        "reopening this issue (authorised users only)."
    )


def parse_codeowners(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Rules ``(pattern, owners)`` in file order; comments and owner-less lines dropped."""
    rules: list[tuple[str, tuple[str, ...]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *owners = line.split()
        valid = tuple(
            o for o in owners if re.fullmatch(r"@[\w.-]+(?:/[\w.-]+)?|[^@\s]+@[^@\s]+", o)
        )
        if valid:
            rules.append((pattern, valid))
    return rules


def _matches(pattern: str, path: str) -> bool:
    anchored = pattern.startswith("/")
    pat = pattern.strip("/")
    if pattern in {"*", "/*", "**"}:
        return True
    if pattern.endswith("/"):
        return path.startswith(pat + "/") or (not anchored and f"/{pat}/" in f"/{path}")
    if anchored or "/" in pat:
        return fnmatch.fnmatch(path, pat) or path.startswith(pat + "/")
    return any(fnmatch.fnmatch(part, pat) for part in path.split("/")) or fnmatch.fnmatch(path, pat)


def owners_for(
    rules: Sequence[tuple[str, tuple[str, ...]]], paths: Iterable[str]
) -> tuple[str, ...]:
    """Owners of ``paths`` (the last matching rule per path wins); repo-wide rule otherwise."""
    found: list[str] = []
    wanted = list(paths) or [".github/workflows/"]
    for path in wanted:
        winner: tuple[str, ...] = ()
        for pattern, owners in rules:
            if _matches(pattern, path.lstrip("/")):
                winner = owners
        found.extend(winner)
    return tuple(dict.fromkeys(found))


class Command(StrEnum):
    retry = "retry"
    ignore = "ignore"


_COMMAND = re.compile(r"^ {0,3}/vanguard[ \t]+(retry|ignore)[ \t]*$", re.MULTILINE | re.IGNORECASE)
_HIDDEN = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|^ {0,3}(?P<tick>`{3,})[^`\n]*\n.*?(?:^ {0,3}(?P=tick)`*[ \t]*$|\Z)"
    r"|^ {0,3}(?P<tilde>~{3,})[^\n]*\n.*?(?:^ {0,3}(?P=tilde)~*[ \t]*$|\Z)"
    r"|(?i:<(?P<tag>pre|code|samp)\b[^>]*>.*?(?:</(?P=tag)\s*>|\Z))",
    re.DOTALL | re.MULTILINE,
)
"""HTML comments, fenced code blocks and ``<pre>``, ``<code>`` and ``<samp>`` elements (all
shown as code), as CommonMark reads them: a backtick fence's info string has no backtick
(a line starting with inline code is prose), and a block closes with a fence of its own
character at least as long."""


def parse_command(body: str | None) -> Command | None:
    """The ``/vanguard retry|ignore`` command on a line of its own, if any (the first wins).

    Only text a reader sees as prose counts: a line inside a fenced or indented code block,
    a ``<pre>``, ``<code>`` or ``<samp>`` element or an HTML comment is not a command (a
    log line quoted in a comment must not order a re-run), nor is a comment Vanguard wrote
    itself (it ends with ``MARKER``).
    """
    if not body or MARKER in body:
        return None
    found = _COMMAND.search(_HIDDEN.sub("", body.replace("\r\n", "\n")))
    return Command(found.group(1).lower()) if found else None


def is_authorised(
    login: str,
    *,
    allowed: Sequence[str],
    permission: str | None,
    min_permission: str,
) -> tuple[bool, str]:
    """Whether ``login`` may command Vanguard: listed by name, or has enough repo permission."""
    if login.lower() in {a.lower() for a in allowed}:
        return True, f"{login} is in the configured list of authorised users"
    if permission is not None and PERMISSION_RANK.get(permission, 0) >= PERMISSION_RANK.get(
        min_permission, 3
    ):
        return True, f"{login} has {permission} permission (at least {min_permission})"
    have = permission or "no known"
    return False, f"{login} has {have} permission; {min_permission} or a listed name is required"
