"""Command-line entry point ``vanguard``.

Each command module attaches its commands to the apps in ``apps``; importing them here
registers them. ``main`` turns a ``VanguardError`` into one unwrapped line on stderr and an
exit code (2 for bad input or configuration, 1 otherwise) instead of a traceback; a
configuration error reads ``file:line: key: message`` so editors can jump to it.
"""

from __future__ import annotations

import sys

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
)
from vanguard.cli.apps import app
from vanguard.errors import ConfigError, InputError, VanguardError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app(standalone_mode=True)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        sys.exit(2)
    except InputError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)
    except VanguardError as exc:
        sys.stderr.write(f"error [{exc.code}]: {exc}\n")
        sys.exit(1)
