"""HTTP API: health, incidents, metrics (and webhooks as they arrive)."""

from vanguard.api.app import create_app

__all__ = ["create_app"]
