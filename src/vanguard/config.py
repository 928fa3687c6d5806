"""``vanguard.yaml``: what to watch, how to act on it, and the safety policy.

Validated by pydantic; every error names file, line, key and value. Secrets never live in
the file: a setting ends in ``_env`` (an environment variable's name) or ``_file`` (a path),
and ``resolve_secret`` reads it at the point of use, refusing placeholders. Relative paths
are taken relative to the configuration file, never the current directory.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import (
    Field,
    JsonValue,
    ModelWrapValidatorHandler,
    PrivateAttr,
    field_validator,
    model_validator,
)

from vanguard.ci.config import GitHubConfig
from vanguard.decide import PolicyConfig
from vanguard.detect.watch import WatchRule
from vanguard.errors import ConfigError
from vanguard.fields import Section
from vanguard.redact import is_placeholder, is_secret_key, looks_like_secret, url_holds_secret
from vanguard.sources.prometheus import Declared
from vanguard.yamlsource import EnvName, LocatedYaml, load_yaml, validate_yaml

__all__ = [
    "COUNTER_SUFFIXES",
    "LOOPBACK_HOSTS",
    "ApiConfig",
    "ConfigFileTarget",
    "NotifyTarget",
    "PgBouncerConfig",
    "PrometheusSource",
    "ScrapeConfig",
    "ServiceConfig",
    "Settings",
    "SupervisorTarget",
    "TemporalConfig",
    "VerificationConfig",
    "VerifyMetric",
    "WatchConfig",
    "WebhookTarget",
    "load_settings",
    "resolve_secret",
]

NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class TemporalConfig(Section):
    """``address: embedded`` starts the dev server; otherwise ``host:port`` of a cluster.

    ``ui: true`` also starts the dev server's Web UI on ``ui_port`` (loopback). It has no
    login and answers any ``Host``: anyone on the machine, and a web page through DNS
    rebinding, can approve or decline incidents through it in any name. Off by default.
    """

    address: str = "embedded"
    namespace: str = "default"
    task_queue: str = Field(default="vanguard", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    port: int = Field(default=17233, ge=1024, le=65535)
    ui: bool = False
    ui_port: int = Field(default=17243, ge=1024, le=65535)
    connect_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value != "embedded" and not re.fullmatch(r"[A-Za-z0-9_.\-\[\]:]+:\d{1,5}", value):
            raise ValueError("expected 'embedded' or HOST:PORT")
        return value

    @property
    def embedded(self) -> bool:
        return self.address == "embedded"


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
"""Names a loopback-bound API answers to unless ``api.allowed_hosts`` says otherwise."""


class ApiConfig(Section):
    """Where the API listens; ``alertmanager_token_env`` makes its webhook require a token.

    An API bound beyond loopback needs the token, since an alert can start a remedy:
    ``vanguard up`` and ``vanguard api`` refuse to start without it unless
    ``insecure_anonymous_alerts`` says to. Alertmanager sends it with
    ``http_config: {authorization: {credentials: ...}}``.

    ``allowed_hosts`` are further names the API answers to (its ``Host`` header; ``*.name``
    for subdomains, ``*`` for any). An API bound to loopback answers to the loopback names
    and its own address and to these, so a web page cannot read it through DNS rebinding;
    one bound elsewhere answers to any name unless ``allowed_hosts`` is set. A reverse proxy
    that forwards its public name needs that name here.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=8780, ge=0, le=65535)
    alertmanager_token_env: EnvName | None = None
    alertmanager_token_file: Path | None = None
    allowed_hosts: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=253)]], Field(min_length=1)]
        | None
    ) = None
    insecure_anonymous_alerts: bool = False
    """Start an API bound beyond loopback whose Alertmanager webhook takes alerts from anyone
    who reaches it (a network that only Alertmanager reaches, say)."""

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str] | None) -> list[str] | None:
        for name in value or ():
            if any(c.isspace() for c in name) or "/" in name:
                raise ValueError(f"{name!r}: a host name, not a URL")
            if re.fullmatch(r"[^:\[\]]+:\d+", name) or re.fullmatch(r"\[.*\]:\d+", name):
                raise ValueError(f"{name!r}: without the port (the Host header's is ignored)")
        return value

    @property
    def loopback(self) -> bool:
        """Whether the API listens on loopback only."""
        bind = self.host.lower().strip("[]")
        try:
            return bind == "localhost" or ipaddress.ip_address(bind).is_loopback
        except ValueError:
            return False

    def hosts(self) -> tuple[str, ...] | None:
        """The hosts to answer to, ``None`` for any (see the class).

        An API bound to loopback always answers to the loopback names and to its own
        address; ``allowed_hosts`` adds names to those (a proxy's public name).
        """
        bind = self.host.lower().strip("[]")
        loopback = self.loopback
        if self.allowed_hosts is None and not loopback:
            return None
        names = [*LOOPBACK_HOSTS, bind] if loopback else []
        if bind not in {"0.0.0.0", "::"}:
            names.append(bind)
        return tuple(dict.fromkeys([*names, *(h.lower() for h in self.allowed_hosts or ())]))

    @property
    def has_token(self) -> bool:
        return self.alertmanager_token_env is not None or self.alertmanager_token_file is not None

    def refusal(self) -> str | None:
        """Why ``vanguard up`` and ``vanguard api`` refuse to serve this API, or ``None``:
        beyond loopback without a token, anyone who reaches it could start remedies."""
        if self.loopback or self.has_token or self.insecure_anonymous_alerts:
            return None
        return (
            f"api.host is {self.host}, beyond loopback, and POST /api/alertmanager needs no "
            "token: anyone who reaches it could post an alert that starts a remedy; set "
            "api.alertmanager_token_env or api.alertmanager_token_file (and the token in "
            "Alertmanager's http_config), or set api.insecure_anonymous_alerts: true to "
            "accept that"
        )

    def exposure(self) -> list[str]:
        """What to warn of when an API beyond loopback starts: pages without a login, a
        webhook without a token, and any ``Host`` answered (a web page can then read the
        API through DNS rebinding)."""
        if self.loopback:
            return []
        said = [
            f"api.host is {self.host}, beyond loopback: the dashboard, /api/incidents and "
            "/metrics have no login (put them behind a proxy that has one)"
        ]
        if not self.has_token and self.insecure_anonymous_alerts:
            said.append(
                f"api.host is {self.host} and POST /api/alertmanager needs no token "
                "(api.insecure_anonymous_alerts): anyone who reaches it can post an alert "
                "that starts a remedy"
            )
        if self.allowed_hosts is None:
            said.append(
                f"api.host is {self.host} and api.allowed_hosts is not set: any Host is "
                "answered, so a web page can read the API through DNS rebinding; list the "
                "names its clients use in api.allowed_hosts"
            )
        return said

    def check_exposure(self, file: Path | None = None) -> list[str]:
        """Raise ``ConfigError`` when the API must not start (``refusal``); else the
        warnings to log as it starts (``exposure``)."""
        refused = self.refusal()
        if refused is not None:
            raise ConfigError(
                refused,
                file=None if file is None else str(file),
                key="api.alertmanager_token_env",
            )
        return self.exposure()

    def alertmanager_token(self) -> str | None:
        if not self.has_token:
            return None
        return resolve_secret(
            env=self.alertmanager_token_env,
            file=self.alertmanager_token_file,
            what="api.alertmanager_token",
        )


