"""CI agent commands: ``ci report`` (health figures), ``ci poll`` (the webhook fallback),
``ci budget`` (the GitHub API budget kept in the store) and ``ci explain-run`` (a run on
GitHub explained as the agent would)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vanguard.ci.budget import ApiBudget
from vanguard.ci.client import build_github_api
from vanguard.ci.health import (
    REPORT_COLUMNS,
    HealthFigures,
    daily_success,
    health_figures,
    report_row,
    success_svg,
)
from vanguard.ci.intake import CiIntake
from vanguard.ci.poller import poll_once
from vanguard.ci.reading import read_run
from vanguard.ci.records import CiRepo
from vanguard.cli.apps import ci_app
from vanguard.cli.ci import first_lines, render_explanation
from vanguard.cli.core import ConfigOpt, StoreOpt, console, open_configured_store
from vanguard.clock import utcnow
from vanguard.config import Settings, load_settings
from vanguard.diagnose.taxonomy import builtin_taxonomy
from vanguard.errors import ConfigError, InputError
from vanguard.store import open_store

__all__ = [
    "budget_command",
    "describe_budget",
    "explain_run_command",
    "poll_command",
    "render_report",
    "report_command",
]


def render_report(figures: list[HealthFigures]) -> Table:
    """The health figures as a table, one row per repository and workflow."""
    table = Table(title="CI health")
    for name in REPORT_COLUMNS:
        table.add_column(name, justify="left" if name in {"repository", "workflow"} else "right")
    for f in figures:
        table.add_row(*report_row(f))
    return table


@ci_app.command("report")
def report_command(
    config: ConfigOpt = Path("vanguard.yaml"),
    repo: Annotated[
        str | None, typer.Option(help="only this owner/repo (in any case, as on GitHub)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="look back this many days")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    plot: Annotated[
        Path | None,
        typer.Option(help="also draw each repository's daily success rate to this SVG file"),
    ] = None,
) -> None:
    """CI health per repository and workflow: success, flaky, auto-heal coverage, recovery."""
    settings = load_settings(config)
    since = datetime.now(UTC) - timedelta(days=days)
    store = open_store(settings.resolved_store_url(), create=False)
    try:
        with store.read_session() as session:
            attempts = CiRepo(session).attempts(repository=repo, since=since)
    finally:
        store.close()
    figures = health_figures(attempts)
    if plot is not None:
        svg = success_svg(daily_success(attempts), since, since + timedelta(days=days))
        try:
            plot.write_text(svg)
        except OSError as exc:
            raise InputError(f"{plot}: cannot write: {exc}") from exc
    if as_json:
        typer.echo(json.dumps([f.model_dump(mode="json") for f in figures], indent=2))
        return
    if not figures:
        console.print(f"no finished CI runs recorded in the last {days} day(s)")
        return
    console.print(render_report(figures))


def _github(settings: Settings) -> None:
    if settings.github is None:
        raise ConfigError("no 'github' section to poll", key="github")
    if not settings.github.repositories:
        raise ConfigError("polling needs 'github.repositories'", key="github.repositories")


@ci_app.command("poll")
def poll_command(
    config: ConfigOpt = Path("vanguard.yaml"),
    temporal: Annotated[str | None, typer.Option(help="HOST:PORT of Temporal")] = None,
    once: Annotated[bool, typer.Option(help="poll once and exit")] = False,
    max_polls: Annotated[int | None, typer.Option(min=1, help="stop after N polls")] = None,
) -> None:
    """Poll the configured repositories for finished runs (conditional requests, budgeted)."""
    from vanguard.engine.client import connect, make_starter

    settings = load_settings(config)
    _github(settings)
    github = settings.github
    if github is None:
        return
    address = temporal or settings.temporal.address
    if address == "embedded":
        raise ConfigError(
            "polling needs a running Temporal: pass --temporal HOST:PORT", key="temporal"
        )
    if note := github.poll_budget_warning():
        console.print(f"warning: github.{note}", highlight=False)
    store = open_store(settings.resolved_store_url())
    api = build_github_api(github, store=store)

    async def main() -> bool:
        client = await connect(address, settings.temporal.namespace)

        starter = make_starter(
            client,
            task_queue=settings.temporal.task_queue,
            window_s=settings.verification.window_s,
        )
        intake = CiIntake(store, api, github, starter)
        done = 0
        limit = 1 if once else max_polls
        polled_any = False
        while limit is None or done < limit:
            report = await poll_once(api, intake, github)
            polled_any = polled_any or len(report.skipped) < len(report.outcomes)
            for repository, outcome in report.outcomes.items():
                console.print(f"{repository}: {outcome}")
            for result in report.results:
                console.print(f"  {result.delivery_id}: {result.status}: {result.reason}")
            done += 1
            if limit is None or done < limit:
                await asyncio.sleep(github.poll.interval_s)
        return polled_any

    try:
        polled_any = asyncio.run(main())
    finally:
        store.close()
    if not polled_any:
        console.print("no repository could be polled", highlight=False)
        raise typer.Exit(code=1)


def describe_budget(api_url: str, budget: ApiBudget, now: datetime) -> str:
    """One kept budget in a line: calls spent of the cap, GitHub's quota, and any wait."""
    spent = (
        f"{budget.used} of {budget.calls_per_hour} calls spent in the hour from "
        f"{budget.window_start:%Y-%m-%d %H:%M:%S} UTC"
        if budget.window_start is not None
        else f"no call spent yet of {budget.calls_per_hour} an hour"
    )
    line = f"{api_url}: {spent}, the last {budget.kept} kept for re-runs and issues"
    if budget.remaining is not None:
        until = f" until {budget.reset_at:%H:%M:%S} UTC" if budget.reset_at else ""
        line += f"; GitHub said {budget.remaining} calls left{until}"
    if budget.blocked_until is not None and budget.blocked_until > now:
        line += (
            f"; every call waits until {budget.blocked_until:%Y-%m-%d %H:%M:%S} UTC: "
            f"{budget.blocked_reason}"
        )
    return line


