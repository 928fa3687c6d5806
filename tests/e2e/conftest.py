"""Fixtures for whole scenarios (see tests/leaks.py)."""

from tests.leaks import leaky

__all__ = ["leaky"]