class ScrapeConfig(Section):
    """A Prometheus text-exposition endpoint scraped directly (no Prometheus server needed).

    The series read are the service's watched and ``verify`` metrics; ``metrics`` is not
    read (older files listed them) and ``vanguard config check`` warns when it is set.
    The URL is logged when a scrape fails and kept in the watcher's Temporal history, so
    it must not carry credentials: neither ``user:password@`` nor a secret-named query
    parameter (``?token=``).
    """

    url: Annotated[str, Field(pattern=r"^https?://")]
    metrics: tuple[str, ...] = ()
    interval_s: float = Field(default=5.0, ge=0.2, le=3600)
    timeout_s: float = Field(default=2.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        parts = urlsplit(value)
        fix = (
            "serve the endpoint without authentication on loopback or a private network, "
            "or put it behind a local proxy that adds the credentials"
        )
        if "@" in parts.netloc:
            raise ValueError(
                "the URL carries credentials (user:password@), which would be logged and "
                f"kept in Temporal's history; {fix}"
            )
        named = sorted(
            {
                name
                for name, _ in parse_qsl(parts.query, keep_blank_values=True)
                if is_secret_key(name)
            }
        )
        if named:
            raise ValueError(
                f"the URL's query parameter {', '.join(map(repr, named))} names a secret, which "
                f"would be logged and kept in Temporal's history; {fix}"
            )
        return value


class PrometheusSource(Section):
    """A Prometheus server holding the service's series (instant queries of ``/api/v1``).

    Each watched or verified metric is read as ``metric{selector}`` at every interval;
    ``selector`` narrows it to this service (``{job: web}``). The URL must not carry
    credentials.
    """

    url: Annotated[str, Field(pattern=r"^https?://")]
    selector: dict[str, str] = Field(default_factory=dict)
    interval_s: float = Field(default=15.0, ge=0.2, le=3600)
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if urlsplit(value).password is not None or "@" in urlsplit(value).netloc:
            raise ValueError("the URL carries credentials; put Prometheus behind a local proxy")
        return value

    @field_validator("selector")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name)]
        if bad:
            raise ValueError(f"not Prometheus label names: {', '.join(map(repr, bad))}")
        return value


