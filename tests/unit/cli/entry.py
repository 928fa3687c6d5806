"""The ``vanguard`` entry point run in this process, as a user's shell would run it."""

from __future__ import annotations

import sys

import pytest

from vanguard.cli import main

__all__ = ["run"]


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """``vanguard *args`` through ``main``: its exit code (2 for bad input, 1 for failures)."""
    monkeypatch.setattr(sys, "argv", ["vanguard", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    code = exit_info.value.code
    return int(code) if isinstance(code, int) else 1
