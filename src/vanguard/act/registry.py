"""The explicit map from action kind to adapter, built once with its clients.

No class-level registry and no discovery by name: ``build_adapters`` lists every kind
Vanguard ships, and a pattern naming a kind outside this map is rejected at load time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter, ValidationError

from vanguard.act.base import Adapter, Ledger
from vanguard.act.configfile import ConfigSetAdapter
from vanguard.act.github import GITHUB_ADAPTERS
from vanguard.act.pgbouncer import PgBouncerResizeAdapter
from vanguard.act.supervisor import SupervisorAdapter
from vanguard.act.webhook import WebhookCallAdapter
from vanguard.config import Settings
from vanguard.diagnose.patterns import Pattern
from vanguard.errors import ConfigError

__all__ = ["ADAPTER_FACTORIES", "build_adapters", "check_patterns"]

AdapterFactory = Callable[[Ledger, Settings], Adapter]


def _supervisor(ledger: Ledger, _settings: Settings) -> Adapter:
    return SupervisorAdapter(ledger)


def _pgbouncer(ledger: Ledger, _settings: Settings) -> Adapter:
    return PgBouncerResizeAdapter(ledger)


def _config_set(ledger: Ledger, _settings: Settings) -> Adapter:
    return ConfigSetAdapter(ledger)


def _webhook(ledger: Ledger, _settings: Settings) -> Adapter:
    return WebhookCallAdapter(ledger)


ADAPTER_FACTORIES: Mapping[str, AdapterFactory] = {
    SupervisorAdapter.kind: _supervisor,
    PgBouncerResizeAdapter.kind: _pgbouncer,
    WebhookCallAdapter.kind: _webhook,
    ConfigSetAdapter.kind: _config_set,
    **GITHUB_ADAPTERS,
}


def build_adapters(
    ledger: Ledger, settings: Settings, factories: Mapping[str, AdapterFactory] = ADAPTER_FACTORIES
) -> dict[str, Adapter]:
    return {kind: factory(ledger, settings) for kind, factory in factories.items()}


def check_patterns(patterns: Sequence[Pattern], adapters: Mapping[str, Adapter]) -> None:
    """Every pattern's remedy must name a known kind with parameters its model accepts."""
    for pattern in patterns:
        kind = pattern.remedy.action
        adapter = adapters.get(kind)
        if adapter is None:
            known = ", ".join(sorted(adapters))
            raise ConfigError(
                f"unknown action {kind!r} (known: {known})",
                file=f"pattern {pattern.id}",
                key="remedy.action",
            )
        fields = adapter.params_model.model_fields
        extra = set(pattern.remedy.params) - set(fields)
        if extra:
            raise ConfigError(
                f"unknown parameter(s) {sorted(extra)} for {kind}",
                file=f"pattern {pattern.id}",
                key="remedy.params",
            )
        for name, value in pattern.remedy.params.items():
            try:
                TypeAdapter[Any](fields[name].annotation or Any).validate_python(value)
            except ValidationError as exc:
                raise ConfigError(
                    f"invalid value {value!r} for {kind}: {exc.errors()[0]['msg']}",
                    file=f"pattern {pattern.id}",
                    key=f"remedy.params.{name}",
                ) from exc
