"""Command-line entry point ``vanguard``.

Each command module attaches its commands to the apps in ``apps``; importing them here
registers them. ``main`` turns a ``VanguardError`` into one unwrapped line on stderr and an
exit code (2 for bad input or configuration, or a store that is not there; 1 otherwise)
instead of a traceback; a configuration error reads ``file:line: key: message`` so editors
can jump to it.
"""

from __future__ import annotations

import inspect
import os
import sys

import typer

from vanguard.cli import (  # noqa: F401  (registers commands)
    approve_cmd,
    audit_cmd,
    automation_cmd,
    breakages_cmd,
    ci,
    core,
    detect,
    github_cmd,
    notify_cmd,
    patterns_cmd,
    replay_cmd,
    rollback_cmd,
    store_cmd,
)
from vanguard.cli.apps import app
from vanguard.errors import ConfigError, InputError, StoreNotFound, VanguardError

__all__ = ["app", "main"]


def _reflow(doc: str) -> str:
    """A docstring as help: paragraphs joined into lines the terminal wraps, ``code`` quoted."""
    paragraphs = (" ".join(part.split()) for part in doc.split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p).replace("``", "'")


def _plain_help(group: typer.Typer) -> None:
    for info in group.registered_commands:
        doc = info.help or (inspect.getdoc(info.callback) if info.callback else None)
        if doc:
            info.help = _reflow(doc)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _plain_help(sub.typer_instance)


_plain_help(app)


PIPED_COLUMNS = "200"
"""Width of output that goes to a file or a CI log: rich would wrap it at 80 columns,
breaking warnings mid-sentence and squeezing table columns to a few characters."""


def main() -> None:
    if not sys.stdout.isatty():
        os.environ.setdefault("COLUMNS", PIPED_COLUMNS)
    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        sys.stderr.write("".join(f"{line}\n" for line in (str(exc), *exc.more)))
        sys.exit(2)
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except VanguardError as exc:
        sys.stderr.write(f"error [{exc.code}]: {exc}\n")
        sys.exit(2 if isinstance(exc, StoreNotFound) else 1)
