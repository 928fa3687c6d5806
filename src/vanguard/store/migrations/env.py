"""Alembic environment: runs on the connection ``open_store`` hands over, inside its transaction."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from vanguard.errors import StoreError
from vanguard.store.tables import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise StoreError("migrations run only through vanguard.store.open_store (no connection given)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
