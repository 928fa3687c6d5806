"""Core commands: up, worker, api, demo, config check, incidents list/show."""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vanguard import __version__
from vanguard.cli.apps import app, config_app, incidents_app
from vanguard.config import Settings, kind_note, load_settings
from vanguard.errors import ConfigError, InputError
from vanguard.incident import IncidentState
from vanguard.store.repo import MAX_LIST_LIMIT

if TYPE_CHECKING:
    from vanguard.engine.embedded import Endpoints
    from vanguard.store import Store

ConfigOpt = Annotated[
    Path, typer.Option("--config", "-c", help="vanguard.yaml", envvar="VANGUARD_CONFIG")
]
StoreOpt = Annotated[str | None, typer.Option(help="store URL (overrides the config)")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who does it (default: the login name)")]
VerboseOpt = Annotated[
    bool, typer.Option(help="log Vanguard's own DEBUG lines too (libraries stay at WARNING)")
]
console = Console(markup=False)
"""Prints what others wrote (alert summaries, reasons, names) as text: a ``[`` in it is not
markup. Styled lines say ``markup=True`` and escape what they embed."""


def login_name(by: str | None) -> str:
    """Who a command acts for: ``--by``, else the login name; never blank, since the audit
    trail and the incident name them."""
    if by is None:
        return getpass.getuser()
    if not by.strip():
        raise InputError("--by names the person the command acts for; it cannot be blank")
    return by.strip()


def _settings(path: Path, *, temporal: str | None = None, store: str | None = None) -> Settings:
    settings = load_settings(path)
    update: dict[str, object] = {}
    if temporal is not None:
        update["temporal"] = settings.temporal.model_copy(update={"address": temporal})
    if store is not None:
        update["store_url"] = store
        update["store_url_env"] = None
    return settings.model_copy(update=update) if update else settings


def _logging(verbose: bool) -> None:
    """INFO, or with ``--verbose`` Vanguard's own DEBUG; libraries say only warnings (their
    DEBUG, HTTP connection chatter above all, buried what ``--verbose`` is asked for)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("vanguard").setLevel(logging.DEBUG if verbose else logging.INFO)
    for library in ("temporalio", "httpx", "httpcore", "urllib3", "asyncio", "sqlalchemy"):
        logging.getLogger(library).setLevel(logging.WARNING)


def _exposure(settings: Settings) -> None:
    """Refuse to serve an API that anyone reaching it could start remedies through; log
    what else it exposes (``ApiConfig.check_exposure``)."""
    for warning in settings.api.check_exposure(settings.source_file):
        logging.getLogger("vanguard.api").warning("%s", warning)


def banner(endpoints: Endpoints, store_url: str) -> list[str]:
    """Where ``vanguard up`` listens, one line each; the Web UI's line says who can use it."""
    ep = endpoints
    lines = [f"  Temporal      {ep.temporal}  (task queue {ep.task_queue})"]
    if ep.temporal_ui:
        lines.append(
            f"  Temporal UI   {ep.temporal_ui}  (no login: anyone on this machine, and a web "
            "page through DNS rebinding, can approve or decline incidents here in any name; "
            "temporal.ui: false turns it off)"
        )
    if ep.api:
        lines.append(
            f"  API           {ep.api}  (dashboard at /, /healthz, /api/incidents, /metrics)"
        )
    if ep.github_webhook:
        lines.append(
            f"  GitHub hook   {ep.github_webhook}  (the payload URL of the GitHub webhook, "
            "content type application/json)"
        )
    lines.append(f"  Store         {store_url}")
    return lines


def _run_until_signal(settings: Settings, *, api: bool, watch: bool, worker: bool = True) -> None:
    from vanguard.engine.embedded import serve
    from vanguard.engine.runtime import build_runtime

    if api:
        _exposure(settings)
    runtime = build_runtime(settings)

    def announce(ep: Endpoints) -> None:
        console.print(
            f"[bold]Vanguard {__version__}[/bold] running; Ctrl-C stops everything", markup=True
        )
        for line in banner(ep, runtime.store.url):
            console.print(line)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, runtime, stop, announce=announce, api=api, watch=watch, worker=worker)

    try:
        asyncio.run(main())
    finally:
        runtime.close()
    console.print("stopped")


