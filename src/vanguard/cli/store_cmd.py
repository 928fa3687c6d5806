"""``vanguard store backup``: a consistent copy of a SQLite store, taken while Vanguard runs.

A copy of ``vanguard.db`` made with ``cp`` or a disk snapshot lacks the commits still in
its write-ahead log (``vanguard.db-wal``): recent incidents, audit entries and ledger keys.
This copies them too, through SQLite's online backup. A PostgreSQL store is backed up with
``pg_dump``; the command says how.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vanguard.cli.apps import store_app
from vanguard.cli.core import ConfigOpt, StoreOpt
from vanguard.config import load_settings
from vanguard.store.database import backup_sqlite, redact_url

__all__ = ["backup"]


@store_app.command("backup")
def backup(
    dest: Annotated[Path, typer.Argument(metavar="PATH", help="the new file to write the copy to")],
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
) -> None:
    """Copy the SQLite store into PATH while Vanguard runs, recent commits included; PATH
    must not exist. Restore by stopping Vanguard and putting the copy in place of
    vanguard.db, with no vanguard.db-wal or vanguard.db-shm left beside it."""
    url = store or load_settings(config).resolved_store_url()
    revision = backup_sqlite(url, dest)
    typer.echo(f"backed up {redact_url(url)} to {dest} (schema revision {revision})")
