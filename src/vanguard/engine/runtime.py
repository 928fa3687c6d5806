"""Assemble the loop from settings: store, patterns, adapters, notifiers, activities."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from vanguard.act.github import close_github
from vanguard.act.registry import build_adapters, check_patterns
from vanguard.config import NotifyTarget, Settings, resolve_secret
from vanguard.diagnose.patterns import load_patterns
from vanguard.engine.activities import Activities
from vanguard.notify import LogNotifier, Notifier, WebhookNotifier
from vanguard.store import SqlLedger, Store, open_store

__all__ = ["Runtime", "build_notifiers", "build_runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    activities: Activities

    def close(self) -> None:
        close_github(self.activities.adapters)
        self.activities.http.close()
        self.store.close()


def build_notifiers(targets: Sequence[NotifyTarget]) -> list[Notifier]:
    notifiers: list[Notifier] = []
    for target in targets:
        if target.kind == "log":
            notifiers.append(LogNotifier())
        else:
            url = target.url or resolve_secret(env=target.url_env, file=None, what="notify.url_env")
            secret = (
                resolve_secret(env=target.secret_env, file=target.secret_file, what="notify.secret")
                if target.secret_env or target.secret_file
                else None
            )
            notifiers.append(WebhookNotifier(url, secret=secret, format=target.format))
    return notifiers


def build_runtime(
    settings: Settings,
    *,
    notifiers: Sequence[Notifier] | None = None,
    verify_samples: int = 6,
) -> Runtime:
    """Open the store (migrating it), load and check patterns, wire the activities."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.resolved_store_url())
    ledger = SqlLedger(store)
    adapters = build_adapters(ledger, settings)
    try:
        patterns = load_patterns(settings.patterns_dirs)
        check_patterns(patterns, adapters)
        for pattern in patterns:
            if pattern.overrides:
                log.info("%s", pattern.overrides)
    except BaseException:
        close_github(adapters)
        store.close()
        raise
    activities = Activities(
        settings,
        store,
        patterns,
        adapters,
        ledger,
        build_notifiers(settings.notify) if notifiers is None else notifiers,
        verify_samples=verify_samples,
    )
    return Runtime(settings=settings, store=store, activities=activities)