COUNTER_SUFFIXES = ("_total", "_bucket")
"""Endings that name only counters (OpenMetrics' ``_total``, a histogram's ``_bucket``):
a watch of one defaults to ``kind: counter``."""
AMBIGUOUS_SUFFIXES = ("_count", "_sum")
"""Endings of a histogram's or summary's counters that gauges wear too
(``pg_stat_activity_count`` is open connections): a gauge unless the entry says so, and
``vanguard config check`` asks for the kind. Watched as a counter, a gauge's breach would
go unseen; watched as a gauge, a counter is at worst forecast to grow."""


def _kind_of(metric: str) -> Literal["gauge", "counter"]:
    return "counter" if metric.endswith(COUNTER_SUFFIXES) else "gauge"


def kind_note(metric: str, kind: str, *, written: bool) -> str | None:
    """What ``config check`` says of a series' kind taken from its name, or ``None``."""
    if written:
        return None
    if metric.endswith(COUNTER_SUFFIXES):
        return (
            f"{metric} is watched as its per-second rate (kind: counter, by its name): "
            "thresholds are per second; write 'kind: counter' to say so"
        )
    if metric.endswith(AMBIGUOUS_SUFFIXES):
        return (
            f"{metric} may be a counter or a gauge (taken as a {kind}): write "
            "'kind: counter' or 'kind: gauge'"
        )
    return None


def declared_note(watch: WatchConfig, declared: Declared) -> str | None:
    """What the sweep (and ``config check --probe``) says when a target declares a watched
    series another kind than the entry's, or ``None`` when they agree.

    The entry is not overridden: its threshold means another thing for the other kind, and
    the configuration stays the one truth, so the fix is said instead.
    """
    if declared.kind == watch.kind:
        return None
    how = "taken from its name" if watch.kind_by_name else f"'kind: {watch.kind}' is written"
    harm = (
        "its raw count is watched, so a restart reads as a fall and the threshold is "
        "compared to a count, not a rate per second"
        if declared.kind == "counter"
        else "its per-second rate is watched, so a breach of its value goes unseen"
    )
    return (
        f"{declared.source} declares {watch.metric} a {declared.kind} "
        f"(# TYPE {declared.family} {declared.type}) but it is watched as a {watch.kind} "
        f"({how}): {harm}; write 'kind: {declared.kind}' in its watch entry"
    )


