"""``vanguard patterns``: the pattern library as diagnosis sees it, with what outcomes taught.

Each pattern's confidence is calibrated from the outcomes of the incidents it diagnosed (a
Beta-binomial update of its prior, ``vanguard.learn``), exactly as the diagnose step does.
The table shows the prior, the outcomes counted for and against the remedy, the confidence
diagnosis uses now, and from which alert confidence the pattern acts without a person under
the policy — a pattern that keeps failing stops acting on its own and asks a person instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from vanguard.cli.apps import app
from vanguard.cli.core import StoreOpt, console
from vanguard.config import Settings, load_settings
from vanguard.decide import PolicyConfig
from vanguard.diagnose.patterns import load_patterns
from vanguard.learn import PatternConfidence, confidence_legend, pattern_confidences
from vanguard.store import IncidentRepo, open_store

__all__ = ["patterns_command"]


DEFAULT_CONFIG = Path("vanguard.yaml")


@app.command("patterns")
def patterns_command(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="vanguard.yaml", envvar="VANGUARD_CONFIG"),
    ] = None,
    store: StoreOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="print the patterns as JSON, for scripts")
    ] = False,
) -> None:
    """The pattern library with calibrated confidences: what outcomes taught each remedy.

    With ``--store`` and no ``./vanguard.yaml``, the built-in library and the default policy
    are shown; a ``-c`` file that is not there is an error, never skipped.
    """
    if config is None and store is not None and not DEFAULT_CONFIG.exists():
        settings = Settings()
    else:
        settings = load_settings(config or DEFAULT_CONFIG)
    patterns = load_patterns(settings.patterns_dirs)
    the_store = open_store(store or settings.resolved_store_url(), create=False)
    try:
        with the_store.read_session() as session:
            counts = IncidentRepo(session).outcome_counts(
                {p.id: p.remedy.action for p in patterns},
                breaker_threshold=settings.policy.breaker_threshold,
            )
        rows = pattern_confidences(patterns, counts, settings.policy)
    finally:
        the_store.close()
    if json_out:
        print(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("pattern", "action"):
        table.add_column(name, no_wrap=True)
    for name in ("prior", "won", "lost", "confidence now"):
        table.add_column(name, justify="right")
    table.add_column("acts alone")
    for row in rows:
        table.add_row(
            row.pattern_id,
            row.action,
            f"{row.prior:.2f}",
            f"{row.won:g}",
            f"{row.lost:g}",
            f"{row.confidence:.2f}",
            _alone(row, settings.policy),
        )
    console.print(table)
    console.print(
        f"{confidence_legend(settings.policy)} In this table: ≥ the alert confidence from "
        "which the pattern acts alone, 'asks' (--json says why) or 'dry run'.",
        highlight=False,
    )


def _alone(row: PatternConfidence, policy: PolicyConfig) -> str:
    """The alert confidence from which the pattern acts alone, or why it never does."""
    if row.min_alert_confidence is None:
        return "dry run" if policy.dry_run else "asks"
    return f"≥{row.min_alert_confidence:.2f}" if row.min_alert_confidence else "any"
