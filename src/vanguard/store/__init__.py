"""The store: incidents and their values, the audit trail and the idempotency ledger.

SQLAlchemy 2 over SQLite (the embedded default) or PostgreSQL, migrated by Alembic when
opened. Repositories work inside the caller's unit of work (``Store.session()``) and never
commit; ``SqlLedger`` commits each call because it must be durable before a side effect.
"""

from vanguard.redact import redact
from vanguard.store.audit import AuditEntry, AuditLog, ChainCheck
from vanguard.store.database import Store, default_store_url, open_store, redact_url
from vanguard.store.ledger import SqlLedger
from vanguard.store.pauses import PauseRepo
from vanguard.store.repo import IncidentRecord, IncidentRepo
from vanguard.store.watchstates import WatchStateRepo

__all__ = [
    "AuditEntry",
    "AuditLog",
    "ChainCheck",
    "IncidentRecord",
    "IncidentRepo",
    "PauseRepo",
    "SqlLedger",
    "Store",
    "WatchStateRepo",
    "default_store_url",
    "open_store",
    "redact",
    "redact_url",
]
