"""Every store test runs twice: on a SQLite file and on a fresh PostgreSQL database."""

from tests.stores import any_backend_store, store_url

__all__ = ["any_backend_store", "store_url"]
