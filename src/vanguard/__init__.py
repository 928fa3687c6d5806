"""Vanguard: detect, diagnose, decide, act, verify, roll back, notify, learn."""

from vanguard.errors import VanguardError

__version__ = "0.1.0"

__all__ = ["VanguardError", "__version__"]
