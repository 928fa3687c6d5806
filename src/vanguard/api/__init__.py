"""HTTP API: health, incidents, metrics, webhooks, and a read-only dashboard."""

from vanguard.api.app import create_app

__all__ = ["create_app"]
