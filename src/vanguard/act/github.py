"""GitHub adapters: re-run failed jobs, open or update triage issues (being filled in)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from vanguard.act.base import Adapter, Ledger
from vanguard.config import Settings

__all__ = ["GITHUB_ADAPTERS"]

GITHUB_ADAPTERS: Mapping[str, Callable[[Ledger, Settings], Adapter]] = {}
