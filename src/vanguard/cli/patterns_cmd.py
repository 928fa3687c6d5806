"""``vanguard patterns``: the pattern library as diagnosis sees it, with what outcomes taught.

Each pattern's confidence is calibrated from the outcomes of the incidents it diagnosed (a
Beta-binomial update of its prior, ``vanguard.learn``), exactly as the diagnose step does.
The table shows the prior, the outcomes counted for and against the remedy, the confidence
diagnosis uses now, and whether the pattern acts alone under the policy: the confidence
clears ``min_confidence`` (a pattern that keeps failing stops acting on its own and asks a
person instead), the action is not in ``require_approval_for`` and the policy is not in
dry run. The confidence gate multiplies in each alert's own confidence as well.
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
from vanguard.decide.policy import under_policy
from vanguard.diagnose.patterns import load_patterns
from vanguard.learn import pattern_confidences
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
        with the_store.session() as session:
            repo = IncidentRepo(session)
            outcomes = repo.outcomes_by_pattern(p.id for p in patterns)
        policy = settings.policy
        rows = under_policy(pattern_confidences(patterns, outcomes, policy.min_confidence), policy)
    finally:
        the_store.close()
    if json_out:
        print(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("pattern", "action"):
        table.add_column(name, no_wrap=True)
    for name in ("prior", "won", "lost", "now"):
        table.add_column(name, justify="right")
    table.add_column("alone")
    for row in rows:
        table.add_row(
            row.pattern_id,
            row.action,
            f"{row.prior:.2f}",
            f"{row.won:g}",
            f"{row.lost:g}",
            f"{row.confidence:.2f}",
            "yes" if row.acts_alone else "dry run" if policy.dry_run else "asks",
        )
    console.print(table)
    console.print(
        "now: the confidence diagnosis uses, the prior counted as 10 outcomes and updated "
        "by outcomes won (resolved) and lost (rolled back, escalated, failed); a pattern "
        f"acts alone when now × the alert's own confidence is ≥ {policy.min_confidence:.2f} "
        "(policy min_confidence), it is automation_eligible and its action is not in "
        "require_approval_for, else it asks a person; 'yes' counts an alert that is sure "
        "(confidence 1): a less sure alert may still ask",
        highlight=False,
    )
