"""Webhook receiver for alertmanager (being filled in)."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter()