class WatchConfig(Section):
    """One series to watch on a service, with the rule its detector applies.

    ``kind: counter`` watches the series' per-second rate, not its raw value, which only
    grows and drops to 0 on a restart; the rule's ``threshold`` is then a rate. Left out,
    the kind follows the metric's name (``COUNTER_SUFFIXES``); written, it wins. It is the
    one way to say so: ``rule.counter`` follows it, and is refused unless it agrees (a
    dumped configuration holds both).
    """

    metric: str
    labels: dict[str, str] = Field(default_factory=dict)
    kind: Literal["gauge", "counter"] = "gauge"
    rule: WatchRule = Field(default_factory=WatchRule)
    _kind_by_name: bool = PrivateAttr(default=False)

    @property
    def kind_by_name(self) -> bool:
        """Whether ``kind`` was taken from the metric's name, not written."""
        return self._kind_by_name

    @model_validator(mode="wrap")
    @classmethod
    def _remember_kind_by_name(
        cls, data: Any, handler: ModelWrapValidatorHandler[WatchConfig]
    ) -> WatchConfig:
        """Note whether the entry wrote its kind: a disagreement with what the target
        declares (``declared_note``) is told differently for a kind taken from a name."""
        entry = handler(data)
        if isinstance(data, dict):
            entry._kind_by_name = data.get("kind") is None
        return entry

    @model_validator(mode="before")
    @classmethod
    def _counter_rule(cls, data: Any) -> Any:
        """Settle ``kind`` (by the metric's name when not written) and carry it into ``rule``.

        Anything malformed is passed on untouched, for the field checks to name it.
        """
        if not isinstance(data, dict) or not isinstance(data.get("metric"), str):
            return data
        kind = data.get("kind")
        if kind is None:
            kind = _kind_of(data["metric"])
        if kind not in ("gauge", "counter"):
            return data
        counter = kind == "counter"
        rule = data.get("rule", {})
        if isinstance(rule, dict):
            if "counter" in rule and rule["counter"] is not counter:
                raise ValueError(
                    f"'rule.counter' ({rule['counter']!r}) disagrees with the entry's kind "
                    f"({kind}); write the kind alone: 'kind: counter' or 'kind: gauge'"
                )
            rule = {**rule, "counter": counter}
        elif isinstance(rule, WatchRule):
            rule = rule.model_copy(update={"counter": counter})
        return {**data, "kind": kind, "rule": rule}


class SupervisorTarget(Section):
    """supervisord's XML-RPC endpoint and the program a restart acts on.

    The URL travels in action records, undo data and Temporal's history, so it must
    not carry credentials; keep supervisord's XML-RPC on loopback or a private network.
    """

    url: Annotated[str, Field(pattern=r"^https?://")]
    program: str
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, value: str) -> str:
        if re.search(r"://[^/]*@", value):
            raise ValueError(
                "the URL holds credentials, which would be recorded with every action; "
                "bind supervisord's XML-RPC to loopback instead"
            )
        return value


class WebhookTarget(Section):
    """Where a ``webhook.call`` remedy sends its request for this service.

    These settings override the pattern's: the pattern says what to send (``body``,
    ``method``), the service says where. A URL that embeds a token belongs in ``url_env``.
    """

    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    url_env: EnvName | None = None
    undo_url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    undo_url_env: EnvName | None = None
    secret_env: EnvName | None = None
    secret_file: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookTarget:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook needs exactly one of 'url' and 'url_env'")
        for value in (self.url, self.undo_url):
            if value is not None and re.search(r"://[^/]*@", value):
                raise ValueError(
                    "the URL holds credentials, which would be recorded with every action; "
                    "use 'url_env' / 'undo_url_env' or 'secret_env' instead"
                )
            if value is not None and url_holds_secret(value):
                raise ValueError(
                    "the URL looks like it holds a secret in its path or query (a token), "
                    "which would be recorded with every action; put it in an environment "
                    "variable named by 'url_env' / 'undo_url_env' instead"
                )
        return self

    def params(self) -> dict[str, JsonValue]:
        """The ``webhook.call`` parameters this section sets (the pattern's give way)."""
        return {
            "url": self.url,
            "url_env": self.url_env,
            "undo_url": self.undo_url,
            "undo_url_env": self.undo_url_env,
            "secret_env": self.secret_env,
            "secret_file": None if self.secret_file is None else str(self.secret_file),
            "timeout_s": self.timeout_s,
        }


