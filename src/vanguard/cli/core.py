"""Core commands: version (more arrive with the engine)."""

from __future__ import annotations

import typer

from vanguard import __version__
from vanguard.cli.apps import app


@app.command()
def version() -> None:
    """Print Vanguard's version."""
    typer.echo(__version__)
