"""Notify: render incidents for humans (with how to undo) and deliver them."""

from vanguard.notify.base import (
    BroadcastNotifier,
    LogNotifier,
    MemoryNotifier,
    Message,
    Notifier,
)
from vanguard.notify.channels import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    WebhookNotifier,
    sign,
    verify_signature,
)
from vanguard.notify.render import render, scrub, undo_hint

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "BroadcastNotifier",
    "LogNotifier",
    "MemoryNotifier",
    "Message",
    "Notifier",
    "WebhookNotifier",
    "render",
    "scrub",
    "sign",
    "undo_hint",
    "verify_signature",
]
