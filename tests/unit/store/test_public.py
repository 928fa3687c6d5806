"""The store's public surface is exactly what the rest of Vanguard may rely on."""

from __future__ import annotations

import vanguard.store


def test_public_names_are_pinned() -> None:
    assert sorted(vanguard.store.__all__) == [
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
    for name in vanguard.store.__all__:
        assert getattr(vanguard.store, name) is not None
