"""The Typer applications the command modules attach to."""

from __future__ import annotations

import typer

__all__ = [
    "app",
    "audit_app",
    "automation_app",
    "bench_app",
    "ci_app",
    "config_app",
    "incidents_app",
    "notify_app",
    "store_app",
]

app = typer.Typer(
    name="vanguard",
    help="Self-healing autopilot for CI pipelines and production services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
ci_app = typer.Typer(
    help="CI failure agent: explain, classify, heal, report.", no_args_is_help=True
)
bench_app = typer.Typer(help="Benchmarks that print their figures.", no_args_is_help=True)
config_app = typer.Typer(help="Validate configuration.", no_args_is_help=True)
incidents_app = typer.Typer(help="Read incidents from the store.", no_args_is_help=True)
automation_app = typer.Typer(
    help="Pause and resume Vanguard's actions: the kill switch.", no_args_is_help=True
)
notify_app = typer.Typer(help="Check the channels people are told on.", no_args_is_help=True)
audit_app = typer.Typer(
    help="Check and export the tamper-evident audit trail.", no_args_is_help=True
)
store_app = typer.Typer(help="Back up the store.", no_args_is_help=True)

app.add_typer(ci_app, name="ci")
app.add_typer(bench_app, name="bench")
app.add_typer(config_app, name="config")
app.add_typer(incidents_app, name="incidents")
app.add_typer(audit_app, name="audit")
app.add_typer(automation_app, name="automation")
app.add_typer(notify_app, name="notify")
app.add_typer(store_app, name="store")