@app.command()
def up(config: ConfigOpt = Path("vanguard.yaml"), verbose: VerboseOpt = False) -> None:
    """Embedded mode: Temporal dev server, worker, API and watcher in one process tree."""
    _logging(verbose)
    _run_until_signal(_settings(config), api=True, watch=True)


@app.command()
def worker(
    config: ConfigOpt = Path("vanguard.yaml"),
    temporal: Annotated[str | None, typer.Option(help="HOST:PORT of Temporal")] = None,
    store: StoreOpt = None,
    watch: Annotated[bool, typer.Option(help="also start the watcher workflow")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a worker against an existing Temporal server (scaled deployments)."""
    _logging(verbose)
    settings = _settings(config, temporal=temporal, store=store)
    if settings.temporal.embedded:
        raise ConfigError("a separate worker needs --temporal HOST:PORT", key="temporal.address")
    _run_until_signal(settings, api=False, watch=watch)


@app.command()
def api(
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    temporal: Annotated[
        str | None, typer.Option(help="HOST:PORT of Temporal, so webhooks can start incidents")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Serve the HTTP API (scaled deployments); with --temporal, webhooks start incidents."""
    _logging(verbose)
    settings = _settings(config, temporal=temporal, store=store)
    if temporal is not None:
        _run_until_signal(settings, api=True, watch=False, worker=False)
        return
    import uvicorn

    from vanguard.api import create_app
    from vanguard.diagnose.patterns import load_patterns
    from vanguard.store import open_store

    _exposure(settings)
    patterns = load_patterns(settings.patterns_dirs)
    token = settings.api.alertmanager_token()
    if settings.github is not None:
        logging.getLogger("vanguard.api").warning(
            "the 'github' section is not used without --temporal: "
            "/webhooks/github answers 503 and nothing is recorded"
        )
    the_store = open_store(settings.resolved_store_url())
    try:
        app = create_app(
            the_store,
            alertmanager_token=token,
            patterns=patterns,
            policy=settings.policy,
            allowed_hosts=settings.api.hosts(),
            services=settings.services,
            config=settings.source_file,
        )
        console.print(
            f"API  http://{settings.api.host}:{settings.api.port}  (dashboard at /; "
            "webhooks start nothing without --temporal)",
            highlight=False,
        )
        uvicorn.run(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
        )
    finally:
        the_store.close()


@app.command()
def demo(
    json_out: Annotated[bool, typer.Option("--json", help="print a JSON summary only")] = False,
    workdir: Annotated[
        Path,
        typer.Option(
            help="where the demo keeps its files: a new or empty directory, or one an earlier "
            "run made (it holds a .vanguard-demo file), which is emptied first; any other is "
            "refused"
        ),
    ] = Path(".vanguard/demo"),
) -> None:
    """Heal a leaking service end to end (supervisord, embedded Temporal, SQLite)."""
    from vanguard.demo.run import run_demo

    logging.basicConfig(level=logging.WARNING, format="    warn  %(name)s: %(message)s")
    logging.getLogger("temporalio").setLevel(logging.ERROR)

    def emit(stamp: str, text: str) -> None:
        if not json_out:
            console.print(f"[dim]{stamp:>8}[/dim]  {escape(text)}", highlight=False, markup=True)

    result = run_demo(workdir.resolve(), emit=emit)
    summary = {
        "ok": result.ok,
        "incident_id": result.incident_id,
        "state": result.state,
        "seconds": result.seconds,
        "store": result.store_url,
        "config": result.config,
        "endpoints": result.endpoints,
        "timeline": result.timeline,
    }
    if json_out:
        print(json.dumps(summary, indent=2))
    else:
        colour = "green" if result.ok else "red"
        console.print(
            f"\n[{colour}]incident {result.incident_id}: {result.state}[/{colour}] "
            f"in {result.seconds:.0f} s",
            markup=True,
        )
        console.print(
            f"read it again: vanguard incidents show {result.incident_id} -c {result.config}"
        )
        if result.endpoints.get("api"):
            console.print(
                f"or browse it: vanguard api -c {result.config}, then open "
                f"{result.endpoints['api']}/incidents/{result.incident_id}"
            )
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal SDK can abort in interpreter finalisation after all work is done
    # (temporalio/sdk-python#300); leave without finalising.
    os._exit(0 if result.ok else 1)


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="vanguard.yaml to validate")],
    strict: Annotated[
        bool, typer.Option(help="exit 2 on warnings too (a remedy that cannot run on a service)")
    ] = False,
    probe: Annotated[
        bool,
        typer.Option(
            help="read each service's scrape endpoint or Prometheus once and warn where a "
            "watched series is declared (# TYPE) another kind than its entry's"
        ),
    ] = False,
) -> None:
    """Validate a configuration and its patterns without starting anything.

    Besides the file itself, every pattern that can diagnose a service (its type and a
    watched metric) is checked against that service: a remedy that would lack its target
    (a restart with no ``supervisor:`` section) is a warning here instead of a failed
    incident later. A pattern of ``patterns_dirs`` that replaces a built-in one (or an
    earlier directory's) of its id is noted. Only ``--probe`` reaches the targets. What
    ``vanguard up`` and ``vanguard api`` refuse to start with (an API beyond loopback with
    no token) fails here with their message.
    """
    from vanguard.act.base import MemoryLedger
    from vanguard.act.registry import build_adapters, check_patterns, check_services
    from vanguard.diagnose.patterns import load_patterns

    settings = load_settings(file)
    patterns = load_patterns(settings.patterns_dirs)
    adapters = build_adapters(MemoryLedger(), settings)
    check_patterns(patterns, adapters)
    warnings = list(check_services(patterns, settings.services, adapters))
    warnings += [
        f"services[{i}].scrape.metrics is not read (the watched and verify metrics are "
        "scraped): remove it"
        for i, service in enumerate(settings.services)
        if service.scrape is not None and service.scrape.metrics
    ]
    warnings += [
        f"services[{i}].watch[{j}]: {note}"
        for i, service in enumerate(settings.services)
        for j, watch in enumerate(service.watch)
        if (note := kind_note(watch.metric, watch.kind, written=not watch.kind_by_name))
    ]
    warnings += settings.verification.short_baselines(settings.services)
    warnings += settings.api.check_exposure(settings.source_file)
    if settings.github is not None and (note := settings.github.poll_budget_warning()):
        warnings.append(f"github.{note}")
    warnings += [
        f"{where}: environment variable {name} is not set here (a process started with "
        "this environment refuses to start)"
        for where, name in _env_names(settings.model_dump(mode="json"))
        if name not in os.environ
    ]
    if probe:
        warnings += _probe_kinds(settings)
    for warning in warnings:
        console.print(f"{file}: warning: {warning}", highlight=False)
    for pattern in patterns:
        if pattern.overrides:
            console.print(f"{file}: note: {pattern.overrides}", highlight=False)
    verdict = f"{len(warnings)} warning(s)" if warnings else "ok"
    console.print(
        f"{file}: {verdict} ({len(settings.services)} services, {len(patterns)} patterns)",
        highlight=False,
    )
    if warnings and strict:
        raise typer.Exit(code=2)