@ci_app.command("budget")
def budget_command(
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    clear_block: Annotated[
        bool,
        typer.Option(
            "--clear-block",
            help="end the wait GitHub (or a proxy in front of it) asked for, now",
        ),
    ] = False,
) -> None:
    """Show the GitHub API budget every process of the store spends: calls spent this hour
    of the cap, GitHub's quota left, and any wait it asked for.

    ``--clear-block`` ends a wait at once, for every process: for a wait you know to be
    wrong. GitHub answers calls made too early with another wait, which is then kept.
    """
    the_store = open_configured_store(config, store, create=False)
    now = utcnow()
    try:
        if clear_block:
            with the_store.session() as session:
                cleared = CiRepo(session).clear_budget_blocks(at=now)
            for api_url in cleared:
                console.print(f"{api_url}: wait cleared", highlight=False, markup=False)
            if not cleared:
                console.print("no wait to clear", highlight=False)
        with the_store.read_session() as session:
            kept = CiRepo(session).kept_budgets()
    finally:
        the_store.close()
    for api_url, budget in kept:
        console.print(describe_budget(api_url, budget, now), highlight=False, markup=False)
    if not kept:
        console.print("no GitHub API budget kept in this store yet", highlight=False)


@ci_app.command("explain-run")
def explain_run_command(
    repository: Annotated[str, typer.Argument(help="owner/repo")],
    run_id: Annotated[int, typer.Argument(min=1, help="the workflow run's id")],
    config: ConfigOpt = Path("vanguard.yaml"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Lines to show at most.")] = 50,
) -> None:
    """Explain a finished run on GitHub as the agent would: its failed jobs' logs, each
    against the same job of the last passing run (on the run's branch, else on
    ``github.default_branch``); nothing is re-run or opened. Credentials in the lines
    shown are masked, as in the agent's issues."""
    settings = load_settings(config)
    github = settings.github
    if github is None:
        raise ConfigError(
            "no 'github' section: where is GitHub, with which token?",
            file=str(config),
            key="github",
        )
    api = build_github_api(github)
    run = api.get_run(repository, run_id)
    if run.status != "completed":
        raise InputError(f"run {run_id} of {repository} is {run.status}: wait until it completes")
    reading = read_run(api, github, builtin_taxonomy(), repository, github.default_branch, run)
    report = reading.explanation.answer
    explanation = first_lines(reading.explanation, limit).redacted()
    reading = reading.model_copy(update={"explanation": explanation})
    if as_json:
        typer.echo(reading.model_dump_json())
        return
    job = reading.job
    console.print(
        f"run {run.id} attempt {run.run_attempt} of {run.workflow} in {repository}: "
        f"{run.conclusion}; {reading.jobs_read} job log(s) read"
        + (f", best explained: {job.name or job.id}" if job is not None else ""),
        highlight=False,
        markup=False,
    )
    if reading.baseline is not None:
        console.print(
            f"compared with the passing job {reading.baseline.link}", highlight=False, markup=False
        )
    render_explanation(explanation, Console(), report=report)
