"""The explicit map from action kind to adapter, built once with its clients.

No class-level registry and no discovery by name: ``build_adapters`` lists every kind
Vanguard ships, and a pattern naming a kind outside this map is rejected at load time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from pydantic import JsonValue, ValidationError

from vanguard.act.base import Adapter, Ledger
from vanguard.act.configfile import ConfigSetAdapter
from vanguard.act.github import GITHUB_ADAPTERS
from vanguard.act.pgbouncer import PgBouncerResizeAdapter
from vanguard.act.supervisor import SupervisorAdapter
from vanguard.act.webhook import WebhookCallAdapter
from vanguard.config import ServiceConfig, Settings
from vanguard.diagnose.patterns import Pattern
from vanguard.errors import describe_validation_error
from vanguard.redact import is_secret_key, redact_text

__all__ = [
    "ADAPTER_FACTORIES",
    "SERVICE_BOUND",
    "build_adapters",
    "check_patterns",
    "check_services",
    "remedy_params",
]

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
    """Every pattern's remedy must name a known kind with parameters its model accepts.

    The parameters meet the whole model: its ranges and patterns, its field validators
    and the checks across fields (``value`` or ``factor``, a key naming a secret), as
    ``apply`` will. What a service's section gives (``SERVICE_BOUND``) is stood in for.
    """
    for pattern in patterns:
        kind = pattern.remedy.action
        adapter = adapters.get(kind)
        if adapter is None:
            known = ", ".join(sorted(adapters))
            raise pattern.error(f"unknown action {kind!r} (known: {known})", "remedy", "action")
        params = pattern.remedy.params
        extra = set(params) - set(adapter.params_model.model_fields)
        if extra:
            raise pattern.error(
                f"unknown parameter(s) {sorted(extra)} for {kind}", "remedy", "params"
            )
        try:
            adapter.params_model.model_validate({**_stand_ins(kind, params), **params})
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                if loc and loc[0] not in params:
                    continue
                message = str(error["msg"]).removeprefix("Value error, ")
                if loc:
                    message = f"invalid value{_shown(loc, error['input'])} for {kind}: {message}"
                else:
                    message = f"{kind}: {message}"
                raise pattern.error(message, "remedy", "params", *loc) from exc


def _stand_ins(kind: str, params: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """Valid values for what the service's section gives ``kind``, where the pattern gives
    none, so the model's checks across fields run on the pattern's own parameters."""
    prefix = next((p for p in SERVICE_BOUND if kind.startswith(p)), "")
    return {
        name: value
        for name, value in _STAND_INS.get(prefix, {}).items()
        if name not in params and _ALTERNATIVE.get(name) not in params
    }


def _shown(loc: tuple[str | int, ...], value: object) -> str:
    """`` VALUE`` for a message, nothing under a key naming a secret or a variable."""
    name = str(loc[-1])
    if any(isinstance(part, str) and is_secret_key(part) for part in loc) or name.endswith("_env"):
        return ""
    return f" {redact_text(repr(value))}"


SERVICE_BOUND: Mapping[str, str] = {
    "supervisor.": "supervisor",
    "pgbouncer.": "pgbouncer",
    "webhook.": "webhook",
    "config.": "config_file",
}
"""Action kinds whose target comes from a section of the service, and that section's name.
(``github.*`` actions take theirs from the CI event that raised the alert.)"""
_URL_KEYS = ("url", "url_env", "undo_url", "undo_url_env", "secret_env", "secret_file")
_STAND_INS: Mapping[str, Mapping[str, JsonValue]] = {
    "supervisor.": {"url": "http://127.0.0.1:9001/RPC2", "program": "program"},
    "pgbouncer.": {"admin_dsn": "host=127.0.0.1", "ini_path": "pgbouncer.ini"},
    "config.": {"repo": "repo", "file": "settings.yaml"},
    "webhook.": {"url_env": "WEBHOOK_URL"},
}
"""For each section, valid values of the parameters it must give (``check_patterns``)."""
_ALTERNATIVE = {"url_env": "url"}
"""A stand-in left out when the pattern gives its alternative: a webhook takes one of them."""


def remedy_params(
    action: str, params: Mapping[str, JsonValue], service: ServiceConfig | None
) -> dict[str, JsonValue]:
    """The pattern's parameters with the service's section laid over them, as applied."""
    merged: dict[str, JsonValue] = dict(params)
    if service is None:
        return merged
    if action.startswith("supervisor.") and service.supervisor:
        merged.update(service.supervisor.model_dump(mode="json"))
    if action.startswith("pgbouncer.") and service.pgbouncer:
        pgb = service.pgbouncer
        merged.update(
            {
                "admin_dsn": pgb.admin_dsn,
                "ini_path": str(pgb.ini_path),
                "database": pgb.database,
                "max_pool_size": pgb.max_pool_size,
                "min_pool_size": pgb.min_pool_size,
                "git_repo": None if pgb.git_repo is None else str(pgb.git_repo),
                "timeout_s": pgb.timeout_s,
            }
        )
    if action.startswith("config.") and service.config_file:
        merged.update(service.config_file.params())
    if action.startswith("webhook.") and service.webhook:
        for name in _URL_KEYS:
            merged.pop(name, None)
        merged.update({k: v for k, v in service.webhook.params().items() if v is not None})
    return merged


def check_services(
    patterns: Sequence[Pattern], services: Sequence[ServiceConfig], adapters: Mapping[str, Adapter]
) -> Iterator[str]:
    """Problems a remedy would meet on a service it can be matched to, before any incident.

    A pattern can diagnose a service when it applies to the service's type and one of the
    metrics the service watches. For actions whose target comes from the service, the
    pattern's parameters with the service's section must satisfy the adapter: a missing
    section is a warning (the pattern may not be meant for that service), a value the
    adapter refuses a ``ConfigError``, since every incident there would fail.
    """
    for service in services:
        watched = {watch.metric for watch in service.watch}
        for pattern in patterns:
            kind = pattern.remedy.action
            prefix = next((p for p in SERVICE_BOUND if kind.startswith(p)), None)
            adapter = adapters.get(kind)
            if prefix is None or adapter is None:
                continue
            if not any(pattern.applies_to(service.type, metric) for metric in watched):
                continue
            params = remedy_params(kind, pattern.remedy.params, service)
            try:
                adapter.params_model.model_validate(params)
            except ValidationError as exc:
                section = SERVICE_BOUND[prefix]
                problems = describe_validation_error(exc, root="<params>")
                if any(error["type"] != "missing" for error in exc.errors()):
                    raise pattern.error(
                        f"on service {service.name}, with its '{section}:' section, {kind} "
                        f"refuses the parameters: {problems}",
                        "remedy",
                        "params",
                    ) from exc
                yield (
                    f"service {service.name}: pattern {pattern.id} would run {kind} on it, but "
                    f"{problems} (give the service a '{section}:' section, or the pattern "
                    "the parameters)"
                )