class ConfigFileTarget(Section):
    """The file a ``config.set`` remedy edits for this service, and where the commit goes.

    ``repo`` is a git working tree (relative to this file); ``file`` is inside it. With
    ``push``, the commit is pushed to ``remote``'s ``branch`` (default: the one checked out),
    the branch a GitOps controller deploys from. The pattern says which key and how.
    """

    repo: Path
    file: str = Field(min_length=1)
    format: Literal["yaml", "json", "ini", "env"] | None = None
    push: bool = False
    remote: str = Field(default="origin", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    branch: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_./-]{1,200}$")

    def params(self) -> dict[str, JsonValue]:
        """The ``config.set`` parameters this section sets (the pattern's give way)."""
        return {
            "repo": str(self.repo),
            "file": self.file,
            "format": self.format,
            "push": self.push,
            "remote": self.remote,
            "branch": self.branch,
        }


class PgBouncerConfig(Section):
    """A PgBouncer: its admin console (a metric source) and the ini a resize edits.

    ``database`` names the pool a resize changes (its ``pool_size`` in ``[databases]``);
    without it the resize changes ``default_pool_size``. ``git_repo`` is the repository the
    ini lives in: every change becomes a commit there. ``max_pool_size`` and
    ``min_pool_size`` bound every resize, whatever the pattern asks for.
    """

    admin_dsn: str = Field(min_length=1)
    ini_path: Path
    database: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,63}$")
    max_pool_size: int = Field(default=50, ge=1, le=10_000)
    min_pool_size: int = Field(default=1, ge=1, le=10_000)
    git_repo: Path | None = None
    interval_s: float = Field(default=5.0, ge=0.2, le=3600)
    timeout_s: float = Field(default=5.0, gt=0, le=60)

    @field_validator("admin_dsn")
    @classmethod
    def _no_password(cls, value: str) -> str:
        """Parse the DSN as libpq does, so no spelling of a password gets through.

        ``password=``, ``user:pw@`` and ``?password=`` (even percent-encoded) all reach
        the same key; the DSN is recorded with every resize, so none may carry one.
        """
        try:
            fields = conninfo_to_dict(value)
        except psycopg.ProgrammingError:
            raise ValueError(
                "not a libpq connection string (key=value pairs or a postgresql:// URI)"
            ) from None
        if "password" in fields:
            raise ValueError("the admin DSN holds a password; use PGPASSFILE or PGPASSWORD")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> PgBouncerConfig:
        if self.min_pool_size > self.max_pool_size:
            raise ValueError(
                f"min_pool_size {self.min_pool_size} is above max_pool_size {self.max_pool_size}"
            )
        return self


class VerifyMetric(Section):
    """One series that judges a remedy on this service, and which direction is better.

    A counter (``kind``) is judged on its per-second rate: compared raw, the restart a
    remedy makes would read as a fall of the count.
    """

    metric: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    better: Literal["lower", "higher"] = "lower"
    kind: Literal["gauge", "counter"] | None = None
    """Left out: the alert's own series follows the alert, another follows the service's
    watch entry of the same metric, else its name (as a watch entry's)."""

    def counter(self, watch: Sequence[WatchConfig] = ()) -> bool:
        """Whether this series is judged by its rate, given the service's watch entries."""
        if self.kind is not None:
            return self.kind == "counter"
        for entry in watch:
            if entry.metric == self.metric:
                return entry.kind == "counter"
        return _kind_of(self.metric) == "counter"


