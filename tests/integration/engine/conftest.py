"""Fixtures for whole scenarios (see tests/leaks.py); ``store`` on SQLite and PostgreSQL."""

from tests.leaks import leaky
from tests.stores import any_backend_store, store_url

__all__ = ["any_backend_store", "leaky", "store_url"]