def _env_names(value: object, where: str = "") -> Iterator[tuple[str, str]]:
    """Every ``*_env`` setting in a dumped configuration: ``(key path, variable name)``."""
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if str(key).endswith("_env") and isinstance(item, str):
                yield path, item
            else:
                yield from _env_names(item, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _env_names(item, f"{where}[{index}]")


def _probe_kinds(settings: Settings) -> list[str]:
    """Where a service's target declares a watched series another kind than its entry's.

    One read of each source a watch reads (an endpoint's ``# TYPE`` lines, a server's
    metadata); a source that cannot be read is a warning too, the check goes on.
    """
    import httpx

    from vanguard.clock import utcnow
    from vanguard.config import declared_note
    from vanguard.errors import ScrapeError
    from vanguard.sources.prometheus import (
        Declared,
        PrometheusClient,
        read_declared,
        scrape,
    )

    warnings: list[str] = []
    with httpx.Client() as http:
        for i, service in enumerate(settings.services):
            metrics = sorted({w.metric for w in service.watch})
            declared: dict[str, Declared] = {}
            try:
                if service.scrape is not None and metrics:
                    declared |= scrape(
                        service.scrape.url,
                        service_name=service.name,
                        now=utcnow(),
                        client=http,
                        metrics=metrics,
                        timeout_s=service.scrape.timeout_s,
                    ).declared
                if service.prometheus is not None and metrics:
                    source = service.prometheus
                    with PrometheusClient(source.url, timeout_s=source.timeout_s) as server:
                        for metric in metrics:
                            if (said := read_declared(server, metric)) is not None:
                                declared.setdefault(metric, said)
            except ScrapeError as exc:
                warnings.append(f"services[{i}]: cannot probe the declared kinds: {exc}")
            warnings += [
                f"services[{i}].watch[{j}]: {note}"
                for j, watch in enumerate(service.watch)
                if watch.metric in declared
                and (note := declared_note(watch, declared[watch.metric]))
            ]
    return warnings


def open_configured_store(config: Path, store: str | None, *, create: bool) -> Store:
    """The store ``--store`` names, else the one the configuration file resolves to.

    Commands that only read pass ``create=False``: pointed at no store, they fail
    (``StoreNotFound``) rather than make an empty one.
    """
    from vanguard.store import open_store

    if store is None:
        store = load_settings(config).resolved_store_url()
    return open_store(store, create=create)


WIDE_LIST = 140
"""Terminal columns below which ``incidents list`` prints two lines an incident, not a table."""


@incidents_app.command("list")
def incidents_list(
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_LIST_LIMIT, help="how many, newest first")
    ] = 20,
    state: Annotated[
        IncidentState | None, typer.Option(help="only incidents in this state")
    ] = None,
    service: Annotated[str | None, typer.Option(help="only incidents of this service")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the incidents as JSON, for scripts")
    ] = False,
) -> None:
    """List recent incidents, newest first; --state awaiting_approval lists those that wait."""
    from vanguard.store import IncidentRepo

    the_store = open_configured_store(config, store, create=False)
    with the_store.read_session() as session:
        found = IncidentRepo(session).list_incidents(limit=limit, state=state, service=service)
    if json_out:
        print(json.dumps([i.model_dump(mode="json") for i in found], indent=2))
        return
    if console.width < WIDE_LIST:
        for inc in found:
            console.print(
                f"{inc.incident_id}  {inc.state}  {inc.alert.service_name}  "
                f"{inc.alert.detected_at:%Y-%m-%d %H:%M:%S}",
                no_wrap=True,
                overflow="ellipsis",
            )
            summary = f"{inc.alert.metric_type}: {inc.alert.summary}"
            console.print(
                textwrap.fill(summary, console.width, initial_indent="  ", subsequent_indent="  "),
                soft_wrap=True,
            )
        return
    table = Table("incident", "state", "service", "metric", "detected", "summary")
    for column in table.columns[:5]:
        column.no_wrap = True
    for inc in found:
        table.add_row(
            inc.incident_id,
            str(inc.state),
            inc.alert.service_name,
            inc.alert.metric_type,
            f"{inc.alert.detected_at:%Y-%m-%d %H:%M:%S}",
            inc.alert.summary,
        )
    console.print(table)


