"""Adapters: the only code that changes the world, each behind the same protocol."""

from vanguard.act.base import Adapter, Ledger, LedgerEntry, MemoryLedger

__all__ = ["Adapter", "Ledger", "LedgerEntry", "MemoryLedger"]
