"""Command-line entry point ``vanguard``.

Each command module attaches its commands to the apps in ``apps``; importing them here
registers them. ``main`` turns a ``VanguardError`` into a one-line message and an exit code
(2 for bad input or configuration, 1 otherwise) instead of a traceback.
"""

from __future__ import annotations

import sys

from rich.console import Console

from vanguard.cli import ci, core, detect, github_cmd, rollback_cmd  # noqa: F401  (registers commands)
from vanguard.cli.apps import app
from vanguard.errors import ConfigError, InputError, VanguardError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app(standalone_mode=True)
    except (ConfigError, InputError) as exc:
        Console(stderr=True).print(f"[red]error[/red] [{exc.code}] {exc}", highlight=False)
        sys.exit(2)
    except VanguardError as exc:
        Console(stderr=True).print(f"[red]error[/red] [{exc.code}] {exc}", highlight=False)
        sys.exit(1)