class ServiceConfig(Section):
    """A service Vanguard watches and may act on.

    Metrics come from ``scrape`` (an exposition endpoint) and/or ``pgbouncer`` (its admin
    console). ``verify`` lists the series that judge a remedy (all compared, the first
    decides an improvement); without it the alert's own series is used.
    ``alert_when_down``: a watched service whose metrics cannot be read several times in a
    row (its series gone stale) raises a critical alert, as Prometheus' ``up`` would; a
    dead target otherwise just stops every series it had.
    """

    name: Annotated[str, Field(pattern=NAME)]
    type: str = "generic"
    scrape: ScrapeConfig | None = None
    pgbouncer: PgBouncerConfig | None = None
    prometheus: PrometheusSource | None = None
    watch: tuple[WatchConfig, ...] = ()
    alert_when_down: bool = True
    verify: tuple[VerifyMetric, ...] = ()
    supervisor: SupervisorTarget | None = None
    webhook: WebhookTarget | None = None
    config_file: ConfigFileTarget | None = None

    @field_validator("watch")
    @classmethod
    def _one_entry_a_series(cls, value: tuple[WatchConfig, ...]) -> tuple[WatchConfig, ...]:
        """Refuse two entries that can match the same series: a series is stepped by the
        first entry that matches it, so the other never ran for it, in silence (a broad
        entry listed before a specific one swallowed it)."""
        for later, entry in enumerate(value):
            for first, earlier in enumerate(value[:later]):
                if earlier.metric != entry.metric:
                    continue
                shared = earlier.labels.keys() & entry.labels.keys()
                if any(earlier.labels[k] != entry.labels[k] for k in shared):
                    continue
                raise ValueError(
                    f"watch[{first}] and watch[{later}] can both match a series of "
                    f"{entry.metric} (labels {dict(earlier.labels)} and "
                    f"{dict(entry.labels)}); a series is watched by one entry, so "
                    f"watch[{later}] would never run for it: give the entries labels "
                    "that tell their series apart, or keep one"
                )
        return value

    @model_validator(mode="after")
    def _watch_needs_scrape(self) -> ServiceConfig:
        if (self.watch or self.verify) and not self.has_source:
            raise ValueError(
                "'watch' and 'verify' need a 'scrape', 'prometheus' or 'pgbouncer' section to "
                "read metrics from"
            )
        return self

    @property
    def has_source(self) -> bool:
        return any(s is not None for s in (self.scrape, self.pgbouncer, self.prometheus))

    @property
    def interval_s(self) -> float | None:
        """How often the watcher reads this service's metrics (its fastest source)."""
        sources = (self.scrape, self.pgbouncer, self.prometheus)
        found = [s.interval_s for s in sources if s is not None]
        return min(found) if found else None


MAX_SAMPLE_INTERVAL_S = 600.0
"""The longest time between verification readings, as ``sample_interval_s`` allows: the
workflow's timeouts for the baseline and the verification are sized for it."""
MIN_BASELINE_READINGS = 20
"""Fewer baseline readings cannot tell whether readings move together: their memory may then
be taken far too high, and only a large change found (``vanguard.verify.compare``;
``bench/bench_verify.py`` prints how often)."""


