"""``vanguard audit verify|export``: the audit trail checked and copied from a terminal.

``verify`` walks the hash chain in the store (or in an exported file, without the store)
and exits 1 at the first entry that does not hold, so a cron job or a CI step can watch it.
It prints the head as ``SEQ:HASH``: kept off the host and passed back with ``--expect-head``,
it shows a chain rewritten or cut behind it, which the chain alone cannot (its head is in the
same database as its entries). ``export`` writes entries as JSON lines with their hashes: a
copy kept elsewhere (object storage with retention, a SIEM) that ``verify --file`` checks on
its own. One incident's export starts with an ``ExportHeader`` line saying it is partial, so
``verify --file`` checks it entry by entry even when its first entry is entry 1 of the chain.
Both read in a ``Store.read_session``, so the worker goes on writing while a long chain is
walked.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, TextIO, TypeVar

import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from vanguard.cli.apps import audit_app
from vanguard.cli.core import ConfigOpt, StoreOpt, open_configured_store
from vanguard.errors import InputError
from vanguard.store.audit import AuditEntry, AuditLog, ChainCheck, KeptHead, verify_entries

__all__ = ["ExportHeader", "audit_export", "audit_verify", "read_export"]

_Line = TypeVar("_Line", bound=BaseModel)


class ExportHeader(BaseModel):
    """The first line of an export that is not the whole chain (``export --incident``).

    Whole-chain exports, and those written before this line existed, have none.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    partial: Literal[True]
    incident_id: str


def read_export(stream: TextIO, name: str) -> tuple[ExportHeader | None, Iterator[AuditEntry]]:
    """The header of an export, if it has one, and its entries, one JSON object a line; a
    malformed line names its number."""
    lines = ((n, line) for n, line in enumerate(stream, start=1) if line.strip())
    first = next(lines, None)
    if first is not None and _is_header(first[1]):
        return _parse(ExportHeader, *first, name), (_parse(AuditEntry, *x, name) for x in lines)
    listed = itertools.chain([first] if first else [], lines)
    return None, (_parse(AuditEntry, *x, name) for x in listed)


def _is_header(line: str) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "partial" in value and "seq" not in value


def _parse(model: type[_Line], number: int, line: str, name: str) -> _Line:
    try:
        return model.model_validate_json(line)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "<line>"
        raise InputError(f"{name}:{number}: {where}: {problem['msg']}") from exc


def _report(check: ChainCheck) -> None:
    """Exit 0 for an intact chain, 1 at a break, 3 for a partial export intact as far as
    a file can tell (a chain cut at its start reads the same, so it is not a 0)."""
    if check.ok:
        typer.echo(check.reason)
        if check.partial:
            raise typer.Exit(3)
        return
    if check.first_bad_id is None:
        typer.echo(f"audit trail BROKEN: {check.reason}")
    else:
        typer.echo(
            f"audit trail BROKEN after {check.count} good entries "
            f"(first bad entry: {check.first_bad_id}): {check.reason}"
        )
    raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="check an export instead of the store")
    ] = None,
    expect_head: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-head",
            metavar="SEQ:HASH",
            help="a head an earlier verify printed, kept elsewhere: exit 1 if the chain no "
            "longer holds it (repeatable)",
        ),
    ] = None,
) -> None:
    """Walk the hash chain; exit 1 at the first entry that was altered, removed or reordered,
    or when it no longer holds a head kept elsewhere (``--expect-head``)."""
    kept = [KeptHead.parse(text) for text in expect_head or []]
    if file is not None:
        try:
            with file.open(encoding="utf-8-sig") as stream:
                header, entries = read_export(stream, str(file))
                _report(verify_entries(entries, partial=header is not None, kept=kept))
        except UnicodeDecodeError as exc:
            raise InputError(f"{file}: not an export: not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise InputError(f"cannot read {file}: {exc.strerror}") from exc
        return
    the_store = open_configured_store(config, store, create=False)
    try:
        with the_store.read_session() as session:
            check = AuditLog(session).verify_chain(kept)
    finally:
        the_store.close()
    _report(check)


@audit_app.command("export")
def audit_export(
    config: ConfigOpt = Path("vanguard.yaml"),
    store: StoreOpt = None,
    incident: Annotated[
        str | None,
        typer.Option(help="only this incident's entries, marked partial: checked entry by entry"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")
    ] = None,
) -> None:
    """Write entries as JSON lines with their hashes, in chain order."""
    the_store = open_configured_store(config, store, create=False)
    count = 0
    try:
        with the_store.read_session() as session:
            stream = AuditLog(session).stream(incident)
            first = next(stream, None)
            if incident is not None and first is None:
                raise InputError(f"no audit entries of incident {incident!r} in {the_store.url}")
            with _writing(output) as out:
                if incident is not None:
                    header = ExportHeader(partial=True, incident_id=incident)
                    out.write(header.model_dump_json() + "\n")
                for entry in itertools.chain([first] if first else [], stream):
                    out.write(entry.model_dump_json() + "\n")
                    count += 1
    finally:
        the_store.close()
    if output is not None:
        typer.echo(f"wrote {count} entries to {output}", err=True)


@contextmanager
def _writing(output: Path | None) -> Iterator[TextIO]:
    """Standard output, or ``output`` opened for writing; an error names the file."""
    if output is None:
        yield sys.stdout
        return
    try:
        with output.open("w", encoding="utf-8") as out:
            yield out
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc}") from exc