@incidents_app.command("show")
def incidents_show(
    incident_id: str,
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="print the whole record as JSON (secrets redacted), for scripts"
        ),
    ] = False,
) -> None:
    """Show one incident: every step, gate verdict, action and outcome."""
    from vanguard.store import IncidentRepo

    the_store = open_configured_store(config, store, create=False)
    with the_store.read_session() as session:
        found = IncidentRepo(session).get_record(incident_id)
    if found is None:
        raise ConfigError(f"no incident {incident_id!r} in {the_store.url}", key="incident_id")
    record = found.redacted()
    if json_out:
        print(record.model_dump_json(indent=2))
        return
    inc = record.incident
    console.print(
        f"[bold]{escape(inc.incident_id)}[/bold]  {inc.state}  {escape(inc.alert.summary)}",
        markup=True,
    )
    for change in inc.history:
        console.print(
            f"  {change.at:%H:%M:%S}  {change.state:<18} {change.reason}", highlight=False
        )
    if record.decision:
        for v in record.decision.verdicts:
            mark = "pass" if v.passed else "FAIL"
            console.print(f"    gate {v.gate:<16} {mark}  {v.reason}", highlight=False)
    for action in record.actions:
        console.print(f"  action {action.action} on {action.target}: {action.message}")
        console.print(f"    undo: {action.undo.instructions}")
    if record.outcome:
        console.print(f"  outcome: {record.outcome.status} — {record.outcome.reason}")