class VerificationConfig(Section):
    """How long to look before and after an action (seconds; minutes in production)."""

    baseline_s: float = Field(default=300.0, ge=1, le=86400)
    window_s: float = Field(default=300.0, ge=1, le=86400)
    sample_interval_s: float = Field(default=5.0, ge=0.2, le=MAX_SAMPLE_INTERVAL_S)
    min_relative_change: float = Field(default=0.1, ge=0, le=10)

    def interval_for(self, service: ServiceConfig) -> float:
        """``sample_interval_s``, or a Prometheus server's ``interval_s`` when longer (up to
        ``MAX_SAMPLE_INTERVAL_S``): the server answers with its last scrape until the next,
        so reading it faster gives the same sample again, which counts once."""
        if service.prometheus is not None:
            return max(
                self.sample_interval_s, min(service.prometheus.interval_s, MAX_SAMPLE_INTERVAL_S)
            )
        return self.sample_interval_s

    def baseline_readings(self, service: ServiceConfig) -> int:
        """How many distinct readings ``baseline_s`` holds for ``service``."""
        return round(self.baseline_s / self.interval_for(service))

    def short_baselines(self, services: Sequence[ServiceConfig]) -> list[str]:
        """A warning for each service with a source whose baseline holds fewer than
        ``MIN_BASELINE_READINGS`` readings."""
        return [
            f"verification.baseline_s: {self.baseline_s:g} s holds "
            f"{self.baseline_readings(s)} readings of service {s.name!r} (one every "
            f"{self.interval_for(s):g} s); fewer than {MIN_BASELINE_READINGS} cannot tell "
            "whether its readings move together, and its remedies are judged only on large "
            f"changes: give the baseline at least {MIN_BASELINE_READINGS * self.interval_for(s):g}"
            " s"
            for s in services
            if s.has_source and self.baseline_readings(s) < MIN_BASELINE_READINGS
        ]


class NotifyTarget(Section):
    """Where people are told: the log, or a webhook.

    ``format: chat`` posts ``{"text": ...}``, what Slack, Mattermost and Teams incoming
    webhooks take; ``vanguard`` (the default) posts the message as JSON. Chat webhook URLs
    carry their token in the path: put them in ``url_env``.
    """

    kind: Literal["log", "webhook"]
    url: str | None = None
    url_env: EnvName | None = None
    format: Literal["vanguard", "chat"] = "vanguard"
    secret_env: EnvName | None = None
    secret_file: Path | None = None

    @model_validator(mode="after")
    def _webhook_needs_url(self) -> NotifyTarget:
        if self.kind == "webhook" and (self.url is None) == (self.url_env is None):
            raise ValueError("a webhook target needs exactly one of 'url' and 'url_env'")
        return self


class Settings(Section):
    """The whole of ``vanguard.yaml``."""

    data_dir: Path = Path(".vanguard")
    store_url: str | None = None
    store_url_env: EnvName | None = None
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    patterns_dirs: tuple[Path, ...] = ()
    services: tuple[ServiceConfig, ...] = ()
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    notify: tuple[NotifyTarget, ...] = (NotifyTarget(kind="log"),)
    notify_repeat_s: float = Field(default=14400.0, ge=0, le=7 * 86400)
    """An outcome that is the same news as one notified this long ago or less (same alert
    fingerprint, pattern, outcome and refusing gates; nothing applied) is recorded, not
    sent. 0 sends every one."""
    github: GitHubConfig | None = None
    source_file: Path | None = Field(default=None, exclude=True)

    @field_validator("store_url")
    @classmethod
    def _no_password_in_url(cls, value: str | None) -> str | None:
        if value and re.search(r"://[^/@:]+:[^/@]+@", value):
            raise ValueError("the store URL holds a password; use 'store_url_env' instead")
        return value

    @field_validator("services")
    @classmethod
    def _unique_services(cls, services: tuple[ServiceConfig, ...]) -> tuple[ServiceConfig, ...]:
        names = [s.name for s in services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"service names must be unique: {', '.join(dupes)}")
        return services

    def service(self, name: str) -> ServiceConfig:
        for svc in self.services:
            if svc.name == name:
                return svc
        raise ConfigError(f"no service named {name!r}", key="services")

    def resolved_store_url(self) -> str:
        """The store URL: explicit, from the environment, or SQLite in the data directory."""
        if self.store_url_env:
            return resolve_secret(env=self.store_url_env, file=None, what="store_url_env")
        if self.store_url:
            return self.store_url
        return f"sqlite:///{self.data_dir / 'vanguard.db'}"


