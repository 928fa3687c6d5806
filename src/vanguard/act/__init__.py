"""Adapters: the only code that changes the world, each behind the same protocol."""

from vanguard.act.base import Adapter, Ledger, LedgerEntry, MemoryLedger
from vanguard.act.registry import ADAPTER_FACTORIES, build_adapters, check_patterns

__all__ = [
    "ADAPTER_FACTORIES",
    "Adapter",
    "Ledger",
    "LedgerEntry",
    "MemoryLedger",
    "build_adapters",
    "check_patterns",
]