def resolve_secret(*, env: str | None, file: Path | None, what: str) -> str:
    """Read a secret from an environment variable or a file; refuse missing or placeholders.

    Surrounding whitespace is stripped from both: a Kubernetes or Docker secret often ends
    with a newline, and a webhook secret kept with it would make every signature wrong.
    """
    if env is not None:
        value = os.environ.get(env)
        if value is not None:
            value = value.strip()
        if value is None and looks_like_secret(env):
            raise ConfigError(
                "names an environment variable that is not set, and the name looks like a "
                "secret (not shown): put the variable's name there, not its value",
                key=what,
            )
        if value is None:
            raise ConfigError(f"environment variable {env} is not set", key=what)
    elif file is not None:
        try:
            value = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file: {exc}", file=str(file), key=what) from exc
    else:
        raise ConfigError("no secret configured", key=what)
    if is_placeholder(value):
        raise ConfigError("refusing a placeholder secret", key=what)
    return value


def load_settings(path: Path) -> Settings:
    """Load and validate ``vanguard.yaml``; relative paths are resolved against its folder."""
    source = load_yaml(path)
    settings = validate_yaml(source, Settings)
    _check_policy_names(source, settings.policy)
    base = path.resolve().parent
    for index, folder in enumerate(settings.patterns_dirs):
        if not _under(base, folder).is_dir():
            raise ConfigError(
                f"patterns directory {_under(base, folder)} not found (a relative path is "
                "taken from this file's folder)",
                file=source.file,
                line=source.line_of(("patterns_dirs", index)),
                key=f"patterns_dirs[{index}]",
            )
    return settings.model_copy(
        update={
            "data_dir": _under(base, settings.data_dir),
            "patterns_dirs": tuple(_under(base, p) for p in settings.patterns_dirs),
            "services": tuple(_service_paths(base, s) for s in settings.services),
            "source_file": path.resolve(),
        }
    )


def _check_policy_names(source: LocatedYaml, policy: PolicyConfig) -> None:
    """Gate names and approval kinds are checked now: a typo would otherwise fail every
    decision (a gate) or let an action run with nobody asked (an approval)."""
    from vanguard.act.registry import ADAPTER_FACTORIES
    from vanguard.decide.gates import GATES

    named = (
        ("gates", policy.gates, GATES, "gate"),
        ("require_approval_for", policy.require_approval_for, ADAPTER_FACTORIES, "action kind"),
        ("unmetered_actions", policy.unmetered_actions, ADAPTER_FACTORIES, "action kind"),
        ("concurrent_actions", policy.concurrent_actions, ADAPTER_FACTORIES, "action kind"),
    )
    for key, names, known, what in named:
        for index, name in enumerate(names):
            if name in known or (key == "require_approval_for" and name == "*"):
                continue
            also = ", or '*' for every action" if key == "require_approval_for" else ""
            raise ConfigError(
                f"unknown {what} {name!r} (known: {', '.join(sorted(known))}{also})",
                file=source.file,
                line=source.line_of(("policy", key, index)),
                key=f"policy.{key}[{index}]",
            )


def _under(base: Path, path: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def _service_paths(base: Path, service: ServiceConfig) -> ServiceConfig:
    target = service.config_file
    if target is not None:
        service = service.model_copy(
            update={"config_file": target.model_copy(update={"repo": _under(base, target.repo)})}
        )
    hook = service.webhook
    if hook is not None and hook.secret_file is not None:
        service = service.model_copy(
            update={
                "webhook": hook.model_copy(update={"secret_file": _under(base, hook.secret_file)})
            }
        )
    if service.pgbouncer is None:
        return service
    pgb = service.pgbouncer
    return service.model_copy(
        update={
            "pgbouncer": pgb.model_copy(
                update={
                    "ini_path": _under(base, pgb.ini_path),
                    "git_repo": None if pgb.git_repo is None else _under(base, pgb.git_repo),
                }
            )
        }
    )
